// fuzz/capi_json: dynamic calls' caller input (capi/include/polyrpc/dynamic.h), through the
// public header. The pool holds fuzz/protos/fuzz.proto (every kind of field the proto3 JSON
// mapping treats specially, well-known types included) and grpc/testing's messages, loaded from
// the FileDescriptorSet the build makes. The first byte picks the function, the second the
// message type and the flags; the rest is the input.
//   0 json_to_message   JSON text; what parses must print (message_to_json) and parse again to
//                       the same binary message
//   1 message_to_json   binary protobuf bytes; what prints must parse back
//   2 add_file_set      a serialized FileDescriptorSet into a fresh pool (all or nothing), then
//                       every service and method listed and looked up
//   3 find_method       a method name, in both forms
// libprotobuf (Debian's) is not instrumented: the fuzzer sees the library's own code, and ASan
// catches what libprotobuf does wrong through the memory it hands back.
#include <google/protobuf/stubs/logging.h>
#include <polyrpc/polyrpc.h>
#include <polyrpc/dynamic.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "capi_check.h"

#ifndef POLYRPC_FUZZ_FDS
#error "POLYRPC_FUZZ_FDS: the FileDescriptorSet's path (fuzz/CMakeLists.txt)"
#endif

namespace {

const char* const kTypes[] = {
    "fuzz.All",          "fuzz.Nested",           "grpc.testing.SimpleRequest",
    "google.protobuf.Any", "google.protobuf.Struct", "google.protobuf.Value",
    "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask",
    "google.protobuf.Int64Value", "grpc.testing.StreamingOutputCallResponse", "fuzz.Missing",
};
constexpr size_t kTypeCount = sizeof kTypes / sizeof kTypes[0];

const std::string& FileSet() {
  static const std::string bytes = [] {
    std::ifstream in(POLYRPC_FUZZ_FDS, std::ios::binary);
    std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (b.empty()) {
      fprintf(stderr, "capi_json: cannot read %s\n", POLYRPC_FUZZ_FDS);
      abort();
    }
    return b;
  }();
  return bytes;
}

polyrpc_descriptor_pool_t* Pool() {
  static polyrpc_descriptor_pool_t* pool = [] {
    // libprotobuf logs every malformed string field it parses to stderr: thousands of lines a
    // second that slow the run down and bury its output. (The harness's only use of it.)
    google::protobuf::SetLogHandler(nullptr);
    polyrpc_descriptor_pool_t* p = nullptr;
    CHECK(polyrpc_descriptor_pool_create(&p) == POLYRPC_OK);
    const std::string& fds = FileSet();
    CHECK(polyrpc_descriptor_pool_add_file_set(
              p, reinterpret_cast<const uint8_t*>(fds.data()), fds.size()) == POLYRPC_OK);
    return p;
  }();
  return pool;
}

std::string Bytes(const polyrpc_buffer_t* b) {
  const uint8_t* d = nullptr;
  size_t n = 0;
  CHECK(polyrpc_buffer_data(b, &d, &n) == POLYRPC_OK);
  return std::string(reinterpret_cast<const char*>(d), n);
}

// Binary -> JSON -> binary must be stable after the first conversion.
void RoundTrip(const char* type, const std::string& binary, uint32_t print_flags) {
  polyrpc_buffer_t* in = nullptr;
  CHECK(polyrpc_buffer_create_copy(reinterpret_cast<const uint8_t*>(binary.data()),
                                   binary.size(), &in) == POLYRPC_OK);
  polyrpc_buffer_t* json = nullptr;
  polyrpc_error_t rc = polyrpc_descriptor_pool_message_to_json(Pool(), type, in, print_flags, &json);
  polyrpc_buffer_destroy(in);
  if (rc != POLYRPC_OK) {
    // The binary came from the pool's own serializer or parsed as this type: printing may still
    // fail for values JSON cannot hold (a Timestamp out of range, an Any of an unknown type).
    CHECK(rc == POLYRPC_ERROR_INVALID_ARGUMENT);
    return;
  }
  std::string text = Bytes(json);
  {
    const uint8_t* d = nullptr;
    size_t n = 0;
    CHECK(polyrpc_buffer_data(json, &d, &n) == POLYRPC_OK);
    CHECK(d[n] == 0);  // NUL-terminated, as promised
  }
  polyrpc_buffer_destroy(json);
  polyrpc_buffer_t* again = nullptr;
  rc = polyrpc_descriptor_pool_json_to_message(Pool(), type, text.c_str(), 0, &again);
  if (rc != POLYRPC_OK) {
    fprintf(stderr, "capi_json: %s printed as JSON that does not parse back: %s\n%s\n", type,
            polyrpc_last_error(), text.c_str());
    abort();
  }
  polyrpc_buffer_destroy(again);
}

void JsonToMessage(const char* type, uint32_t flags, const std::string& json) {
  polyrpc_buffer_t* out = nullptr;
  polyrpc_error_t rc = polyrpc_descriptor_pool_json_to_message(Pool(), type, json.c_str(),
                                                               flags & 1u, &out);
  CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT || rc == POLYRPC_ERROR_NOT_FOUND);
  CHECK((rc == POLYRPC_OK) == (out != nullptr));
  if (out == nullptr) return;
  std::string binary = Bytes(out);
  polyrpc_buffer_destroy(out);
  RoundTrip(type, binary, (flags << 1) & 0x1e);
}

void MessageToJson(const char* type, uint32_t flags, const std::string& bytes) {
  polyrpc_buffer_t* in = nullptr;
  CHECK(polyrpc_buffer_create_copy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                   &in) == POLYRPC_OK);
  polyrpc_buffer_t* json = nullptr;
  polyrpc_error_t rc =
      polyrpc_descriptor_pool_message_to_json(Pool(), type, in, (flags << 1) & 0x1e, &json);
  polyrpc_buffer_destroy(in);
  CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT || rc == POLYRPC_ERROR_NOT_FOUND);
  CHECK((rc == POLYRPC_OK) == (json != nullptr));
  if (json == nullptr) return;
  std::string text = Bytes(json);
  polyrpc_buffer_destroy(json);
  polyrpc_buffer_t* back = nullptr;
  rc = polyrpc_descriptor_pool_json_to_message(Pool(), type, text.c_str(), 0, &back);
  if (rc != POLYRPC_OK) {
    fprintf(stderr, "capi_json: %s printed as JSON that does not parse back: %s\n%s\n", type,
            polyrpc_last_error(), text.c_str());
    abort();
  }
  polyrpc_buffer_destroy(back);
}

void AddFileSet(const std::string& bytes) {
  polyrpc_descriptor_pool_t* pool = nullptr;
  CHECK(polyrpc_descriptor_pool_create(&pool) == POLYRPC_OK);
  polyrpc_error_t rc = polyrpc_descriptor_pool_add_file_set(
      pool, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT);
  size_t services = 0;
  CHECK(polyrpc_descriptor_pool_service_count(pool, &services) == POLYRPC_OK);
  if (rc != POLYRPC_OK) CHECK(services == 0);  // all or nothing
  for (size_t i = 0; i < services; ++i) {
    const char* name = nullptr;
    size_t methods = 0;
    CHECK(polyrpc_descriptor_pool_service(pool, i, &name, &methods) == POLYRPC_OK);
    for (size_t j = 0; j < methods; ++j) {
      const char* method = nullptr;
      CHECK(polyrpc_descriptor_pool_service_method(pool, i, j, &method) == POLYRPC_OK);
      int kind = -1;
      const char *path = nullptr, *in = nullptr, *out = nullptr;
      CHECK(polyrpc_descriptor_pool_find_method(pool, method, &kind, &path, &in, &out) ==
            POLYRPC_OK);
      CHECK(kind >= 0 && kind <= 3 && path[0] == '/' && strcmp(path + 1, method) == 0);
      // Its message types are in the pool: an empty message prints.
      polyrpc_buffer_t* empty = nullptr;
      CHECK(polyrpc_buffer_create_copy(nullptr, 0, &empty) == POLYRPC_OK);
      polyrpc_buffer_t* json = nullptr;
      CHECK(polyrpc_descriptor_pool_message_to_json(pool, in, empty, 0, &json) == POLYRPC_OK);
      polyrpc_buffer_destroy(json);
      polyrpc_buffer_destroy(empty);
    }
  }
  CHECK(polyrpc_descriptor_pool_service(pool, services, nullptr, nullptr) ==
        POLYRPC_ERROR_NOT_FOUND);
  // Adding the same bytes again changes nothing (files already there are skipped).
  if (rc == POLYRPC_OK) {
    CHECK(polyrpc_descriptor_pool_add_file_set(
              pool, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) == POLYRPC_OK);
    size_t again = 0;
    CHECK(polyrpc_descriptor_pool_service_count(pool, &again) == POLYRPC_OK && again == services);
  }
  polyrpc_descriptor_pool_destroy(pool);
}

void FindMethod(const std::string& name) {
  int kind = -1;
  const char* path = nullptr;
  polyrpc_error_t rc =
      polyrpc_descriptor_pool_find_method(Pool(), name.c_str(), &kind, &path, nullptr, nullptr);
  CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT || rc == POLYRPC_ERROR_NOT_FOUND);
  if (rc == POLYRPC_OK) CHECK(path[0] == '/');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Pool();
  const uint8_t which = data[0];
  const uint8_t sel = data[1];
  const char* type = kTypes[sel % kTypeCount];
  uint32_t flags = sel / kTypeCount;  // bit 0: parse flag; bits 0-3 shifted: print flags
  std::string rest(reinterpret_cast<const char*>(data + 2), size - 2);
  switch (which % 4) {
    case 0:
      // A NUL ends the C string: what follows it is not seen, as for any caller.
      JsonToMessage(type, flags, rest);
      break;
    case 1: MessageToJson(type, flags, rest); break;
    case 2: AddFileSet(rest); break;
    case 3: FindMethod(std::string(rest.c_str())); break;
  }
  return 0;
}
