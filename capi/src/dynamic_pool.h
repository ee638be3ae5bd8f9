// The state behind polyrpc_descriptor_pool_t (polyrpc/dynamic.h): a libprotobuf DescriptorPool
// of files added at run time, the services and methods it names, and what transcodes JSON.
//
// libprotobuf is linked dynamically (Debian's libprotobuf.a is not position-independent), so the
// pool keeps to what cannot collide with a host process's own use of the same library: a private
// DescriptorPool (never the generated pool, whose well-known types it only reads) and no
// generated code (the reflection protocol runs on DynamicMessages, dynamic_reflection.cc).
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/type_resolver.h>

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "internal.h"

namespace polyrpc::capi {

namespace pb = google::protobuf;

class DynamicPool {
 public:
  DynamicPool();
  ~DynamicPool();

  // Builds files (any order; imports in files, in the pool, or well-known types). All or
  // nothing; throws ApiError INVALID_ARGUMENT with the reason.
  void AddFiles(std::vector<pb::FileDescriptorProto> files);
  // True if a file of that name is in the pool.
  bool HasFile(const std::string& name) const;

  struct MethodInfo {
    const pb::MethodDescriptor* method;
    std::string name;  // "pkg.Service/Method"
    std::string path;  // "/pkg.Service/Method"
  };
  struct ServiceInfo {
    const pb::ServiceDescriptor* service;
    std::vector<const MethodInfo*> methods;
  };
  size_t ServiceCount() const;
  // Borrowed until the pool is destroyed (entries are never removed or moved).
  const ServiceInfo* Service(size_t i) const;
  // "pkg.Service/Method" or "/pkg.Service/Method"; throws NOT_FOUND / INVALID_ARGUMENT.
  const MethodInfo& FindMethod(const char* name) const;

  // For server reflection (polyrpc_server_enable_reflection), under the shared lock: the
  // serialized FileDescriptorProto of a file, the file defining a symbol or an extension, the
  // extension numbers of a message type, the services of every file added.
  bool SerializedFile(const std::string& name, std::string* out) const;
  bool FileOfSymbol(const std::string& symbol, std::string* file) const;
  bool FileOfExtension(const std::string& extendee, int32_t number, std::string* file) const;
  bool ExtensionNumbers(const std::string& extendee, std::vector<int32_t>* numbers) const;
  std::vector<std::string> ServiceNames() const;
  // polyrpc_descriptor_pool_describe: the .proto text of symbol and what it is; throws NOT_FOUND.
  std::string Describe(const std::string& symbol, const char** kind) const;

  // JSON <-> binary protobuf of type_name; throw NOT_FOUND (type) or INVALID_ARGUMENT.
  std::string JsonToBinary(const char* type_name, std::string_view json, uint32_t flags) const;
  std::string BinaryToJson(const char* type_name, const uint8_t* data, size_t len,
                           uint32_t flags) const;

 private:
  const pb::Descriptor* FindMessageLocked(const char* type_name) const;
  void RegisterFileLocked(const pb::FileDescriptor* file);
  // Under the lock: proto is byte for byte (source info aside) the file added as name.
  bool SameAsAdded(const std::string& name, const pb::FileDescriptorProto& proto) const;

  mutable std::shared_mutex mu_;  // exclusive to add files, shared for everything else
  pb::DescriptorPool pool_;
  std::unique_ptr<pb::util::TypeResolver> resolver_;
  mutable pb::DynamicMessageFactory factory_;  // thread-safe (its own lock)
  std::vector<std::unique_ptr<ServiceInfo>> services_;
  std::unordered_map<const pb::MethodDescriptor*, std::unique_ptr<MethodInfo>> methods_;
  // Each file added, serialized as given (without source info): adding it again is a no-op.
  std::unordered_map<std::string, std::string> added_;
};

// Fetches the files that define symbol (NULL: every service) from the server behind channel
// by server reflection, v1 then v1alpha; the files the pool already has are not fetched again.
// Throws ApiError.
std::vector<pb::FileDescriptorProto> FetchByReflection(const DynamicPool& pool,
                                                       polyrpc::Channel& channel,
                                                       const char* symbol,
                                                       const polyrpc::Metadata& metadata,
                                                       int64_t timeout_ms);

}  // namespace polyrpc::capi
