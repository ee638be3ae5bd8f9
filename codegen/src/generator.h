// One LanguageGenerator per target language, found by name in a registry. protoc-gen-polyrpc
// picks one with the lang= parameter; adding a language (Ruby, PHP, C#) means one new file with a
// Make*Generator() function and one line in the registry (generator_registry.cc).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/compiler/code_generator.h>

#include "model.h"

namespace polyrpc::codegen {

using Parameters = std::vector<std::pair<std::string, std::string>>;

class LanguageGenerator {
 public:
  virtual ~LanguageGenerator() = default;
  // Parameter keys this generator understands besides "lang"; others are rejected.
  virtual std::vector<std::string> AcceptedParameters() const { return {}; }
  // Writes the output files for one .proto file. On bad input returns false with *error set to
  // a message protoc shows as "<file>: <error>".
  virtual bool Generate(const FileModel& model, const Parameters& params,
                        google::protobuf::compiler::GeneratorContext* context,
                        std::string* error) const = 0;
};

struct GeneratorEntry {
  const char* lang;
  std::unique_ptr<LanguageGenerator> (*make)();
};

// Every registered generator, in a fixed order.
const std::vector<GeneratorEntry>& GeneratorRegistry();
// nullptr if lang is unknown.
std::unique_ptr<LanguageGenerator> MakeGenerator(const std::string& lang);

// Writes text to a new output file of the protoc run.
void WriteFile(google::protobuf::compiler::GeneratorContext* context, const std::string& name,
               const std::string& text);

std::unique_ptr<LanguageGenerator> MakeCppGenerator();
std::unique_ptr<LanguageGenerator> MakePythonGenerator();
std::unique_ptr<LanguageGenerator> MakeCGenerator();
std::unique_ptr<LanguageGenerator> MakePhpGenerator();
std::unique_ptr<LanguageGenerator> MakeCSharpGenerator();
std::unique_ptr<LanguageGenerator> MakeRubyGenerator();

}  // namespace polyrpc::codegen
