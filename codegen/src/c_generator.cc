// lang=c: <file>.polyrpc-c.h / .polyrpc-c.c beside protoc-c's <file>.pb-c.h / .pb-c.c (protobuf-c,
// the C world's protobuf library). Per service, with protobuf-c's own names for the service
// (grpc.testing.TestService -> grpc__testing__test_service):
//  - method paths as macros (GRPC__TESTING__TEST_SERVICE__UNARY_CALL__PATH);
//  - client stubs <service>_client__<method>() over the C ABI: a blocking unary call, and
//    streaming calls that hand back the polyrpc_call_t with typed __send / __recv / __finish;
//  - server helpers <service>_server__register() (the method paths on a polyrpc_server_t),
//    __dispatch() (one call to a table of typed handlers) and typed __recv / __send / __reply;
//  - for completion-queue code, typed pack/unpack between the messages and polyrpc buffers.
// Names follow protoc-c 1.4's rules exactly (CamelToLower, FullNameToC, the c_package file
// option), so every reference matches its --c_out. Only the public C ABI (polyrpc/polyrpc.h) and
// libprotobuf-c are used.
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/unknown_field_set.h>

#include <cctype>
#include <map>
#include <set>

#include "generator.h"
#include "naming.h"

namespace polyrpc::codegen {
namespace {

namespace gp = google::protobuf;

// ---- protoc-c's naming (protoc-c/c_helpers.cc), reproduced so that references match ----

// "FooBar" -> "foo_bar", "HTTPService" -> "httpservice": '_' only where a lowercase (or
// non-letter) character is followed by an uppercase one.
std::string CamelToLower(const std::string& name) {
  bool was_upper = true;  // no '_' in front
  std::string out;
  for (char c : name) {
    bool is_upper = std::isupper(static_cast<unsigned char>(c));
    if (is_upper) {
      if (!was_upper) out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
    was_upper = is_upper;
  }
  return out;
}

std::string CamelToUpper(const std::string& name) {
  bool was_upper = true;
  std::string out;
  for (char c : name) {
    bool is_upper = std::isupper(static_cast<unsigned char>(c));
    if (is_upper && !was_upper) out += '_';
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    was_upper = is_upper;
  }
  return out;
}

// "foo_bar" -> "FooBar".
std::string ToCamel(const std::string& name) {
  std::string out;
  bool next_upper = true;
  for (char c : name) {
    if (c == '_') {
      next_upper = true;
    } else if (next_upper) {
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      next_upper = false;
    } else {
      out += c;
    }
  }
  return out;
}

std::string JoinPieces(const std::string& full_name, std::string (*convert)(const std::string&)) {
  std::string out;
  for (const std::string& piece : Split(full_name, '.')) {
    if (piece.empty()) continue;
    if (!out.empty()) out += "__";
    out += convert(piece);
  }
  return out;
}

// The file's (pb_c_file).c_package option (protobuf-c.proto, extension 1019, field 6), which
// replaces the package in every C name. The plugin does not link protobuf-c.proto, so the option
// is read from the unknown fields of the file options.
bool CPackageOption(const gp::FileDescriptor* file, std::string* c_package) {
  gp::FileDescriptorProto proto;
  file->CopyTo(&proto);
  const gp::UnknownFieldSet& unknown = proto.options().unknown_fields();
  bool found = false;
  for (int i = 0; i < unknown.field_count(); ++i) {
    const gp::UnknownField& field = unknown.field(i);
    if (field.number() != 1019 || field.type() != gp::UnknownField::TYPE_LENGTH_DELIMITED) continue;
    gp::UnknownFieldSet options;
    if (!options.ParseFromString(field.length_delimited())) continue;
    for (int j = 0; j < options.field_count(); ++j) {
      const gp::UnknownField& option = options.field(j);
      if (option.number() == 6 && option.type() == gp::UnknownField::TYPE_LENGTH_DELIMITED) {
        *c_package = option.length_delimited();  // the last one wins, as in protobuf's parser
        found = true;
      }
    }
  }
  return found;
}

// The dotted name protoc-c derives C names from: the full name, with the package replaced by
// c_package when the file sets it.
template <class D>
std::string CFullName(const D* d) {
  std::string c_package;
  if (!CPackageOption(d->file(), &c_package)) return d->full_name();
  std::string relative = d->full_name();
  const std::string& package = d->file()->package();
  if (!package.empty()) relative = relative.substr(package.size() + 1);
  return c_package.empty() ? relative : c_package + "." + relative;
}

template <class D>
std::string CTypeName(const D* d) {  // Grpc__Testing__SimpleRequest
  return JoinPieces(CFullName(d), &ToCamel);
}
template <class D>
std::string CLowerName(const D* d) {  // grpc__testing__simple_request
  return JoinPieces(CFullName(d), &CamelToLower);
}
template <class D>
std::string CUpperName(const D* d) {  // GRPC__TESTING__SIMPLE_REQUEST
  return JoinPieces(CFullName(d), &CamelToUpper);
}

// ---- our names ----

// C and C++ reserved words (a generated header may be included from C++), plus the names of
// the service-level server helpers: a method with such a name gets a trailing '_' everywhere.
bool IsReservedInC(const std::string& name) {
  static const std::set<std::string> words = {
      // C11 and C23 keywords that are not also C++ keywords.
      "restrict", "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary",
      "_Noreturn", "_Static_assert", "_Thread_local", "typeof", "typeof_unqual",
      // Generated names under <service>_server__.
      "register", "dispatch"};
  return IsCppKeyword(name) || words.count(name) > 0;
}

std::string MethodCName(const std::string& proto_name) {
  std::string name = CamelToLower(proto_name);
  return IsReservedInC(name) ? name + "_" : name;
}

std::string IncludeGuard(const std::string& filename) {
  std::string guard = "POLYRPC_C_GENERATED_";
  for (char c : filename) {
    guard += std::isalnum(static_cast<unsigned char>(c))
                 ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                 : '_';
  }
  return guard + "_INCLUDED";
}

// Comment text inside /* */: no sequence may end or open a comment.
std::string CommentSafe(std::string text) {
  text = ReplaceAll(text, "*/", "* /");
  return ReplaceAll(text, "/*", "/ *");
}

void BlockComment(CodeWriter& w, const std::string& text) {
  if (text.empty()) return;
  w.Line("/*");
  w.Lines(CommentSafe(text), " * ");
  w.Line(" */");
}

struct MethodNames {
  std::string c;      // unary_call
  std::string upper;  // UNARY_CALL
};

struct ServiceNames {
  std::string lower;     // grpc__testing__test_service
  std::string upper;     // GRPC__TESTING__TEST_SERVICE
  std::string type;      // Grpc__Testing__TestService
  std::string client;    // grpc__testing__test_service_client
  std::string server;    // grpc__testing__test_service_server
  std::string handlers;  // Grpc__Testing__TestService_Handlers
  std::vector<MethodNames> methods;
};

void CollectLowerNames(const gp::Descriptor* d, std::map<std::string, std::string>* names) {
  names->emplace(CLowerName(d), "message " + d->full_name());
  for (int i = 0; i < d->nested_type_count(); ++i) CollectLowerNames(d->nested_type(i), names);
  for (int i = 0; i < d->enum_type_count(); ++i) {
    names->emplace(CLowerName(d->enum_type(i)), "enum " + d->enum_type(i)->full_name());
  }
}

// Names every service and method, and checks that no two generated C names collide, and that the
// _client / _server prefixes are not protobuf-c's prefix of a message, enum or service of the
// file (whose functions would then share our namespace).
bool NameServices(const FileModel& model, std::vector<ServiceNames>* out, std::string* error) {
  std::map<std::string, std::string> protobuf_c;  // protoc-c lower name -> what it names
  for (int i = 0; i < model.file->message_type_count(); ++i) {
    CollectLowerNames(model.file->message_type(i), &protobuf_c);
  }
  for (int i = 0; i < model.file->enum_type_count(); ++i) {
    protobuf_c.emplace(CLowerName(model.file->enum_type(i)),
                       "enum " + model.file->enum_type(i)->full_name());
  }
  for (const ServiceModel& s : model.services) {
    protobuf_c.emplace(CLowerName(s.descriptor), "service " + s.full_name);
  }
  std::map<std::string, std::string> used;  // generated C name -> what produced it
  auto claim = [&](const std::string& c, const std::string& what) {
    auto [it, inserted] = used.emplace(c, what);
    if (inserted) return true;
    *error =
        it->second + " and " + what + " both map to the C name '" + c + "'; rename one of them";
    return false;
  };
  for (const ServiceModel& s : model.services) {
    ServiceNames n;
    n.lower = CLowerName(s.descriptor);
    n.upper = CUpperName(s.descriptor);
    n.type = CTypeName(s.descriptor);
    n.client = n.lower + "_client";
    n.server = n.lower + "_server";
    n.handlers = n.type + "_Handlers";
    for (const std::string& prefix : {n.client, n.server}) {
      auto it = protobuf_c.find(prefix);
      if (it != protobuf_c.end()) {
        *error = "the C prefix " + prefix + " generated for service " + s.full_name +
                 " is protobuf-c's name of " + it->second + "; rename one of them";
        return false;
      }
    }
    std::string service = "service " + s.full_name;
    if (!claim(n.server + "__register", service) || !claim(n.server + "__dispatch", service) ||
        !claim(n.handlers, service)) {
      return false;
    }
    for (const MethodModel& m : s.methods) {
      MethodNames mn{MethodCName(m.name), CamelToUpper(m.name)};
      std::string what = "method '" + s.full_name + "." + m.name + "'";
      std::vector<std::string> names = {n.client + "__" + mn.c,
                                        n.upper + "__" + mn.upper + "__PATH",
                                        n.client + "__" + mn.c + "__pack_request",
                                        n.client + "__" + mn.c + "__unpack_response",
                                        n.server + "__" + mn.c + "__unpack_request",
                                        n.server + "__" + mn.c + "__pack_response"};
      bool client_streams =
          m.kind == StreamingKind::kClientStreaming || m.kind == StreamingKind::kBidiStreaming;
      bool server_streams =
          m.kind == StreamingKind::kServerStreaming || m.kind == StreamingKind::kBidiStreaming;
      if (m.kind != StreamingKind::kUnary) names.push_back(n.client + "__" + mn.c + "__finish");
      if (client_streams) {
        names.push_back(n.client + "__" + mn.c + "__send");
        names.push_back(n.server + "__" + mn.c + "__recv");
      }
      if (server_streams) {
        names.push_back(n.client + "__" + mn.c + "__recv");
        names.push_back(n.server + "__" + mn.c + "__send");
      } else {
        names.push_back(n.server + "__" + mn.c + "__reply");
      }
      for (const std::string& c : names) {
        if (!claim(c, what)) return false;
      }
      n.methods.push_back(mn);
    }
    out->push_back(std::move(n));
  }
  return true;
}

const char* KindComment(StreamingKind kind) {
  switch (kind) {
    case StreamingKind::kUnary:
      return "unary";
    case StreamingKind::kServerStreaming:
      return "server streaming";
    case StreamingKind::kClientStreaming:
      return "client streaming";
    case StreamingKind::kBidiStreaming:
      return "bidirectional streaming";
  }
  return "";
}

CodeWriter::Vars MethodVars(const ServiceModel& s, const ServiceNames& sn, const MethodModel& m,
                            const MethodNames& mn) {
  return {{"client", sn.client},
          {"server", sn.server},
          {"m", mn.c},
          {"PATH", sn.upper + "__" + mn.upper + "__PATH"},
          {"path", m.path},
          {"Req", CTypeName(m.input)},
          {"Resp", CTypeName(m.output)},
          {"req_desc", CLowerName(m.input) + "__descriptor"},
          {"resp_desc", CLowerName(m.output) + "__descriptor"},
          {"proto_name", m.name},
          {"full_name", s.full_name},
          {"kind", KindComment(m.kind)}};
}

// The conventions, once per header; the declarations below only say what differs.
constexpr const char* kHeaderIntro = R"(/*
 * polyrpc C stubs on protobuf-c (docs/codegen.md): messages are protoc-c's types (link with
 * -lprotobuf-c -lpolyrpc). For each method M of a service S, with protoc-c's C names
 * (S = grpc__testing__test_service, M = unary_call):
 *
 * Client (every function blocks: the C ABI's blocking style, cq == NULL):
 *   unary             S_client__M(channel, request, &response, options, &status_code, &call)
 *                     makes the whole call. *response is the reply, NULL unless *status_code is
 *                     POLYRPC_STATUS_OK. status_code and call may be NULL; *call, if asked for, is
 *                     the finished call (status message, initial and trailing metadata, peer).
 *   server streaming  S_client__M(channel, request, options, &call) starts the call and sends the
 *                     request; S_client__M__recv(call, &message) until *message is NULL (the end
 *                     of the stream, or the call is over); S_client__M__finish(call, &status_code).
 *   client streaming  S_client__M(channel, options, &call); S_client__M__send(call, message, flags)
 *                     per request (flags: POLYRPC_WRITE_*); S_client__M__finish(call, &response,
 *                     &status_code) half-closes and takes the response (as unary's).
 *   bidi streaming    S_client__M(channel, options, &call); __send and __recv, from two threads if
 *                     need be; S_client__M__finish(call, &status_code) half-closes (if not done
 *                     yet) and waits for the status.
 *   Read every response before __finish (or cancel the call). A call handed out is the caller's:
 *   polyrpc_call_destroy() releases it (and cancels it if it is not over).
 * Server:
 *   S_server__register(server) registers every path of S (before polyrpc_server_start);
 *   S_server__dispatch(&handlers, call, user_data) serves a call from polyrpc_server_request_call
 *   with the typed handlers of S_Handlers, on the calling thread. A handler answers the call
 *   itself: S_server__M__reply(call, response) (the response and status OK) for unary and
 *   client-streaming methods, S_server__M__send(call, message, flags) then
 *   polyrpc_call_send_status() for server-streaming ones, S_server__M__recv(call, &message) (NULL
 *   once the client half-closed) for client-streaming ones.
 * Completion-queue or callback code packs and unpacks itself, around the polyrpc_call_*
 * operations: S_client__M__pack_request / __unpack_response, S_server__M__unpack_request /
 * __pack_response.
 *
 * Errors: functions return a polyrpc_error_t. API errors (bad argument, closed object) and RPC
 * outcomes (gRPC status codes) travel apart, as in the C ABI: a call that ran returns POLYRPC_OK
 * whatever its status. polyrpc_last_error() describes the C ABI's errors; the stubs' own have no
 * message: POLYRPC_ERROR_INVALID_ARGUMENT for a NULL argument or a received message that
 * protobuf-c cannot unpack (the receiver then ends the call: a client cancels it, a server
 * answers INTERNAL), POLYRPC_ERROR_NO_MEMORY when packing finds no memory. A unary or
 * client-streaming response that does not unpack is the outcome INTERNAL (*status_code), as with
 * gRPC's own stubs. __send returns POLYRPC_ERROR_CLOSED once the call is over (its status says why).
 *
 * Ownership: requests are borrowed for the duration of the function. Messages handed out
 * (*response, *message) are the caller's: free them with protobuf_c_message_free_unpacked(m, NULL)
 * (or protoc-c's <message>__free_unpacked). Handlers borrow their call and request until they
 * return. Every function is thread-safe as the C ABI is; one call's operations of one kind (two
 * sends, two receives) must not overlap.
 */)";

constexpr const char* kOptions = R"(#ifndef POLYRPC_C_STUB_OPTIONS_V1
#define POLYRPC_C_STUB_OPTIONS_V1
/*
 * Per-call settings of the client stubs, shared by every generated file; NULL, or a struct
 * initialised to zero ({0}), gives the defaults.
 */
typedef struct PolyrpcCallOptions {
  int64_t timeout_ms;                            /* deadline from now; 0 or < 0: none */
  const polyrpc_metadata_t *metadata;            /* request metadata (copied); NULL: none */
  uint32_t flags;                                /* POLYRPC_CALL_* (POLYRPC_CALL_WAIT_FOR_READY) */
  const char *compression;                       /* request compression ("gzip", "deflate") */
  const char *authority;                         /* :authority override */
  const polyrpc_call_credentials_t *credentials; /* per-call credentials (copied) */
} PolyrpcCallOptions;
#endif /* POLYRPC_C_STUB_OPTIONS_V1 */)";

// Static helpers of every generated .c file with services (unused ones are fine: marked so).
constexpr const char* kSourceHelpers = R"(#if defined(__GNUC__)
#define STUB_UNUSED __attribute__((unused))
#else
#define STUB_UNUSED
#endif

/* Packs message into a new buffer that owns the packed bytes (sent from there without a copy). */
static STUB_UNUSED polyrpc_error_t stub_pack(const ProtobufCMessage *message,
                                             polyrpc_buffer_t **out) {
  size_t len;
  uint8_t *data;
  polyrpc_error_t err;
  if (out == NULL) return POLYRPC_ERROR_INVALID_ARGUMENT;
  *out = NULL;
  if (message == NULL) return POLYRPC_ERROR_INVALID_ARGUMENT;
  len = protobuf_c_message_get_packed_size(message);
  data = (uint8_t *)malloc(len ? len : 1);
  if (data == NULL) return POLYRPC_ERROR_NO_MEMORY;
  protobuf_c_message_pack(message, data);
  err = polyrpc_buffer_create_wrap(data, len, free, data, out);
  if (err != POLYRPC_OK) free(data); /* free_fn is not called when wrapping fails */
  return err;
}

/* Unpacks the bytes of buffer (borrowed in place) as a message of type descriptor. */
static STUB_UNUSED polyrpc_error_t stub_unpack(const ProtobufCMessageDescriptor *descriptor,
                                               const polyrpc_buffer_t *buffer,
                                               ProtobufCMessage **out) {
  const uint8_t *data = NULL;
  size_t len = 0;
  polyrpc_error_t err;
  if (out == NULL) return POLYRPC_ERROR_INVALID_ARGUMENT;
  *out = NULL;
  if ((err = polyrpc_buffer_data(buffer, &data, &len)) != POLYRPC_OK) return err;
  *out = protobuf_c_message_unpack(descriptor, NULL, len, data);
  return *out != NULL ? POLYRPC_OK : POLYRPC_ERROR_INVALID_ARGUMENT;
}

static STUB_UNUSED polyrpc_error_t stub_create_call(polyrpc_channel_t *channel, const char *path,
                                                    const PolyrpcCallOptions *options,
                                                    polyrpc_call_t **out) {
  polyrpc_call_t *call = NULL;
  polyrpc_error_t err;
  int64_t timeout_ms = options != NULL && options->timeout_ms > 0 ? options->timeout_ms : -1;
  *out = NULL;
  err = polyrpc_call_create(channel, path, timeout_ms, options ? options->metadata : NULL,
                            options ? options->flags : 0, &call);
  if (err == POLYRPC_OK && options != NULL && options->compression != NULL) {
    err = polyrpc_call_set_compression(call, options->compression);
  }
  if (err == POLYRPC_OK && options != NULL && options->authority != NULL) {
    err = polyrpc_call_set_authority(call, options->authority);
  }
  if (err == POLYRPC_OK && options != NULL && options->credentials != NULL) {
    err = polyrpc_call_set_credentials(call, options->credentials);
  }
  if (err != POLYRPC_OK) {
    polyrpc_call_destroy(call);
    return err;
  }
  *out = call;
  return POLYRPC_OK;
}

static STUB_UNUSED polyrpc_error_t stub_send(polyrpc_call_t *call, const ProtobufCMessage *message,
                                             uint32_t flags) {
  polyrpc_buffer_t *buffer = NULL;
  polyrpc_error_t err = stub_pack(message, &buffer);
  if (err != POLYRPC_OK) return err;
  err = polyrpc_call_send_message(call, buffer, flags, NULL, NULL);
  polyrpc_buffer_destroy(buffer);
  return err;
}

/* Receives the next message: OK with *out NULL at the end of the stream or once the call is over
 * (the blocking receive's CLOSED). A message that does not unpack ends the call. */
static STUB_UNUSED polyrpc_error_t stub_recv(polyrpc_call_t *call,
                                             const ProtobufCMessageDescriptor *descriptor,
                                             ProtobufCMessage **out, int server_side) {
  polyrpc_buffer_t *buffer = NULL;
  polyrpc_error_t err;
  if (out == NULL) return POLYRPC_ERROR_INVALID_ARGUMENT;
  *out = NULL;
  err = polyrpc_call_recv_message(call, NULL, NULL);
  if (err == POLYRPC_ERROR_CLOSED) return POLYRPC_OK;
  if (err != POLYRPC_OK) return err;
  if ((err = polyrpc_call_take_message(call, &buffer, NULL)) != POLYRPC_OK) return err;
  err = stub_unpack(descriptor, buffer, out);
  polyrpc_buffer_destroy(buffer);
  if (err == POLYRPC_ERROR_INVALID_ARGUMENT) {
    if (server_side) {
      (void)polyrpc_call_send_status(call, POLYRPC_STATUS_INTERNAL,
                                     "Failed to parse the request message", NULL, NULL, NULL);
    } else {
      (void)polyrpc_call_cancel(call);
    }
  }
  return err;
}

/* Client: creates the call and, for unary-request kinds, sends the request and half-closes. A
 * call that ends before the request is written is handed back all the same: its status says
 * why. */
static STUB_UNUSED polyrpc_error_t stub_start(polyrpc_channel_t *channel, const char *path,
                                              const ProtobufCMessage *request,
                                              const PolyrpcCallOptions *options,
                                              polyrpc_call_t **call_out) {
  polyrpc_call_t *call = NULL;
  polyrpc_error_t err;
  if (call_out == NULL) return POLYRPC_ERROR_INVALID_ARGUMENT;
  *call_out = NULL;
  if ((err = stub_create_call(channel, path, options, &call)) != POLYRPC_OK) return err;
  if (request != NULL) {
    err = stub_send(call, request, POLYRPC_WRITE_LAST);
    if (err != POLYRPC_OK && err != POLYRPC_ERROR_CLOSED) {
      polyrpc_call_destroy(call);
      return err;
    }
  }
  *call_out = call;
  return POLYRPC_OK;
}

static STUB_UNUSED polyrpc_error_t stub_unary(polyrpc_channel_t *channel, const char *path,
                                              const ProtobufCMessage *request,
                                              const ProtobufCMessageDescriptor *response_type,
                                              ProtobufCMessage **response,
                                              const PolyrpcCallOptions *options,
                                              int *status_code, polyrpc_call_t **call_out) {
  polyrpc_call_t *call = NULL;
  polyrpc_buffer_t *request_buffer = NULL, *response_buffer = NULL;
  polyrpc_error_t err;
  int code = POLYRPC_STATUS_UNKNOWN;
  if (call_out != NULL) *call_out = NULL;
  if (status_code != NULL) *status_code = POLYRPC_STATUS_UNKNOWN;
  if (response == NULL) return POLYRPC_ERROR_INVALID_ARGUMENT;
  *response = NULL;
  if ((err = stub_pack(request, &request_buffer)) != POLYRPC_OK) return err;
  if ((err = stub_create_call(channel, path, options, &call)) != POLYRPC_OK) {
    polyrpc_buffer_destroy(request_buffer);
    return err;
  }
  err = polyrpc_call_unary(call, request_buffer, &response_buffer);
  polyrpc_buffer_destroy(request_buffer);
  if (err == POLYRPC_OK) err = polyrpc_call_status(call, &code, NULL);
  if (err == POLYRPC_OK && code == POLYRPC_STATUS_OK &&
      stub_unpack(response_type, response_buffer, response) != POLYRPC_OK) {
    code = POLYRPC_STATUS_INTERNAL;
  }
  polyrpc_buffer_destroy(response_buffer);
  if (err != POLYRPC_OK) {
    polyrpc_call_destroy(call);
    return err;
  }
  if (status_code != NULL) *status_code = code;
  if (call_out != NULL) {
    *call_out = call;
  } else {
    polyrpc_call_destroy(call);
  }
  return POLYRPC_OK;
}

/* Client: half-closes (close_send), takes the one response (response_type not NULL), waits for
 * the status. */
static STUB_UNUSED polyrpc_error_t stub_finish(polyrpc_call_t *call, int close_send,
                                               const ProtobufCMessageDescriptor *response_type,
                                               ProtobufCMessage **response, int *status_code) {
  polyrpc_buffer_t *buffer = NULL;
  polyrpc_error_t err;
  int code = POLYRPC_STATUS_UNKNOWN;
  if (status_code != NULL) *status_code = POLYRPC_STATUS_UNKNOWN;
  if (response_type != NULL) {
    if (response == NULL) return POLYRPC_ERROR_INVALID_ARGUMENT;
    *response = NULL;
  }
  /* CLOSED: already half-closed, or the call is over; the status tells. */
  if (close_send) (void)polyrpc_call_close_send(call, NULL, NULL);
  if (response_type != NULL) {
    err = polyrpc_call_recv_message(call, NULL, NULL);
    if (err == POLYRPC_OK) err = polyrpc_call_take_message(call, &buffer, NULL);
    if (err != POLYRPC_OK && err != POLYRPC_ERROR_CLOSED) return err;
  }
  err = polyrpc_call_recv_status(call, NULL, NULL);
  if (err == POLYRPC_OK) err = polyrpc_call_status(call, &code, NULL);
  if (err == POLYRPC_OK && response_type != NULL && code == POLYRPC_STATUS_OK &&
      stub_unpack(response_type, buffer, response) != POLYRPC_OK) {
    code = POLYRPC_STATUS_INTERNAL; /* no response, or one that does not unpack */
  }
  polyrpc_buffer_destroy(buffer);
  if (err != POLYRPC_OK) return err;
  if (status_code != NULL) *status_code = code;
  return POLYRPC_OK;
}

/* Server: sends response and the status OK. */
static STUB_UNUSED polyrpc_error_t stub_reply(polyrpc_call_t *call,
                                              const ProtobufCMessage *response) {
  polyrpc_error_t err = stub_send(call, response, 0);
  if (err != POLYRPC_OK) return err;
  return polyrpc_call_send_status(call, POLYRPC_STATUS_OK, NULL, NULL, NULL, NULL);
}

static STUB_UNUSED polyrpc_error_t stub_unimplemented(polyrpc_call_t *call, const char *message) {
  return polyrpc_call_send_status(call, POLYRPC_STATUS_UNIMPLEMENTED, message, NULL, NULL, NULL);
}

/* Server: the one request of a unary or server-streaming call. 0 when there is none to serve
 * (missing, malformed: answered INTERNAL as gRPC does; or the call is over). */
static STUB_UNUSED int stub_read_request(polyrpc_call_t *call,
                                         const ProtobufCMessageDescriptor *descriptor,
                                         ProtobufCMessage **request) {
  if (stub_recv(call, descriptor, request, 1) != POLYRPC_OK) return 0;
  if (*request == NULL) {
    (void)polyrpc_call_send_status(call, POLYRPC_STATUS_INTERNAL, "Missing request message", NULL,
                                   NULL, NULL);
    return 0;
  }
  return 1;
})";

class CGenerator : public LanguageGenerator {
 public:
  bool Generate(const FileModel& model, const Parameters& params,
                gp::compiler::GeneratorContext* context, std::string* error) const override {
    std::vector<ServiceNames> names;
    if (!NameServices(model, &names, error)) return false;
    std::string stem = StripProtoSuffix(model.file->name());
    WriteFile(context, stem + ".polyrpc-c.h", Header(model, names, stem));
    WriteFile(context, stem + ".polyrpc-c.c", Source(model, names, stem));
    return true;
  }

 private:
  static void Signature(CodeWriter& w, const std::string& ret_and_name,
                        const std::vector<std::string>& params, const CodeWriter::Vars& v,
                        bool declaration) {
    w.Line(ret_and_name + "(", v);
    for (size_t i = 0; i < params.size(); ++i) {
      std::string end = i + 1 < params.size() ? "," : (declaration ? ");" : ") {");
      w.Line("    " + params[i] + end, v);
    }
  }

  static void MethodComment(CodeWriter& w, const MethodModel& m, const CodeWriter::Vars& v) {
    if (m.comments.empty()) {
      w.Line("/* $proto_name$ ($kind$) */", v);
      return;
    }
    w.Line("/*");
    w.Line(" * $proto_name$ ($kind$):", v);
    w.Lines(CommentSafe(m.comments), " * ");
    w.Line(" */");
  }

  // The client functions of one method, declared (header) or defined (source).
  static void ClientMethod(CodeWriter& w, const MethodModel& m, const CodeWriter::Vars& v,
                           bool decl) {
    const char* channel = "polyrpc_channel_t *channel";
    const char* options = "const PolyrpcCallOptions *options";
    switch (m.kind) {
      case StreamingKind::kUnary:
        Signature(w, "polyrpc_error_t $client$__$m$",
                  {channel, "const $Req$ *request", "$Resp$ **response", options,
                   "int *status_code", "polyrpc_call_t **call_out"},
                  v, decl);
        if (!decl) {
          w.Line("  ProtobufCMessage *message = NULL;");
          w.Line("  polyrpc_error_t err =");
          w.Line("      stub_unary(channel, $PATH$, request ? &request->base : NULL, &$resp_desc$,",
                 v);
          w.Line("                 response ? &message : NULL, options, status_code, call_out);");
          w.Line("  if (response != NULL) *response = ($Resp$ *)message;", v);
          w.Line("  return err;");
          w.Line("}");
        }
        break;
      case StreamingKind::kServerStreaming:
        Signature(w, "polyrpc_error_t $client$__$m$",
                  {channel, "const $Req$ *request", options, "polyrpc_call_t **call_out"}, v, decl);
        if (!decl) {
          w.Line("  if (request == NULL) return POLYRPC_ERROR_INVALID_ARGUMENT;");
          w.Line("  return stub_start(channel, $PATH$, &request->base, options, call_out);", v);
          w.Line("}");
        }
        break;
      case StreamingKind::kClientStreaming:
      case StreamingKind::kBidiStreaming:
        Signature(w, "polyrpc_error_t $client$__$m$",
                  {channel, options, "polyrpc_call_t **call_out"}, v, decl);
        if (!decl) {
          w.Line("  return stub_start(channel, $PATH$, NULL, options, call_out);", v);
          w.Line("}");
        }
        break;
    }
    if (!decl) w.Blank();
    bool client_streams =
        m.kind == StreamingKind::kClientStreaming || m.kind == StreamingKind::kBidiStreaming;
    bool server_streams =
        m.kind == StreamingKind::kServerStreaming || m.kind == StreamingKind::kBidiStreaming;
    if (client_streams) {
      Signature(w, "polyrpc_error_t $client$__$m$__send",
                {"polyrpc_call_t *call", "const $Req$ *message", "uint32_t flags"}, v, decl);
      if (!decl) {
        w.Line("  return stub_send(call, message ? &message->base : NULL, flags);");
        w.Line("}");
        w.Blank();
      }
    }
    if (server_streams) {
      Signature(w, "polyrpc_error_t $client$__$m$__recv",
                {"polyrpc_call_t *call", "$Resp$ **message"}, v, decl);
      if (!decl) {
        w.Line("  ProtobufCMessage *received = NULL;");
        w.Line(
            "  polyrpc_error_t err = stub_recv(call, &$resp_desc$, message ? &received : NULL, 0);",
            v);
        w.Line("  if (message != NULL) *message = ($Resp$ *)received;", v);
        w.Line("  return err;");
        w.Line("}");
        w.Blank();
      }
    }
    switch (m.kind) {
      case StreamingKind::kUnary:
        break;
      case StreamingKind::kClientStreaming:
        Signature(w, "polyrpc_error_t $client$__$m$__finish",
                  {"polyrpc_call_t *call", "$Resp$ **response", "int *status_code"}, v, decl);
        if (!decl) {
          w.Line("  ProtobufCMessage *message = NULL;");
          w.Line("  polyrpc_error_t err =");
          w.Line(
              "      stub_finish(call, 1, &$resp_desc$, response ? &message : NULL, status_code);",
              v);
          w.Line("  if (response != NULL) *response = ($Resp$ *)message;", v);
          w.Line("  return err;");
          w.Line("}");
          w.Blank();
        }
        break;
      case StreamingKind::kServerStreaming:
      case StreamingKind::kBidiStreaming:
        Signature(w, "polyrpc_error_t $client$__$m$__finish",
                  {"polyrpc_call_t *call", "int *status_code"}, v, decl);
        if (!decl) {
          w.Line(m.kind == StreamingKind::kBidiStreaming
                     ? "  return stub_finish(call, 1, NULL, NULL, status_code);"
                     : "  return stub_finish(call, 0, NULL, NULL, status_code);");
          w.Line("}");
          w.Blank();
        }
        break;
    }
    Signature(w, "polyrpc_error_t $client$__$m$__pack_request",
              {"const $Req$ *request", "polyrpc_buffer_t **out"}, v, decl);
    if (!decl) {
      w.Line("  return stub_pack(request ? &request->base : NULL, out);");
      w.Line("}");
      w.Blank();
    }
    Signature(w, "polyrpc_error_t $client$__$m$__unpack_response",
              {"const polyrpc_buffer_t *buffer", "$Resp$ **out"}, v, decl);
    if (!decl) {
      w.Line("  ProtobufCMessage *message = NULL;");
      w.Line("  polyrpc_error_t err = stub_unpack(&$resp_desc$, buffer, out ? &message : NULL);",
             v);
      w.Line("  if (out != NULL) *out = ($Resp$ *)message;", v);
      w.Line("  return err;");
      w.Line("}");
      w.Blank();
    }
  }

  // The typed server helpers of one method.
  static void ServerMethod(CodeWriter& w, const MethodModel& m, const CodeWriter::Vars& v,
                           bool decl) {
    bool client_streams =
        m.kind == StreamingKind::kClientStreaming || m.kind == StreamingKind::kBidiStreaming;
    bool server_streams =
        m.kind == StreamingKind::kServerStreaming || m.kind == StreamingKind::kBidiStreaming;
    if (client_streams) {
      Signature(w, "polyrpc_error_t $server$__$m$__recv",
                {"polyrpc_call_t *call", "$Req$ **message"}, v, decl);
      if (!decl) {
        w.Line("  ProtobufCMessage *received = NULL;");
        w.Line(
            "  polyrpc_error_t err = stub_recv(call, &$req_desc$, message ? &received : NULL, 1);",
            v);
        w.Line("  if (message != NULL) *message = ($Req$ *)received;", v);
        w.Line("  return err;");
        w.Line("}");
        w.Blank();
      }
    }
    if (server_streams) {
      Signature(w, "polyrpc_error_t $server$__$m$__send",
                {"polyrpc_call_t *call", "const $Resp$ *message", "uint32_t flags"}, v, decl);
      if (!decl) {
        w.Line("  return stub_send(call, message ? &message->base : NULL, flags);");
        w.Line("}");
        w.Blank();
      }
    } else {
      Signature(w, "polyrpc_error_t $server$__$m$__reply",
                {"polyrpc_call_t *call", "const $Resp$ *response"}, v, decl);
      if (!decl) {
        w.Line("  return stub_reply(call, response ? &response->base : NULL);");
        w.Line("}");
        w.Blank();
      }
    }
    Signature(w, "polyrpc_error_t $server$__$m$__unpack_request",
              {"const polyrpc_buffer_t *buffer", "$Req$ **out"}, v, decl);
    if (!decl) {
      w.Line("  ProtobufCMessage *message = NULL;");
      w.Line("  polyrpc_error_t err = stub_unpack(&$req_desc$, buffer, out ? &message : NULL);", v);
      w.Line("  if (out != NULL) *out = ($Req$ *)message;", v);
      w.Line("  return err;");
      w.Line("}");
      w.Blank();
    }
    Signature(w, "polyrpc_error_t $server$__$m$__pack_response",
              {"const $Resp$ *response", "polyrpc_buffer_t **out"}, v, decl);
    if (!decl) {
      w.Line("  return stub_pack(response ? &response->base : NULL, out);");
      w.Line("}");
      w.Blank();
    }
  }

  static std::string Header(const FileModel& model, const std::vector<ServiceNames>& names,
                            const std::string& stem) {
    CodeWriter w;
    w.Line("/* Generated by protoc-gen-polyrpc (lang=c). DO NOT EDIT!");
    w.Line(" * source: $file$ */", {{"file", CommentSafe(model.file->name())}});
    std::string guard = IncludeGuard(model.file->name());
    w.Line("#ifndef $g$", {{"g", guard}});
    w.Line("#define $g$", {{"g", guard}});
    w.Blank();
    w.Line("#include <stdint.h>");
    w.Blank();
    w.Line("#include <protobuf-c/protobuf-c.h>");
    w.Blank();
    w.Line("#include \"polyrpc/polyrpc.h\"");
    w.Line("#include \"$stem$.pb-c.h\"", {{"stem", stem}});
    w.Blank();
    w.Line("#ifdef __cplusplus");
    w.Line("extern \"C\" {");
    w.Line("#endif");
    w.Blank();
    if (!model.services.empty()) {
      w.Line(kHeaderIntro);
      w.Blank();
      w.Line(kOptions);
      w.Blank();
    }
    for (size_t i = 0; i < model.services.size(); ++i) {
      const ServiceModel& s = model.services[i];
      const ServiceNames& sn = names[i];
      CodeWriter::Vars sv = {{"full_name", s.full_name}, {"client", sn.client},
                             {"server", sn.server},      {"Handlers", sn.handlers},
                             {"type", sn.type},          {"lower", sn.lower}};
      w.Line("/* ---- service $full_name$ ---- */", sv);
      BlockComment(w, s.comments);
      w.Blank();
      w.Line("/* Method paths (the HTTP/2 :path). */");
      for (size_t j = 0; j < s.methods.size(); ++j) {
        CodeWriter::Vars v = MethodVars(s, sn, s.methods[j], sn.methods[j]);
        w.Line("#define $PATH$ \"$path$\"", v);
      }
      w.Blank();
      w.Line("/* -- client: $client$__<method> -- */", sv);
      for (size_t j = 0; j < s.methods.size(); ++j) {
        const MethodModel& m = s.methods[j];
        CodeWriter::Vars v = MethodVars(s, sn, m, sn.methods[j]);
        w.Blank();
        MethodComment(w, m, v);
        ClientMethod(w, m, v, true);
      }
      w.Blank();
      w.Line("/* -- server: $server$__<method> -- */", sv);
      w.Blank();
      w.Line("/*");
      w.Line(" * The handlers of $full_name$ for __dispatch(): a NULL member answers", sv);
      w.Line(
          " * UNIMPLEMENTED. A handler answers the call itself and returns the result of doing "
          "so.");
      w.Line(" */");
      w.Line("typedef struct $Handlers$ {", sv);
      w.Indent();
      if (s.methods.empty()) w.Line("int no_methods_; /* the service has no methods */");
      for (size_t j = 0; j < s.methods.size(); ++j) {
        const MethodModel& m = s.methods[j];
        CodeWriter::Vars v = MethodVars(s, sn, m, sn.methods[j]);
        if (m.kind == StreamingKind::kUnary || m.kind == StreamingKind::kServerStreaming) {
          Signature(w, "polyrpc_error_t (*$m$)",
                    {"polyrpc_call_t *call", "const $Req$ *request", "void *user_data"}, v, true);
        } else {
          Signature(w, "polyrpc_error_t (*$m$)", {"polyrpc_call_t *call", "void *user_data"}, v,
                    true);
        }
      }
      w.Outdent();
      w.Line("} $Handlers$;", sv);
      w.Blank();
      Signature(w, "polyrpc_error_t $server$__register", {"polyrpc_server_t *server"}, sv, true);
      w.Line("/* NOT_FOUND, the call untouched, for another service's method. */");
      Signature(w, "polyrpc_error_t $server$__dispatch",
                {"const $Handlers$ *handlers", "polyrpc_call_t *call", "void *user_data"}, sv,
                true);
      for (size_t j = 0; j < s.methods.size(); ++j) {
        const MethodModel& m = s.methods[j];
        CodeWriter::Vars v = MethodVars(s, sn, m, sn.methods[j]);
        w.Blank();
        w.Line("/* $proto_name$ ($kind$) */", v);
        ServerMethod(w, m, v, true);
      }
      w.Blank();
    }
    w.Line("#ifdef __cplusplus");
    w.Line("}");
    w.Line("#endif");
    w.Blank();
    w.Line("#endif /* $g$ */", {{"g", guard}});
    return w.text();
  }

  static std::string Source(const FileModel& model, const std::vector<ServiceNames>& names,
                            const std::string& stem) {
    CodeWriter w;
    w.Line("/* Generated by protoc-gen-polyrpc (lang=c). DO NOT EDIT!");
    w.Line(" * source: $file$ */", {{"file", CommentSafe(model.file->name())}});
    w.Line("#include \"$stem$.polyrpc-c.h\"", {{"stem", stem}});
    if (model.services.empty()) return w.text();
    w.Blank();
    w.Line("#include <stdlib.h>");
    w.Line("#include <string.h>");
    w.Blank();
    w.Line(kSourceHelpers);
    for (size_t i = 0; i < model.services.size(); ++i) {
      const ServiceModel& s = model.services[i];
      const ServiceNames& sn = names[i];
      CodeWriter::Vars sv = {
          {"full_name", s.full_name}, {"server", sn.server}, {"Handlers", sn.handlers}};
      w.Blank();
      w.Line("/* ---- service $full_name$ ---- */", sv);
      w.Blank();
      for (size_t j = 0; j < s.methods.size(); ++j) {
        ClientMethod(w, s.methods[j], MethodVars(s, sn, s.methods[j], sn.methods[j]), false);
      }
      for (size_t j = 0; j < s.methods.size(); ++j) {
        ServerMethod(w, s.methods[j], MethodVars(s, sn, s.methods[j], sn.methods[j]), false);
      }
      Signature(w, "polyrpc_error_t $server$__register", {"polyrpc_server_t *server"}, sv, false);
      if (s.methods.empty()) {
        w.Line("  return server != NULL ? POLYRPC_OK : POLYRPC_ERROR_INVALID_ARGUMENT;");
      } else {
        w.Line("  static const char *const paths[] = {");
        for (size_t j = 0; j < s.methods.size(); ++j) {
          w.Line("      $PATH$,", MethodVars(s, sn, s.methods[j], sn.methods[j]));
        }
        w.Line("  };");
        w.Line("  size_t i;");
        w.Line("  for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {");
        w.Line("    polyrpc_error_t err = polyrpc_server_register_method(server, paths[i]);");
        w.Line("    if (err != POLYRPC_OK) return err;");
        w.Line("  }");
        w.Line("  return POLYRPC_OK;");
      }
      w.Line("}");
      w.Blank();
      Signature(w, "polyrpc_error_t $server$__dispatch",
                {"const $Handlers$ *handlers", "polyrpc_call_t *call", "void *user_data"}, sv,
                false);
      w.Line("  const char *method;");
      w.Line("  if (handlers == NULL) return POLYRPC_ERROR_INVALID_ARGUMENT;");
      w.Line("  method = polyrpc_call_method(call);");
      w.Line("  if (method == NULL) return POLYRPC_ERROR_INVALID_ARGUMENT;");
      for (size_t j = 0; j < s.methods.size(); ++j) {
        const MethodModel& m = s.methods[j];
        CodeWriter::Vars v = MethodVars(s, sn, m, sn.methods[j]);
        w.Line("  if (strcmp(method, $PATH$) == 0) {", v);
        w.Line("    if (handlers->$m$ == NULL) {", v);
        w.Line("      return stub_unimplemented(call, \"Method $proto_name$ is not implemented\");",
               v);
        w.Line("    }");
        if (m.kind == StreamingKind::kUnary || m.kind == StreamingKind::kServerStreaming) {
          w.Line("    {");
          w.Line("      ProtobufCMessage *request = NULL;");
          w.Line("      polyrpc_error_t err;");
          w.Line("      if (!stub_read_request(call, &$req_desc$, &request)) return POLYRPC_OK;",
                 v);
          w.Line("      err = handlers->$m$(call, (const $Req$ *)request, user_data);", v);
          w.Line("      protobuf_c_message_free_unpacked(request, NULL);");
          w.Line("      return err;");
          w.Line("    }");
        } else {
          w.Line("    return handlers->$m$(call, user_data);", v);
        }
        w.Line("  }");
      }
      if (s.methods.empty()) w.Line("  (void)user_data;");
      w.Line("  return POLYRPC_ERROR_NOT_FOUND;");
      w.Line("}");
    }
    return w.text();
  }
};

}  // namespace

std::unique_ptr<LanguageGenerator> MakeCGenerator() { return std::make_unique<CGenerator>(); }

}  // namespace polyrpc::codegen
