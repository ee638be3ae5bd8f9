// grpc.health.v1.Health served by the core (polyrpc++/health.hpp). The handlers are completion
// chains on the I/O thread: Check answers from the status map; Watch keeps one sender per call
// that sends the latest status whenever the previous message has gone, so a burst of changes
// becomes one message and a slow reader never makes the service queue.
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "polyrpc++/health.hpp"
#include "services/proto_wire.h"

namespace polyrpc {

namespace {

constexpr char kCheckPath[] = "/grpc.health.v1.Health/Check";
constexpr char kWatchPath[] = "/grpc.health.v1.Health/Watch";

// HealthCheckRequest { string service = 1; }
bool ParseRequest(const Slice& bytes, std::string* service) {
  wire::Reader r(bytes.view());
  int field, type;
  while (r.Next(&field, &type)) {
    if (field == 1 && type == wire::kLengthDelimited) {
      std::string_view s;
      if (!r.ReadBytes(&s)) break;
      service->assign(s);
    } else if (!r.Skip(type)) {
      break;
    }
  }
  return r.ok();
}

// HealthCheckResponse { ServingStatus status = 1; } (a zero value is left out, as proto3 does)
Slice EncodeResponse(ServingStatus status) {
  wire::Writer w;
  if (status != ServingStatus::kUnknown) w.Int(1, static_cast<int>(status));
  return Slice::FromString(w.Take());
}

// Receives the one request message of a call, then runs fn(service) on the I/O thread; a
// missing or malformed request ends the call here.
template <typename Fn>
void ReadRequest(std::shared_ptr<ServerCall> call, Fn fn) {
  call->RecvMessage([call, fn = std::move(fn)](bool ok) mutable {
    Slice bytes;
    std::string service;
    if (!ok || !call->TakeMessage(&bytes)) {
      if (!call->IsCancelled()) {
        call->SendStatus(Status(StatusCode::INTERNAL, "Missing request message"), {},
                         [call](bool) {});
      }
      return;
    }
    if (!ParseRequest(bytes, &service)) {
      call->SendStatus(Status(StatusCode::INTERNAL, "Failed to parse the request message"), {},
                       [call](bool) {});
      return;
    }
    fn(std::move(service));
  });
}

class HealthServiceImpl;

// One Watch call.
class Watcher : public std::enable_shared_from_this<Watcher> {
 public:
  Watcher(std::shared_ptr<ServerCall> call, std::string service)
      : call_(std::move(call)), service_(std::move(service)) {}
  const std::string& service() const { return service_; }

  // Any thread: the status to send next (the latest wins).
  void Update(ServingStatus status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_ || finishing_) return;
      pending_ = status;
      has_pending_ = true;
      if (sending_) return;
      sending_ = true;
    }
    SendNext();
  }
  // Any thread: sends status if it differs from the last, then ends the call with UNAVAILABLE.
  void Finish(ServingStatus status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_ || finishing_) return;
      pending_ = status;
      has_pending_ = true;
      finishing_ = true;
      if (sending_) return;  // the sender finishes after its message
      sending_ = true;
    }
    SendNext();
  }
  void MarkDone() {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }

 private:
  void SendNext() {
    ServingStatus status;
    bool finish;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (has_pending_ && sent_any_ && pending_ == last_sent_) has_pending_ = false;
      finish = finishing_ && !has_pending_;
      if (done_ || (!has_pending_ && !finish)) {
        sending_ = false;
        return;
      }
      status = pending_;
      has_pending_ = false;
      if (!finish) {
        last_sent_ = status;
        sent_any_ = true;
      }
    }
    auto self = shared_from_this();
    if (finish) {
      call_->SendStatus(Status(StatusCode::UNAVAILABLE, "server shutting down"), {},
                        [self](bool) { self->MarkDone(); });
      return;
    }
    call_->SendMessage(EncodeResponse(status), kWriteNone, [self](bool ok) {
      if (!ok) {
        self->MarkDone();
        return;
      }
      self->SendNext();
    });
  }

  std::shared_ptr<ServerCall> call_;
  const std::string service_;
  std::mutex mu_;
  bool sending_ = false;  // a message is on its way (or SendNext is running)
  bool has_pending_ = false;
  ServingStatus pending_ = ServingStatus::kUnknown;
  bool sent_any_ = false;
  ServingStatus last_sent_ = ServingStatus::kUnknown;
  bool finishing_ = false;
  bool done_ = false;
};

class HealthServiceImpl final : public HealthService,
                                public std::enable_shared_from_this<HealthServiceImpl> {
 public:
  HealthServiceImpl() { statuses_[""] = ServingStatus::kServing; }

  void SetServingStatus(const std::string& service, ServingStatus status) override {
    std::vector<std::shared_ptr<Watcher>> notify;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutdown_) return;
      statuses_[service] = status;
      CollectLocked(service, &notify);
    }
    for (auto& w : notify) w->Update(status);
  }

  void SetAllServingStatus(ServingStatus status) override {
    std::vector<std::shared_ptr<Watcher>> notify;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutdown_) return;
      for (auto& [service, s] : statuses_) {
        s = status;
        CollectLocked(service, &notify);
      }
    }
    for (auto& w : notify) w->Update(status);
  }

  void ClearServingStatus(const std::string& service) override {
    std::vector<std::shared_ptr<Watcher>> notify;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutdown_) return;
      statuses_.erase(service);
      CollectLocked(service, &notify);
    }
    for (auto& w : notify) w->Update(ServingStatus::kServiceUnknown);
  }

  ServingStatus GetServingStatus(const std::string& service) const override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = statuses_.find(service);
    return it == statuses_.end() ? ServingStatus::kServiceUnknown : it->second;
  }

  void Shutdown() override {
    std::vector<std::shared_ptr<Watcher>> watchers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutdown_) return;
      shutdown_ = true;
      for (auto& [service, s] : statuses_) s = ServingStatus::kNotServing;
      watchers.assign(watchers_.begin(), watchers_.end());
    }
    for (auto& w : watchers) {
      w->Finish(GetServingStatus(w->service()) == ServingStatus::kServiceUnknown
                    ? ServingStatus::kServiceUnknown
                    : ServingStatus::kNotServing);
    }
  }

  void Check(std::shared_ptr<ServerCall> call) {
    ReadRequest(call, [this, self = shared_from_this(), call](std::string service) {
      ServingStatus status = GetServingStatus(service);
      if (status == ServingStatus::kServiceUnknown) {
        call->SendStatus(Status(StatusCode::NOT_FOUND, "unknown service"), {}, [call](bool) {});
        return;
      }
      call->SendMessage(EncodeResponse(status), kWriteNone, [call](bool ok) {
        if (ok) call->SendStatus(Status::Ok(), {}, [call](bool) {});
      });
    });
  }

  void Watch(std::shared_ptr<ServerCall> call) {
    ReadRequest(call, [this, self = shared_from_this(), call](std::string service) {
      auto watcher = std::make_shared<Watcher>(call, service);
      ServingStatus status;
      bool shut;
      {
        std::lock_guard<std::mutex> lock(mu_);
        shut = shutdown_;
        auto it = statuses_.find(service);
        status = it == statuses_.end() ? ServingStatus::kServiceUnknown : it->second;
        if (!shut) watchers_.insert(watcher);
      }
      if (shut) {
        watcher->Finish(status);
        return;
      }
      std::weak_ptr<HealthServiceImpl> weak = self;
      call->OnDone([weak, watcher](bool) {
        watcher->MarkDone();
        if (auto s = weak.lock()) s->Forget(watcher);
      });
      watcher->Update(status);
    });
  }

 private:
  void CollectLocked(const std::string& service, std::vector<std::shared_ptr<Watcher>>* out) {
    for (const auto& w : watchers_) {
      if (w->service() == service) out->push_back(w);
    }
  }
  void Forget(const std::shared_ptr<Watcher>& w) {
    std::lock_guard<std::mutex> lock(mu_);
    watchers_.erase(w);
  }

  mutable std::mutex mu_;
  std::map<std::string, ServingStatus> statuses_;
  std::set<std::shared_ptr<Watcher>> watchers_;
  bool shutdown_ = false;
};

}  // namespace

std::shared_ptr<HealthService> EnableHealthService(Server& server) {
  auto service = std::make_shared<HealthServiceImpl>();
  server.RegisterMethod(kCheckPath, [service](std::shared_ptr<ServerCall> call) {
    service->Check(std::move(call));
  });
  server.RegisterMethod(kWatchPath, [service](std::shared_ptr<ServerCall> call) {
    service->Watch(std::move(call));
  });
  std::weak_ptr<HealthServiceImpl> weak = service;
  server.OnShutdown([weak] {
    if (auto s = weak.lock()) s->Shutdown();
  });
  return service;
}

}  // namespace polyrpc
