// lang=ruby: <file>_services_pb.rb beside protoc's --ruby_out <file>_pb.rb, shaped like
// grpc_tools_ruby_protoc's output so that grpc gem users feel at home: per service Foo, a module
// Foo holding `class Service` (PolyRPC::GenericService with the rpc DSL, google-protobuf's
// encode/decode) and `Stub = Service.rpc_stub_class`, inside the modules of the file's Ruby
// package. Module and message constants are computed as protoc 3.21's Ruby generator computes
// them (ruby_package verbatim when it has "::", else each package part in UpperCamel; message
// names with their first letter upper-cased, or "PB_" before a name that does not start with a
// letter), so the references match --ruby_out.
#include <cctype>
#include <map>
#include <set>

#include <google/protobuf/descriptor.pb.h>

#include "generator.h"
#include "naming.h"

namespace polyrpc::codegen {
namespace {

namespace gp = google::protobuf;

// protoc's PackageToModule: "foo_bar" -> "FooBar".
std::string PackageToModule(const std::string& name) {
  std::string out;
  bool upper = true;
  for (char c : name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

// protoc's RubifyConstant: "del" -> "Del", "_x" -> "PB__x".
std::string RubifyConstant(const std::string& name) {
  if (name.empty()) return name;
  unsigned char c = static_cast<unsigned char>(name[0]);
  if (std::islower(c)) return static_cast<char>(std::toupper(c)) + name.substr(1);
  if (!std::isalpha(c)) return "PB_" + name;
  return name;
}

// The module path of a file's Ruby constants, as protoc's ModulePath ("" without a package).
std::vector<std::string> ModuleParts(const gp::FileDescriptor* file) {
  std::vector<std::string> parts;
  if (file->options().has_ruby_package()) {
    const std::string& pkg = file->options().ruby_package();
    if (pkg.find("::") != std::string::npos) {
      size_t start = 0;
      for (;;) {
        size_t at = pkg.find("::", start);
        parts.push_back(pkg.substr(start, at == std::string::npos ? std::string::npos : at - start));
        if (at == std::string::npos) break;
        start = at + 2;
      }
      return parts;
    }
    for (const std::string& p : Split(pkg, '.')) parts.push_back(PackageToModule(p));
    return parts;
  }
  if (file->package().empty()) return parts;
  for (const std::string& p : Split(file->package(), '.')) parts.push_back(PackageToModule(p));
  return parts;
}

std::string Join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

// "::Pkg::Outer::Inner", the constant protoc's --ruby_out assigns to a message class.
std::string MessageConstant(const gp::Descriptor* d) {
  std::string name = RubifyConstant(d->name());
  for (const gp::Descriptor* c = d->containing_type(); c != nullptr; c = c->containing_type()) {
    name = RubifyConstant(c->name()) + "::" + name;
  }
  std::vector<std::string> parts = ModuleParts(d->file());
  return "::" + (parts.empty() ? name : Join(parts, "::") + "::" + name);
}

// What `require` loads for a file's messages: "a/b/foo.proto" -> "a/b/foo_pb".
std::string MessagesRequire(const gp::FileDescriptor* file) {
  return StripProtoSuffix(file->name()) + "_pb";
}

// GenericService.underscore, as the rpc DSL names a method's handler and stub method.
std::string Underscore(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isupper(c) && i > 0) {
      unsigned char prev = static_cast<unsigned char>(s[i - 1]);
      bool next_lower = i + 1 < s.size() && std::islower(static_cast<unsigned char>(s[i + 1]));
      // ([a-z\d])([A-Z]) and ([A-Z]+)([A-Z][a-z]) both put an '_' before this letter.
      if (std::islower(prev) || std::isdigit(prev) || (std::isupper(prev) && next_lower)) {
        out += '_';
      }
    }
    out += c == '-' ? '_' : static_cast<char>(std::tolower(c));
  }
  return out;
}

// Public methods every service instance or stub has (Object's, and ClientStub's own): a
// handler or stub method of that name would replace them (`rpc :Hash` would break the object
// in every Hash). The rpc DSL refuses them at load time too.
bool ShadowsObjectMethod(const std::string& method) {
  static const std::set<std::string> kTaken = {
      "class", "clone", "define_singleton_method", "display", "dup", "enum_for", "eql",
      "equal", "extend", "freeze", "frozen", "hash", "inspect", "instance_of",
      "instance_variable_defined", "instance_variable_get", "instance_variable_set",
      "instance_variables", "is_a", "itself", "kind_of", "method", "methods", "nil",
      "object_id", "public_method", "public_send", "respond_to", "send", "singleton_class",
      "singleton_method", "singleton_methods", "tap", "then", "to_enum", "to_s", "yield_self",
      "request_response", "client_streamer", "server_streamer", "bidi_streamer", "channel",
      "propagate_mask", "initialize"};
  return kTaken.count(method) > 0;
}

// Top-level constants of Ruby itself (and of the libraries the generated code loads): a service
// module of that name in a file without a package would reopen them (`module Class` fails,
// `module Comparable` would add Service and Stub to Ruby's own module). Such a module gets a
// trailing '_', the escaping of the other generators.
bool IsRubyCoreConstant(const std::string& name) {
  static const std::set<std::string> kCore = {
      "ARGF", "ARGV", "Array", "BasicObject", "Binding", "Class", "Comparable", "Complex",
      "Data", "Dir", "ENV", "Encoding", "Enumerable", "Enumerator", "Errno", "Exception",
      "FalseClass", "Fiber", "File", "FileTest", "Float", "GC", "Google", "GRPC", "Hash", "IO",
      "Integer", "Kernel", "Marshal", "MatchData", "Math", "Method", "Module", "Monitor",
      "Mutex", "NilClass", "Numeric", "Object", "ObjectSpace", "PolyRPC", "Proc", "Process",
      "Queue", "Ractor", "Random", "Range", "Rational", "Regexp", "RubyVM", "Set", "Signal",
      "String", "Struct", "Symbol", "Thread", "ThreadGroup", "Time", "TracePoint", "TrueClass",
      "UnboundMethod", "Warning"};
  return kCore.count(name) > 0;
}

void WriteComments(CodeWriter& w, const std::string& comments) {
  if (comments.empty()) return;
  for (const std::string& line : SplitLines(comments)) {
    w.Line(line.empty() ? "#" : "# $l$", {{"l", line}});
  }
}

// Every message and enum constant protoc defines directly in the given module path, from this
// file and the files it imports: a service module of the same name would clash with a class.
void CollectConstants(const gp::FileDescriptor* file, const std::vector<std::string>& module,
                      std::map<std::string, std::string>* out, std::set<std::string>* seen) {
  if (!seen->insert(file->name()).second) return;
  if (ModuleParts(file) == module) {
    for (int i = 0; i < file->message_type_count(); ++i) {
      out->emplace(RubifyConstant(file->message_type(i)->name()),
                   "message " + file->message_type(i)->full_name());
    }
    for (int i = 0; i < file->enum_type_count(); ++i) {
      out->emplace(RubifyConstant(file->enum_type(i)->name()),
                   "enum " + file->enum_type(i)->full_name());
    }
  }
  for (int i = 0; i < file->dependency_count(); ++i) {
    CollectConstants(file->dependency(i), module, out, seen);
  }
}

class RubyGenerator : public LanguageGenerator {
 public:
  bool Generate(const FileModel& model, const Parameters& params,
                gp::compiler::GeneratorContext* context, std::string* error) const override {
    (void)params;
    // As grpc_tools_ruby_protoc: a file without services gets no file.
    if (model.services.empty()) return true;
    std::vector<std::string> modules = ModuleParts(model.file);
    std::map<std::string, std::string> constants;
    std::set<std::string> seen;
    CollectConstants(model.file, modules, &constants, &seen);

    std::vector<std::string> service_modules;
    std::map<std::string, std::string> used_modules;
    for (const ServiceModel& s : model.services) {
      std::string name = RubifyConstant(s.name);
      if (modules.empty() && IsRubyCoreConstant(name)) name += "_";
      auto clash = constants.find(name);
      if (clash != constants.end()) {
        *error = "the Ruby module " + Join(modules, "::") + (modules.empty() ? "" : "::") + name +
                 " generated for service " + s.full_name + " is protoc's Ruby constant of " +
                 clash->second + "; rename one of them";
        return false;
      }
      auto [it, inserted] = used_modules.emplace(name, s.full_name);
      if (!inserted) {
        *error = "services " + it->second + " and " + s.full_name +
                 " both map to the Ruby module " + name + "; rename one of them";
        return false;
      }
      std::map<std::string, std::string> used_methods;
      for (const MethodModel& m : s.methods) {
        std::string method = Underscore(m.name);
        if (ShadowsObjectMethod(method)) {
          *error = "service " + s.full_name + ": method '" + m.name + "' would define the Ruby method " +
                   method + ", which every Ruby object (or stub) needs; rename it";
          return false;
        }
        auto [mit, fresh] = used_methods.emplace(method, m.name);
        if (!fresh) {
          *error = "service " + s.full_name + ": methods '" + mit->second + "' and '" + m.name +
                   "' both map to the Ruby method " + method + "; rename one of them";
          return false;
        }
      }
      service_modules.push_back(name);
    }

    CodeWriter w(2);
    w.Line("# Generated by protoc-gen-polyrpc (lang=ruby). DO NOT EDIT!");
    w.Line("# Source: $file$ for package '$pkg$'",
           {{"file", model.file->name()}, {"pkg", model.file->package()}});
    w.Blank();
    w.Line("require 'polyrpc'");
    w.Line("require '$r$'", {{"r", MessagesRequire(model.file)}});
    w.Blank();
    for (const std::string& m : modules) {
      w.Line("module $m$", {{"m", m}});
      w.Indent();
    }
    for (size_t i = 0; i < model.services.size(); ++i) {
      const ServiceModel& s = model.services[i];
      w.Line("module $m$", {{"m", service_modules[i]}});
      w.Indent();
      WriteComments(w, s.comments);
      w.Line("class Service");
      w.Indent();
      w.Line("include ::PolyRPC::GenericService");
      w.Blank();
      w.Line("self.marshal_class_method = :encode");
      w.Line("self.unmarshal_class_method = :decode");
      w.Line("self.service_name = '$n$'", {{"n", s.full_name}});
      w.Blank();
      for (const MethodModel& m : s.methods) {
        std::string in = MessageConstant(m.input);
        std::string out = MessageConstant(m.output);
        if (m.kind == StreamingKind::kClientStreaming || m.kind == StreamingKind::kBidiStreaming) {
          in = "stream(" + in + ")";
        }
        if (m.kind == StreamingKind::kServerStreaming || m.kind == StreamingKind::kBidiStreaming) {
          out = "stream(" + out + ")";
        }
        WriteComments(w, m.comments);
        w.Line("rpc :$n$, $i$, $o$", {{"n", m.name}, {"i", in}, {"o", out}});
      }
      w.Outdent();
      w.Line("end");
      w.Blank();
      w.Line("Stub = Service.rpc_stub_class");
      w.Outdent();
      w.Line("end");
    }
    for (size_t i = 0; i < modules.size(); ++i) {
      w.Outdent();
      w.Line("end");
    }
    WriteFile(context, StripProtoSuffix(model.file->name()) + "_services_pb.rb", w.text());
    return true;
  }
};

}  // namespace

std::unique_ptr<LanguageGenerator> MakeRubyGenerator() { return std::make_unique<RubyGenerator>(); }

}  // namespace polyrpc::codegen
