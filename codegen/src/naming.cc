#include "naming.h"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace polyrpc::codegen {

std::vector<std::string> Split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t pos = text.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.emplace_back(text.substr(start));
      return parts;
    }
    parts.emplace_back(text.substr(start, pos - start));
    start = pos + 1;
  }
}

std::vector<std::string> SplitLines(std::string_view text) {
  if (text.empty()) return {};
  std::vector<std::string> lines = Split(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // the final '\n'
  return lines;
}

std::string StripProtoSuffix(const std::string& filename) {
  for (std::string_view suffix : {".protodevel", ".proto"}) {
    if (filename.size() > suffix.size() &&
        filename.compare(filename.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return filename.substr(0, filename.size() - suffix.size());
    }
  }
  return filename;
}

std::string ReplaceAll(std::string text, std::string_view from, std::string_view to) {
  size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

namespace {

// C++20 keywords and alternative tokens (protoc's C++ generator escapes the same set, plus the
// C++20 additions), and the contextual module words import and module, which a declaration may
// not start with.
constexpr std::array kCppKeywords = {
    "alignas",   "alignof",      "and",          "and_eq",    "asm",        "auto",
    "bitand",    "bitor",        "bool",         "break",     "case",       "catch",
    "char",      "char8_t",      "char16_t",     "char32_t",  "class",      "compl",
    "concept",   "const",        "consteval",    "constexpr", "constinit",  "const_cast",
    "continue",  "co_await",     "co_return",    "co_yield",  "decltype",   "default",
    "delete",    "do",           "double",       "dynamic_cast", "else",    "enum",
    "explicit",  "export",       "extern",       "false",     "float",      "for",
    "friend",    "goto",         "if",           "import",           "inline",    "int",        "long",
    "module",    "mutable",   "namespace",    "new",          "noexcept",  "not",        "not_eq",
    "nullptr",   "operator",     "or",           "or_eq",     "private",    "protected",
    "public",    "register",     "reinterpret_cast", "requires", "return",  "short",
    "signed",    "sizeof",       "static",       "static_assert", "static_cast", "struct",
    "switch",    "template",     "this",         "thread_local", "throw",   "true",
    "try",       "typedef",      "typeid",       "typename",  "union",      "unsigned",
    "using",     "virtual",      "void",         "volatile",  "wchar_t",    "while",
    "xor",       "xor_eq",
};

// Python 3 keywords (keyword.kwlist). Soft keywords (match, case, _) are valid identifiers.
constexpr std::array kPythonKeywords = {
    "False", "None",   "True",    "and",      "as",       "assert", "async", "await",
    "break", "class",  "continue", "def",     "del",      "elif",   "else",  "except",
    "finally", "for",  "from",    "global",   "if",       "import", "in",    "is",
    "lambda", "nonlocal", "not",  "or",       "pass",     "raise",  "return", "try",
    "while", "with",   "yield",
};

template <size_t N>
bool Contains(const std::array<const char*, N>& words, std::string_view name) {
  return std::any_of(words.begin(), words.end(), [&](const char* w) { return name == w; });
}

}  // namespace

bool IsCppKeyword(std::string_view name) { return Contains(kCppKeywords, name); }
bool IsPythonKeyword(std::string_view name) { return Contains(kPythonKeywords, name); }
std::string EscapeCpp(const std::string& name) { return IsCppKeyword(name) ? name + "_" : name; }
std::string EscapePython(const std::string& name) {
  return IsPythonKeyword(name) ? name + "_" : name;
}

std::string Substitute(std::string_view text, const CodeWriter::Vars& vars) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$') {
      out += text[i++];
      continue;
    }
    size_t end = text.find('$', i + 1);
    if (end == std::string_view::npos) throw std::logic_error("unterminated $var$ in template");
    std::string name(text.substr(i + 1, end - i - 1));
    if (name.empty()) {
      out += '$';
    } else {
      auto it = vars.find(name);
      if (it == vars.end()) throw std::logic_error("template variable not set: " + name);
      out += it->second;
    }
    i = end + 1;
  }
  return out;
}

void CodeWriter::Line(std::string_view text, const Vars& vars) {
  std::string line = Substitute(text, vars);
  if (!line.empty()) out_.append(static_cast<size_t>(depth_ * indent_width_), ' ');
  out_ += line;
  out_ += '\n';
}

void CodeWriter::Lines(std::string_view text, std::string_view prefix) {
  for (const std::string& line : SplitLines(text)) {
    std::string full = std::string(prefix) + line;
    while (!full.empty() && full.back() == ' ') full.pop_back();
    if (!full.empty()) out_.append(static_cast<size_t>(depth_ * indent_width_), ' ');
    out_ += full;
    out_ += '\n';
  }
}

}  // namespace polyrpc::codegen
