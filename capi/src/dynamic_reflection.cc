// gRPC server reflection client (grpc.reflection.v1, then v1alpha) for
// polyrpc_descriptor_pool_add_from_reflection. The protocol's messages are DynamicMessages over
// the descriptors of grpc-proto's reflection.proto files, compiled at build time into an
// embedded FileDescriptorSet (capi/dynamic.cmake): no generated code, so nothing registers in
// libprotobuf's generated pool, where a host process may have its own copy of these files.
#include <chrono>
#include <deque>
#include <set>

#include "dynamic_pool.h"
#include "polyrpc++/sync.hpp"

namespace polyrpc::capi {

// Generated (build folder): the serialized FileDescriptorSet of both reflection.proto files.
extern const unsigned char kReflectionDescriptorSet[];
extern const size_t kReflectionDescriptorSetSize;

namespace {

// Both versions' messages are the same but for the package, so one table per version.
struct Version {
  const char* package;
  std::string path;
  const pb::Descriptor* request = nullptr;
  const pb::Descriptor* response = nullptr;
};

class Protocol {
 public:
  Protocol() : factory_(&pool_) {
    pb::FileDescriptorSet set;
    if (!set.ParseFromArray(kReflectionDescriptorSet,
                            static_cast<int>(kReflectionDescriptorSetSize))) {
      throw std::logic_error("embedded reflection descriptors do not parse");
    }
    for (const auto& f : set.file()) {
      if (pool_.BuildFile(f) == nullptr) {
        throw std::logic_error("embedded reflection descriptor " + f.name() + " does not build");
      }
    }
    for (Version* v : {&versions_[0], &versions_[1]}) {
      const std::string pkg = v->package;
      v->path = "/" + pkg + ".ServerReflection/ServerReflectionInfo";
      v->request = pool_.FindMessageTypeByName(pkg + ".ServerReflectionRequest");
      v->response = pool_.FindMessageTypeByName(pkg + ".ServerReflectionResponse");
      if (v->request == nullptr || v->response == nullptr) {
        throw std::logic_error("embedded reflection descriptors lack " + pkg);
      }
    }
  }
  const Version& version(int i) const { return versions_[i]; }
  std::unique_ptr<pb::Message> New(const pb::Descriptor* d) const {
    return std::unique_ptr<pb::Message>(factory_.GetPrototype(d)->New());
  }

 private:
  pb::DescriptorPool pool_;
  mutable pb::DynamicMessageFactory factory_;
  Version versions_[2] = {{"grpc.reflection.v1", "", nullptr, nullptr},
                          {"grpc.reflection.v1alpha", "", nullptr, nullptr}};
};

const Protocol& GetProtocol() {
  static const Protocol* protocol = new Protocol();  // never destroyed: used until exit
  return *protocol;
}

// A request of the reflection stream: which oneof field, with what.
struct Request {
  const char* field;  // "file_containing_symbol", "file_by_filename", "list_services"
  std::string value;
};

const pb::FieldDescriptor* Field(const pb::Descriptor* d, const char* name) {
  const pb::FieldDescriptor* f = d->FindFieldByName(name);
  if (f == nullptr) throw std::logic_error(d->full_name() + " has no field " + name);
  return f;
}

// The limit on files fetched in one go: a server inventing imports cannot make us loop forever.
constexpr size_t kMaxFiles = 10000;

class Fetch {
 public:
  Fetch(const DynamicPool& pool, polyrpc::Channel& channel, const polyrpc::Metadata& metadata,
        polyrpc::Deadline deadline, int64_t timeout_ms)
      : pool_(pool),
        channel_(channel),
        metadata_(metadata),
        deadline_(deadline),
        timeout_ms_(timeout_ms) {}

  // Runs the stream of one version. False: the server does not implement that version.
  bool Run(const Version& v, const char* symbol) {
    files_.clear();
    requested_.clear();
    std::deque<Request> todo;
    if (symbol != nullptr) {
      todo.push_back({"file_containing_symbol", symbol});
    } else {
      todo.push_back({"list_services", "*"});
    }
    polyrpc::CallOptions options;
    options.deadline = deadline_;
    options.metadata = metadata_;
    std::shared_ptr<polyrpc::ClientCall> call = channel_.CreateCall(v.path, options);
    const Protocol& protocol = GetProtocol();
    bool received = false;
    while (!todo.empty()) {
      Request r = std::move(todo.front());
      todo.pop_front();
      std::unique_ptr<pb::Message> req = protocol.New(v.request);
      req->GetReflection()->SetString(req.get(), Field(v.request, r.field), r.value);
      std::string bytes;
      req->SerializeToString(&bytes);
      polyrpc::Slice reply;
      if (!polyrpc::SendBlocking(*call, polyrpc::Slice::FromString(std::move(bytes))) ||
          !polyrpc::RecvBlocking(*call, &reply)) {
        polyrpc::Status st = polyrpc::FinishBlocking(*call);
        if (!received && st.code() == polyrpc::StatusCode::UNIMPLEMENTED) return false;
        Failed(v, st);
      }
      received = true;
      std::unique_ptr<pb::Message> resp = protocol.New(v.response);
      if (!resp->ParseFromArray(reply.data(), static_cast<int>(reply.size()))) {
        Throw(POLYRPC_ERROR_IO, "server reflection (" + std::string(v.package) +
                                    "): the server's answer does not parse");
      }
      Handle(v, r, *resp, &todo, symbol == nullptr);
    }
    polyrpc::CloseSendBlocking(*call);
    polyrpc::FinishBlocking(*call);  // everything is here: how the stream ends does not matter
    return true;
  }

  std::vector<pb::FileDescriptorProto> TakeFiles() {
    std::vector<pb::FileDescriptorProto> out;
    for (auto& [name, f] : files_) out.push_back(std::move(f));
    return out;
  }

 private:
  [[noreturn]] void Failed(const Version& v, const polyrpc::Status& st) {
    if (st.code() == polyrpc::StatusCode::DEADLINE_EXCEEDED) {
      Throw(POLYRPC_ERROR_TIMEOUT,
            "server reflection did not finish within " + std::to_string(timeout_ms_) + " ms");
    }
    if (st.ok()) {
      Throw(POLYRPC_ERROR_IO, "server reflection (" + std::string(v.package) +
                                  "): the server ended the stream without answering");
    }
    Throw(POLYRPC_ERROR_IO, "server reflection (" + std::string(v.package) + ") failed: " +
                                polyrpc::StatusCodeName(st.code()) + ": " + st.message());
  }

  void Handle(const Version& v, const Request& r, const pb::Message& resp,
              std::deque<Request>* todo, bool listing) {
    const pb::Reflection* refl = resp.GetReflection();
    const pb::Descriptor* d = v.response;
    if (refl->HasField(resp, Field(d, "error_response"))) {
      const pb::Message& e = refl->GetMessage(resp, Field(d, "error_response"));
      const pb::Descriptor* ed = e.GetDescriptor();
      int code = e.GetReflection()->GetInt32(e, Field(ed, "error_code"));
      std::string message = e.GetReflection()->GetString(e, Field(ed, "error_message"));
      std::string what = std::string(r.field) + " \"" + r.value + "\"";
      if (code == static_cast<int>(polyrpc::StatusCode::NOT_FOUND)) {
        // A well-known type the server does not have: the pool supplies its own.
        if (std::string(r.field) == "file_by_filename" &&
            r.value.rfind("google/protobuf/", 0) == 0) {
          return;
        }
        Throw(POLYRPC_ERROR_NOT_FOUND, "server reflection: the server " +
                                           std::string(listing ? "lists but " : "") +
                                           "does not know " + what + ": " + message);
      }
      Throw(POLYRPC_ERROR_IO, "server reflection: " + what + " failed: " +
                                  polyrpc::StatusCodeName(static_cast<polyrpc::StatusCode>(code)) +
                                  ": " + message);
    }
    if (refl->HasField(resp, Field(d, "list_services_response"))) {
      const pb::Message& l = refl->GetMessage(resp, Field(d, "list_services_response"));
      const pb::FieldDescriptor* services = Field(l.GetDescriptor(), "service");
      for (int i = 0; i < l.GetReflection()->FieldSize(l, services); i++) {
        const pb::Message& s = l.GetReflection()->GetRepeatedMessage(l, services, i);
        std::string name = s.GetReflection()->GetString(s, Field(s.GetDescriptor(), "name"));
        if (!name.empty()) todo->push_back({"file_containing_symbol", std::move(name)});
      }
      return;
    }
    if (refl->HasField(resp, Field(d, "file_descriptor_response"))) {
      const pb::Message& f = refl->GetMessage(resp, Field(d, "file_descriptor_response"));
      const pb::FieldDescriptor* protos = Field(f.GetDescriptor(), "file_descriptor_proto");
      for (int i = 0; i < f.GetReflection()->FieldSize(f, protos); i++) {
        pb::FileDescriptorProto file;
        if (!file.ParseFromString(f.GetReflection()->GetRepeatedString(f, protos, i))) {
          Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
                "server reflection: the server sent a file descriptor that does not parse");
        }
        Add(std::move(file), todo);
      }
      return;
    }
    Throw(POLYRPC_ERROR_IO, "server reflection: the server's answer to " + std::string(r.field) +
                                " carries nothing we asked for");
  }

  // Keeps a file and asks for those of its imports that nobody has yet.
  void Add(pb::FileDescriptorProto file, std::deque<Request>* todo) {
    const std::string name = file.name();
    requested_.insert(name);
    if (files_.count(name) || pool_.HasFile(name)) return;
    if (files_.size() >= kMaxFiles) {
      Throw(POLYRPC_ERROR_IO,
            "server reflection: more than " + std::to_string(kMaxFiles) + " files");
    }
    for (const std::string& dep : file.dependency()) {
      if (!files_.count(dep) && !requested_.count(dep) && !pool_.HasFile(dep)) {
        requested_.insert(dep);
        todo->push_back({"file_by_filename", dep});
      }
    }
    files_.emplace(name, std::move(file));
  }

  const DynamicPool& pool_;
  polyrpc::Channel& channel_;
  const polyrpc::Metadata& metadata_;
  polyrpc::Deadline deadline_;
  int64_t timeout_ms_;
  std::map<std::string, pb::FileDescriptorProto> files_;
  std::set<std::string> requested_;  // fetched or asked for
};

}  // namespace

std::vector<pb::FileDescriptorProto> FetchByReflection(const DynamicPool& pool,
                                                       polyrpc::Channel& channel,
                                                       const char* symbol,
                                                       const polyrpc::Metadata& metadata,
                                                       int64_t timeout_ms) {
  polyrpc::Deadline deadline = timeout_ms >= 0
                                   ? polyrpc::DeadlineAfter(std::chrono::milliseconds(timeout_ms))
                                   : polyrpc::InfiniteDeadline();
  Fetch fetch(pool, channel, metadata, deadline, timeout_ms);
  if (fetch.Run(GetProtocol().version(0), symbol)) return fetch.TakeFiles();
  if (fetch.Run(GetProtocol().version(1), symbol)) return fetch.TakeFiles();
  Throw(POLYRPC_ERROR_NOT_FOUND,
        "the server offers no reflection service (grpc.reflection.v1 and v1alpha are "
        "UNIMPLEMENTED)");
}

}  // namespace polyrpc::capi
