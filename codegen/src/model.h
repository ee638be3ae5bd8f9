// The language-neutral view of a .proto file that every generator works from: its services and
// methods in declaration order, each with its streaming kind, wire path and proto comments.
#pragma once

#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>

namespace polyrpc::codegen {

enum class StreamingKind {
  kUnary,            // rpc M(Req) returns (Resp)
  kServerStreaming,  // rpc M(Req) returns (stream Resp)
  kClientStreaming,  // rpc M(stream Req) returns (Resp)
  kBidiStreaming,    // rpc M(stream Req) returns (stream Resp)
};

// "unary_unary", "unary_stream", "stream_unary", "stream_stream": grpcio's names, which the
// Python generator uses verbatim.
const char* StreamingKindPythonName(StreamingKind kind);

struct MethodModel {
  const google::protobuf::MethodDescriptor* descriptor;
  std::string name;       // as written in the .proto
  std::string path;       // "/package.Service/Method", the HTTP/2 :path
  StreamingKind kind;
  std::string comments;   // leading comments, one line per '\n', without the comment markers
  const google::protobuf::Descriptor* input;
  const google::protobuf::Descriptor* output;
};

struct ServiceModel {
  const google::protobuf::ServiceDescriptor* descriptor;
  std::string name;       // as written in the .proto
  std::string full_name;  // "package.Service"
  std::string comments;
  std::vector<MethodModel> methods;
};

struct FileModel {
  const google::protobuf::FileDescriptor* file;
  std::string package;                // may be empty
  std::vector<std::string> package_parts;
  std::vector<ServiceModel> services;
};

FileModel BuildFileModel(const google::protobuf::FileDescriptor* file);

// Leading comments of a descriptor (needs source info, which protoc passes to plugins), with
// the single space after "//" removed and surrounding blank lines trimmed. Empty if none.
template <class D>
std::string LeadingComments(const D* descriptor);

}  // namespace polyrpc::codegen
