// Naming helpers shared by the generators: string splitting, file-name stems, and reserved-word
// escaping per target language. Escaping appends '_' (as protoc's own generators do), so an
// escaped name stays readable and two distinct proto names can only collide if one of them
// already ends in '_'; generators check for such collisions and report them.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace polyrpc::codegen {

std::vector<std::string> Split(std::string_view text, char sep);
std::vector<std::string> SplitLines(std::string_view text);
// "a/b/foo.proto" -> "a/b/foo" (".protodevel" as well, like protoc).
std::string StripProtoSuffix(const std::string& filename);
std::string ReplaceAll(std::string text, std::string_view from, std::string_view to);

bool IsCppKeyword(std::string_view name);
bool IsPythonKeyword(std::string_view name);
// name, or name + "_" if it is a reserved word of the language.
std::string EscapeCpp(const std::string& name);
std::string EscapePython(const std::string& name);

// A line-oriented text builder with indentation and $var$ substitution ("$$" is a literal '$').
class CodeWriter {
 public:
  using Vars = std::map<std::string, std::string>;

  explicit CodeWriter(int indent_width = 2) : indent_width_(indent_width) {}
  void Indent() { ++depth_; }
  void Outdent() {
    if (depth_ > 0) --depth_;
  }
  // Appends one line (text without '\n'), indented; an empty line gets no indentation.
  void Line(std::string_view text, const Vars& vars = {});
  // Appends every line of a multi-line text, each prefixed with prefix (e.g. "// ").
  void Lines(std::string_view text, std::string_view prefix);
  void Blank() { out_ += '\n'; }
  const std::string& text() const { return out_; }

 private:
  int indent_width_;
  int depth_ = 0;
  std::string out_;
};

std::string Substitute(std::string_view text, const CodeWriter::Vars& vars);

}  // namespace polyrpc::codegen
