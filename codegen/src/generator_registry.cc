#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream.h>

#include "generator.h"

namespace polyrpc::codegen {

const std::vector<GeneratorEntry>& GeneratorRegistry() {
  static const std::vector<GeneratorEntry> registry = {
      {"cpp", &MakeCppGenerator},
      {"python", &MakePythonGenerator},
      {"c", &MakeCGenerator},
      {"php", &MakePhpGenerator},
      {"csharp", &MakeCSharpGenerator},
      {"ruby", &MakeRubyGenerator},
  };
  return registry;
}

std::unique_ptr<LanguageGenerator> MakeGenerator(const std::string& lang) {
  for (const GeneratorEntry& entry : GeneratorRegistry()) {
    if (lang == entry.lang) return entry.make();
  }
  return nullptr;
}

void WriteFile(google::protobuf::compiler::GeneratorContext* context, const std::string& name,
               const std::string& text) {
  std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> stream(context->Open(name));
  google::protobuf::io::CodedOutputStream out(stream.get());
  out.WriteRaw(text.data(), static_cast<int>(text.size()));
}

}  // namespace polyrpc::codegen
