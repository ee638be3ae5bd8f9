#include "model.h"

#include "naming.h"

namespace polyrpc::codegen {

namespace gp = google::protobuf;

const char* StreamingKindPythonName(StreamingKind kind) {
  switch (kind) {
    case StreamingKind::kUnary:
      return "unary_unary";
    case StreamingKind::kServerStreaming:
      return "unary_stream";
    case StreamingKind::kClientStreaming:
      return "stream_unary";
    case StreamingKind::kBidiStreaming:
      return "stream_stream";
  }
  return "unary_unary";
}

template <class D>
std::string LeadingComments(const D* descriptor) {
  gp::SourceLocation location;
  if (!descriptor->GetSourceLocation(&location)) return "";
  std::vector<std::string> lines = SplitLines(location.leading_comments);
  for (auto& line : lines) {
    // protoc keeps what follows "//", which is conventionally one space.
    if (!line.empty() && line[0] == ' ') line.erase(0, 1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.pop_back();
    }
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  size_t first = 0;
  while (first < lines.size() && lines[first].empty()) ++first;
  std::string out;
  for (size_t i = first; i < lines.size(); ++i) {
    out += lines[i];
    if (i + 1 < lines.size()) out += '\n';
  }
  return out;
}

template std::string LeadingComments(const gp::ServiceDescriptor*);
template std::string LeadingComments(const gp::MethodDescriptor*);

FileModel BuildFileModel(const gp::FileDescriptor* file) {
  FileModel model;
  model.file = file;
  model.package = file->package();
  if (!model.package.empty()) model.package_parts = Split(model.package, '.');
  for (int s = 0; s < file->service_count(); ++s) {
    const gp::ServiceDescriptor* service = file->service(s);
    ServiceModel sm;
    sm.descriptor = service;
    sm.name = service->name();
    sm.full_name = service->full_name();
    sm.comments = LeadingComments(service);
    for (int m = 0; m < service->method_count(); ++m) {
      const gp::MethodDescriptor* method = service->method(m);
      MethodModel mm;
      mm.descriptor = method;
      mm.name = method->name();
      mm.path = "/" + service->full_name() + "/" + method->name();
      bool cs = method->client_streaming();
      bool ss = method->server_streaming();
      mm.kind = cs ? (ss ? StreamingKind::kBidiStreaming : StreamingKind::kClientStreaming)
                   : (ss ? StreamingKind::kServerStreaming : StreamingKind::kUnary);
      mm.comments = LeadingComments(method);
      mm.input = method->input_type();
      mm.output = method->output_type();
      sm.methods.push_back(std::move(mm));
    }
    model.services.push_back(std::move(sm));
  }
  return model;
}

}  // namespace polyrpc::codegen
