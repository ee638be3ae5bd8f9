// fuzz/capi_input: the C ABI functions that take caller strings and bytes, through the public
// header only, as a binding would call them. The first byte picks the group; the rest is split
// at NUL bytes into the arguments.
//   0 options   pairs (key, value): polyrpc_options_set_string, or polyrpc_options_set_int when
//               the key starts with "i:" (value parsed as a decimal int64); then a channel and
//               a server are created with them (which reads every option they know) and
//               destroyed. A key the setters refused must not be visible, an accepted one must.
//   1 metadata  pairs (key, value): polyrpc_metadata_add; every accepted entry must read back
//               (polyrpc_metadata_get, polyrpc_metadata_find) with the same bytes, in order.
//   2 target    polyrpc_channel_create's target parsing (a channel connects lazily: nothing is
//               dialled), then the channel's state and destroy.
//   3 call      polyrpc_call_create's method and flags, set_compression, set_authority and a
//               bearer token (polyrpc_call_credentials_create_bearer) on a call never started.
#include <polyrpc/polyrpc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "capi_check.h"

namespace {

std::vector<std::string> Split(const uint8_t* data, size_t size) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      out.emplace_back();
    } else {
      out.back().push_back(static_cast<char>(data[i]));
    }
  }
  return out;
}

polyrpc_channel_credentials_t* Insecure() {
  static polyrpc_channel_credentials_t* creds = [] {
    polyrpc_channel_credentials_t* c = nullptr;
    CHECK(polyrpc_channel_credentials_create_insecure(&c) == POLYRPC_OK);
    return c;
  }();
  return creds;
}

void Options(const std::vector<std::string>& args) {
  polyrpc_options_t* opts = nullptr;
  CHECK(polyrpc_options_create(&opts) == POLYRPC_OK);
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    const std::string& key = args[i];
    const std::string& value = args[i + 1];
    polyrpc_error_t rc;
    if (key.rfind("i:", 0) == 0) {
      rc = polyrpc_options_set_int(opts, key.c_str() + 2, strtoll(value.c_str(), nullptr, 10));
    } else {
      rc = polyrpc_options_set_string(opts, key.c_str(), value.c_str());
    }
    CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT);
    if (rc != POLYRPC_OK) CHECK(polyrpc_last_error()[0] != '\0');
  }
  polyrpc_channel_t* ch = nullptr;
  polyrpc_error_t rc = polyrpc_channel_create("127.0.0.1:1", Insecure(), opts, &ch);
  CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT || rc == POLYRPC_ERROR_TLS);
  CHECK((rc == POLYRPC_OK) == (ch != nullptr));
  polyrpc_channel_destroy(ch);
  polyrpc_server_t* server = nullptr;
  rc = polyrpc_server_create(opts, &server);
  CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT);
  polyrpc_server_destroy(server);
  polyrpc_options_destroy(opts);
}

void Metadata(const std::vector<std::string>& args) {
  polyrpc_metadata_t* md = nullptr;
  CHECK(polyrpc_metadata_create(&md) == POLYRPC_OK);
  std::vector<std::pair<std::string, std::string>> accepted;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    const std::string& key = args[i];
    // Values carry NULs too: a key's value is everything up to the next key, with "\x01"
    // standing for a NUL byte.
    std::string value = args[i + 1];
    for (char& c : value) {
      if (c == 1) c = 0;
    }
    polyrpc_error_t rc = polyrpc_metadata_add(
        md, key.c_str(), reinterpret_cast<const uint8_t*>(value.data()), value.size());
    CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT);
    if (rc == POLYRPC_OK) accepted.emplace_back(key, value);
  }
  CHECK(polyrpc_metadata_count(md) == accepted.size());
  for (size_t i = 0; i < accepted.size(); ++i) {
    const char* k = nullptr;
    const uint8_t* v = nullptr;
    size_t n = 0;
    CHECK(polyrpc_metadata_get(md, i, &k, &v, &n) == POLYRPC_OK);
    CHECK(accepted[i].first == k);
    CHECK(n == accepted[i].second.size() && memcmp(v, accepted[i].second.data(), n) == 0);
    CHECK(v[n] == 0);
    CHECK(polyrpc_metadata_find(md, k, &v, &n) == POLYRPC_OK);
  }
  CHECK(polyrpc_metadata_get(md, accepted.size(), nullptr, nullptr, nullptr) ==
        POLYRPC_ERROR_NOT_FOUND);
  polyrpc_metadata_destroy(md);
}

void Target(const std::vector<std::string>& args) {
  polyrpc_channel_t* ch = nullptr;
  polyrpc_error_t rc = polyrpc_channel_create(args[0].c_str(), Insecure(), nullptr, &ch);
  CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK((rc == POLYRPC_OK) == (ch != nullptr));
  if (ch == nullptr) return;
  polyrpc_connectivity_state_t state;
  CHECK(polyrpc_channel_get_state(ch, 0, &state) == POLYRPC_OK);
  CHECK(state == POLYRPC_CHANNEL_IDLE);
  polyrpc_channel_destroy(ch);
}

void Call(const std::vector<std::string>& args) {
  static polyrpc_channel_t* ch = [] {
    polyrpc_channel_t* c = nullptr;
    CHECK(polyrpc_channel_create("127.0.0.1:1", Insecure(), nullptr, &c) == POLYRPC_OK);
    return c;
  }();
  const std::string& method = args[0];
  uint32_t flags = args.size() > 1 && !args[1].empty() ? static_cast<uint8_t>(args[1][0]) : 0;
  polyrpc_call_t* call = nullptr;
  polyrpc_error_t rc = polyrpc_call_create(ch, method.c_str(), -1, nullptr, flags, &call);
  CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT);
  if (call == nullptr) return;
  if (args.size() > 2) {
    rc = polyrpc_call_set_compression(call, args[2].c_str());
    CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT);
  }
  if (args.size() > 3) {
    rc = polyrpc_call_set_authority(call, args[3].c_str());
    CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT);
  }
  if (args.size() > 4) {
    polyrpc_call_credentials_t* creds = nullptr;
    rc = polyrpc_call_credentials_create_bearer(args[4].c_str(), &creds);
    CHECK(rc == POLYRPC_OK || rc == POLYRPC_ERROR_INVALID_ARGUMENT);
    if (creds != nullptr) {
      CHECK(polyrpc_call_set_credentials(call, creds) == POLYRPC_OK);
      polyrpc_call_credentials_destroy(creds);
    }
  }
  CHECK(polyrpc_call_method(call) == nullptr);  // a client call's: NULL, not an error
  CHECK(strcmp(polyrpc_call_peer(call), "") == 0);
  polyrpc_call_destroy(call);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::vector<std::string> args = Split(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0: Options(args); break;
    case 1: Metadata(args); break;
    case 2: Target(args); break;
    case 3: Call(args); break;
  }
  return 0;
}
