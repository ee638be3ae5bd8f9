// Command-line flags of the interop programs, gflags-style (--name=value, --name value, and a bare
// --name for booleans), plus the TLS test files. Shared by polyrpc_interop_server and
// polyrpc_interop_client; kept dependency-free so the programs need no flags library.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace polyrpc::interop {

class Flags {
 public:
  // defaults: every accepted flag with its default value ("true"/"false" marks a boolean).
  explicit Flags(std::map<std::string, std::string> defaults) : values_(std::move(defaults)) {}

  // Returns false (after printing why) on an unknown flag or a missing value.
  bool Parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg.rfind("--", 0) != 0) return Error("unexpected argument: " + arg);
      std::string name = arg.substr(2), value;
      size_t eq = name.find('=');
      bool has_value = eq != std::string::npos;
      if (has_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      auto it = values_.find(name);
      if (it == values_.end()) return Error("unknown flag: --" + name);
      bool boolean = it->second == "true" || it->second == "false";
      if (!has_value) {
        if (boolean) {
          value = "true";
        } else if (i + 1 < argc) {
          value = argv[++i];
        } else {
          return Error("missing value for --" + name);
        }
      }
      if (boolean) {
        if (value == "1") value = "true";
        if (value == "0") value = "false";
        if (value != "true" && value != "false") return Error("bad boolean for --" + name);
      }
      it->second = value;
    }
    return true;
  }
  const std::string& Get(const std::string& name) const { return values_.at(name); }
  bool GetBool(const std::string& name) const { return values_.at(name) == "true"; }
  int GetInt(const std::string& name) const { return std::atoi(values_.at(name).c_str()); }

 private:
  static bool Error(const std::string& what) {
    std::fprintf(stderr, "%s\n", what.c_str());
    return false;
  }
  std::map<std::string, std::string> values_;
};

// $POLYRPC_TEST_CERTS, else build/certs under the current directory (where conformance/run and
// the build put them).
inline std::string DefaultCertDir() {
  const char* env = std::getenv("POLYRPC_TEST_CERTS");
  if (env && *env) return env;
  return "build/certs";
}

// Reads cert_dir/name; false if unreadable.
inline bool ReadCertFile(const std::string& cert_dir, const std::string& name, std::string* out) {
  std::ifstream in(cert_dir + "/" + name, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

}  // namespace polyrpc::interop
