// Shared plumbing for the grpc++ interop peers: gflags-style flag parsing, file reading, and
// access to gRPC's test-only hooks that reveal whether a message travelled compressed.
#ifndef POLYRPC_CONFORMANCE_GRPCXX_INTEROP_COMMON_H_
#define POLYRPC_CONFORMANCE_GRPCXX_INTEROP_COMMON_H_

#include <grpc/compression.h>
#include <grpc/grpc.h>

#include <cstdint>
#include <map>
#include <string>

// Exported by libgrpc (C++ linkage) for gRPC's own interop tests; there is no public API that
// says whether the last received message had the compressed flag set.
grpc_compression_algorithm grpc_call_test_only_get_compression_algorithm(grpc_call* call);
uint32_t grpc_call_test_only_get_message_flags(grpc_call* call);

namespace polyrpc_interop {

// Message flag bits from gRPC core (src/core/lib/transport/transport.h in 1.51): the message
// arrived compressed, or arrived compressed and was decompressed by the core.
constexpr uint32_t kWriteInternalCompress = 0x80000000u;
constexpr uint32_t kWriteInternalWasCompressed = 0x40000000u;

// True if the message last received on `call` had the compressed flag set.
bool LastMessageWasCompressed(grpc_call* call);

// Parses --name=value, --name value and bare --flag (booleans); `flags` holds the defaults and
// receives the values. Names listed in `bools` are booleans. Exits 2 on an unknown flag.
void ParseFlags(int argc, char** argv, std::map<std::string, std::string>* flags,
                const std::map<std::string, bool>& bools);
bool FlagIsTrue(const std::string& value);

// $POLYRPC_TEST_CERTS, else <repo>/build/certs.
std::string DefaultCertDir();
// Reads a whole file; exits 1 with a message if it cannot.
std::string ReadFileOrDie(const std::string& path);

}  // namespace polyrpc_interop

#endif  // POLYRPC_CONFORMANCE_GRPCXX_INTEROP_COMMON_H_
