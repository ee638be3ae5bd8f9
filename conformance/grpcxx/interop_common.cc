#include "interop_common.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace polyrpc_interop {

bool LastMessageWasCompressed(grpc_call* call) {
  const uint32_t flags = grpc_call_test_only_get_message_flags(call);
  return (flags & (kWriteInternalCompress | kWriteInternalWasCompressed)) != 0;
}

bool FlagIsTrue(const std::string& value) { return value == "true" || value == "1"; }

void ParseFlags(int argc, char** argv, std::map<std::string, std::string>* flags,
                const std::map<std::string, bool>& bools) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      std::fprintf(stderr, "unexpected argument: %s\n", arg.c_str());
      std::exit(2);
    }
    arg = arg.substr(2);
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    if (flags->count(name) == 0) {
      std::fprintf(stderr, "unknown flag: --%s\n", name.c_str());
      std::exit(2);
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (bools.count(name) != 0) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "missing value for --%s\n", name.c_str());
      std::exit(2);
    }
    if (bools.count(name) != 0 && value != "true" && value != "false" && value != "1" &&
        value != "0") {
      std::fprintf(stderr, "bad boolean for --%s: %s\n", name.c_str(), value.c_str());
      std::exit(2);
    }
    (*flags)[name] = value;
  }
}

std::string DefaultCertDir() {
  const char* env = std::getenv("POLYRPC_TEST_CERTS");
  if (env != nullptr && *env != '\0') return env;
  return POLYRPC_REPO_ROOT "/build/certs";
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(1);
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace polyrpc_interop
