// Server reflection over a libprotobuf DescriptorPool, header-only so that the core never links
// libprotobuf (the application that uses protobuf's generated code does):
//
//   polyrpc::EnableServerReflection(*server);  // every file of protobuf's generated pool
//
// grpc++'s reflection plugin does the same. Files are described with FileDescriptor::CopyTo,
// as grpc++ does (no source code info).
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <memory>
#include <string>
#include <vector>

#include "polyrpc++/reflection.hpp"

namespace polyrpc {

// The descriptors of a DescriptorPool that outlives the database (generated_pool() does).
class ProtobufDescriptorDatabase : public DescriptorDatabase {
 public:
  explicit ProtobufDescriptorDatabase(
      const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool())
      : pool_(pool) {}

  bool FindFileByName(const std::string& filename, std::string* out) override {
    const google::protobuf::FileDescriptor* file = pool_->FindFileByName(filename);
    if (file == nullptr) return false;
    google::protobuf::FileDescriptorProto proto;
    file->CopyTo(&proto);
    return proto.SerializeToString(out);
  }
  bool FindFileContainingSymbol(const std::string& symbol, std::string* filename) override {
    const google::protobuf::FileDescriptor* file = pool_->FindFileContainingSymbol(symbol);
    if (file == nullptr) return false;
    *filename = file->name();
    return true;
  }
  bool FindFileContainingExtension(const std::string& extendee, int32_t number,
                                   std::string* filename) override {
    const google::protobuf::Descriptor* type = pool_->FindMessageTypeByName(extendee);
    if (type == nullptr) return false;
    const google::protobuf::FieldDescriptor* ext = pool_->FindExtensionByNumber(type, number);
    if (ext == nullptr) return false;
    *filename = ext->file()->name();
    return true;
  }
  bool FindAllExtensionNumbers(const std::string& extendee,
                               std::vector<int32_t>* numbers) override {
    const google::protobuf::Descriptor* type = pool_->FindMessageTypeByName(extendee);
    if (type == nullptr) return false;
    std::vector<const google::protobuf::FieldDescriptor*> exts;
    pool_->FindAllExtensions(type, &exts);
    for (const auto* e : exts) numbers->push_back(e->number());
    return true;
  }

 private:
  const google::protobuf::DescriptorPool* pool_;
};

// Server reflection from pool (default: protobuf's generated pool); before Start().
inline void EnableServerReflection(
    Server& server,
    const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool()) {
  EnableReflectionService(server, std::make_shared<ProtobufDescriptorDatabase>(pool));
}

}  // namespace polyrpc
