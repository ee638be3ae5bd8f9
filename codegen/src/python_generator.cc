// lang=python: <file>_pb2_polyrpc.py, shaped like grpcio's <file>_pb2_grpc.py so that grpcio users
// feel at home: FooStub(channel), FooServicer and add_FooServicer_to_server(servicer, server),
// built on the polyrpc Python package's grpcio-compatible functions. Message classes come from
// protoc's --python_out (<file>_pb2.py), imported the way grpcio's generator imports them.
#include <cctype>
#include <map>
#include <set>

#include "generator.h"
#include "naming.h"

namespace polyrpc::codegen {
namespace {

namespace gp = google::protobuf;

bool IsIdentifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// "a/b-c/foo.proto" -> "a.b_c.foo_pb2", as protoc's Python generator names modules.
std::string ModuleName(const gp::FileDescriptor* file) {
  std::string base = StripProtoSuffix(file->name());
  base = ReplaceAll(base, "-", "_");
  base = ReplaceAll(base, "/", ".");
  return base + "_pb2";
}

// grpcio's alias: dots become "_dot_" and underscores double, so distinct modules never share
// an alias ("a.b_pb2" -> "a_dot_b__pb2").
std::string ModuleAlias(const gp::FileDescriptor* file) {
  std::string name = ModuleName(file);
  name = ReplaceAll(name, "_", "__");
  return ReplaceAll(name, ".", "_dot_");
}

std::string ImportLine(const gp::FileDescriptor* file) {
  std::string module = ModuleName(file);
  std::string alias = ModuleAlias(file);
  std::vector<std::string> parts = Split(module, '.');
  bool plain = true;
  for (const std::string& p : parts) {
    if (!IsIdentifier(p) || IsPythonKeyword(p)) plain = false;
  }
  if (!plain) {
    // A path component that is a keyword cannot appear in an import statement.
    return alias + " = importlib.import_module('" + module + "')";
  }
  size_t dot = module.rfind('.');
  if (dot == std::string::npos) return "import " + module + " as " + alias;
  return "from " + module.substr(0, dot) + " import " + module.substr(dot + 1) + " as " + alias;
}

bool NeedsImportlib(const gp::FileDescriptor* file) {
  return ImportLine(file).find("importlib") != std::string::npos;
}

// Expression naming a message class: alias.Outer.Inner, with getattr() for keyword names
// (protoc's Python generator keeps such names, reachable only through getattr).
std::string MessageExpr(const gp::Descriptor* d) {
  std::string expr = ModuleAlias(d->file());
  std::string relative = d->full_name();
  const std::string& pkg = d->file()->package();
  if (!pkg.empty()) relative = relative.substr(pkg.size() + 1);
  for (const std::string& part : Split(relative, '.')) {
    expr = IsPythonKeyword(part) ? "getattr(" + expr + ", '" + part + "')" : expr + "." + part;
  }
  return expr;
}

std::string Docstring(const std::string& comments, const std::string& fallback) {
  std::string text = comments.empty() ? fallback : comments;
  text = ReplaceAll(text, "\\", "\\\\");
  text = ReplaceAll(text, "\"\"\"", "\\\"\\\"\\\"");
  if (!text.empty() && text.back() == '"') text.insert(text.size() - 1, "\\");
  return text;
}

void WriteDocstring(CodeWriter& w, const std::string& comments, const std::string& fallback) {
  std::vector<std::string> lines = SplitLines(Docstring(comments, fallback));
  if (lines.size() == 1) {
    w.Line("\"\"\"$t$\"\"\"", {{"t", lines[0]}});
    return;
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    w.Line(i == 0 ? "\"\"\"$t$" : "$t$", {{"t", lines[i]}});
  }
  w.Line("\"\"\"");
}

constexpr const char* kMissingDoc = "Missing associated documentation comment in .proto file.";

class PythonGenerator : public LanguageGenerator {
 public:
  bool Generate(const FileModel& model, const Parameters& params,
                gp::compiler::GeneratorContext* context, std::string* error) const override {
    // Python attribute name of each method, per service.
    std::vector<std::vector<std::string>> attrs;
    std::map<std::string, std::string> module_names;  // module-level name -> origin
    module_names.emplace("polyrpc", "the polyrpc import");
    module_names.emplace("importlib", "the importlib import");
    for (const ServiceModel& s : model.services) {
      for (const std::string& n :
           {s.name + "Stub", s.name + "Servicer", "add_" + s.name + "Servicer_to_server"}) {
        auto [it, inserted] = module_names.emplace(n, "service " + s.full_name);
        if (!inserted) {
          *error = "the Python name " + n + " generated for service " + s.full_name +
                   " clashes with " + it->second + "; rename one of them";
          return false;
        }
      }
      std::vector<std::string> names;
      std::map<std::string, std::string> used;
      for (const MethodModel& m : s.methods) {
        std::string attr = EscapePython(m.name);
        auto [it, inserted] = used.emplace(attr, m.name);
        if (!inserted) {
          *error = "service " + s.full_name + ": methods '" + it->second + "' and '" + m.name +
                   "' both map to the Python name '" + attr + "'; rename one of them";
          return false;
        }
        names.push_back(attr);
      }
      attrs.push_back(std::move(names));
    }

    // The message modules the methods use, in a stable order (sorted by file name).
    std::map<std::string, const gp::FileDescriptor*> files;
    for (const ServiceModel& s : model.services) {
      for (const MethodModel& m : s.methods) {
        files.emplace(m.input->file()->name(), m.input->file());
        files.emplace(m.output->file()->name(), m.output->file());
      }
    }

    CodeWriter w(4);
    w.Line("# -*- coding: utf-8 -*-");
    w.Line("# Generated by protoc-gen-polyrpc (lang=python). DO NOT EDIT!");
    w.Line("# source: $file$", {{"file", model.file->name()}});
    w.Line("\"\"\"Client and server classes corresponding to protobuf-defined services.\"\"\"");
    bool importlib = false;
    for (const auto& [name, file] : files) importlib = importlib || NeedsImportlib(file);
    if (importlib) w.Line("import importlib");
    w.Line("import polyrpc");
    if (!files.empty()) w.Blank();
    for (const auto& [name, file] : files) w.Line(ImportLine(file));

    for (size_t i = 0; i < model.services.size(); ++i) {
      const ServiceModel& s = model.services[i];
      CodeWriter::Vars sv = {{"Service", s.name}, {"full_name", s.full_name}};
      // Stub.
      w.Blank();
      w.Blank();
      w.Line("class $Service$Stub(object):", sv);
      w.Indent();
      WriteDocstring(w, s.comments, kMissingDoc);
      w.Blank();
      w.Line("def __init__(self, channel):");
      w.Indent();
      w.Line("\"\"\"Constructor.");
      w.Blank();
      w.Line("Args:");
      w.Line("    channel: A polyrpc.Channel.");
      w.Line("\"\"\"");
      for (size_t j = 0; j < s.methods.size(); ++j) {
        const MethodModel& m = s.methods[j];
        CodeWriter::Vars v = {{"attr", attrs[i][j]},
                              {"kind", StreamingKindPythonName(m.kind)},
                              {"path", m.path},
                              {"Req", MessageExpr(m.input)},
                              {"Resp", MessageExpr(m.output)}};
        w.Line("self.$attr$ = channel.$kind$(", v);
        w.Line("        '$path$',", v);
        w.Line("        request_serializer=$Req$.SerializeToString,", v);
        w.Line("        response_deserializer=$Resp$.FromString,", v);
        w.Line("        )");
      }
      w.Outdent();
      w.Outdent();
      // Servicer.
      w.Blank();
      w.Blank();
      w.Line("class $Service$Servicer(object):", sv);
      w.Indent();
      WriteDocstring(w, s.comments, kMissingDoc);
      for (size_t j = 0; j < s.methods.size(); ++j) {
        const MethodModel& m = s.methods[j];
        bool streaming_in = m.kind == StreamingKind::kClientStreaming ||
                            m.kind == StreamingKind::kBidiStreaming;
        w.Blank();
        w.Line("def $attr$(self, $arg$, context):",
               {{"attr", attrs[i][j]}, {"arg", streaming_in ? "request_iterator" : "request"}});
        w.Indent();
        WriteDocstring(w, m.comments, kMissingDoc);
        w.Line("context.set_code(polyrpc.StatusCode.UNIMPLEMENTED)");
        w.Line("context.set_details('Method not implemented!')");
        w.Line("raise NotImplementedError('Method not implemented!')");
        w.Outdent();
      }
      if (s.methods.empty()) {
        w.Line("pass");
      }
      w.Outdent();
      // Registration.
      w.Blank();
      w.Blank();
      w.Line("def add_$Service$Servicer_to_server(servicer, server):", sv);
      w.Indent();
      w.Line("rpc_method_handlers = {");
      for (size_t j = 0; j < s.methods.size(); ++j) {
        const MethodModel& m = s.methods[j];
        CodeWriter::Vars v = {{"attr", attrs[i][j]},
                              {"name", m.name},
                              {"kind", StreamingKindPythonName(m.kind)},
                              {"Req", MessageExpr(m.input)},
                              {"Resp", MessageExpr(m.output)}};
        w.Line("        '$name$': polyrpc.$kind$_rpc_method_handler(", v);
        w.Line("                servicer.$attr$,", v);
        w.Line("                request_deserializer=$Req$.FromString,", v);
        w.Line("                response_serializer=$Resp$.SerializeToString,", v);
        w.Line("        ),");
      }
      w.Line("}");
      w.Line("generic_handler = polyrpc.method_handlers_generic_handler(");
      w.Line("        '$full_name$', rpc_method_handlers)", sv);
      w.Line("server.add_generic_rpc_handlers((generic_handler,))");
      w.Outdent();
    }

    // Beside <file>_pb2.py, named as protoc names that (with '-' turned into '_').
    WriteFile(context, ReplaceAll(StripProtoSuffix(model.file->name()), "-", "_") + "_pb2_polyrpc.py",
              w.text());
    return true;
  }
};

}  // namespace

std::unique_ptr<LanguageGenerator> MakePythonGenerator() {
  return std::make_unique<PythonGenerator>();
}

}  // namespace polyrpc::codegen
