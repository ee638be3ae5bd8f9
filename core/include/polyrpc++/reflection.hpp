// gRPC server reflection (grpc.reflection.v1 and grpc.reflection.v1alpha ServerReflection), so
// that grpcurl, grpcui, Postman or `polyrpc call` can list the services and describe and call
// them without the .proto files.
//
// The descriptors come from a DescriptorDatabase. With protobuf's generated code, one line:
//
//   #include <polyrpc++/proto_reflection.hpp>   // the application links libprotobuf
//   polyrpc::EnableServerReflection(*server);    // protobuf's generated pool
//
// Without libprotobuf (serialized FileDescriptorProtos, e.g. the files of a FileDescriptorSet
// that protoc --descriptor_set_out wrote), FileDescriptorSetDatabase does the indexing:
//
//   auto db = std::make_shared<polyrpc::FileDescriptorSetDatabase>();
//   db->AddFileSet(fds_bytes, &error);
//   polyrpc::EnableReflectionService(*server, db);
//
// list_services answers the services of the server's registered methods and those the database
// names; the descriptors of grpc.health.v1 and of both reflection versions are built in. A file
// is sent with every file it imports, transitively, except files already sent on the same
// stream (grpc-go's rule). The handler runs on the I/O threads: lookups must be quick and must
// not block on the network.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "polyrpc++/server.hpp"

namespace polyrpc {

// Where reflection finds descriptors. Implementations are called from I/O threads, possibly
// concurrently: they must be thread-safe.
class DescriptorDatabase {
 public:
  virtual ~DescriptorDatabase() = default;
  // The serialized google.protobuf.FileDescriptorProto of the file named filename
  // ("pkg/api.proto").
  virtual bool FindFileByName(const std::string& filename, std::string* file_descriptor_proto) = 0;
  // The name of the file defining symbol: a fully qualified message, enum, enum value, service,
  // method, field or extension name ("pkg.Service", "pkg.Service.Method", "pkg.Msg.field").
  virtual bool FindFileContainingSymbol(const std::string& symbol, std::string* filename) = 0;
  // The name of the file defining extension number of message type extendee.
  virtual bool FindFileContainingExtension(const std::string& extendee, int32_t number,
                                           std::string* filename) = 0;
  // Every known extension number of message type extendee; false if the type is unknown.
  virtual bool FindAllExtensionNumbers(const std::string& extendee,
                                       std::vector<int32_t>* numbers) = 0;
  // Services to list besides the server's registered ones.
  virtual std::vector<std::string> ServiceNames() { return {}; }
};

// A DescriptorDatabase of serialized FileDescriptorProtos, indexed by the core's own reader of
// the protobuf wire format (no libprotobuf). Its ServiceNames() are the services of every file
// added. Thread-safe.
class FileDescriptorSetDatabase : public DescriptorDatabase {
 public:
  // Adds one serialized FileDescriptorProto. A second file of the same name replaces the first.
  // False (and *error, if given) when the bytes do not parse or name no file.
  bool AddFile(std::string_view file_descriptor_proto, std::string* error = nullptr);
  // Adds every file of a serialized google.protobuf.FileDescriptorSet; all or nothing.
  bool AddFileSet(std::string_view file_descriptor_set, std::string* error = nullptr);

  bool FindFileByName(const std::string& filename, std::string* file_descriptor_proto) override;
  bool FindFileContainingSymbol(const std::string& symbol, std::string* filename) override;
  bool FindFileContainingExtension(const std::string& extendee, int32_t number,
                                   std::string* filename) override;
  bool FindAllExtensionNumbers(const std::string& extendee,
                               std::vector<int32_t>* numbers) override;
  std::vector<std::string> ServiceNames() override;

 private:
  struct File;
  static bool Index(std::string_view bytes, File* file, std::string* error);
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const File>> files_;  // by file name
  std::map<std::string, std::string> symbols_;                 // symbol -> file name
  std::vector<std::string> services_;                          // in the order added
};

// Registers /grpc.reflection.v1.ServerReflection/ServerReflectionInfo and the v1alpha one on
// server, before Start(). db may be null: then only the built-in descriptors are described
// (the services are still listed).
void EnableReflectionService(Server& server, std::shared_ptr<DescriptorDatabase> db);

}  // namespace polyrpc
