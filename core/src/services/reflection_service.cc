// gRPC server reflection (polyrpc++/reflection.hpp): the ServerReflectionInfo bidi stream of
// grpc.reflection.v1 and v1alpha (the same messages under two package names), answered on the
// I/O thread, one response per request; and FileDescriptorSetDatabase, which indexes serialized
// FileDescriptorProtos with the core's wire reader. The descriptors of the built-in services
// (health, both reflection versions) are embedded at build time (core/services.cmake).
#include <algorithm>
#include <deque>
#include <set>
#include <utility>

#include "polyrpc++/reflection.hpp"
#include "services/proto_wire.h"

namespace polyrpc {

namespace services {
// Generated (build folder): a serialized FileDescriptorSet of grpc/health/v1/health.proto and
// grpc/reflection/{v1,v1alpha}/reflection.proto.
extern const unsigned char kBuiltinDescriptorSet[];
extern const size_t kBuiltinDescriptorSetSize;
}  // namespace services

// ---- FileDescriptorSetDatabase ------------------------------------------------------------

struct FileDescriptorSetDatabase::File {
  std::string name;
  std::string bytes;
  std::vector<std::string> symbols;  // fully qualified, no leading dot
  std::vector<std::string> services;
  std::vector<std::pair<std::string, int32_t>> extensions;  // (extendee, number)
};

namespace {

std::string Join(const std::string& scope, std::string_view name) {
  return scope.empty() ? std::string(name) : scope + "." + std::string(name);
}

std::string StripDot(std::string_view name) {
  if (!name.empty() && name[0] == '.') name.remove_prefix(1);
  return std::string(name);
}

// Reads the string field `want` (the name, field 1, in every descriptor message) of bytes.
bool ReadName(std::string_view bytes, std::string* name) {
  wire::Reader r(bytes);
  int field, type;
  while (r.Next(&field, &type)) {
    if (field == 1 && type == wire::kLengthDelimited) {
      std::string_view s;
      if (!r.ReadBytes(&s)) return false;
      name->assign(s);
    } else if (!r.Skip(type)) {
      return false;
    }
  }
  return r.ok();
}

// FieldDescriptorProto of an extension: name 1, extendee 2, number 3.
bool IndexExtension(std::string_view bytes, const std::string& scope,
                    std::vector<std::string>* symbols,
                    std::vector<std::pair<std::string, int32_t>>* extensions) {
  wire::Reader r(bytes);
  int field, type;
  std::string name, extendee;
  uint64_t number = 0;
  while (r.Next(&field, &type)) {
    std::string_view s;
    if (field == 1 && type == wire::kLengthDelimited) {
      if (!r.ReadBytes(&s)) return false;
      name.assign(s);
    } else if (field == 2 && type == wire::kLengthDelimited) {
      if (!r.ReadBytes(&s)) return false;
      extendee = StripDot(s);
    } else if (field == 3 && type == wire::kVarint) {
      if (!r.ReadVarint(&number)) return false;
    } else if (!r.Skip(type)) {
      return false;
    }
  }
  if (!r.ok()) return false;
  symbols->push_back(Join(scope, name));
  if (!extendee.empty()) extensions->emplace_back(extendee, static_cast<int32_t>(number));
  return true;
}

// EnumDescriptorProto: name 1, value 2 (EnumValueDescriptorProto, name 1). Values are scoped
// beside their enum, as protobuf scopes them.
bool IndexEnum(std::string_view bytes, const std::string& scope,
               std::vector<std::string>* symbols) {
  wire::Reader r(bytes);
  int field, type;
  std::string name;
  std::vector<std::string> values;
  while (r.Next(&field, &type)) {
    std::string_view s;
    if (field == 1 && type == wire::kLengthDelimited) {
      if (!r.ReadBytes(&s)) return false;
      name.assign(s);
    } else if (field == 2 && type == wire::kLengthDelimited) {
      std::string value;
      if (!r.ReadBytes(&s) || !ReadName(s, &value)) return false;
      values.push_back(std::move(value));
    } else if (!r.Skip(type)) {
      return false;
    }
  }
  if (!r.ok() || name.empty()) return false;
  symbols->push_back(Join(scope, name));
  for (const auto& v : values) symbols->push_back(Join(scope, v));
  return true;
}

// DescriptorProto: name 1, field 2, nested_type 3, enum_type 4, extension 6, oneof_decl 8.
bool IndexMessage(std::string_view bytes, const std::string& scope,
                  std::vector<std::string>* symbols,
                  std::vector<std::pair<std::string, int32_t>>* extensions) {
  std::string name;
  if (!ReadName(bytes, &name) || name.empty()) return false;
  const std::string full = Join(scope, name);
  symbols->push_back(full);
  wire::Reader r(bytes);
  int field, type;
  while (r.Next(&field, &type)) {
    std::string_view s;
    if (type != wire::kLengthDelimited || (field != 2 && field != 3 && field != 4 &&
                                           field != 6 && field != 8)) {
      if (!r.Skip(type)) return false;
      continue;
    }
    if (!r.ReadBytes(&s)) return false;
    bool ok = true;
    std::string member;
    switch (field) {
      case 2:  // a field
      case 8:  // a oneof
        ok = ReadName(s, &member);
        if (ok) symbols->push_back(Join(full, member));
        break;
      case 3:
        ok = IndexMessage(s, full, symbols, extensions);
        break;
      case 4:
        ok = IndexEnum(s, full, symbols);
        break;
      case 6:
        ok = IndexExtension(s, full, symbols, extensions);
        break;
    }
    if (!ok) return false;
  }
  return r.ok();
}

// ServiceDescriptorProto: name 1, method 2 (MethodDescriptorProto, name 1).
bool IndexService(std::string_view bytes, const std::string& scope,
                  std::vector<std::string>* symbols, std::vector<std::string>* services) {
  std::string name;
  if (!ReadName(bytes, &name) || name.empty()) return false;
  const std::string full = Join(scope, name);
  symbols->push_back(full);
  services->push_back(full);
  wire::Reader r(bytes);
  int field, type;
  while (r.Next(&field, &type)) {
    std::string_view s;
    if (field == 2 && type == wire::kLengthDelimited) {
      std::string method;
      if (!r.ReadBytes(&s) || !ReadName(s, &method)) return false;
      symbols->push_back(Join(full, method));
    } else if (!r.Skip(type)) {
      return false;
    }
  }
  return r.ok();
}

// The dependency list (field 3) of a serialized FileDescriptorProto.
std::vector<std::string> Dependencies(std::string_view bytes) {
  std::vector<std::string> deps;
  wire::Reader r(bytes);
  int field, type;
  while (r.Next(&field, &type)) {
    std::string_view s;
    if (field == 3 && type == wire::kLengthDelimited) {
      if (!r.ReadBytes(&s)) break;
      deps.emplace_back(s);
    } else if (!r.Skip(type)) {
      break;
    }
  }
  return deps;
}

}  // namespace

bool FileDescriptorSetDatabase::Index(std::string_view bytes, File* file, std::string* error) {
  // FileDescriptorProto: name 1, package 2, message_type 4, enum_type 5, service 6,
  // extension 7. The package comes first in protoc's output but need not: read it first.
  std::string package;
  {
    wire::Reader r(bytes);
    int field, type;
    while (r.Next(&field, &type)) {
      std::string_view s;
      if ((field == 1 || field == 2) && type == wire::kLengthDelimited) {
        if (!r.ReadBytes(&s)) break;
        (field == 1 ? file->name : package).assign(s);
      } else if (!r.Skip(type)) {
        break;
      }
    }
    if (!r.ok()) {
      if (error) *error = "not a serialized FileDescriptorProto";
      return false;
    }
  }
  if (file->name.empty()) {
    if (error) *error = "a FileDescriptorProto without a name";
    return false;
  }
  wire::Reader r(bytes);
  int field, type;
  bool ok = true;
  while (ok && r.Next(&field, &type)) {
    std::string_view s;
    if (type != wire::kLengthDelimited || field < 4 || field > 7) {
      ok = r.Skip(type);
      continue;
    }
    if (!r.ReadBytes(&s)) break;
    switch (field) {
      case 4:
        ok = IndexMessage(s, package, &file->symbols, &file->extensions);
        break;
      case 5:
        ok = IndexEnum(s, package, &file->symbols);
        break;
      case 6:
        ok = IndexService(s, package, &file->symbols, &file->services);
        break;
      case 7:
        ok = IndexExtension(s, package, &file->symbols, &file->extensions);
        break;
    }
  }
  if (!ok || !r.ok()) {
    if (error) *error = "malformed FileDescriptorProto " + file->name;
    return false;
  }
  file->bytes.assign(bytes);
  return true;
}

bool FileDescriptorSetDatabase::AddFile(std::string_view bytes, std::string* error) {
  auto file = std::make_shared<File>();
  if (!Index(bytes, file.get(), error)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = files_[file->name];
  if (slot) {
    for (const auto& s : slot->symbols) symbols_.erase(s);
    for (const auto& s : slot->services) {
      services_.erase(std::remove(services_.begin(), services_.end(), s), services_.end());
    }
  }
  for (const auto& s : file->symbols) symbols_[s] = file->name;
  for (const auto& s : file->services) services_.push_back(s);
  slot = std::move(file);
  return true;
}

bool FileDescriptorSetDatabase::AddFileSet(std::string_view bytes, std::string* error) {
  // FileDescriptorSet { repeated FileDescriptorProto file = 1; }: check every file first.
  std::vector<std::string_view> files;
  wire::Reader r(bytes);
  int field, type;
  while (r.Next(&field, &type)) {
    std::string_view s;
    if (field == 1 && type == wire::kLengthDelimited) {
      if (!r.ReadBytes(&s)) break;
      File probe;
      if (!Index(s, &probe, error)) return false;
      files.push_back(s);
    } else if (!r.Skip(type)) {
      break;
    }
  }
  if (!r.ok()) {
    if (error) *error = "not a serialized FileDescriptorSet";
    return false;
  }
  for (auto f : files) AddFile(f, nullptr);
  return true;
}

bool FileDescriptorSetDatabase::FindFileByName(const std::string& filename, std::string* out) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(filename);
  if (it == files_.end()) return false;
  *out = it->second->bytes;
  return true;
}

bool FileDescriptorSetDatabase::FindFileContainingSymbol(const std::string& symbol,
                                                         std::string* filename) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = symbols_.find(StripDot(symbol));
  if (it == symbols_.end()) return false;
  *filename = it->second;
  return true;
}

bool FileDescriptorSetDatabase::FindFileContainingExtension(const std::string& extendee,
                                                            int32_t number,
                                                            std::string* filename) {
  const std::string type = StripDot(extendee);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, file] : files_) {
    for (const auto& e : file->extensions) {
      if (e.first == type && e.second == number) {
        *filename = name;
        return true;
      }
    }
  }
  return false;
}

bool FileDescriptorSetDatabase::FindAllExtensionNumbers(const std::string& extendee,
                                                        std::vector<int32_t>* numbers) {
  const std::string type = StripDot(extendee);
  std::lock_guard<std::mutex> lock(mu_);
  if (symbols_.find(type) == symbols_.end()) return false;
  for (const auto& [name, file] : files_) {
    for (const auto& e : file->extensions) {
      if (e.first == type) numbers->push_back(e.second);
    }
  }
  std::sort(numbers->begin(), numbers->end());
  return true;
}

std::vector<std::string> FileDescriptorSetDatabase::ServiceNames() {
  std::lock_guard<std::mutex> lock(mu_);
  return services_;
}

// ---- the reflection service ---------------------------------------------------------------

namespace {

constexpr char kV1Path[] = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
constexpr char kV1AlphaPath[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

FileDescriptorSetDatabase& BuiltinDatabase() {
  static FileDescriptorSetDatabase* db = [] {
    auto* d = new FileDescriptorSetDatabase();  // never destroyed: used until exit
    d->AddFileSet(std::string_view(reinterpret_cast<const char*>(services::kBuiltinDescriptorSet),
                                   services::kBuiltinDescriptorSetSize));
    return d;
  }();
  return *db;
}

// ServerReflectionRequest: host 1, file_by_filename 3, file_containing_symbol 4,
// file_containing_extension 5 (containing_type 1, extension_number 2),
// all_extension_numbers_of_type 6, list_services 7.
struct Request {
  std::string host;
  int kind = 0;  // the oneof's field number; 0: none that we know
  std::string text;
  int32_t number = 0;
};

bool ParseRequest(std::string_view bytes, Request* req) {
  wire::Reader r(bytes);
  int field, type;
  while (r.Next(&field, &type)) {
    std::string_view s;
    if (type == wire::kLengthDelimited && (field == 1 || (field >= 3 && field <= 7))) {
      if (!r.ReadBytes(&s)) break;
      if (field == 1) {
        req->host.assign(s);
        continue;
      }
      req->kind = field;
      req->text.clear();
      req->number = 0;
      if (field != 5) {
        req->text.assign(s);
        continue;
      }
      wire::Reader e(s);
      int f2, t2;
      while (e.Next(&f2, &t2)) {
        std::string_view name;
        uint64_t n;
        if (f2 == 1 && t2 == wire::kLengthDelimited) {
          if (!e.ReadBytes(&name)) break;
          req->text.assign(name);
        } else if (f2 == 2 && t2 == wire::kVarint) {
          if (!e.ReadVarint(&n)) break;
          req->number = static_cast<int32_t>(n);
        } else if (!e.Skip(t2)) {
          break;
        }
      }
      if (!e.ok()) return false;
    } else if (!r.Skip(type)) {
      break;
    }
  }
  return r.ok();
}

class ReflectionStream : public std::enable_shared_from_this<ReflectionStream> {
 public:
  ReflectionStream(std::shared_ptr<ServerCall> call, Server* server,
                   std::shared_ptr<DescriptorDatabase> db)
      : call_(std::move(call)), server_(server), db_(std::move(db)) {}

  void Next() {
    auto self = shared_from_this();
    call_->RecvMessage([self](bool ok) {
      Slice bytes;
      if (!ok || !self->call_->TakeMessage(&bytes)) {
        // The client half-closed (or the call is over): end the stream.
        if (!self->call_->IsCancelled()) {
          self->call_->SendStatus(Status::Ok(), {}, [self](bool) {});
        }
        return;
      }
      Request req;
      if (!ParseRequest(bytes.view(), &req)) {
        self->call_->SendStatus(
            Status(StatusCode::INVALID_ARGUMENT, "Failed to parse the reflection request"), {},
            [self](bool) {});
        return;
      }
      Slice response = Slice::FromString(self->Answer(req, bytes.view()));
      self->call_->SendMessage(std::move(response), kWriteNone, [self](bool ok) {
        if (ok) self->Next();
      });
    });
  }

 private:
  std::vector<DescriptorDatabase*> Sources() {
    std::vector<DescriptorDatabase*> s;
    if (db_) s.push_back(db_.get());
    s.push_back(&BuiltinDatabase());
    return s;
  }

  bool FindFile(const std::string& name, std::string* bytes) {
    for (auto* s : Sources()) {
      if (s->FindFileByName(name, bytes)) return true;
    }
    return false;
  }

  // The file and, transitively, its imports; the first always, the others unless sent already
  // on this stream.
  void AddFileWithDependencies(const std::string& first_bytes, wire::Writer* files) {
    std::deque<std::string> queue;
    std::set<std::string> visited;
    bool first = true;
    std::string bytes = first_bytes;
    while (true) {
      std::string name;
      {
        wire::Reader r(bytes);
        int field, type;
        while (r.Next(&field, &type)) {
          std::string_view s;
          if (field == 1 && type == wire::kLengthDelimited) {
            if (r.ReadBytes(&s)) name.assign(s);
            break;
          }
          if (!r.Skip(type)) break;
        }
      }
      visited.insert(name);
      if (first || sent_.insert(name).second) {
        sent_.insert(name);
        files->Bytes(1, bytes);
      }
      first = false;
      for (auto& d : Dependencies(bytes)) {
        if (visited.insert(d).second) queue.push_back(std::move(d));
      }
      bool found = false;
      while (!queue.empty() && !found) {
        std::string next = std::move(queue.front());
        queue.pop_front();
        found = FindFile(next, &bytes);  // an import nobody knows is left out
      }
      if (!found) return;
    }
  }

  std::string Error(StatusCode code, const std::string& message) {
    wire::Writer e;
    e.Int(1, static_cast<int>(code));
    e.Bytes(2, message);
    return e.Take();
  }

  std::string Answer(const Request& req, std::string_view original) {
    wire::Writer resp;
    resp.Bytes(1, req.host);
    resp.Bytes(2, original);
    switch (req.kind) {
      case 3: {  // file_by_filename
        std::string bytes;
        if (!FindFile(req.text, &bytes)) {
          resp.Bytes(7, Error(StatusCode::NOT_FOUND, "file not found: " + req.text));
          break;
        }
        wire::Writer files;
        AddFileWithDependencies(bytes, &files);
        resp.Bytes(4, files.str());
        break;
      }
      case 4:    // file_containing_symbol
      case 5: {  // file_containing_extension
        std::string bytes;
        bool found = false;
        for (auto* s : Sources()) {
          std::string file;
          bool has = req.kind == 4 ? s->FindFileContainingSymbol(req.text, &file)
                                   : s->FindFileContainingExtension(req.text, req.number, &file);
          if (has && s->FindFileByName(file, &bytes)) {
            found = true;
            break;
          }
        }
        if (!found) {
          resp.Bytes(7, Error(StatusCode::NOT_FOUND,
                              req.kind == 4 ? "symbol not found: " + req.text
                                            : "extension not found: " + req.text + " " +
                                                  std::to_string(req.number)));
          break;
        }
        wire::Writer files;
        AddFileWithDependencies(bytes, &files);
        resp.Bytes(4, files.str());
        break;
      }
      case 6: {  // all_extension_numbers_of_type
        std::vector<int32_t> numbers;
        bool found = false;
        for (auto* s : Sources()) {
          if (s->FindAllExtensionNumbers(req.text, &numbers)) {
            found = true;
            break;
          }
        }
        if (!found) {
          resp.Bytes(7, Error(StatusCode::NOT_FOUND, "type not found: " + req.text));
          break;
        }
        wire::Writer ext;
        ext.Bytes(1, req.text);
        wire::Writer packed;
        for (int32_t n : numbers) packed.Varint(static_cast<uint64_t>(static_cast<int64_t>(n)));
        if (!numbers.empty()) ext.Bytes(2, packed.str());
        resp.Bytes(5, ext.str());
        break;
      }
      case 7: {  // list_services
        std::set<std::string> names;
        for (const auto& path : server_->RegisteredMethods()) {
          size_t slash = path.find('/', 1);
          if (path.size() > 1 && path[0] == '/' && slash != std::string::npos) {
            names.insert(path.substr(1, slash - 1));
          }
        }
        if (db_) {
          for (auto& n : db_->ServiceNames()) names.insert(std::move(n));
        }
        wire::Writer list;
        for (const auto& n : names) {
          wire::Writer service;
          service.Bytes(1, n);
          list.Bytes(1, service.str());
        }
        resp.Bytes(6, list.str());
        break;
      }
      default:
        resp.Bytes(7, Error(StatusCode::UNIMPLEMENTED, "unknown reflection request"));
        break;
    }
    return resp.Take();
  }

  std::shared_ptr<ServerCall> call_;
  Server* server_;
  std::shared_ptr<DescriptorDatabase> db_;
  std::set<std::string> sent_;  // files sent on this stream
};

}  // namespace

void EnableReflectionService(Server& server, std::shared_ptr<DescriptorDatabase> db) {
  Server* s = &server;  // the handlers belong to the server: it outlives every call of theirs
  auto handler = [s, db](std::shared_ptr<ServerCall> call) {
    std::make_shared<ReflectionStream>(std::move(call), s, db)->Next();
  };
  server.RegisterMethod(kV1Path, handler);
  server.RegisterMethod(kV1AlphaPath, handler);
}

}  // namespace polyrpc
