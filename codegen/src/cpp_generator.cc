// lang=cpp: <file>.polyrpc.h / .polyrpc.cc with, per service, a FooClient (blocking methods plus
// an async callback variant of each unary method, on polyrpc::Channel) and a FooService base class
// (one virtual method per RPC, default UNIMPLEMENTED) with Register(Server&, ThreadPool&). Built
// on polyrpc++/proto.hpp; message classes come from protoc's own --cpp_out (<file>.pb.h).
#include <map>
#include <set>

#include <google/protobuf/compiler/cpp/names.h>

#include "generator.h"
#include "naming.h"

namespace polyrpc::codegen {

namespace {
// protoc's name of a file's descriptor table in <file>.pb.h (compiler/cpp/helpers.cc,
// FilenameIdentifier): "descriptor_table_" and the file name with every character other than a
// letter or a digit written as '_' and its hex code ("a/b_c.proto" -> "a_2fb_5fc_2eproto").
std::string DescriptorTableName(const std::string& filename) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "descriptor_table_";
  for (unsigned char c : filename) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out += static_cast<char>(c);
    } else {
      out += '_';
      if (c >= 16) out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}
}  // namespace
namespace {

namespace gp = google::protobuf;

std::string TypeName(const gp::Descriptor* d) {
  // The exact name protoc's C++ generator gives the class (nested types as Outer_Inner,
  // keywords escaped), so the references always match --cpp_out.
  return gp::compiler::cpp::QualifiedClassName(d);
}

std::string IncludeGuard(const std::string& filename) {
  std::string guard = "POLYRPC_GENERATED_";
  for (char c : filename) {
    guard += std::isalnum(static_cast<unsigned char>(c))
                 ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                 : '_';
  }
  return guard + "_INCLUDED";
}

std::string CppStringLiteral(const std::string& s) {
  // Proto identifiers and dots only, so no escaping is needed; kept as a function to say so.
  return "\"" + s + "\"";
}

// The C++ name of each method in the generated classes, after escaping keywords and the names
// the generated classes themselves use.
struct MethodNames {
  std::string method;  // FooClient::X and FooService::X
  std::string async;   // FooClient::XAsync (unary only)
};

bool NameMethods(const ServiceModel& service, std::vector<MethodNames>* names,
                 std::string* error) {
  const std::set<std::string> taken_by_classes = {
      service.name + "Client", service.name + "Service", "Register", "channel",
      "service_full_name"};
  std::map<std::string, std::string> used;  // C++ name -> proto method that produced it
  auto claim = [&](const std::string& cpp, const std::string& proto) {
    auto [it, inserted] = used.emplace(cpp, proto);
    if (inserted) return true;
    *error = "service " + service.full_name + ": methods '" + it->second + "' and '" + proto +
             "' both map to the C++ name '" + cpp + "'; rename one of them";
    return false;
  };
  for (const MethodModel& m : service.methods) {
    MethodNames n;
    n.method = EscapeCpp(m.name);
    if (taken_by_classes.count(n.method)) n.method += "_";
    if (!claim(n.method, m.name)) return false;
    if (m.kind == StreamingKind::kUnary) {
      n.async = m.name + "Async";
      if (!claim(n.async, m.name)) return false;
    }
    names->push_back(n);
  }
  return true;
}

class CppGenerator : public LanguageGenerator {
 public:
  bool Generate(const FileModel& model, const Parameters& params,
                gp::compiler::GeneratorContext* context, std::string* error) const override {
    if (!CheckClassNames(model, error)) return false;
    std::vector<std::vector<MethodNames>> names(model.services.size());
    for (size_t i = 0; i < model.services.size(); ++i) {
      if (!NameMethods(model.services[i], &names[i], error)) return false;
    }
    std::string stem = StripProtoSuffix(model.file->name());
    WriteFile(context, stem + ".polyrpc.h", Header(model, names, stem));
    WriteFile(context, stem + ".polyrpc.cc", Source(model, names, stem));
    return true;
  }

 private:
  // FooClient / FooService must not clash with each other or with the file's top-level types.
  static bool CheckClassNames(const FileModel& model, std::string* error) {
    std::map<std::string, std::string> used;
    for (int i = 0; i < model.file->message_type_count(); ++i) {
      used.emplace(model.file->message_type(i)->name(), "message " +
                                                            model.file->message_type(i)->name());
    }
    for (int i = 0; i < model.file->enum_type_count(); ++i) {
      used.emplace(model.file->enum_type(i)->name(), "enum " + model.file->enum_type(i)->name());
    }
    for (const ServiceModel& s : model.services) {
      for (const std::string& cls : {s.name + "Client", s.name + "Service"}) {
        auto [it, inserted] = used.emplace(cls, "service " + s.name);
        if (!inserted) {
          *error = "the C++ class " + cls + " generated for service " + s.full_name +
                   " clashes with " + it->second + "; rename one of them";
          return false;
        }
      }
    }
    return true;
  }

  static void OpenNamespace(const FileModel& model, CodeWriter& w) {
    if (model.package_parts.empty()) return;
    std::string ns;
    for (const std::string& part : model.package_parts) {
      ns += ns.empty() ? "" : "::";
      ns += EscapeCpp(part);
    }
    w.Line("namespace $ns$ {", {{"ns", ns}});
    w.Blank();
  }
  static void CloseNamespace(const FileModel& model, CodeWriter& w) {
    if (model.package_parts.empty()) return;
    std::string ns;
    for (const std::string& part : model.package_parts) {
      ns += ns.empty() ? "" : "::";
      ns += EscapeCpp(part);
    }
    w.Line("}  // namespace $ns$", {{"ns", ns}});
  }

  static CodeWriter::Vars MethodVars(const ServiceModel& s, const MethodModel& m,
                                     const MethodNames& n) {
    return {{"Service", s.name},
            {"Method", n.method},
            {"MethodAsync", n.async},
            {"Req", TypeName(m.input)},
            {"Resp", TypeName(m.output)},
            {"path", CppStringLiteral(m.path)},
            {"full_name", s.full_name},
            {"proto_name", m.name}};
  }

  static std::string Header(const FileModel& model,
                            const std::vector<std::vector<MethodNames>>& names,
                            const std::string& stem) {
    CodeWriter w;
    w.Line("// Generated by protoc-gen-polyrpc (lang=cpp). DO NOT EDIT!");
    w.Line("// source: $file$", {{"file", model.file->name()}});
    std::string guard = IncludeGuard(model.file->name());
    w.Line("#ifndef $g$", {{"g", guard}});
    w.Line("#define $g$", {{"g", guard}});
    w.Blank();
    w.Line("#include <functional>");
    w.Line("#include <memory>");
    w.Line("#include <utility>");
    w.Blank();
    w.Line("#include \"polyrpc++/channel.hpp\"");
    w.Line("#include \"polyrpc++/proto.hpp\"");
    w.Line("#include \"polyrpc++/server.hpp\"");
    w.Line("#include \"$stem$.pb.h\"", {{"stem", stem}});
    w.Blank();
    OpenNamespace(model, w);
    for (size_t i = 0; i < model.services.size(); ++i) {
      const ServiceModel& s = model.services[i];
      CodeWriter::Vars sv = {{"Service", s.name}, {"full_name", s.full_name}};
      // Client.
      w.Lines(s.comments, "// ");
      if (!s.comments.empty()) w.Line("//");
      w.Line("// Client of $full_name$. Thread-safe; calls may run concurrently.", sv);
      w.Line("class $Service$Client {", sv);
      w.Line(" public:");
      w.Indent();
      w.Line("explicit $Service$Client(std::shared_ptr<::polyrpc::Channel> channel)", sv);
      w.Line("    : channel_(std::move(channel)) {}");
      w.Line("static constexpr const char* service_full_name() { return \"$full_name$\"; }", sv);
      w.Line("const std::shared_ptr<::polyrpc::Channel>& channel() const { return channel_; }");
      for (size_t j = 0; j < s.methods.size(); ++j) {
        const MethodModel& m = s.methods[j];
        CodeWriter::Vars v = MethodVars(s, m, names[i][j]);
        w.Blank();
        w.Lines(m.comments, "// ");
        switch (m.kind) {
          case StreamingKind::kUnary:
            w.Line("::polyrpc::Status $Method$(const $Req$& request, $Resp$* response,", v);
            w.Line("    const ::polyrpc::CallOptions& options = ::polyrpc::CallOptions(),");
            w.Line("    ::polyrpc::Metadata* initial_metadata = nullptr,");
            w.Line("    ::polyrpc::Metadata* trailing_metadata = nullptr);");
            w.Line("// Callback form of $proto_name$: done runs once, on an I/O thread.", v);
            w.Line("std::shared_ptr<::polyrpc::ClientCall> $MethodAsync$(", v);
            w.Line("    const $Req$& request,", v);
            w.Line("    std::function<void(::polyrpc::Status, $Resp$)> done,", v);
            w.Line("    const ::polyrpc::CallOptions& options = ::polyrpc::CallOptions());");
            break;
          case StreamingKind::kServerStreaming:
            w.Line("std::unique_ptr<::polyrpc::ClientReader<$Resp$>> $Method$(", v);
            w.Line("    const $Req$& request,", v);
            w.Line("    const ::polyrpc::CallOptions& options = ::polyrpc::CallOptions());");
            break;
          case StreamingKind::kClientStreaming:
            w.Line("// *response is filled in by the writer's Finish().");
            w.Line("std::unique_ptr<::polyrpc::ClientWriter<$Req$>> $Method$(", v);
            w.Line("    $Resp$* response,", v);
            w.Line("    const ::polyrpc::CallOptions& options = ::polyrpc::CallOptions());");
            break;
          case StreamingKind::kBidiStreaming:
            w.Line("std::unique_ptr<::polyrpc::ClientReaderWriter<$Req$, $Resp$>> $Method$(", v);
            w.Line("    const ::polyrpc::CallOptions& options = ::polyrpc::CallOptions());");
            break;
        }
      }
      w.Outdent();
      w.Blank();
      w.Line(" private:");
      w.Line("  std::shared_ptr<::polyrpc::Channel> channel_;");
      w.Line("};");
      w.Blank();
      // Service base.
      w.Lines(s.comments, "// ");
      if (!s.comments.empty()) w.Line("//");
      w.Line("// Implementation base of $full_name$: override the methods you serve; the others", sv);
      w.Line("// answer UNIMPLEMENTED. Methods run on the ThreadPool given to Register(), several at");
      w.Line("// a time, so an implementation must be thread-safe.");
      w.Line("class $Service$Service {", sv);
      w.Line(" public:");
      w.Indent();
      w.Line("virtual ~$Service$Service() = default;", sv);
      w.Line("static constexpr const char* service_full_name() { return \"$full_name$\"; }", sv);
      for (size_t j = 0; j < s.methods.size(); ++j) {
        const MethodModel& m = s.methods[j];
        CodeWriter::Vars v = MethodVars(s, m, names[i][j]);
        w.Blank();
        w.Lines(m.comments, "// ");
        switch (m.kind) {
          case StreamingKind::kUnary:
            w.Line("virtual ::polyrpc::Status $Method$(::polyrpc::ServerContext& context,", v);
            w.Line("    const $Req$& request, $Resp$* response);", v);
            break;
          case StreamingKind::kServerStreaming:
            w.Line("virtual ::polyrpc::Status $Method$(::polyrpc::ServerContext& context,", v);
            w.Line("    const $Req$& request, ::polyrpc::ServerWriter<$Resp$>* writer);", v);
            break;
          case StreamingKind::kClientStreaming:
            w.Line("virtual ::polyrpc::Status $Method$(::polyrpc::ServerContext& context,", v);
            w.Line("    ::polyrpc::ServerReader<$Req$>* reader, $Resp$* response);", v);
            break;
          case StreamingKind::kBidiStreaming:
            w.Line("virtual ::polyrpc::Status $Method$(::polyrpc::ServerContext& context,", v);
            w.Line("    ::polyrpc::ServerReaderWriter<$Resp$, $Req$>* stream);", v);
            break;
        }
      }
      w.Blank();
      w.Line("// Registers every method on server (before server.Start()). This object, the server");
      w.Line("// and the pool must outlive the server.");
      w.Line("void Register(::polyrpc::Server& server, ::polyrpc::ThreadPool& pool);");
      w.Outdent();
      w.Line("};");
      w.Blank();
    }
    CloseNamespace(model, w);
    if (!model.package_parts.empty()) w.Blank();
    w.Line("#endif  // $g$", {{"g", guard}});
    return w.text();
  }

  static std::string Source(const FileModel& model,
                            const std::vector<std::vector<MethodNames>>& names,
                            const std::string& stem) {
    CodeWriter w;
    w.Line("// Generated by protoc-gen-polyrpc (lang=cpp). DO NOT EDIT!");
    w.Line("// source: $file$", {{"file", model.file->name()}});
    w.Line("#include \"$stem$.polyrpc.h\"", {{"stem", stem}});
    w.Blank();
    OpenNamespace(model, w);
    for (size_t i = 0; i < model.services.size(); ++i) {
      const ServiceModel& s = model.services[i];
      for (size_t j = 0; j < s.methods.size(); ++j) {
        const MethodModel& m = s.methods[j];
        CodeWriter::Vars v = MethodVars(s, m, names[i][j]);
        switch (m.kind) {
          case StreamingKind::kUnary:
            w.Line("::polyrpc::Status $Service$Client::$Method$(const $Req$& request,", v);
            w.Line("    $Resp$* response, const ::polyrpc::CallOptions& options,", v);
            w.Line("    ::polyrpc::Metadata* initial_metadata, ::polyrpc::Metadata* trailing_metadata) {");
            w.Line("  return ::polyrpc::UnaryCall(*channel_, $path$, request, response, options,", v);
            w.Line("                              initial_metadata, trailing_metadata);");
            w.Line("}");
            w.Blank();
            w.Line("std::shared_ptr<::polyrpc::ClientCall> $Service$Client::$MethodAsync$(", v);
            w.Line("    const $Req$& request,", v);
            w.Line("    std::function<void(::polyrpc::Status, $Resp$)> done,", v);
            w.Line("    const ::polyrpc::CallOptions& options) {");
            w.Line("  return ::polyrpc::AsyncUnaryCall<$Req$, $Resp$>(", v);
            w.Line("      *channel_, $path$, request, options, std::move(done));", v);
            w.Line("}");
            break;
          case StreamingKind::kServerStreaming:
            w.Line("std::unique_ptr<::polyrpc::ClientReader<$Resp$>> $Service$Client::$Method$(", v);
            w.Line("    const $Req$& request, const ::polyrpc::CallOptions& options) {", v);
            w.Line("  return std::make_unique<::polyrpc::ClientReader<$Resp$>>(", v);
            w.Line("      *channel_, $path$, request, options);", v);
            w.Line("}");
            break;
          case StreamingKind::kClientStreaming:
            w.Line("std::unique_ptr<::polyrpc::ClientWriter<$Req$>> $Service$Client::$Method$(", v);
            w.Line("    $Resp$* response, const ::polyrpc::CallOptions& options) {", v);
            w.Line("  return std::make_unique<::polyrpc::ClientWriter<$Req$>>(", v);
            w.Line("      *channel_, $path$, response, options);", v);
            w.Line("}");
            break;
          case StreamingKind::kBidiStreaming:
            w.Line("std::unique_ptr<::polyrpc::ClientReaderWriter<$Req$, $Resp$>>", v);
            w.Line("$Service$Client::$Method$(const ::polyrpc::CallOptions& options) {", v);
            w.Line("  return std::make_unique<::polyrpc::ClientReaderWriter<$Req$, $Resp$>>(", v);
            w.Line("      *channel_, $path$, options);", v);
            w.Line("}");
            break;
        }
        w.Blank();
      }
      for (size_t j = 0; j < s.methods.size(); ++j) {
        const MethodModel& m = s.methods[j];
        CodeWriter::Vars v = MethodVars(s, m, names[i][j]);
        switch (m.kind) {
          case StreamingKind::kUnary:
            w.Line("::polyrpc::Status $Service$Service::$Method$(::polyrpc::ServerContext&,", v);
            w.Line("    const $Req$&, $Resp$*) {", v);
            break;
          case StreamingKind::kServerStreaming:
            w.Line("::polyrpc::Status $Service$Service::$Method$(::polyrpc::ServerContext&,", v);
            w.Line("    const $Req$&, ::polyrpc::ServerWriter<$Resp$>*) {", v);
            break;
          case StreamingKind::kClientStreaming:
            w.Line("::polyrpc::Status $Service$Service::$Method$(::polyrpc::ServerContext&,", v);
            w.Line("    ::polyrpc::ServerReader<$Req$>*, $Resp$*) {", v);
            break;
          case StreamingKind::kBidiStreaming:
            w.Line("::polyrpc::Status $Service$Service::$Method$(::polyrpc::ServerContext&,", v);
            w.Line("    ::polyrpc::ServerReaderWriter<$Resp$, $Req$>*) {", v);
            break;
        }
        w.Line("  return ::polyrpc::Status(::polyrpc::StatusCode::UNIMPLEMENTED,");
        w.Line("                           \"Method $proto_name$ is not implemented\");", v);
        w.Line("}");
        w.Blank();
      }
      w.Line("void $Service$Service::Register(::polyrpc::Server& server, ::polyrpc::ThreadPool& pool) {",
             {{"Service", s.name}});
      w.Indent();
      // A file whose messages all come from imports has nothing else that pulls its .pb.cc out
      // of a static library, and without it the file is missing from protobuf's generated pool
      // (server reflection would not find the service).
      w.Line("::polyrpc::proto_internal::KeepDescriptor(&::$table$);",
             {{"table", DescriptorTableName(model.file->name())}});
      for (size_t j = 0; j < s.methods.size(); ++j) {
        const MethodModel& m = s.methods[j];
        CodeWriter::Vars v = MethodVars(s, m, names[i][j]);
        switch (m.kind) {
          case StreamingKind::kUnary:
            w.Line("::polyrpc::RegisterUnary<$Req$, $Resp$>(", v);
            w.Line("    server, pool, $path$,", v);
            w.Line("    [this](::polyrpc::ServerContext& context, const $Req$& request,", v);
            w.Line("           $Resp$* response) { return $Method$(context, request, response); });", v);
            break;
          case StreamingKind::kServerStreaming:
            w.Line("::polyrpc::RegisterServerStreaming<$Req$, $Resp$>(", v);
            w.Line("    server, pool, $path$,", v);
            w.Line("    [this](::polyrpc::ServerContext& context, const $Req$& request,", v);
            w.Line("           ::polyrpc::ServerWriter<$Resp$>* writer) {", v);
            w.Line("      return $Method$(context, request, writer);", v);
            w.Line("    });");
            break;
          case StreamingKind::kClientStreaming:
            w.Line("::polyrpc::RegisterClientStreaming<$Req$, $Resp$>(", v);
            w.Line("    server, pool, $path$,", v);
            w.Line("    [this](::polyrpc::ServerContext& context, ::polyrpc::ServerReader<$Req$>* reader,", v);
            w.Line("           $Resp$* response) { return $Method$(context, reader, response); });", v);
            break;
          case StreamingKind::kBidiStreaming:
            w.Line("::polyrpc::RegisterBidiStreaming<$Req$, $Resp$>(", v);
            w.Line("    server, pool, $path$,", v);
            w.Line("    [this](::polyrpc::ServerContext& context,", v);
            w.Line("           ::polyrpc::ServerReaderWriter<$Resp$, $Req$>* stream) {", v);
            w.Line("      return $Method$(context, stream);", v);
            w.Line("    });");
            break;
        }
      }
      w.Outdent();
      w.Line("}");
      w.Blank();
    }
    CloseNamespace(model, w);
    return w.text();
  }
};

}  // namespace

std::unique_ptr<LanguageGenerator> MakeCppGenerator() { return std::make_unique<CppGenerator>(); }

}  // namespace polyrpc::codegen
