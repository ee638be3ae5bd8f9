#include "channel/lb_policy.h"

#include <random>
#include <unordered_map>

namespace polyrpc {

namespace {

// Subchannels for addresses, reusing those of the old list (by address) and orphaning the rest.
template <typename Entry, typename Make>
std::vector<Entry> Rebuild(std::vector<Entry>* old, const std::vector<ResolvedAddress>& addresses,
                           Make make) {
  std::unordered_map<std::string, size_t> by_name;
  for (size_t i = 0; i < old->size(); ++i) by_name[(*old)[i].sc->address().name] = i;
  std::vector<Entry> next;
  std::unordered_map<std::string, bool> seen;
  for (const ResolvedAddress& a : addresses) {
    if (!seen.emplace(a.name, true).second) continue;  // duplicates count once
    auto it = by_name.find(a.name);
    if (it != by_name.end() && (*old)[it->second].sc) {
      next.push_back(std::move((*old)[it->second]));
      (*old)[it->second].sc = nullptr;
    } else {
      next.push_back(make(a));
    }
  }
  for (auto& e : *old) {
    if (e.sc) e.sc->Orphan();
  }
  old->clear();
  return next;
}

// ---- pick_first --------------------------------------------------------------------------------

class PickFirst final : public LbPolicy {
 public:
  explicit PickFirst(Helper* helper) : helper_(helper) {}
  ~PickFirst() override {
    for (auto& e : list_) e.sc->Orphan();
  }
  const char* name() const override { return "pick_first"; }

  void UpdateAddresses(const std::vector<ResolvedAddress>& addresses) override {
    list_ = Rebuild(&list_, addresses, [this](const ResolvedAddress& a) { return Make(a); });
    if (selected_ != nullptr) {
      bool kept = false;
      for (auto& e : list_) kept = kept || e.sc.get() == selected_;
      if (kept) return;  // still connected to an address that is still listed
      selected_ = nullptr;
      StartPass();
      return;
    }
    // Connect to the new list only if the channel was trying (IDLE waits for a call).
    if (connecting_ || state_ == ConnectivityState::TRANSIENT_FAILURE) StartPass();
  }

  void ExitIdle() override {
    if (selected_ != nullptr || connecting_) return;
    StartPass();
  }

  const std::shared_ptr<Http2Connection>* Pick() override {
    return selected_ != nullptr ? selected_->ready_connection() : nullptr;
  }

  std::vector<Subchannel*> subchannels() const override {
    std::vector<Subchannel*> out;
    for (auto& e : list_) out.push_back(e.sc.get());
    return out;
  }

 private:
  struct Entry {
    std::shared_ptr<Subchannel> sc;
  };

  Entry Make(const ResolvedAddress& a) {
    Entry e{helper_->CreateSubchannel(a)};
    e.sc->set_watcher([this](Subchannel* sc, ConnectivityState s) { OnState(sc, s); });
    return e;
  }

  void StartPass() {
    connecting_ = true;
    index_ = 0;
    TryNext();
  }

  // Walks the list from index_: the first READY subchannel wins, an IDLE one is asked to connect
  // (and the walk waits for it), one backing off is skipped. Re-entrant calls (a subchannel that
  // changes state inside RequestConnection) make the running walk look again.
  void TryNext() {
    if (in_walk_) {
      walk_again_ = true;
      return;
    }
    in_walk_ = true;
    do {
      walk_again_ = false;
      Walk();
    } while (walk_again_ && connecting_);
    in_walk_ = false;
  }

  void Walk() {
    while (connecting_ && index_ < list_.size()) {
      Subchannel* sc = list_[index_].sc.get();
      switch (sc->state()) {
        case ConnectivityState::READY:
          Select(sc);
          return;
        case ConnectivityState::CONNECTING:
          Report(ConnectivityState::CONNECTING, "");
          return;
        case ConnectivityState::IDLE:
          sc->RequestConnection();
          if (sc->state() == ConnectivityState::IDLE) ++index_;  // could not start
          continue;  // look at it again: CONNECTING (wait), or already done
        default:  // TRANSIENT_FAILURE: backing off
          last_error_ = sc->last_error();
          ++index_;
          continue;
      }
    }
    if (!connecting_) return;
    // Every address failed, or is backing off from an earlier failure.
    connecting_ = false;
    Report(ConnectivityState::TRANSIENT_FAILURE,
           last_error_.empty() ? "no addresses to connect to" : last_error_);
    helper_->RequestReresolution();
  }

  void Select(Subchannel* sc) {
    selected_ = sc;
    connecting_ = false;
    Report(ConnectivityState::READY, "");
  }

  void OnState(Subchannel* sc, ConnectivityState s) {
    if (sc == selected_) {
      if (s != ConnectivityState::READY) {
        // The connection was lost: IDLE until a call wants one (gRPC's pick_first).
        selected_ = nullptr;
        Report(ConnectivityState::IDLE, "");
        helper_->RequestReresolution();
      }
      return;
    }
    if (selected_ != nullptr) return;
    if (s == ConnectivityState::READY) {
      Select(sc);
      return;
    }
    if (connecting_) {
      if (s == ConnectivityState::TRANSIENT_FAILURE) last_error_ = sc->last_error();
      if (s == ConnectivityState::TRANSIENT_FAILURE && index_ < list_.size() &&
          list_[index_].sc.get() == sc) {
        ++index_;
        TryNext();
      }
      return;
    }
    if (s == ConnectivityState::IDLE && state_ == ConnectivityState::TRANSIENT_FAILURE) {
      // A backoff is over: the channel may try again when a call wants it (a wait_for_ready
      // call waiting now makes it try at once).
      Report(ConnectivityState::IDLE, "");
    }
  }

  void Report(ConnectivityState s, const std::string& error) {
    if (s == state_ && s != ConnectivityState::TRANSIENT_FAILURE) return;
    state_ = s;
    helper_->UpdateState(s, error);
  }

  Helper* helper_;
  std::vector<Entry> list_;
  Subchannel* selected_ = nullptr;
  bool connecting_ = false;
  size_t index_ = 0;
  bool in_walk_ = false;
  bool walk_again_ = false;
  std::string last_error_;
  ConnectivityState state_ = ConnectivityState::IDLE;
};

// ---- round_robin -------------------------------------------------------------------------------

class RoundRobin final : public LbPolicy {
 public:
  explicit RoundRobin(Helper* helper) : helper_(helper) {}
  ~RoundRobin() override {
    for (auto& e : list_) e.sc->Orphan();
  }
  const char* name() const override { return "round_robin"; }

  void UpdateAddresses(const std::vector<ResolvedAddress>& addresses) override {
    list_ = Rebuild(&list_, addresses, [this](const ResolvedAddress& a) { return Make(a); });
    if (started_) {
      for (size_t i = 0; i < list_.size(); ++i) list_[i].sc->RequestConnection();
    }
    Recompute();
  }

  void ExitIdle() override {
    if (started_) return;
    started_ = true;
    for (size_t i = 0; i < list_.size(); ++i) list_[i].sc->RequestConnection();
    Recompute();
  }

  const std::shared_ptr<Http2Connection>* Pick() override {
    size_t n = ready_.size();
    if (n == 0) return nullptr;
    if (next_ >= n) next_ = 0;
    return ready_[next_++]->ready_connection();
  }

  std::vector<Subchannel*> subchannels() const override {
    std::vector<Subchannel*> out;
    for (auto& e : list_) out.push_back(e.sc.get());
    return out;
  }

 private:
  struct Entry {
    std::shared_ptr<Subchannel> sc;
    // gRPC's sticky TRANSIENT_FAILURE: a subchannel that failed counts as failed until it is
    // READY again, while it retries.
    bool failed = false;
    ConnectivityState last = ConnectivityState::IDLE;
  };

  Entry Make(const ResolvedAddress& a) {
    Entry e;
    e.sc = helper_->CreateSubchannel(a);
    e.sc->set_watcher([this](Subchannel* sc, ConnectivityState s) { OnState(sc, s); });
    return e;
  }

  Entry* Find(Subchannel* sc) {
    for (auto& e : list_) {
      if (e.sc.get() == sc) return &e;
    }
    return nullptr;
  }

  void OnState(Subchannel* sc, ConnectivityState s) {
    Entry* e = Find(sc);
    if (e == nullptr) return;
    ConnectivityState was = e->last;
    e->last = s;
    if (s == ConnectivityState::READY) e->failed = false;
    if (s == ConnectivityState::TRANSIENT_FAILURE) {
      e->failed = true;
      helper_->RequestReresolution();
    }
    if (s == ConnectivityState::IDLE) {
      if (was == ConnectivityState::READY) helper_->RequestReresolution();
      // round_robin keeps every subchannel connected: reconnect at once (a failed one has
      // waited out its backoff to get here).
      if (started_) sc->RequestConnection();
    }
    Recompute();
  }

  void Recompute() {
    ready_.clear();
    bool connecting = false;
    std::string error;
    for (auto& e : list_) {
      ConnectivityState s = e.sc->state();
      if (s == ConnectivityState::READY) {
        ready_.push_back(e.sc.get());
      } else if (!e.failed) {
        connecting = true;
      } else if (error.empty()) {
        error = e.sc->last_error();
      }
    }
    if (!ready_.empty() && !seeded_) {
      // Start the rotation at a random subchannel, as gRPC does, so that many clients do not
      // all begin with the same server.
      thread_local std::mt19937 rng{std::random_device{}()};
      next_ = rng() % ready_.size();
      seeded_ = true;
    }
    ConnectivityState s;
    if (!ready_.empty()) {
      s = ConnectivityState::READY;
    } else if (!started_) {
      s = ConnectivityState::IDLE;
    } else if (list_.empty()) {
      s = ConnectivityState::TRANSIENT_FAILURE;
      error = "no addresses to connect to";
    } else if (connecting) {
      s = ConnectivityState::CONNECTING;
    } else {
      s = ConnectivityState::TRANSIENT_FAILURE;
    }
    helper_->UpdateState(s, error);
  }

  Helper* helper_;
  std::vector<Entry> list_;
  std::vector<Subchannel*> ready_;
  size_t next_ = 0;
  bool seeded_ = false;
  bool started_ = false;
};

}  // namespace

std::unique_ptr<LbPolicy> CreateLbPolicy(const std::string& name, LbPolicy::Helper* helper) {
  if (name == "round_robin") return std::make_unique<RoundRobin>(helper);
  return std::make_unique<PickFirst>(helper);
}

}  // namespace polyrpc
