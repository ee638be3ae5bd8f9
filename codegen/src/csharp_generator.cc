// lang=csharp: <File>PolyRpc.cs, the shape of protoc-gen-grpc-csharp's <File>Grpc.cs (Grpc.Core
// 1.x) on PolyRpc.Core instead of Grpc.Core: per service a static partial class with the
// marshallers and Method objects, <Service>Base (server handlers to override, UNIMPLEMENTED by
// default), <Service>Client (ClientBase<T>: blocking, Async, streaming calls) and BindService.
// Message types are named as protoc's C# generator names them (csharp_namespace, else the
// package in PascalCase; nested types under Outer.Types.Inner).
//
// Marshallers are pluggable. By default they are Google.Protobuf's, exactly as grpc's generator
// writes them (MessageExtensions.ToByteArray, Parser.ParseFrom), for messages from protoc's
// --csharp_out. With marshaller_factory=Some.Type they come from
// Some.Type.Create<T>("full.proto.Name"), for any other message classes (the C# tests use
// JSON-backed classes over a DescriptorPool). Other parameters, as grpc's: no_client, no_server,
// internal_access.
#include <cctype>
#include <map>
#include <set>

#include <google/protobuf/descriptor.pb.h>

#include "generator.h"
#include "naming.h"

namespace polyrpc::codegen {
namespace {

namespace gp = google::protobuf;

bool IsCSharpKeyword(const std::string& s) {
  static const std::set<std::string> kKeywords = {
      "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked",
      "class", "const", "continue", "decimal", "default", "delegate", "do", "double", "else",
      "enum", "event", "explicit", "extern", "false", "finally", "fixed", "float", "for",
      "foreach", "goto", "if", "implicit", "in", "int", "interface", "internal", "is", "lock",
      "long", "namespace", "new", "null", "object", "operator", "out", "override", "params",
      "private", "protected", "public", "readonly", "ref", "return", "sbyte", "sealed", "short",
      "sizeof", "stackalloc", "static", "string", "struct", "switch", "this", "throw", "true",
      "try", "typeof", "uint", "ulong", "unchecked", "unsafe", "ushort", "using", "virtual",
      "void", "volatile", "while"};
  return kKeywords.count(s) > 0;
}

// A C# identifier: keywords become verbatim identifiers (@class), as C# allows.
std::string Id(const std::string& name) { return IsCSharpKeyword(name) ? "@" + name : name; }

// protoc's UnderscoresToCamelCase(input, cap_next_letter=true, preserve_period=true).
std::string PascalCase(const std::string& input) {
  std::string result;
  bool cap_next = true;
  for (char c : input) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::islower(u)) {
      result += cap_next ? static_cast<char>(std::toupper(u)) : c;
      cap_next = false;
    } else if (std::isupper(u)) {
      result += c;
      cap_next = false;
    } else if (std::isdigit(u)) {
      result += c;
      cap_next = true;
    } else {
      cap_next = true;
      if (c == '.') result += '.';
    }
  }
  return result;
}

// The namespace protoc's C# generator gives a file's types.
std::string FileNamespace(const gp::FileDescriptor* file) {
  if (file->options().has_csharp_namespace()) return file->options().csharp_namespace();
  return PascalCase(file->package());
}

// "global::Ns.Outer.Types.Inner", as protoc's C# generator names a message class.
std::string ClassName(const gp::Descriptor* d) {
  std::string name = Id(d->name());
  for (const gp::Descriptor* outer = d->containing_type(); outer != nullptr;
       outer = outer->containing_type()) {
    name = Id(outer->name()) + ".Types." + name;
  }
  std::string ns = FileNamespace(d->file());
  std::string qualified;
  for (const std::string& part : Split(ns, '.')) {
    if (!part.empty()) qualified += Id(part) + ".";
  }
  return "global::" + qualified + name;
}

// "route_guide.proto" -> "RouteGuide": protoc's C# file base name (and of its Reflection class).
std::string FileBase(const gp::FileDescriptor* file) {
  std::string base = StripProtoSuffix(file->name());
  size_t slash = base.rfind('/');
  if (slash != std::string::npos) base = base.substr(slash + 1);
  return PascalCase(base);
}

std::string MarshallerField(const gp::Descriptor* d) {
  return "__Marshaller_" + ReplaceAll(d->full_name(), ".", "_");
}

std::string XmlEscape(const std::string& text) {
  std::string out = ReplaceAll(text, "&", "&amp;");
  out = ReplaceAll(out, "<", "&lt;");
  return ReplaceAll(out, ">", "&gt;");
}

void Summary(CodeWriter& w, const std::string& comments) {
  if (comments.empty()) return;
  w.Line("/// <summary>");
  w.Lines(XmlEscape(comments), "/// ");
  w.Line("/// </summary>");
}

const char* MethodTypeName(StreamingKind kind) {
  switch (kind) {
    case StreamingKind::kUnary:
      return "Unary";
    case StreamingKind::kServerStreaming:
      return "ServerStreaming";
    case StreamingKind::kClientStreaming:
      return "ClientStreaming";
    case StreamingKind::kBidiStreaming:
      return "DuplexStreaming";
  }
  return "Unary";
}

constexpr const char* kCallArgs =
    "grpc::Metadata headers = null, global::System.DateTime? deadline = null, "
    "global::System.Threading.CancellationToken cancellationToken = "
    "default(global::System.Threading.CancellationToken)";

class CSharpGenerator : public LanguageGenerator {
 public:
  std::vector<std::string> AcceptedParameters() const override {
    return {"marshaller_factory", "no_client", "no_server", "internal_access"};
  }

  bool Generate(const FileModel& model, const Parameters& params,
                gp::compiler::GeneratorContext* context, std::string* error) const override {
    std::string factory;
    bool client = true, server = true;
    std::string access = "public";
    for (const auto& [key, value] : params) {
      if (key == "marshaller_factory") {
        if (value.empty()) {
          *error = "protoc-gen-polyrpc: marshaller_factory needs a type name (marshaller_factory=My.Marshallers)";
          return false;
        }
        factory = value;
      } else if (key == "no_client") {
        client = false;
      } else if (key == "no_server") {
        server = false;
      } else if (key == "internal_access") {
        access = "internal";
      }
    }
    if (model.services.empty()) return true;  // like grpc's generator: no file without services

    // Collisions: method names against each other once the Async variants are added. (A
    // message of the service's name cannot exist: protoc refuses two names in one scope.)
    for (const ServiceModel& s : model.services) {
      std::map<std::string, std::string> used;
      for (const MethodModel& m : s.methods) {
        if (m.name == s.name + "Client" || m.name == s.name + "Base") {
          *error = "service " + s.full_name + ": method '" + m.name +
                   "' would have the name of the C# class that holds it; rename it";
          return false;
        }
        std::vector<std::string> names = {m.name};
        if (m.kind == StreamingKind::kUnary) names.push_back(m.name + "Async");
        for (const std::string& n : names) {
          auto [it, inserted] = used.emplace(n, m.name);
          if (!inserted) {
            *error = "service " + s.full_name + ": methods '" + it->second + "' and '" + m.name +
                     "' both map to the C# client method " + n + "; rename one of them";
            return false;
          }
        }
      }
    }

    CodeWriter w(2);
    w.Line("// <auto-generated>");
    w.Line("//     Generated by protoc-gen-polyrpc (lang=csharp). DO NOT EDIT!");
    w.Line("//     source: $file$", {{"file", model.file->name()}});
    w.Line("// </auto-generated>");
    w.Line("#pragma warning disable 0414, 1591");
    w.Line("#region Designer generated code");
    w.Blank();
    w.Line("using grpc = global::PolyRpc.Core;");
    w.Blank();
    std::string ns = FileNamespace(model.file);
    if (!ns.empty()) {
      std::string escaped;
      for (const std::string& part : Split(ns, '.')) {
        escaped += (escaped.empty() ? "" : ".") + Id(part);
      }
      w.Line("namespace $ns$ {", {{"ns", escaped}});
      w.Indent();
    }
    for (size_t si = 0; si < model.services.size(); ++si) {
      if (si > 0) w.Blank();
      WriteService(w, model, model.services[si], static_cast<int>(si), factory, client, server, access);
    }
    if (!ns.empty()) {
      w.Outdent();
      w.Line("}");
    }
    w.Line("#endregion");
    WriteFile(context, FileBase(model.file) + "PolyRpc.cs", w.text());
    return true;
  }

 private:
  static void WriteService(CodeWriter& w, const FileModel& model, const ServiceModel& s, int index,
                           const std::string& factory, bool client, bool server,
                           const std::string& access) {
    std::string cls = Id(s.name);
    CodeWriter::Vars sv = {{"access", access}, {"Service", cls}, {"name", s.name},
                           {"full_name", s.full_name}};
    Summary(w, s.comments);
    w.Line("$access$ static partial class $Service$", sv);
    w.Line("{");
    w.Indent();
    w.Line("static readonly string __ServiceName = \"$full_name$\";", sv);
    w.Blank();

    // One marshaller per message type, in order of first use.
    std::vector<const gp::Descriptor*> types;
    std::set<const gp::Descriptor*> seen;
    for (const MethodModel& m : s.methods) {
      for (const gp::Descriptor* d : {m.input, m.output}) {
        if (seen.insert(d).second) types.push_back(d);
      }
    }
    for (const gp::Descriptor* d : types) {
      CodeWriter::Vars v = {{"T", ClassName(d)}, {"field", MarshallerField(d)},
                            {"proto", d->full_name()}, {"factory", factory}};
      if (factory.empty()) {
        w.Line("static readonly grpc::Marshaller<$T$> $field$ = grpc::Marshallers.Create((arg) => "
               "global::Google.Protobuf.MessageExtensions.ToByteArray(arg), $T$.Parser.ParseFrom);",
               v);
      } else {
        w.Line("static readonly grpc::Marshaller<$T$> $field$ = global::$factory$.Create<$T$>(\"$proto$\");",
               v);
      }
    }
    w.Blank();
    for (const MethodModel& m : s.methods) {
      CodeWriter::Vars v = {{"Req", ClassName(m.input)},   {"Resp", ClassName(m.output)},
                            {"name", m.name},              {"kind", MethodTypeName(m.kind)},
                            {"req_m", MarshallerField(m.input)},
                            {"resp_m", MarshallerField(m.output)}};
      w.Line("static readonly grpc::Method<$Req$, $Resp$> __Method_$name$ = new grpc::Method<$Req$, $Resp$>(", v);
      w.Indent();
      w.Indent();
      w.Line("grpc::MethodType.$kind$,", v);
      w.Line("__ServiceName,");
      w.Line("\"$name$\",", v);
      w.Line("$req_m$,", v);
      w.Line("$resp_m$);", v);
      w.Outdent();
      w.Outdent();
      w.Blank();
    }
    if (factory.empty()) {
      // Google.Protobuf's reflection, as grpc's generator gives it.
      w.Line("/// <summary>Service descriptor</summary>");
      w.Line("public static global::Google.Protobuf.Reflection.ServiceDescriptor Descriptor");
      w.Line("{");
      w.Indent();
      w.Line("get { return $reflection$.Descriptor.Services[$index$]; }",
             {{"reflection", ClassNameOfReflection(model.file)}, {"index", std::to_string(index)}});
      w.Outdent();
      w.Line("}");
      w.Blank();
    }
    if (server) WriteServerBase(w, s, sv);
    if (client) WriteClient(w, s, sv);
    if (server) WriteBindService(w, s, sv);
    w.Outdent();
    w.Line("}");
  }

  static std::string ClassNameOfReflection(const gp::FileDescriptor* file) {
    std::string ns = FileNamespace(file);
    std::string qualified;
    for (const std::string& part : Split(ns, '.')) {
      if (!part.empty()) qualified += Id(part) + ".";
    }
    return "global::" + qualified + FileBase(file) + "Reflection";
  }

  static void WriteServerBase(CodeWriter& w, const ServiceModel& s, const CodeWriter::Vars& sv) {
    w.Line("/// <summary>Base class for server-side implementations of $name$</summary>", sv);
    w.Line("public abstract partial class $name$Base", sv);
    w.Line("{");
    w.Indent();
    for (size_t i = 0; i < s.methods.size(); ++i) {
      const MethodModel& m = s.methods[i];
      if (i > 0) w.Blank();
      CodeWriter::Vars v = {{"Req", ClassName(m.input)}, {"Resp", ClassName(m.output)},
                            {"M", Id(m.name)}};
      Summary(w, m.comments);
      switch (m.kind) {
        case StreamingKind::kUnary:
          w.Line("/// <param name=\"request\">The request received from the client.</param>");
          w.Line("/// <param name=\"context\">The context of the server-side call handler being invoked.</param>");
          w.Line("/// <returns>The response to send back to the client (wrapped by a task).</returns>");
          w.Line("public virtual global::System.Threading.Tasks.Task<$Resp$> $M$($Req$ request, grpc::ServerCallContext context)", v);
          break;
        case StreamingKind::kServerStreaming:
          w.Line("/// <param name=\"request\">The request received from the client.</param>");
          w.Line("/// <param name=\"responseStream\">Used for sending responses back to the client.</param>");
          w.Line("/// <param name=\"context\">The context of the server-side call handler being invoked.</param>");
          w.Line("/// <returns>A task indicating completion of the handler.</returns>");
          w.Line("public virtual global::System.Threading.Tasks.Task $M$($Req$ request, grpc::IServerStreamWriter<$Resp$> responseStream, grpc::ServerCallContext context)", v);
          break;
        case StreamingKind::kClientStreaming:
          w.Line("/// <param name=\"requestStream\">Used for reading requests from the client.</param>");
          w.Line("/// <param name=\"context\">The context of the server-side call handler being invoked.</param>");
          w.Line("/// <returns>The response to send back to the client (wrapped by a task).</returns>");
          w.Line("public virtual global::System.Threading.Tasks.Task<$Resp$> $M$(grpc::IAsyncStreamReader<$Req$> requestStream, grpc::ServerCallContext context)", v);
          break;
        case StreamingKind::kBidiStreaming:
          w.Line("/// <param name=\"requestStream\">Used for reading requests from the client.</param>");
          w.Line("/// <param name=\"responseStream\">Used for sending responses back to the client.</param>");
          w.Line("/// <param name=\"context\">The context of the server-side call handler being invoked.</param>");
          w.Line("/// <returns>A task indicating completion of the handler.</returns>");
          w.Line("public virtual global::System.Threading.Tasks.Task $M$(grpc::IAsyncStreamReader<$Req$> requestStream, grpc::IServerStreamWriter<$Resp$> responseStream, grpc::ServerCallContext context)", v);
          break;
      }
      w.Line("{");
      w.Indent();
      w.Line("throw new grpc::RpcException(new grpc::Status(grpc::StatusCode.Unimplemented, \"\"));");
      w.Outdent();
      w.Line("}");
    }
    w.Outdent();
    w.Line("}");
    w.Blank();
  }

  static void WriteClient(CodeWriter& w, const ServiceModel& s, const CodeWriter::Vars& sv) {
    w.Line("/// <summary>Client for $name$</summary>", sv);
    w.Line("public partial class $name$Client : grpc::ClientBase<$name$Client>", sv);
    w.Line("{");
    w.Indent();
    w.Line("/// <summary>Creates a new client for $name$</summary>", sv);
    w.Line("/// <param name=\"channel\">The channel to use to make remote calls.</param>");
    w.Line("public $name$Client(grpc::ChannelBase channel) : base(channel)", sv);
    w.Line("{");
    w.Line("}");
    w.Line("/// <summary>Creates a new client for $name$ that uses a custom <c>CallInvoker</c>.</summary>", sv);
    w.Line("/// <param name=\"callInvoker\">The callInvoker to use to make remote calls.</param>");
    w.Line("public $name$Client(grpc::CallInvoker callInvoker) : base(callInvoker)", sv);
    w.Line("{");
    w.Line("}");
    w.Line("/// <summary>Protected parameterless constructor to allow creation of test doubles.</summary>");
    w.Line("protected $name$Client() : base()", sv);
    w.Line("{");
    w.Line("}");
    w.Line("/// <summary>Protected constructor to allow creation of configured clients.</summary>");
    w.Line("/// <param name=\"configuration\">The client configuration.</param>");
    w.Line("protected $name$Client(grpc::ClientBaseConfiguration configuration) : base(configuration)", sv);
    w.Line("{");
    w.Line("}");
    for (const MethodModel& m : s.methods) {
      CodeWriter::Vars v = {{"Req", ClassName(m.input)}, {"Resp", ClassName(m.output)},
                            {"M", Id(m.name)},         {"MA", m.name + "Async"},
                            {"name", m.name},          {"args", kCallArgs}};
      w.Blank();
      switch (m.kind) {
        case StreamingKind::kUnary:
          Summary(w, m.comments);
          w.Line("public virtual $Resp$ $M$($Req$ request, $args$)", v);
          Body(w, "return $M$(request, new grpc::CallOptions(headers, deadline, cancellationToken));", v);
          Summary(w, m.comments);
          w.Line("public virtual $Resp$ $M$($Req$ request, grpc::CallOptions options)", v);
          Body(w, "return CallInvoker.BlockingUnaryCall(__Method_$name$, null, options, request);", v);
          Summary(w, m.comments);
          w.Line("public virtual grpc::AsyncUnaryCall<$Resp$> $MA$($Req$ request, $args$)", v);
          Body(w, "return $MA$(request, new grpc::CallOptions(headers, deadline, cancellationToken));", v);
          Summary(w, m.comments);
          w.Line("public virtual grpc::AsyncUnaryCall<$Resp$> $MA$($Req$ request, grpc::CallOptions options)", v);
          Body(w, "return CallInvoker.AsyncUnaryCall(__Method_$name$, null, options, request);", v);
          break;
        case StreamingKind::kServerStreaming:
          Summary(w, m.comments);
          w.Line("public virtual grpc::AsyncServerStreamingCall<$Resp$> $M$($Req$ request, $args$)", v);
          Body(w, "return $M$(request, new grpc::CallOptions(headers, deadline, cancellationToken));", v);
          Summary(w, m.comments);
          w.Line("public virtual grpc::AsyncServerStreamingCall<$Resp$> $M$($Req$ request, grpc::CallOptions options)", v);
          Body(w, "return CallInvoker.AsyncServerStreamingCall(__Method_$name$, null, options, request);", v);
          break;
        case StreamingKind::kClientStreaming:
          Summary(w, m.comments);
          w.Line("public virtual grpc::AsyncClientStreamingCall<$Req$, $Resp$> $M$($args$)", v);
          Body(w, "return $M$(new grpc::CallOptions(headers, deadline, cancellationToken));", v);
          Summary(w, m.comments);
          w.Line("public virtual grpc::AsyncClientStreamingCall<$Req$, $Resp$> $M$(grpc::CallOptions options)", v);
          Body(w, "return CallInvoker.AsyncClientStreamingCall(__Method_$name$, null, options);", v);
          break;
        case StreamingKind::kBidiStreaming:
          Summary(w, m.comments);
          w.Line("public virtual grpc::AsyncDuplexStreamingCall<$Req$, $Resp$> $M$($args$)", v);
          Body(w, "return $M$(new grpc::CallOptions(headers, deadline, cancellationToken));", v);
          Summary(w, m.comments);
          w.Line("public virtual grpc::AsyncDuplexStreamingCall<$Req$, $Resp$> $M$(grpc::CallOptions options)", v);
          Body(w, "return CallInvoker.AsyncDuplexStreamingCall(__Method_$name$, null, options);", v);
          break;
      }
    }
    w.Line("/// <summary>Creates a new instance of client from given <c>ClientBaseConfiguration</c>.</summary>");
    w.Line("protected override $name$Client NewInstance(grpc::ClientBaseConfiguration configuration)", sv);
    Body(w, "return new $name$Client(configuration);", sv);
    w.Outdent();
    w.Line("}");
    w.Blank();
  }

  static void Body(CodeWriter& w, const std::string& statement, const CodeWriter::Vars& v) {
    w.Line("{");
    w.Indent();
    w.Line(statement, v);
    w.Outdent();
    w.Line("}");
  }

  static void WriteBindService(CodeWriter& w, const ServiceModel& s, const CodeWriter::Vars& sv) {
    w.Line("/// <summary>Creates service definition that can be registered with a server</summary>");
    w.Line("/// <param name=\"serviceImpl\">An object implementing the server-side handling logic.</param>");
    w.Line("public static grpc::ServerServiceDefinition BindService($name$Base serviceImpl)", sv);
    w.Line("{");
    w.Indent();
    w.Line("return grpc::ServerServiceDefinition.CreateBuilder()");
    for (size_t i = 0; i < s.methods.size(); ++i) {
      const MethodModel& m = s.methods[i];
      w.Line("    .AddMethod(__Method_$name$, serviceImpl.$M$)$end$",
             {{"name", m.name}, {"M", Id(m.name)}, {"end", i + 1 == s.methods.size() ? ".Build();" : ""}});
    }
    if (s.methods.empty()) w.Line("    .Build();");
    w.Outdent();
    w.Line("}");
    w.Blank();
    w.Line("/// <summary>Register service method with a service binder with or without implementation. Useful when customizing the service binding logic.</summary>");
    w.Line("/// <param name=\"serviceBinder\">Service methods will be bound by calling <c>AddMethod</c> on this object.</param>");
    w.Line("/// <param name=\"serviceImpl\">An object implementing the server-side handling logic.</param>");
    w.Line("public static void BindService(grpc::ServiceBinderBase serviceBinder, $name$Base serviceImpl)", sv);
    w.Line("{");
    w.Indent();
    for (const MethodModel& m : s.methods) {
      const char* handler = "UnaryServerMethod";
      if (m.kind == StreamingKind::kServerStreaming) handler = "ServerStreamingServerMethod";
      if (m.kind == StreamingKind::kClientStreaming) handler = "ClientStreamingServerMethod";
      if (m.kind == StreamingKind::kBidiStreaming) handler = "DuplexStreamingServerMethod";
      w.Line("serviceBinder.AddMethod(__Method_$name$, serviceImpl == null ? null : new grpc::$handler$<$Req$, $Resp$>(serviceImpl.$M$));",
             {{"name", m.name}, {"M", Id(m.name)}, {"handler", handler}, {"Req", ClassName(m.input)},
              {"Resp", ClassName(m.output)}});
    }
    w.Outdent();
    w.Line("}");
  }
};

}  // namespace

std::unique_ptr<LanguageGenerator> MakeCSharpGenerator() {
  return std::make_unique<CSharpGenerator>();
}

}  // namespace polyrpc::codegen
