// polyrpc: the command-line tool. Lists, describes and calls gRPC services (polyrpc or any gRPC
// server) with JSON in and out, through server reflection or .proto files, and load-tests a
// method. Written on the C ABI only (polyrpc/polyrpc.h: channels, calls, and the dynamic JSON
// calls of polyrpc/dynamic.h); docs/cli.md has the manual.
//
//   polyrpc list HOST:PORT [SERVICE]
//   polyrpc describe HOST:PORT [SYMBOL]
//   polyrpc call HOST:PORT pkg.Service/Method ['{json}' | -]
//   polyrpc bench HOST:PORT pkg.Service/Method ['{json}'] [-n N] [-c C] [--duration S]
//
// Exit status: the call's gRPC status code (0 OK, 1..16); 64 for a usage error, 65 for any
// other failure before or around the call (no descriptors, JSON that does not fit, a bad file).
#include <polyrpc/polyrpc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kExitUsage = 64;
constexpr int kExitFailure = 65;

const char kUsage[] =
    "usage: polyrpc [options] list HOST:PORT [SERVICE]\n"
    "       polyrpc [options] describe HOST:PORT [SYMBOL]\n"
    "       polyrpc [options] call HOST:PORT pkg.Service/Method ['{json}' | -]\n"
    "       polyrpc [options] bench HOST:PORT pkg.Service/Method ['{json}']\n"
    "\n"
    "Descriptors come from server reflection, or from --proto/--protoset when given.\n"
    "Requests: the JSON argument, or JSON lines on stdin ('-' or no argument); streaming\n"
    "calls send one message per line. Responses: one JSON object per line on stdout.\n"
    "\n"
    "options:\n"
    "  --plaintext              no TLS (the default)\n"
    "  --tls                    TLS with the system's CA certificates (or --cacert)\n"
    "  --cacert FILE            CA certificates (PEM) that verify the server; implies --tls\n"
    "  --cert FILE --key FILE   client certificate and key (mutual TLS); imply --tls\n"
    "  --servername NAME        the name to verify in the server's certificate\n"
    "  --authority NAME         the :authority of the calls\n"
    "  -H, --header 'k: v'      request metadata (repeatable)\n"
    "  --deadline D             deadline of each call: 500ms, 3s, 2m (default: none; 10s for\n"
    "                           reflection)\n"
    "  --proto FILE             a .proto file (repeatable), compiled with protoc\n"
    "  -I, --import-path DIR    where --proto files and their imports are (repeatable)\n"
    "  --protoset FILE          a FileDescriptorSet (protoc --descriptor_set_out --include_imports)\n"
    "  --emit-defaults          print fields that hold their default value\n"
    "  --proto-names            print proto field names (response_size), not lowerCamelCase\n"
    "  --pretty                 indent the JSON output\n"
    "  -v, --verbose            print response headers and trailers on stderr\n"
    "  bench: -n N (calls, default 1000), -c C (concurrent calls, default 8), --duration S\n"
    "         (run S seconds instead of N calls), --connections K (default 1)\n";

struct Options {
  bool tls = false;
  std::string cacert, cert, key, servername, authority;
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t deadline_ms = -1;
  std::vector<std::string> protos, import_paths;
  std::string protoset;
  uint32_t print_flags = 0;
  bool verbose = false;
  long bench_n = 1000;
  int bench_c = 8;
  double bench_duration = 0;
  int bench_connections = 1;
  std::vector<std::string> args;  // command and its arguments
};

[[noreturn]] void Die(int code, const std::string& message) {
  std::fprintf(stderr, "polyrpc: %s\n", message.c_str());
  std::exit(code);
}

// An API error: the message from polyrpc_last_error(), read at once.
void Check(polyrpc_error_t err, const char* what) {
  if (err != POLYRPC_OK) {
    Die(kExitFailure, std::string(what) + ": " + polyrpc_last_error());
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die(kExitFailure, "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool ParseDuration(const std::string& s, int64_t* ms) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || v < 0) return false;
  std::string unit(end);
  double scale = unit == "ms" ? 1 : unit == "s" || unit.empty() ? 1000 : unit == "m" ? 60000
               : unit == "us" ? 0.001 : -1;
  if (scale < 0) return false;
  *ms = static_cast<int64_t>(std::ceil(v * scale));
  return true;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  auto value = [&](int& i, const std::string& name) -> std::string {
    if (i + 1 >= argc) Die(kExitUsage, "missing value for " + name);
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string inline_value;
    bool has_inline = false;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
      inline_value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      has_inline = true;
    }
    auto take = [&](const std::string& name) {
      return has_inline ? inline_value : value(i, name);
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--plaintext") {
      o.tls = false;
    } else if (a == "--tls") {
      o.tls = true;
    } else if (a == "--cacert") {
      o.cacert = take(a);
      o.tls = true;
    } else if (a == "--cert") {
      o.cert = take(a);
      o.tls = true;
    } else if (a == "--key") {
      o.key = take(a);
      o.tls = true;
    } else if (a == "--servername") {
      o.servername = take(a);
    } else if (a == "--authority") {
      o.authority = take(a);
    } else if (a == "-H" || a == "--header") {
      std::string h = take(a);
      size_t colon = h.find(':');
      if (colon == std::string::npos || colon == 0) Die(kExitUsage, "header must be 'key: value'");
      std::string k = h.substr(0, colon), v = h.substr(colon + 1);
      while (!v.empty() && v[0] == ' ') v.erase(0, 1);
      std::transform(k.begin(), k.end(), k.begin(), ::tolower);
      o.headers.emplace_back(k, v);
    } else if (a == "--deadline" || a == "--max-time") {
      if (!ParseDuration(take(a), &o.deadline_ms)) Die(kExitUsage, "bad --deadline (500ms, 3s, 2m)");
    } else if (a == "--proto") {
      o.protos.push_back(take(a));
    } else if (a == "-I" || a == "--import-path") {
      o.import_paths.push_back(take(a));
    } else if (a.rfind("-I", 0) == 0 && a.size() > 2) {
      o.import_paths.push_back(a.substr(2));
    } else if (a == "--protoset") {
      o.protoset = take(a);
    } else if (a == "--emit-defaults") {
      o.print_flags |= POLYRPC_JSON_EMIT_DEFAULTS;
    } else if (a == "--proto-names") {
      o.print_flags |= POLYRPC_JSON_PROTO_NAMES;
    } else if (a == "--pretty") {
      o.print_flags |= POLYRPC_JSON_PRETTY;
    } else if (a == "-v" || a == "--verbose") {
      o.verbose = true;
    } else if (a == "-n") {
      o.bench_n = std::atol(take(a).c_str());
    } else if (a == "-c") {
      o.bench_c = std::atoi(take(a).c_str());
    } else if (a == "--connections") {
      o.bench_connections = std::atoi(take(a).c_str());
    } else if (a == "--duration") {
      int64_t ms = 0;
      if (!ParseDuration(take(a), &ms)) Die(kExitUsage, "bad --duration");
      o.bench_duration = ms / 1000.0;
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      Die(kExitUsage, "unknown option " + a + "\n" + kUsage);
    } else {
      o.args.push_back(argv[i]);
    }
  }
  if (o.bench_c < 1 || o.bench_n < 1 || o.bench_connections < 1) {
    Die(kExitUsage, "-n, -c and --connections must be positive");
  }
  return o;
}

// ---- Channel and metadata ------------------------------------------------------------------

polyrpc_channel_t* OpenChannel(const Options& o, const std::string& target) {
  polyrpc_channel_credentials_t* creds = nullptr;
  if (o.tls) {
    std::string ca = o.cacert.empty() ? "" : ReadFile(o.cacert);
    std::string cert = o.cert.empty() ? "" : ReadFile(o.cert);
    std::string key = o.key.empty() ? "" : ReadFile(o.key);
    if (cert.empty() != key.empty()) Die(kExitUsage, "--cert and --key go together");
    Check(polyrpc_channel_credentials_create_tls(ca.empty() ? nullptr : ca.c_str(),
                                                 cert.empty() ? nullptr : cert.c_str(),
                                                 key.empty() ? nullptr : key.c_str(), &creds),
          "TLS credentials");
  } else {
    Check(polyrpc_channel_credentials_create_insecure(&creds), "credentials");
  }
  polyrpc_options_t* opts = nullptr;
  Check(polyrpc_options_create(&opts), "options");
  polyrpc_options_set_string(opts, "grpc.primary_user_agent", "polyrpc-cli");
  if (!o.servername.empty()) {
    polyrpc_options_set_string(opts, "grpc.ssl_target_name_override", o.servername.c_str());
  }
  if (!o.authority.empty()) {
    polyrpc_options_set_string(opts, "grpc.default_authority", o.authority.c_str());
  }
  polyrpc_channel_t* ch = nullptr;
  Check(polyrpc_channel_create(target.c_str(), creds, opts, &ch), "channel");
  polyrpc_options_destroy(opts);
  polyrpc_channel_credentials_destroy(creds);
  return ch;
}

polyrpc_metadata_t* Headers(const Options& o) {
  if (o.headers.empty()) return nullptr;
  polyrpc_metadata_t* md = nullptr;
  Check(polyrpc_metadata_create(&md), "metadata");
  for (const auto& [k, v] : o.headers) {
    Check(polyrpc_metadata_add(md, k.c_str(), reinterpret_cast<const uint8_t*>(v.data()),
                               v.size()),
          ("header " + k).c_str());
  }
  return md;
}

void PrintMetadata(const char* what, const polyrpc_metadata_t* md) {
  size_t n = md ? polyrpc_metadata_count(md) : 0;
  std::fprintf(stderr, "%s (%zu):\n", what, n);
  for (size_t i = 0; i < n; ++i) {
    const char* key = nullptr;
    const uint8_t* value = nullptr;
    size_t len = 0;
    if (polyrpc_metadata_get(md, i, &key, &value, &len) != POLYRPC_OK) continue;
    std::fprintf(stderr, "  %s: %.*s\n", key, static_cast<int>(len),
                 reinterpret_cast<const char*>(value));
  }
}

// ---- Descriptors ---------------------------------------------------------------------------

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// From --protoset and --proto (protoc --descriptor_set_out --include_imports), or nullptr.
polyrpc_descriptor_pool_t* PoolFromFiles(const Options& o) {
  if (o.protoset.empty() && o.protos.empty()) return nullptr;
  polyrpc_descriptor_pool_t* pool = nullptr;
  Check(polyrpc_descriptor_pool_create(&pool), "descriptor pool");
  auto add = [&](const std::string& bytes, const std::string& from) {
    if (polyrpc_descriptor_pool_add_file_set(pool, reinterpret_cast<const uint8_t*>(bytes.data()),
                                             bytes.size()) != POLYRPC_OK) {
      Die(kExitFailure, from + ": " + polyrpc_last_error());
    }
  };
  if (!o.protoset.empty()) add(ReadFile(o.protoset), o.protoset);
  if (!o.protos.empty()) {
    char tmpl[] = "/tmp/polyrpc-cli-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) Die(kExitFailure, "cannot make a temporary file");
    close(fd);
    const char* protoc = std::getenv("PROTOC");
    std::string cmd = Quote(protoc && *protoc ? protoc : "protoc");
    for (const auto& dir : o.import_paths) cmd += " " + Quote("-I" + dir);
    if (o.import_paths.empty()) cmd += " -I.";
    cmd += " --include_imports " + Quote(std::string("--descriptor_set_out=") + tmpl);
    for (const auto& p : o.protos) cmd += " " + Quote(p);
    int rc = std::system(cmd.c_str());
    std::string bytes = rc == 0 ? ReadFile(tmpl) : "";
    std::remove(tmpl);
    if (rc != 0) Die(kExitFailure, "protoc failed on the --proto files (set PROTOC to pick one)");
    add(bytes, "--proto");
  }
  return pool;
}

int64_t ReflectionTimeout(const Options& o) { return o.deadline_ms >= 0 ? o.deadline_ms : 10000; }

// Adds what the server describes of symbol by reflection.
void Reflect(const Options& o, polyrpc_descriptor_pool_t* pool, polyrpc_channel_t* ch,
             const std::string& symbol) {
  polyrpc_metadata_t* md = Headers(o);
  polyrpc_error_t err = polyrpc_descriptor_pool_add_from_reflection(pool, ch, symbol.c_str(), md,
                                                                    ReflectionTimeout(o));
  polyrpc_metadata_destroy(md);
  if (err == POLYRPC_OK) return;
  std::string why = polyrpc_last_error();
  if (err == POLYRPC_ERROR_IO && why.find("UNAVAILABLE") != std::string::npos) {
    Die(POLYRPC_STATUS_UNAVAILABLE, "cannot reach the server: " + why);
  }
  Die(kExitFailure, "server reflection: " + why);
}

// Reflect without dying: false (polyrpc_last_error() says why) if symbol cannot be fetched.
bool TryReflect(const Options& o, polyrpc_descriptor_pool_t* pool, polyrpc_channel_t* ch,
                const std::string& symbol) {
  polyrpc_metadata_t* md = Headers(o);
  polyrpc_error_t err = polyrpc_descriptor_pool_add_from_reflection(pool, ch, symbol.c_str(), md,
                                                                    ReflectionTimeout(o));
  polyrpc_metadata_destroy(md);
  return err == POLYRPC_OK;
}

// A protobuf varint and length-delimited fields, for the reflection listing below.
struct Wire {
  const uint8_t* p;
  const uint8_t* end;
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; p < end && shift < 64; shift += 7) {
      uint8_t b = *p++;
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  // Next field: its number, and the bytes of a length-delimited one (others are skipped).
  bool Next(int* field, std::string* bytes, bool* delimited) {
    uint64_t tag, v;
    if (p >= end || !Varint(&tag)) return false;
    *field = static_cast<int>(tag >> 3);
    *delimited = (tag & 7) == 2;
    switch (tag & 7) {
      case 0: return Varint(&v);
      case 1: p += 8; return p <= end;
      case 5: p += 4; return p <= end;
      case 2:
        if (!Varint(&v) || v > static_cast<uint64_t>(end - p)) return false;
        bytes->assign(reinterpret_cast<const char*>(p), v);
        p += v;
        return true;
      default: return false;
    }
  }
};

// The services the server lists by reflection (list_services on v1, then v1alpha), sorted.
std::vector<std::string> ListServices(const Options& o, polyrpc_channel_t* ch) {
  for (const char* version : {"v1", "v1alpha"}) {
    std::string path = std::string("/grpc.reflection.") + version +
                       ".ServerReflection/ServerReflectionInfo";
    polyrpc_metadata_t* md = Headers(o);
    polyrpc_call_t* call = nullptr;
    Check(polyrpc_call_create(ch, path.c_str(), ReflectionTimeout(o), md, 0, &call), "call");
    polyrpc_metadata_destroy(md);
    static const uint8_t kList[] = {0x3a, 0x00};  // list_services (7) = ""
    polyrpc_buffer_t* req = nullptr;
    Check(polyrpc_buffer_create_copy(kList, sizeof kList, &req), "buffer");
    polyrpc_buffer_t* resp = nullptr;
    Check(polyrpc_call_unary(call, req, &resp), "reflection");  // one request, one response
    polyrpc_buffer_destroy(req);
    int code = 0;
    const char* message = nullptr;
    Check(polyrpc_call_status(call, &code, &message), "status");
    if (code == POLYRPC_STATUS_UNIMPLEMENTED && std::string(version) == "v1") {
      polyrpc_call_destroy(call);
      continue;
    }
    if (code != POLYRPC_STATUS_OK) {
      std::string m = message ? message : "";
      polyrpc_call_destroy(call);
      Die(code, std::string("server reflection: ") + polyrpc_status_code_name(code) + ": " + m);
    }
    const uint8_t* data = nullptr;
    size_t len = 0;
    polyrpc_buffer_data(resp, &data, &len);
    std::vector<std::string> names;
    Wire w{data, data + len};
    int field;
    bool delimited;
    std::string bytes;
    while (w.Next(&field, &bytes, &delimited)) {
      if (field == 7 && delimited) {
        Wire e{reinterpret_cast<const uint8_t*>(bytes.data()),
               reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size()};
        std::string msg;
        while (e.Next(&field, &msg, &delimited)) {
          if (field == 2) Die(kExitFailure, "server reflection: " + msg);
        }
      }
      if (field != 6 || !delimited) continue;
      std::string list = bytes;
      Wire l{reinterpret_cast<const uint8_t*>(list.data()),
             reinterpret_cast<const uint8_t*>(list.data()) + list.size()};
      std::string service;
      while (l.Next(&field, &service, &delimited)) {
        if (field != 1 || !delimited) continue;
        Wire s{reinterpret_cast<const uint8_t*>(service.data()),
               reinterpret_cast<const uint8_t*>(service.data()) + service.size()};
        std::string name;
        while (s.Next(&field, &name, &delimited)) {
          if (field == 1 && delimited) names.push_back(name);
        }
      }
    }
    polyrpc_buffer_destroy(resp);
    polyrpc_call_destroy(call);
    std::sort(names.begin(), names.end());
    return names;
  }
  Die(kExitFailure, "the server offers no reflection service");
}

std::vector<std::string> PoolServices(const polyrpc_descriptor_pool_t* pool) {
  size_t n = 0;
  Check(polyrpc_descriptor_pool_service_count(pool, &n), "services");
  std::vector<std::string> names;
  for (size_t i = 0; i < n; ++i) {
    const char* name = nullptr;
    Check(polyrpc_descriptor_pool_service(pool, i, &name, nullptr), "service");
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> ServiceMethods(const polyrpc_descriptor_pool_t* pool,
                                        const std::string& service) {
  size_t n = 0, methods = 0;
  Check(polyrpc_descriptor_pool_service_count(pool, &n), "services");
  for (size_t i = 0; i < n; ++i) {
    const char* name = nullptr;
    Check(polyrpc_descriptor_pool_service(pool, i, &name, &methods), "service");
    if (service != name) continue;
    std::vector<std::string> out;
    for (size_t j = 0; j < methods; ++j) {
      const char* m = nullptr;
      Check(polyrpc_descriptor_pool_service_method(pool, i, j, &m), "method");
      std::string s = m;
      s[s.rfind('/')] = '.';  // grpcurl's spelling: pkg.Service.Method
      out.push_back(s);
    }
    return out;
  }
  Die(kExitFailure, "no service " + service);
}

// The pool to call and describe with: the files given, or reflection of symbol.
polyrpc_descriptor_pool_t* PoolFor(const Options& o, polyrpc_channel_t* ch,
                                   const std::string& symbol) {
  polyrpc_descriptor_pool_t* pool = PoolFromFiles(o);
  if (pool != nullptr) return pool;
  Check(polyrpc_descriptor_pool_create(&pool), "descriptor pool");
  Reflect(o, pool, ch, symbol);
  return pool;
}

// ---- Commands ------------------------------------------------------------------------------

int CmdList(const Options& o) {
  if (o.args.size() < 2 || o.args.size() > 3) Die(kExitUsage, kUsage);
  polyrpc_channel_t* ch = OpenChannel(o, o.args[1]);
  std::vector<std::string> lines;
  if (o.args.size() == 2) {
    polyrpc_descriptor_pool_t* pool = PoolFromFiles(o);
    lines = pool ? PoolServices(pool) : ListServices(o, ch);
    polyrpc_descriptor_pool_destroy(pool);
  } else {
    polyrpc_descriptor_pool_t* pool = PoolFor(o, ch, o.args[2]);
    lines = ServiceMethods(pool, o.args[2]);
    polyrpc_descriptor_pool_destroy(pool);
  }
  for (const auto& l : lines) std::printf("%s\n", l.c_str());
  polyrpc_channel_destroy(ch);
  return 0;
}

void Describe(polyrpc_descriptor_pool_t* pool, const std::string& symbol) {
  const char* kind = nullptr;
  polyrpc_buffer_t* text = nullptr;
  if (polyrpc_descriptor_pool_describe(pool, symbol.c_str(), &kind, &text) != POLYRPC_OK) {
    Die(kExitFailure, polyrpc_last_error());
  }
  const uint8_t* data = nullptr;
  size_t len = 0;
  polyrpc_buffer_data(text, &data, &len);
  std::printf("%s is a %s:\n%.*s", symbol.c_str(), kind, static_cast<int>(len),
              reinterpret_cast<const char*>(data));
  if (len > 0 && data[len - 1] != '\n') std::printf("\n");
  polyrpc_buffer_destroy(text);
}

int CmdDescribe(const Options& o) {
  if (o.args.size() < 2 || o.args.size() > 3) Die(kExitUsage, kUsage);
  polyrpc_channel_t* ch = OpenChannel(o, o.args[1]);
  polyrpc_descriptor_pool_t* pool = PoolFromFiles(o);
  std::vector<std::string> symbols;
  if (o.args.size() == 3) {
    std::string symbol = o.args[2];
    if (symbol.find('/') != std::string::npos) symbol[symbol.rfind('/')] = '.';
    symbols.push_back(symbol);
  } else {
    symbols = pool ? PoolServices(pool) : ListServices(o, ch);
  }
  if (pool == nullptr) {
    Check(polyrpc_descriptor_pool_create(&pool), "descriptor pool");
    std::vector<std::string> described;
    for (const auto& s : symbols) {
      if (o.args.size() == 3) {
        Reflect(o, pool, ch, s);
        described.push_back(s);
      } else if (TryReflect(o, pool, ch, s)) {
        described.push_back(s);
      } else {
        // Listed without a descriptor (a handler registered without its .proto): say so.
        std::fprintf(stderr, "polyrpc: %s: %s\n", s.c_str(), polyrpc_last_error());
      }
    }
    symbols = described;
  }
  for (size_t i = 0; i < symbols.size(); ++i) {
    if (i) std::printf("\n");
    Describe(pool, symbols[i]);
  }
  polyrpc_descriptor_pool_destroy(pool);
  polyrpc_channel_destroy(ch);
  return 0;
}

std::string BufferText(const polyrpc_buffer_t* b) {
  const uint8_t* data = nullptr;
  size_t len = 0;
  polyrpc_buffer_data(b, &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

// Splits JSON text into top-level values (objects, arrays, strings, numbers...), so that one
// argument may carry several messages and stdin may spread one over several lines.
class JsonSplitter {
 public:
  // Feeds text; complete values go to out.
  void Feed(const std::string& text, std::vector<std::string>* out) {
    for (char c : text) {
      if (cur_.empty() && depth_ == 0 && !in_string_ && std::isspace(static_cast<unsigned char>(c))) {
        continue;
      }
      cur_ += c;
      if (in_string_) {
        if (escape_) escape_ = false;
        else if (c == '\\') escape_ = true;
        else if (c == '"') {
          in_string_ = false;
          if (depth_ == 0) Flush(out);
        }
        continue;
      }
      if (c == '"') {
        in_string_ = true;
      } else if (c == '{' || c == '[') {
        ++depth_;
      } else if (c == '}' || c == ']') {
        if (--depth_ == 0) Flush(out);
      } else if (depth_ == 0 && std::isspace(static_cast<unsigned char>(c))) {
        cur_.pop_back();
        Flush(out);  // a bare number, true, false or null
      }
    }
  }
  void End(std::vector<std::string>* out) { Flush(out); }

 private:
  void Flush(std::vector<std::string>* out) {
    if (!cur_.empty()) out->push_back(std::move(cur_));
    cur_.clear();
  }
  std::string cur_;
  int depth_ = 0;
  bool in_string_ = false, escape_ = false;
};

// Request messages: from the argument, or read from stdin as they come (streaming).
class Requests {
 public:
  Requests(const Options& o, size_t arg_index) {
    if (o.args.size() > arg_index && o.args[arg_index] != "-") {
      JsonSplitter s;
      s.Feed(o.args[arg_index], &pending_);
      s.End(&pending_);
      stdin_ = false;
    }
  }
  // The next request's JSON; false at the end.
  bool Next(std::string* json) {
    while (pending_.empty()) {
      if (!stdin_ || eof_) return false;
      std::string line;
      if (!std::getline(std::cin, line)) {
        eof_ = true;
        splitter_.End(&pending_);
        continue;
      }
      splitter_.Feed(line + "\n", &pending_);
    }
    *json = std::move(pending_.front());
    pending_.erase(pending_.begin());
    return true;
  }

 private:
  std::vector<std::string> pending_;
  JsonSplitter splitter_;
  bool stdin_ = true;
  bool eof_ = false;
};

struct MethodInfo {
  int kind = 0;
  std::string path, input, output;
};

MethodInfo FindMethod(const polyrpc_descriptor_pool_t* pool, const std::string& method) {
  const char *path = nullptr, *in = nullptr, *out = nullptr;
  MethodInfo m;
  if (polyrpc_descriptor_pool_find_method(pool, method.c_str(), &m.kind, &path, &in, &out) !=
      POLYRPC_OK) {
    Die(kExitFailure, polyrpc_last_error());
  }
  m.path = path;
  m.input = in;
  m.output = out;
  return m;
}

polyrpc_buffer_t* ToMessage(const polyrpc_descriptor_pool_t* pool, const std::string& type,
                            const std::string& json) {
  polyrpc_buffer_t* msg = nullptr;
  if (polyrpc_descriptor_pool_json_to_message(pool, type.c_str(), json.c_str(), 0, &msg) !=
      POLYRPC_OK) {
    Die(kExitFailure, std::string("request: ") + polyrpc_last_error());
  }
  return msg;
}

void PrintMessage(const polyrpc_descriptor_pool_t* pool, const std::string& type,
                  const polyrpc_buffer_t* msg, uint32_t flags) {
  polyrpc_buffer_t* json = nullptr;
  if (polyrpc_descriptor_pool_message_to_json(pool, type.c_str(), msg, flags, &json) !=
      POLYRPC_OK) {
    Die(kExitFailure, std::string("response: ") + polyrpc_last_error());
  }
  std::string text = BufferText(json);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  polyrpc_buffer_destroy(json);
}

// "pkg.Service/Method", "pkg.Service.Method" or "/pkg.Service/Method" -> "pkg.Service/Method".
std::string NormalizeMethod(std::string m) {
  if (!m.empty() && m[0] == '/') m.erase(0, 1);
  if (m.find('/') == std::string::npos) {
    size_t dot = m.rfind('.');
    if (dot == std::string::npos) Die(kExitUsage, "method must be pkg.Service/Method");
    m[dot] = '/';
  }
  return m;
}

int CmdCall(const Options& o) {
  if (o.args.size() < 3 || o.args.size() > 4) Die(kExitUsage, kUsage);
  const std::string method = NormalizeMethod(o.args[2]);
  polyrpc_channel_t* ch = OpenChannel(o, o.args[1]);
  polyrpc_descriptor_pool_t* pool = PoolFor(o, ch, method.substr(0, method.find('/')));
  MethodInfo m = FindMethod(pool, method);
  Requests requests(o, 3);
  polyrpc_metadata_t* md = Headers(o);
  polyrpc_call_t* call = nullptr;
  Check(polyrpc_call_create(ch, m.path.c_str(), o.deadline_ms, md, 0, &call), "call");
  polyrpc_metadata_destroy(md);
  const bool client_streams =
      m.kind == POLYRPC_METHOD_CLIENT_STREAMING || m.kind == POLYRPC_METHOD_BIDI_STREAMING;

  // Requests: one for unary-request methods ("{}" when none is given), every one otherwise,
  // from a thread of their own so that a bidi call reads while it writes.
  auto send_all = [&] {
    std::string json;
    int written = 0;
    if (!client_streams) {
      if (!requests.Next(&json)) json = "{}";
      polyrpc_buffer_t* msg = ToMessage(pool, m.input, json);
      Check(polyrpc_call_write(call, msg, POLYRPC_WRITE_LAST, &written), "send");
      polyrpc_buffer_destroy(msg);
      return;
    }
    while (requests.Next(&json)) {
      polyrpc_buffer_t* msg = ToMessage(pool, m.input, json);
      Check(polyrpc_call_write(call, msg, 0, &written), "send");
      polyrpc_buffer_destroy(msg);
      if (!written) return;  // the call is over: its status says why
    }
    polyrpc_call_close_send(call, nullptr, nullptr);  // success=0 (CLOSED): the call is over
  };
  std::thread sender;
  if (m.kind == POLYRPC_METHOD_BIDI_STREAMING) {
    sender = std::thread(send_all);
  } else {
    send_all();
  }
  if (o.verbose) {
    if (polyrpc_call_recv_initial_metadata(call, nullptr, nullptr) == POLYRPC_OK) {
      PrintMetadata("response headers", polyrpc_call_initial_metadata(call));
    }
  }
  for (;;) {
    polyrpc_buffer_t* msg = nullptr;
    Check(polyrpc_call_read(call, &msg), "receive");
    if (msg == nullptr) break;
    PrintMessage(pool, m.output, msg, o.print_flags);
    polyrpc_buffer_destroy(msg);
  }
  Check(polyrpc_call_recv_status(call, nullptr, nullptr), "status");
  if (sender.joinable()) sender.detach();  // may still wait for stdin: the process ends here
  int code = 0;
  const char* message = nullptr;
  Check(polyrpc_call_status(call, &code, &message), "status");
  if (o.verbose) PrintMetadata("response trailers", polyrpc_call_trailing_metadata(call));
  if (code != POLYRPC_STATUS_OK) {
    std::fprintf(stderr, "ERROR:\n  Code: %s\n  Message: %s\n", polyrpc_status_code_name(code),
                 message ? message : "");
  }
  std::fflush(stdout);
  // Leave at once: a detached sender may be blocked on stdin or in a write of the ended call.
  std::_Exit(code);
}

// ---- bench ---------------------------------------------------------------------------------

// Latencies in log-spaced buckets: 20 per decade from 1 us to 100 s.
class Histogram {
 public:
  static constexpr int kPerDecade = 20;
  static constexpr int kBuckets = 8 * kPerDecade;
  void Add(double us) {
    int b = us <= 1 ? 0 : static_cast<int>(std::log10(us) * kPerDecade);
    counts_[std::min(b, kBuckets - 1)]++;
    n_++;
    sum_ += us;
    min_ = std::min(min_, us);
    max_ = std::max(max_, us);
  }
  void Merge(const Histogram& h) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += h.counts_[i];
    n_ += h.n_;
    sum_ += h.sum_;
    min_ = std::min(min_, h.min_);
    max_ = std::max(max_, h.max_);
  }
  static double Upper(int b) { return std::pow(10.0, (b + 1) / static_cast<double>(kPerDecade)); }
  double Quantile(double q) const {
    if (n_ == 0) return 0;
    uint64_t want = static_cast<uint64_t>(std::ceil(q * n_)), seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= want) return std::min(Upper(i), max_);
    }
    return max_;
  }
  uint64_t count() const { return n_; }
  double mean() const { return n_ ? sum_ / n_ : 0; }
  double min() const { return n_ ? min_ : 0; }
  double max() const { return max_; }
  // Prints the non-empty range, merged into at most 20 rows, with bars.
  void Print(FILE* f) const {
    int first = 0, last = kBuckets - 1;
    while (first < kBuckets && counts_[first] == 0) ++first;
    while (last > first && counts_[last] == 0) --last;
    if (first >= kBuckets) return;
    int step = std::max(1, (last - first + 20) / 20);
    std::vector<std::pair<double, uint64_t>> rows;
    uint64_t top = 1;
    for (int i = first; i <= last; i += step) {
      uint64_t c = 0;
      for (int j = i; j < i + step && j <= last; ++j) c += counts_[j];
      rows.emplace_back(Upper(std::min(i + step - 1, last)), c);
      top = std::max(top, c);
    }
    std::fprintf(f, "latency histogram (upper bound of each row):\n");
    for (const auto& [upper, c] : rows) {
      int bar = static_cast<int>(40.0 * c / top + 0.5);
      std::fprintf(f, "  %10s  %8llu |%s\n", Format(upper).c_str(),
                   static_cast<unsigned long long>(c), std::string(bar, '#').c_str());
    }
  }
  static std::string Format(double us) {
    char buf[32];
    if (us < 1000) std::snprintf(buf, sizeof buf, "%.1f us", us);
    else if (us < 1e6) std::snprintf(buf, sizeof buf, "%.2f ms", us / 1000);
    else std::snprintf(buf, sizeof buf, "%.2f s", us / 1e6);
    return buf;
  }

 private:
  uint64_t counts_[kBuckets] = {};
  uint64_t n_ = 0;
  double sum_ = 0, min_ = 1e300, max_ = 0;
};

int CmdBench(const Options& o) {
  if (o.args.size() < 3 || o.args.size() > 4) Die(kExitUsage, kUsage);
  const std::string method = NormalizeMethod(o.args[2]);
  std::vector<polyrpc_channel_t*> channels;
  for (int i = 0; i < o.bench_connections; ++i) channels.push_back(OpenChannel(o, o.args[1]));
  polyrpc_descriptor_pool_t* pool = PoolFor(o, channels[0], method.substr(0, method.find('/')));
  MethodInfo m = FindMethod(pool, method);
  if (m.kind != POLYRPC_METHOD_UNARY && m.kind != POLYRPC_METHOD_SERVER_STREAMING) {
    Die(kExitUsage, "bench calls unary and server-streaming methods");
  }
  std::string json = o.args.size() > 3 ? o.args[3] : "{}";
  polyrpc_buffer_t* request = ToMessage(pool, m.input, json);
  polyrpc_metadata_t* md = Headers(o);

  std::atomic<long> started{0}, done{0}, failed{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  Histogram all;
  std::map<int, long> codes;
  std::string first_error;
  const auto t0 = std::chrono::steady_clock::now();
  const bool timed = o.bench_duration > 0;
  auto worker = [&](int w) {
    Histogram h;
    std::map<int, long> mine;
    polyrpc_channel_t* ch = channels[w % channels.size()];
    while (!stop.load(std::memory_order_relaxed)) {
      if (!timed && started.fetch_add(1) >= o.bench_n) break;
      auto c0 = std::chrono::steady_clock::now();
      polyrpc_call_t* call = nullptr;
      if (polyrpc_call_create(ch, m.path.c_str(), o.deadline_ms, md, 0, &call) != POLYRPC_OK) break;
      int code = 0;
      const char* message = nullptr;
      if (m.kind == POLYRPC_METHOD_UNARY) {
        polyrpc_buffer_t* reply = nullptr;
        polyrpc_call_unary(call, request, &reply);
        polyrpc_buffer_destroy(reply);
      } else {
        int written = 0;
        polyrpc_call_write(call, request, POLYRPC_WRITE_LAST, &written);
        polyrpc_buffer_t* msg = nullptr;
        while (polyrpc_call_read(call, &msg) == POLYRPC_OK && msg != nullptr) {
          polyrpc_buffer_destroy(msg);
        }
        polyrpc_call_recv_status(call, nullptr, nullptr);
      }
      polyrpc_call_status(call, &code, &message);
      double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - c0)
                      .count();
      h.Add(us);
      mine[code]++;
      if (code != 0) {
        failed++;
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.empty()) {
          first_error = std::string(polyrpc_status_code_name(code)) + ": " + (message ? message : "");
        }
      }
      polyrpc_call_destroy(call);
      done++;
    }
    std::lock_guard<std::mutex> lock(mu);
    all.Merge(h);
    for (auto [c, n] : mine) codes[c] += n;
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < o.bench_c; ++i) threads.emplace_back(worker, i);
  // The live progress line (stderr): calls done, rate, errors, elapsed.
  const bool tty = isatty(2);
  std::thread progress([&] {
    long last = 0;
    auto tl = t0;
    while (!stop.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 200 : 1000));
      auto now = std::chrono::steady_clock::now();
      double elapsed = std::chrono::duration<double>(now - t0).count();
      long d = done.load();
      double rate = (d - last) / std::chrono::duration<double>(now - tl).count();
      last = d;
      tl = now;
      if (timed && elapsed >= o.bench_duration) stop = true;
      std::fprintf(stderr, "%s[%6.1fs] %ld calls  %.0f/s  %ld errors%s", tty ? "\r" : "",
                   elapsed, d, rate, failed.load(), tty ? "   " : "\n");
      std::fflush(stderr);
    }
  });
  for (auto& t : threads) t.join();
  stop = true;
  progress.join();
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (tty) std::fprintf(stderr, "\n");
  std::printf("%s %s: %llu calls in %.2f s, %.0f calls/s, concurrency %d, %d connection(s)\n",
              m.kind == POLYRPC_METHOD_UNARY ? "unary" : "server streaming", method.c_str(),
              static_cast<unsigned long long>(all.count()), elapsed, all.count() / elapsed,
              o.bench_c, o.bench_connections);
  std::printf("latency: min %s  mean %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
              Histogram::Format(all.min()).c_str(), Histogram::Format(all.mean()).c_str(),
              Histogram::Format(all.Quantile(0.5)).c_str(),
              Histogram::Format(all.Quantile(0.9)).c_str(),
              Histogram::Format(all.Quantile(0.99)).c_str(),
              Histogram::Format(all.Quantile(0.999)).c_str(), Histogram::Format(all.max()).c_str());
  std::printf("status:");
  for (auto [c, n] : codes) std::printf(" %s=%ld", polyrpc_status_code_name(c), n);
  std::printf("\n");
  all.Print(stdout);
  if (!first_error.empty()) std::fprintf(stderr, "first error: %s\n", first_error.c_str());
  polyrpc_metadata_destroy(md);
  polyrpc_buffer_destroy(request);
  polyrpc_descriptor_pool_destroy(pool);
  for (auto* ch : channels) polyrpc_channel_destroy(ch);
  return failed.load() == 0 ? 0 : codes.rbegin()->first;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  if (o.args.empty()) Die(kExitUsage, kUsage);
  const std::string& cmd = o.args[0];
  int rc;
  if (cmd == "list") rc = CmdList(o);
  else if (cmd == "describe") rc = CmdDescribe(o);
  else if (cmd == "call") rc = CmdCall(o);
  else if (cmd == "bench") rc = CmdBench(o);
  else if (cmd == "version") {
    std::printf("polyrpc %s\n", polyrpc_version());
    rc = 0;
  } else {
    Die(kExitUsage, "unknown command " + cmd + "\n" + kUsage);
  }
  std::fflush(stdout);
  polyrpc_shutdown(1000);
  return rc;
}
