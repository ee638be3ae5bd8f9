// protoc-gen-polyrpc: protoc plugin generating polyrpc service stubs.
//   protoc --plugin=protoc-gen-polyrpc=PATH --polyrpc_out=OUT foo.proto               (C++)
//   protoc --plugin=protoc-gen-polyrpc=PATH --polyrpc_out=lang=python:OUT foo.proto   (Python)
//   protoc --plugin=protoc-gen-polyrpc=PATH --c_out=OUT --polyrpc_out=lang=c:OUT foo.proto  (C)
// The lang= parameter selects a generator from the registry (generator.h); C++ is the default.
#include <algorithm>
#include <string>

#include <google/protobuf/compiler/code_generator.h>
#include <google/protobuf/compiler/plugin.h>

#include "generator.h"
#include "model.h"

namespace polyrpc::codegen {
namespace {

class PolyrpcCodeGenerator : public google::protobuf::compiler::CodeGenerator {
 public:
  bool Generate(const google::protobuf::FileDescriptor* file, const std::string& parameter,
                google::protobuf::compiler::GeneratorContext* context,
                std::string* error) const override {
    std::vector<std::pair<std::string, std::string>> params;
    google::protobuf::compiler::ParseGeneratorParameter(parameter, &params);
    std::string lang = "cpp";
    Parameters rest;
    for (auto& [key, value] : params) {
      if (key == "lang") {
        lang = value;
      } else {
        rest.emplace_back(key, value);
      }
    }
    std::unique_ptr<LanguageGenerator> generator = MakeGenerator(lang);
    if (!generator) {
      std::string known;
      for (const GeneratorEntry& entry : GeneratorRegistry()) {
        known += known.empty() ? "" : ", ";
        known += entry.lang;
      }
      *error = "protoc-gen-polyrpc: unknown lang=" + lang + " (available: " + known + ")";
      return false;
    }
    std::vector<std::string> accepted = generator->AcceptedParameters();
    for (const auto& kv : rest) {
      if (std::find(accepted.begin(), accepted.end(), kv.first) == accepted.end()) {
        *error = "protoc-gen-polyrpc: unknown parameter '" + kv.first + "' for lang=" + lang;
        return false;
      }
    }
    return generator->Generate(BuildFileModel(file), rest, context, error);
  }

  // proto3 'optional' fields do not affect services, so the plugin supports them.
  uint64_t GetSupportedFeatures() const override { return FEATURE_PROTO3_OPTIONAL; }
};

}  // namespace
}  // namespace polyrpc::codegen

int main(int argc, char* argv[]) {
  polyrpc::codegen::PolyrpcCodeGenerator generator;
  return google::protobuf::compiler::PluginMain(argc, argv, &generator);
}
