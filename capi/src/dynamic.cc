// Dynamic calls (polyrpc/dynamic.h): descriptor pools, method lookup and JSON transcoding by
// libprotobuf's JSON support (util/json_util.h, the canonical proto3 JSON mapping), and the
// blocking JSON unary call. Server reflection is in dynamic_reflection.cc.
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <cctype>
#include <climits>
#include <regex>
#include <functional>
#include <mutex>
#include <set>

#include "dynamic_pool.h"
#include "polyrpc++/reflection.hpp"

namespace polyrpc::capi {
namespace {

constexpr char kTypeUrlPrefix[] = "type.googleapis.com";
constexpr uint32_t kJsonFlags = POLYRPC_JSON_IGNORE_UNKNOWN_FIELDS | POLYRPC_JSON_EMIT_DEFAULTS |
                                POLYRPC_JSON_PROTO_NAMES | POLYRPC_JSON_ENUMS_AS_INTS |
                                POLYRPC_JSON_PRETTY;

std::string ToString(const pb::util::Status& st) {
  return std::string(st.message().data(), st.message().size());
}

// Collects the reasons a file does not build, as "file: element: reason; ...".
class BuildErrors : public pb::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const pb::Message* descriptor, ErrorLocation location,
                const std::string& message) override {
    if (!text.empty()) text += "; ";
    text += filename;
    if (!element_name.empty()) text += ": " + element_name;
    text += ": " + message;
  }
  std::string text;
};

bool MessageHasJsonNames(const pb::DescriptorProto& m) {
  for (const auto& f : m.field()) {
    if (f.has_json_name()) return true;
  }
  for (const auto& n : m.nested_type()) {
    if (MessageHasJsonNames(n)) return true;
  }
  return false;
}

// Whether proto describes the file already built as existing (the comparison libprotobuf makes
// in BuildFile, which a scratch pool over this one cannot make for us).
bool SameFile(const pb::FileDescriptor* existing, const pb::FileDescriptorProto& proto) {
  pb::FileDescriptorProto a;
  existing->CopyTo(&a);
  bool json_names = false;
  for (const auto& m : proto.message_type()) json_names = json_names || MessageHasJsonNames(m);
  if (json_names) existing->CopyJsonNameTo(&a);
  pb::FileDescriptorProto b = proto;
  b.clear_source_code_info();
  return a.SerializeAsString() == b.SerializeAsString();
}

// The file as given, for SameAsAdded: what a caller passes twice is the same file even when
// the built descriptor prints it otherwise (a field's type left for the build to infer from its
// type_name, a default spelled out).
std::string WithoutSourceInfo(const pb::FileDescriptorProto& proto) {
  pb::FileDescriptorProto copy = proto;
  copy.clear_source_code_info();
  return copy.SerializeAsString();
}

}  // namespace

bool DynamicPool::SameAsAdded(const std::string& name, const pb::FileDescriptorProto& proto) const {
  auto it = added_.find(name);
  return it != added_.end() && it->second == WithoutSourceInfo(proto);
}

DynamicPool::DynamicPool()
    : resolver_(pb::util::NewTypeResolverForDescriptorPool(kTypeUrlPrefix, &pool_)),
      factory_(&pool_) {}

DynamicPool::~DynamicPool() = default;

bool DynamicPool::HasFile(const std::string& name) const {
  std::shared_lock lock(mu_);
  return pool_.FindFileByName(name) != nullptr;
}

void DynamicPool::AddFiles(std::vector<pb::FileDescriptorProto> files) {
  std::unique_lock lock(mu_);
  std::map<std::string, const pb::FileDescriptorProto*> by_name;
  for (const auto& f : files) {
    RequireArg(!f.name().empty(), "a file descriptor has no name");
    auto [it, inserted] = by_name.emplace(f.name(), &f);
    if (!inserted && it->second->SerializeAsString() != f.SerializeAsString()) {
      Throw(POLYRPC_ERROR_INVALID_ARGUMENT, "two different files are named \"" + f.name() + "\"");
    }
  }

  // Imports before importers. Files already in the pool are skipped (if the same) or refused;
  // missing well-known types are copied from libprotobuf's own generated pool.
  std::vector<const pb::FileDescriptorProto*> order;
  std::vector<std::unique_ptr<pb::FileDescriptorProto>> well_known;
  std::set<std::string> done, visiting;
  std::function<void(const std::string&, const std::string&)> visit =
      [&](const std::string& name, const std::string& importer) {
        if (done.count(name)) return;
        auto it = by_name.find(name);
        const pb::FileDescriptor* existing = pool_.FindFileByName(name);
        if (existing != nullptr) {
          if (it != by_name.end() && !SameAsAdded(name, *it->second) &&
              !SameFile(existing, *it->second)) {
            Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
                  "a different file named \"" + name + "\" is already in the pool");
          }
          done.insert(name);
          return;
        }
        const pb::FileDescriptorProto* proto = nullptr;
        if (it != by_name.end()) {
          proto = it->second;
        } else if (name.rfind("google/protobuf/", 0) == 0 &&
                   pb::DescriptorPool::generated_pool()->FindFileByName(name) != nullptr) {
          well_known.push_back(std::make_unique<pb::FileDescriptorProto>());
          pb::DescriptorPool::generated_pool()->FindFileByName(name)->CopyTo(
              well_known.back().get());
          proto = well_known.back().get();
        } else {
          Throw(POLYRPC_ERROR_INVALID_ARGUMENT, "\"" + importer + "\" imports \"" + name +
                                                    "\", which is neither given nor in the pool");
        }
        if (!visiting.insert(name).second) {
          Throw(POLYRPC_ERROR_INVALID_ARGUMENT, "\"" + name + "\" imports itself (a cycle)");
        }
        for (const std::string& dep : proto->dependency()) visit(dep, name);
        visiting.erase(name);
        done.insert(name);
        order.push_back(proto);
      };
  for (const auto& [name, proto] : by_name) visit(name, "");

  // Built once in a scratch pool layered over this one, so that a file that does not build
  // leaves this pool as it was, then for real (where it cannot fail any more).
  {
    pb::DescriptorPool scratch(&pool_);
    BuildErrors errors;
    for (const auto* proto : order) {
      if (scratch.BuildFileCollectingErrors(*proto, &errors) == nullptr) {
        Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
              "file \"" + proto->name() + "\" does not build: " + errors.text);
      }
    }
  }
  for (const auto* proto : order) {
    BuildErrors errors;
    const pb::FileDescriptor* file = pool_.BuildFileCollectingErrors(*proto, &errors);
    if (file == nullptr) {
      Throw(POLYRPC_ERROR_INTERNAL,
            "file \"" + proto->name() +
                "\" built in a scratch pool but not in the pool: " + errors.text);
    }
    added_[proto->name()] = WithoutSourceInfo(*proto);
    RegisterFileLocked(file);
  }
}

void DynamicPool::RegisterFileLocked(const pb::FileDescriptor* file) {
  for (int i = 0; i < file->service_count(); i++) {
    const pb::ServiceDescriptor* svc = file->service(i);
    auto info = std::make_unique<ServiceInfo>();
    info->service = svc;
    for (int j = 0; j < svc->method_count(); j++) {
      const pb::MethodDescriptor* m = svc->method(j);
      auto mi = std::make_unique<MethodInfo>();
      mi->method = m;
      mi->name = svc->full_name() + "/" + m->name();
      mi->path = "/" + mi->name;
      info->methods.push_back(mi.get());
      methods_.emplace(m, std::move(mi));
    }
    services_.push_back(std::move(info));
  }
}

size_t DynamicPool::ServiceCount() const {
  std::shared_lock lock(mu_);
  return services_.size();
}

const DynamicPool::ServiceInfo* DynamicPool::Service(size_t i) const {
  std::shared_lock lock(mu_);
  if (i >= services_.size()) {
    Throw(POLYRPC_ERROR_NOT_FOUND,
          "no service " + std::to_string(i) + ": the pool has " + std::to_string(services_.size()));
  }
  return services_[i].get();
}

const DynamicPool::MethodInfo& DynamicPool::FindMethod(const char* name) const {
  RequireArg(name != nullptr, "method is NULL");
  std::string_view s(name);
  if (!s.empty() && s[0] == '/') s.remove_prefix(1);
  size_t slash = s.rfind('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == s.size()) {
    Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
          "method \"" + std::string(name) + "\" is not \"pkg.Service/Method\"");
  }
  const std::string service(s.substr(0, slash));
  const std::string method(s.substr(slash + 1));
  std::shared_lock lock(mu_);
  const pb::ServiceDescriptor* svc = pool_.FindServiceByName(service);
  if (svc == nullptr) Throw(POLYRPC_ERROR_NOT_FOUND, "no service " + service + " in the pool");
  const pb::MethodDescriptor* m = svc->FindMethodByName(method);
  if (m == nullptr) {
    Throw(POLYRPC_ERROR_NOT_FOUND, "service " + service + " has no method " + method);
  }
  return *methods_.at(m);
}

bool DynamicPool::SerializedFile(const std::string& name, std::string* out) const {
  std::shared_lock lock(mu_);
  const pb::FileDescriptor* file = pool_.FindFileByName(name);
  if (file == nullptr) return false;
  pb::FileDescriptorProto proto;
  file->CopyTo(&proto);
  return proto.SerializeToString(out);
}

bool DynamicPool::FileOfSymbol(const std::string& symbol, std::string* out) const {
  std::shared_lock lock(mu_);
  const pb::FileDescriptor* file = pool_.FindFileContainingSymbol(symbol);
  if (file == nullptr) return false;
  *out = file->name();
  return true;
}

bool DynamicPool::FileOfExtension(const std::string& extendee, int32_t number,
                                  std::string* out) const {
  std::shared_lock lock(mu_);
  const pb::Descriptor* type = pool_.FindMessageTypeByName(extendee);
  const pb::FieldDescriptor* ext = type ? pool_.FindExtensionByNumber(type, number) : nullptr;
  if (ext == nullptr) return false;
  *out = ext->file()->name();
  return true;
}

bool DynamicPool::ExtensionNumbers(const std::string& extendee,
                                   std::vector<int32_t>* numbers) const {
  std::shared_lock lock(mu_);
  const pb::Descriptor* type = pool_.FindMessageTypeByName(extendee);
  if (type == nullptr) return false;
  std::vector<const pb::FieldDescriptor*> exts;
  pool_.FindAllExtensions(type, &exts);
  for (const auto* e : exts) numbers->push_back(e->number());
  return true;
}

std::vector<std::string> DynamicPool::ServiceNames() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> names;
  for (const auto& s : services_) names.push_back(s->service->full_name());
  return names;
}

namespace {
// protoc writes every field's json_name into descriptor sets, and DebugString prints it:
// "int32 response_size = 2 [json_name = "responseSize"];". The default one says nothing, so it
// is left out, as grpcurl does.
std::string DropDefaultJsonNames(const std::string& text) {
  static const std::regex kField(R"re((\w+) = (\d+) \[json_name = "(\w+)"\])re");
  std::string out;
  auto begin = text.cbegin();
  for (std::sregex_iterator it(text.begin(), text.end(), kField), end; it != end; ++it) {
    const std::smatch& m = *it;
    out.append(begin, m[0].first);
    std::string camel;
    bool upper = false;
    for (char c : m[1].str()) {
      if (c == '_') {
        upper = true;
      } else {
        camel += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
        upper = false;
      }
    }
    out += camel == m[3].str() ? m[1].str() + " = " + m[2].str() : m[0].str();
    begin = m[0].second;
  }
  out.append(begin, text.cend());
  return out;
}
}  // namespace

std::string DynamicPool::Describe(const std::string& symbol_in, const char** kind) const {
  std::string symbol = symbol_in;
  if (!symbol.empty() && symbol[0] == '.') symbol.erase(0, 1);
  std::shared_lock lock(mu_);
  if (const auto* s = pool_.FindServiceByName(symbol)) {
    *kind = "service";
    return s->DebugString();
  }
  if (const auto* m = pool_.FindMethodByName(symbol)) {
    *kind = "method";
    return m->DebugString();
  }
  if (const auto* m = pool_.FindMessageTypeByName(symbol)) {
    *kind = "message";
    return DropDefaultJsonNames(m->DebugString());
  }
  if (const auto* e = pool_.FindEnumTypeByName(symbol)) {
    *kind = "enum";
    return e->DebugString();
  }
  if (const auto* f = pool_.FindFileByName(symbol)) {
    *kind = "file";
    return DropDefaultJsonNames(f->DebugString());
  }
  Throw(POLYRPC_ERROR_NOT_FOUND, "no service, method, message, enum or file " + symbol +
                                     " in the pool");
}

const pb::Descriptor* DynamicPool::FindMessageLocked(const char* type_name) const {
  RequireArg(type_name != nullptr, "type_name is NULL");
  std::string_view t(type_name);
  if (!t.empty() && t[0] == '.') t.remove_prefix(1);  // ".pkg.Message", as descriptors write it
  const pb::Descriptor* d = pool_.FindMessageTypeByName(std::string(t));
  if (d == nullptr) {
    Throw(POLYRPC_ERROR_NOT_FOUND, "no message type " + std::string(t) + " in the pool");
  }
  return d;
}

std::string DynamicPool::JsonToBinary(const char* type_name, std::string_view json,
                                      uint32_t flags) const {
  std::shared_lock lock(mu_);
  const pb::Descriptor* d = FindMessageLocked(type_name);
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = (flags & POLYRPC_JSON_IGNORE_UNKNOWN_FIELDS) != 0;
  std::string binary;
  pb::util::Status st = pb::util::JsonToBinaryString(
      resolver_.get(), std::string(kTypeUrlPrefix) + "/" + d->full_name(),
      pb::StringPiece(json.data(), json.size()), &binary, options);
  if (!st.ok()) {
    Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
          "the JSON does not fit " + d->full_name() + ": " + ToString(st));
  }
  return binary;
}

std::string DynamicPool::BinaryToJson(const char* type_name, const uint8_t* data, size_t len,
                                      uint32_t flags) const {
  std::shared_lock lock(mu_);
  const pb::Descriptor* d = FindMessageLocked(type_name);
  RequireArg(len <= static_cast<size_t>(INT_MAX), "message larger than 2 GiB");
  // Parsed first: the transcoder alone reads malformed bytes as an empty message, and prints
  // every field on the wire, also proto3 fields set to their default. Serialized again, the
  // message holds what the canonical JSON mapping prints, in field-number order.
  std::unique_ptr<pb::Message> parsed(factory_.GetPrototype(d)->New());
  if (!parsed->ParseFromArray(data, static_cast<int>(len))) {
    Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
          "the bytes are not a valid " + d->full_name() + " message");
  }
  std::string canonical;
  if (!parsed->SerializeToString(&canonical)) {
    Throw(POLYRPC_ERROR_INVALID_ARGUMENT, "the " + d->full_name() + " message does not serialize");
  }
  pb::util::JsonPrintOptions options;
  options.always_print_primitive_fields = (flags & POLYRPC_JSON_EMIT_DEFAULTS) != 0;
  options.preserve_proto_field_names = (flags & POLYRPC_JSON_PROTO_NAMES) != 0;
  options.always_print_enums_as_ints = (flags & POLYRPC_JSON_ENUMS_AS_INTS) != 0;
  options.add_whitespace = (flags & POLYRPC_JSON_PRETTY) != 0;
  std::string json;
  {
    pb::io::ArrayInputStream in(canonical.data(), static_cast<int>(canonical.size()));
    pb::io::StringOutputStream out(&json);
    pb::util::Status st = pb::util::BinaryToJsonStream(
        resolver_.get(), std::string(kTypeUrlPrefix) + "/" + d->full_name(), &in, &out, options);
    if (!st.ok()) {
      Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
            "the message does not print as " + d->full_name() + " JSON: " + ToString(st));
    }
  }  // StringOutputStream trims json to what was written when it goes
  if (json.empty()) {
    // libprotobuf prints nothing for a google.protobuf.Value whose kind is not set (it has no
    // JSON form; nested in a Struct or ListValue it prints null). Nothing is not JSON.
    Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
          "the " + d->full_name() + " message has no JSON form (a google.protobuf.Value with no "
          "kind set)");
  }
  return json;
}

// ---- The handle ----

// "PDsc". A tag of its own, outside internal.h's list: it must differ from every tag there.
constexpr HandleTag kDescriptorPoolTag = static_cast<HandleTag>(0x50447363);

struct DescriptorPoolHandle {
  std::atomic<uint32_t> tag{kDescriptorPoolTag};
  std::shared_ptr<DynamicPool> pool;
};
template <>
struct Internal<polyrpc_descriptor_pool> {
  using type = DescriptorPoolHandle;
};

namespace {

// What server reflection reads of a pool (polyrpc_server_enable_reflection); keeps it alive.
class PoolDatabase final : public polyrpc::DescriptorDatabase {
 public:
  explicit PoolDatabase(std::shared_ptr<DynamicPool> pool) : pool_(std::move(pool)) {}
  bool FindFileByName(const std::string& name, std::string* out) override {
    return pool_->SerializedFile(name, out);
  }
  bool FindFileContainingSymbol(const std::string& symbol, std::string* file) override {
    return pool_->FileOfSymbol(symbol, file);
  }
  bool FindFileContainingExtension(const std::string& extendee, int32_t number,
                                   std::string* file) override {
    return pool_->FileOfExtension(extendee, number, file);
  }
  bool FindAllExtensionNumbers(const std::string& extendee,
                               std::vector<int32_t>* numbers) override {
    return pool_->ExtensionNumbers(extendee, numbers);
  }
  std::vector<std::string> ServiceNames() override { return pool_->ServiceNames(); }

 private:
  std::shared_ptr<DynamicPool> pool_;
};

DynamicPool& CheckPool(const polyrpc_descriptor_pool* p) {
  return *Check(p, kDescriptorPoolTag, "descriptor pool")->pool;
}

void RequireJsonFlags(uint32_t flags) {
  RequireArg((flags & ~kJsonFlags) == 0, "unknown JSON flags");
}

polyrpc_buffer* NewBuffer(std::string bytes) {
  auto b = std::make_unique<BufferHandle>();
  b->slice = polyrpc::Slice::FromString(std::move(bytes));
  return reinterpret_cast<polyrpc_buffer*>(b.release());
}

}  // namespace
}  // namespace polyrpc::capi

using namespace polyrpc::capi;

extern "C" {

polyrpc_error_t polyrpc_descriptor_pool_create(polyrpc_descriptor_pool_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  auto h = std::make_unique<DescriptorPoolHandle>();
  h->pool = std::make_shared<DynamicPool>();
  *out = reinterpret_cast<polyrpc_descriptor_pool_t*>(h.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

void polyrpc_descriptor_pool_destroy(polyrpc_descriptor_pool_t* pool) {
  POLYRPC_API_TRY
  if (pool == nullptr) return;
  auto* h = Check(pool, kDescriptorPoolTag, "descriptor pool");
  h->pool.reset();
  Retire(h);
  POLYRPC_API_CATCH_VOID
}

polyrpc_error_t polyrpc_descriptor_pool_add_file_set(polyrpc_descriptor_pool_t* pool,
                                                     const uint8_t* data, size_t len) {
  POLYRPC_API_TRY
  DynamicPool& p = CheckPool(pool);
  RequireArg(data != nullptr || len == 0, "data is NULL with a non-zero length");
  RequireArg(len <= static_cast<size_t>(INT_MAX), "file set larger than 2 GiB");
  pb::FileDescriptorSet set;
  if (!set.ParseFromArray(data, static_cast<int>(len))) {
    Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
          "the bytes are not a serialized google.protobuf.FileDescriptorSet");
  }
  std::vector<pb::FileDescriptorProto> files(set.file().begin(), set.file().end());
  p.AddFiles(std::move(files));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_descriptor_pool_add_from_reflection(polyrpc_descriptor_pool_t* pool,
                                                            polyrpc_channel_t* ch,
                                                            const char* symbol,
                                                            const polyrpc_metadata_t* metadata,
                                                            int64_t timeout_ms) {
  POLYRPC_API_TRY
  DynamicPool& p = CheckPool(pool);
  ChannelHandle* ch_h = CheckChannel(ch);
  RequireArg(symbol == nullptr || *symbol != '\0', "symbol is empty (NULL means all services)");
  polyrpc::Metadata md;
  if (metadata != nullptr) md = Check(metadata, kMetadataTag, "metadata")->list();
  // The channel is held for the whole fetch, even if its handle is destroyed meanwhile.
  std::shared_ptr<polyrpc::Channel> channel = ch_h->channel;
  p.AddFiles(FetchByReflection(p, *channel, symbol, md, timeout_ms));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_descriptor_pool_service_count(const polyrpc_descriptor_pool_t* pool,
                                                      size_t* count) {
  POLYRPC_API_TRY
  const DynamicPool& p = CheckPool(pool);
  RequireArg(count != nullptr, "count is NULL");
  *count = p.ServiceCount();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_descriptor_pool_service(const polyrpc_descriptor_pool_t* pool, size_t i,
                                                const char** name, size_t* method_count) {
  POLYRPC_API_TRY
  const DynamicPool::ServiceInfo* s = CheckPool(pool).Service(i);
  if (name != nullptr) *name = s->service->full_name().c_str();
  if (method_count != nullptr) *method_count = s->methods.size();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_descriptor_pool_service_method(const polyrpc_descriptor_pool_t* pool,
                                                       size_t i, size_t j, const char** method) {
  POLYRPC_API_TRY
  const DynamicPool& p = CheckPool(pool);
  RequireArg(method != nullptr, "method is NULL");
  const DynamicPool::ServiceInfo* s = p.Service(i);
  if (j >= s->methods.size()) {
    Throw(POLYRPC_ERROR_NOT_FOUND, "no method " + std::to_string(j) + ": service " +
                                       s->service->full_name() + " has " +
                                       std::to_string(s->methods.size()));
  }
  *method = s->methods[j]->name.c_str();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_descriptor_pool_find_method(const polyrpc_descriptor_pool_t* pool,
                                                    const char* method, int* kind,
                                                    const char** path, const char** input_type,
                                                    const char** output_type) {
  POLYRPC_API_TRY
  const DynamicPool::MethodInfo& m = CheckPool(pool).FindMethod(method);
  const pb::MethodDescriptor* d = m.method;
  if (kind != nullptr) {
    *kind = d->client_streaming()
                ? (d->server_streaming() ? POLYRPC_METHOD_BIDI_STREAMING
                                         : POLYRPC_METHOD_CLIENT_STREAMING)
                : (d->server_streaming() ? POLYRPC_METHOD_SERVER_STREAMING : POLYRPC_METHOD_UNARY);
  }
  if (path != nullptr) *path = m.path.c_str();
  if (input_type != nullptr) *input_type = d->input_type()->full_name().c_str();
  if (output_type != nullptr) *output_type = d->output_type()->full_name().c_str();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_descriptor_pool_json_to_message(const polyrpc_descriptor_pool_t* pool,
                                                        const char* type_name, const char* json,
                                                        uint32_t flags, polyrpc_buffer_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  const DynamicPool& p = CheckPool(pool);
  RequireArg(json != nullptr, "json is NULL");
  RequireJsonFlags(flags);
  *out = NewBuffer(p.JsonToBinary(type_name, json, flags));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_descriptor_pool_message_to_json(const polyrpc_descriptor_pool_t* pool,
                                                        const char* type_name,
                                                        const polyrpc_buffer_t* message,
                                                        uint32_t flags, polyrpc_buffer_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  const DynamicPool& p = CheckPool(pool);
  const polyrpc::Slice& bytes = Check(message, kBufferTag, "message buffer")->slice;
  RequireJsonFlags(flags);
  *out = NewBuffer(p.BinaryToJson(type_name, bytes.data(), bytes.size(), flags));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_unary_json(polyrpc_call_t* call, const polyrpc_descriptor_pool_t* pool,
                                        const char* method, const char* request_json,
                                        uint32_t flags, polyrpc_buffer_t** response_json) {
  POLYRPC_API_TRY
  RequireArg(response_json != nullptr, "response_json is NULL");
  *response_json = nullptr;
  const DynamicPool& p = CheckPool(pool);
  RequireArg(request_json != nullptr, "request_json is NULL");
  RequireJsonFlags(flags);
  const DynamicPool::MethodInfo& m = p.FindMethod(method);
  if (m.method->client_streaming() || m.method->server_streaming()) {
    Throw(POLYRPC_ERROR_WRONG_STATE,
          m.name + " is a streaming method: use the call API (polyrpc/call.h)");
  }
  const char* input = m.method->input_type()->full_name().c_str();
  const char* output = m.method->output_type()->full_name().c_str();
  auto request = std::make_unique<BufferHandle>();
  request->slice = polyrpc::Slice::FromString(p.JsonToBinary(input, request_json, flags));
  polyrpc_buffer_t* reply = nullptr;
  polyrpc_error_t err =
      polyrpc_call_unary(call, reinterpret_cast<polyrpc_buffer_t*>(request.get()), &reply);
  if (err != POLYRPC_OK) Throw(err, polyrpc_last_error());
  if (reply == nullptr) return POLYRPC_OK;  // not OK: the status says why
  std::unique_ptr<polyrpc_buffer_t, void (*)(polyrpc_buffer_t*)> owned(reply,
                                                                       polyrpc_buffer_destroy);
  const polyrpc::Slice& bytes = Check(reply, kBufferTag, "reply")->slice;
  *response_json = NewBuffer(p.BinaryToJson(output, bytes.data(), bytes.size(), flags));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_enable_reflection(polyrpc_server_t* server,
                                                 const polyrpc_descriptor_pool_t* pool) {
  POLYRPC_API_TRY
  std::shared_ptr<polyrpc::DescriptorDatabase> db;
  if (pool != nullptr) {
    db = std::make_shared<PoolDatabase>(Check(pool, kDescriptorPoolTag, "descriptor pool")->pool);
  }
  EnableServerReflection(server, std::move(db));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_descriptor_pool_describe(const polyrpc_descriptor_pool_t* pool,
                                                 const char* symbol, const char** kind,
                                                 polyrpc_buffer_t** out) {
  POLYRPC_API_TRY
  const DynamicPool& p = CheckPool(pool);
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  RequireArg(symbol != nullptr, "symbol is NULL");
  const char* what = nullptr;
  std::string text = p.Describe(symbol, &what);
  if (kind) *kind = what;
  *out = NewBuffer(std::move(text));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

}  // extern "C"
