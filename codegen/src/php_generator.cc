// lang=php: per service Foo, three files beside protoc's --php_out message classes, in the
// namespace protoc gives the file's messages (php_namespace, else the package in UpperCamel):
//  - FooClient.php: a client class extending \PolyRPC\BaseStub, shaped like grpc_php_plugin's
//    (one method per RPC: _simpleRequest, _serverStreamRequest, _clientStreamRequest,
//    _bidiRequest with the path and [ResponseClass, 'decode']);
//  - FooInterface.php: the server interface a service class implements, with METHODS (path,
//    kind and request class of each PHP method) for \PolyRPC\Server::handle();
//  - FooStub.php: a base class implementing the interface, every method answering
//    UNIMPLEMENTED, as grpc_php_plugin's generate_server stubs do.
// Message class names are computed exactly as protoc 3.21's PHP generator computes them
// (reserved words prefixed "PB", or "GPB" in google.protobuf; php_class_prefix; nested types as
// Outer\Inner), so the references match --php_out.
#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>

#include <google/protobuf/descriptor.pb.h>

#include "generator.h"
#include "naming.h"

namespace polyrpc::codegen {
namespace {

namespace gp = google::protobuf;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// protoc 3.21 php_generator.cc's kReservedNames.
bool IsPhpReserved(const std::string& name) {
  static const std::set<std::string> kReserved = {
      "abstract", "and", "array", "as", "break", "callable", "case", "catch", "class", "clone",
      "const", "continue", "declare", "default", "die", "do", "echo", "else", "elseif", "empty",
      "enddeclare", "endfor", "endforeach", "endif", "endswitch", "endwhile", "eval", "exit",
      "extends", "final", "finally", "fn", "for", "foreach", "function", "global", "goto", "if",
      "implements", "include", "include_once", "instanceof", "insteadof", "interface", "isset",
      "list", "match", "namespace", "new", "or", "parent", "print", "private", "protected",
      "public", "readonly", "require", "require_once", "return", "self", "static", "switch",
      "throw", "trait", "try", "unset", "use", "var", "while", "xor", "yield", "int", "float",
      "bool", "string", "true", "false", "null", "void", "iterable"};
  return kReserved.count(Lower(name)) > 0;
}

std::string ReservedPrefix(const std::string& name, const gp::FileDescriptor* file) {
  if (!IsPhpReserved(name)) return "";
  return file->package() == "google.protobuf" ? "GPB" : "PB";
}

std::string ClassPrefix(const std::string& name, const gp::FileDescriptor* file) {
  const std::string& prefix = file->options().php_class_prefix();
  if (!prefix.empty()) return prefix;
  return ReservedPrefix(name, file);
}

// The namespace of a file's classes, without leading or trailing backslash ("" for none).
std::string FileNamespace(const gp::FileDescriptor* file) {
  if (file->options().has_php_namespace()) return file->options().php_namespace();
  if (file->package().empty()) return "";
  std::string out;
  for (const std::string& part : Split(file->package(), '.')) {
    std::string seg = part;
    if (!seg.empty() && seg[0] >= 'a' && seg[0] <= 'z') seg[0] = static_cast<char>(seg[0] - 'a' + 'A');
    if (!out.empty()) out += '\\';
    out += ReservedPrefix(seg, file) + seg;
  }
  return out;
}

// "\Ns\Outer\Inner": the class protoc's PHP generator writes for a message.
std::string MessageClass(const gp::Descriptor* d) {
  const gp::FileDescriptor* file = d->file();
  std::string name = ClassPrefix(d->name(), file) + d->name();
  for (const gp::Descriptor* c = d->containing_type(); c != nullptr; c = c->containing_type()) {
    name = ClassPrefix(c->name(), file) + c->name() + "\\" + name;
  }
  std::string ns = FileNamespace(file);
  return "\\" + (ns.empty() ? name : ns + "\\" + name);
}

// A line of literal text (CodeWriter reads '$' as the start of a variable).
void Raw(CodeWriter& w, const std::string& text) { w.Line(ReplaceAll(text, "$", "$$")); }

// Text for a /** ... */ docblock: "*/" would end it.
std::string DocText(const std::string& text) { return ReplaceAll(text, "*/", "*\\/"); }

void WriteDoc(CodeWriter& w, const std::string& comments, const std::vector<std::string>& tags) {
  if (comments.empty() && tags.empty()) return;
  w.Line("/**");
  for (const std::string& line : SplitLines(DocText(comments))) {
    Raw(w, line.empty() ? " *" : " * " + line);
  }
  if (!comments.empty() && !tags.empty()) w.Line(" *");
  for (const std::string& tag : tags) Raw(w, " * " + tag);
  w.Line(" */");
}

// Methods of \PolyRPC\BaseStub (PHP method names are case-insensitive): a proto method with
// one of these names gets a trailing '_' in the client class.
bool TakenByBaseStub(const std::string& name) {
  static const std::set<std::string> kTaken = {
      "__construct", "__destruct", "getchannel", "gettarget", "getconnectivitystate",
      "waitforready", "close", "_simplerequest", "_serverstreamrequest",
      "_clientstreamrequest", "_bidirequest"};
  return kTaken.count(Lower(name)) > 0;
}

const char* KindConstant(StreamingKind kind) {
  switch (kind) {
    case StreamingKind::kUnary:
      return "UNARY_CALL";
    case StreamingKind::kServerStreaming:
      return "SERVER_STREAMING_CALL";
    case StreamingKind::kClientStreaming:
      return "CLIENT_STREAMING_CALL";
    case StreamingKind::kBidiStreaming:
      return "BIDI_STREAMING_CALL";
  }
  return "UNARY_CALL";
}

std::string PhpString(const std::string& s) {
  // Single-quoted: only \ and ' are special. Proto paths hold neither; kept general.
  return "'" + ReplaceAll(ReplaceAll(s, "\\", "\\\\"), "'", "\\'") + "'";
}

struct ServiceNames {
  std::string client, iface, stub;
  std::vector<std::string> client_methods;  // per method, the client class's method name
};

bool NameServices(const FileModel& model, const std::string& ns, std::vector<ServiceNames>* out,
                  std::string* error) {
  // Classes of this namespace that the file's messages and services define (lower-cased:
  // PHP class names are case-insensitive).
  std::map<std::string, std::string> classes;
  std::function<void(const gp::Descriptor*)> add_message = [&](const gp::Descriptor* d) {
    if (d->containing_type() == nullptr) {
      std::string name = ClassPrefix(d->name(), d->file()) + d->name();
      classes.emplace(Lower(name), "message " + d->full_name());
    }
  };
  for (int i = 0; i < model.file->message_type_count(); ++i) add_message(model.file->message_type(i));
  for (int i = 0; i < model.file->enum_type_count(); ++i) {
    const gp::EnumDescriptor* e = model.file->enum_type(i);
    classes.emplace(Lower(ClassPrefix(e->name(), model.file) + e->name()), "enum " + e->full_name());
  }
  for (const ServiceModel& s : model.services) {
    ServiceNames n;
    n.client = s.name + "Client";
    n.iface = s.name + "Interface";
    n.stub = s.name + "Stub";
    for (const std::string* c : {&n.client, &n.iface, &n.stub}) {
      auto [it, inserted] = classes.emplace(Lower(*c), "service " + s.full_name);
      if (!inserted) {
        *error = "the PHP class " + (ns.empty() ? "" : ns + "\\") + *c +
                 " generated for service " + s.full_name + " clashes with " + it->second +
                 "; rename one of them";
        return false;
      }
    }
    std::map<std::string, std::string> used;  // lower-cased PHP name -> proto method
    for (const MethodModel& m : s.methods) {
      std::string name = TakenByBaseStub(m.name) ? m.name + "_" : m.name;
      auto [it, inserted] = used.emplace(Lower(name), m.name);
      if (!inserted) {
        *error = "service " + s.full_name + ": methods '" + it->second + "' and '" + m.name +
                 "' both map to the PHP method " + name +
                 " (PHP method names are case-insensitive); rename one of them";
        return false;
      }
      n.client_methods.push_back(name);
    }
    // The interface and the stub use the proto names as they are; only case clashes matter.
    std::set<std::string> seen;
    for (const MethodModel& m : s.methods) {
      if (!seen.insert(Lower(m.name)).second) {
        *error = "service " + s.full_name + ": two methods named '" + m.name +
                 "' apart from case (PHP method names are case-insensitive); rename one of them";
        return false;
      }
    }
    out->push_back(std::move(n));
  }
  return true;
}

void Header(CodeWriter& w, const FileModel& model, const std::string& ns) {
  w.Line("<?php");
  w.Line("// GENERATED CODE -- DO NOT EDIT!");
  w.Line("// Generated by protoc-gen-polyrpc (lang=php) from $file$.", {{"file", model.file->name()}});
  if (!ns.empty()) {
    w.Blank();
    w.Line("namespace $ns$;", {{"ns", ns}});
  }
  w.Blank();
}

std::string ServerSignature(const MethodModel& m, const std::string& name) {
  std::string req = MessageClass(m.input), resp = MessageClass(m.output);
  switch (m.kind) {
    case StreamingKind::kUnary:
      return "public function " + name + "(" + req +
             " $request, \\PolyRPC\\ServerContext $context): ?" + resp;
    case StreamingKind::kServerStreaming:
      return "public function " + name + "(" + req +
             " $request, \\PolyRPC\\ServerCallWriter $writer, \\PolyRPC\\ServerContext $context): void";
    case StreamingKind::kClientStreaming:
      return "public function " + name +
             "(\\PolyRPC\\ServerCallReader $reader, \\PolyRPC\\ServerContext $context): ?" + resp;
    case StreamingKind::kBidiStreaming:
      return "public function " + name +
             "(\\PolyRPC\\ServerCallReader $reader, \\PolyRPC\\ServerCallWriter $writer, "
             "\\PolyRPC\\ServerContext $context): void";
  }
  return "";
}

std::vector<std::string> ServerDocTags(const MethodModel& m) {
  std::string req = MessageClass(m.input), resp = MessageClass(m.output);
  switch (m.kind) {
    case StreamingKind::kUnary:
      return {"@param " + req + " $request", "@param \\PolyRPC\\ServerContext $context",
              "@return " + resp + "|null the response (null with a status other than OK)"};
    case StreamingKind::kServerStreaming:
      return {"@param " + req + " $request",
              "@param \\PolyRPC\\ServerCallWriter $writer takes " + resp + " responses",
              "@param \\PolyRPC\\ServerContext $context"};
    case StreamingKind::kClientStreaming:
      return {"@param \\PolyRPC\\ServerCallReader $reader gives " + req + " requests",
              "@param \\PolyRPC\\ServerContext $context",
              "@return " + resp + "|null the response (null with a status other than OK)"};
    case StreamingKind::kBidiStreaming:
      return {"@param \\PolyRPC\\ServerCallReader $reader gives " + req + " requests",
              "@param \\PolyRPC\\ServerCallWriter $writer takes " + resp + " responses",
              "@param \\PolyRPC\\ServerContext $context"};
  }
  return {};
}

std::string ClientFile(const FileModel& model, const std::string& ns, const ServiceModel& s,
                       const ServiceNames& n) {
  CodeWriter w(4);
  Header(w, model, ns);
  WriteDoc(w, s.comments,
           {"Client of " + s.full_name + ": new " + n.client +
            "($target, ['credentials' => \\PolyRPC\\ChannelCredentials::createInsecure()])."});
  w.Line("class $C$ extends \\PolyRPC\\BaseStub", {{"C", n.client}});
  w.Line("{");
  w.Indent();
  w.Line("/**");
  w.Line(" * @param string $$hostname the target (\"host:port\")");
  w.Line(" * @param array $$opts channel arguments, with 'credentials'");
  w.Line(" * @param \\PolyRPC\\Channel|\\PolyRPC\\Internal\\InterceptorChannel|null $$channel a channel to share");
  w.Line(" *        instead, or one with interceptors (\\PolyRPC\\Interceptor::intercept) (optional)");
  w.Line(" */");
  w.Line("public function __construct(string $$hostname, array $$opts,");
  w.Line("                            \\PolyRPC\\Channel|\\PolyRPC\\Internal\\InterceptorChannel|null $$channel = null)");
  w.Line("{");
  w.Line("    parent::__construct($$hostname, $$opts, $$channel);");
  w.Line("}");
  for (size_t j = 0; j < s.methods.size(); ++j) {
    const MethodModel& m = s.methods[j];
    CodeWriter::Vars v = {{"name", n.client_methods[j]},
                          {"Req", MessageClass(m.input)},
                          {"Resp", MessageClass(m.output)},
                          {"path", PhpString(m.path)},
                          {"decode", MessageClass(m.output) + "::class"}};
    bool takes_request =
        m.kind == StreamingKind::kUnary || m.kind == StreamingKind::kServerStreaming;
    const char* call_class = "UnaryCall";
    const char* helper = "_simpleRequest";
    switch (m.kind) {
      case StreamingKind::kUnary:
        break;
      case StreamingKind::kServerStreaming:
        call_class = "ServerStreamingCall";
        helper = "_serverStreamRequest";
        break;
      case StreamingKind::kClientStreaming:
        call_class = "ClientStreamingCall";
        helper = "_clientStreamRequest";
        break;
      case StreamingKind::kBidiStreaming:
        call_class = "BidiStreamingCall";
        helper = "_bidiRequest";
        break;
    }
    v["Call"] = call_class;
    v["helper"] = helper;
    w.Blank();
    std::vector<std::string> tags;
    if (takes_request) tags.push_back("@param " + v["Req"] + " $argument input argument");
    tags.push_back("@param array $metadata metadata");
    tags.push_back("@param array $options call options ('timeout' in microseconds, ...)");
    tags.push_back("@return \\PolyRPC\\" + std::string(call_class) + "<" + v["Resp"] + ">");
    WriteDoc(w, m.comments, tags);
    if (takes_request) {
      w.Line("public function $name$($Req$ $$argument, array $$metadata = [], array $$options = []): \\PolyRPC\\$Call$", v);
    } else {
      w.Line("public function $name$(array $$metadata = [], array $$options = []): \\PolyRPC\\$Call$", v);
    }
    w.Line("{");
    w.Indent();
    w.Line("return $$this->$helper$($path$,", v);
    if (takes_request) w.Line("    $$argument,");
    w.Line("    [$decode$, 'decode'],", v);
    w.Line("    $$metadata, $$options);");
    w.Outdent();
    w.Line("}");
  }
  w.Outdent();
  w.Line("}");
  return w.text();
}

std::string InterfaceFile(const FileModel& model, const std::string& ns, const ServiceModel& s,
                          const ServiceNames& n) {
  CodeWriter w(4);
  Header(w, model, ns);
  WriteDoc(w, s.comments,
           {"Server side of " + s.full_name + ": a class implementing it is served by "
            "\\PolyRPC\\Server::handle()."});
  w.Line("interface $I$", {{"I", n.iface}});
  w.Line("{");
  w.Indent();
  w.Line("public const SERVICE_NAME = $n$;", {{"n", PhpString(s.full_name)}});
  w.Line("/** PHP method => [path, \\PolyRPC\\MethodDescriptor kind, request class] */");
  if (s.methods.empty()) {
    w.Line("public const METHODS = [];");
  } else {
    w.Line("public const METHODS = [");
    w.Indent();
    for (const MethodModel& m : s.methods) {
      w.Line("$name$ => [$path$, \\PolyRPC\\MethodDescriptor::$kind$, $Req$::class],",
             {{"name", PhpString(m.name)},
              {"path", PhpString(m.path)},
              {"kind", KindConstant(m.kind)},
              {"Req", MessageClass(m.input)}});
    }
    w.Outdent();
    w.Line("];");
  }
  for (const MethodModel& m : s.methods) {
    w.Blank();
    WriteDoc(w, m.comments, ServerDocTags(m));
    Raw(w, ServerSignature(m, m.name) + ";");
  }
  w.Outdent();
  w.Line("}");
  return w.text();
}

std::string StubFile(const FileModel& model, const std::string& ns, const ServiceModel& s,
                     const ServiceNames& n) {
  CodeWriter w(4);
  Header(w, model, ns);
  WriteDoc(w, s.comments,
           {"Base class for " + s.full_name + " services: every method answers UNIMPLEMENTED "
            "until overridden."});
  w.Line("class $S$ implements $I$", {{"S", n.stub}, {"I", n.iface}});
  w.Line("{");
  w.Indent();
  bool first = true;
  for (const MethodModel& m : s.methods) {
    if (!first) w.Blank();
    first = false;
    WriteDoc(w, m.comments, ServerDocTags(m));
    Raw(w, ServerSignature(m, m.name));
    w.Line("{");
    w.Indent();
    w.Line("$$context->setStatus(\\PolyRPC\\Status::unimplemented());");
    if (m.kind == StreamingKind::kUnary || m.kind == StreamingKind::kClientStreaming) {
      w.Line("return null;");
    }
    w.Outdent();
    w.Line("}");
  }
  w.Outdent();
  w.Line("}");
  return w.text();
}

class PhpGenerator : public LanguageGenerator {
 public:
  bool Generate(const FileModel& model, const Parameters& params,
                gp::compiler::GeneratorContext* context, std::string* error) const override {
    (void)params;
    std::string ns = FileNamespace(model.file);
    std::vector<ServiceNames> names;
    if (!NameServices(model, ns, &names, error)) return false;
    // protoc's layout: the namespace's folders, one file per class.
    std::string dir = ReplaceAll(ns, "\\", "/");
    if (!dir.empty()) dir += "/";
    for (size_t i = 0; i < model.services.size(); ++i) {
      const ServiceModel& s = model.services[i];
      WriteFile(context, dir + names[i].client + ".php", ClientFile(model, ns, s, names[i]));
      WriteFile(context, dir + names[i].iface + ".php", InterfaceFile(model, ns, s, names[i]));
      WriteFile(context, dir + names[i].stub + ".php", StubFile(model, ns, s, names[i]));
    }
    return true;
  }
};

}  // namespace

std::unique_ptr<LanguageGenerator> MakePhpGenerator() { return std::make_unique<PhpGenerator>(); }

}  // namespace polyrpc::codegen
