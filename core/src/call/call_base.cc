#include "call/call_base.h"

#include <cstring>

#include "observability/metrics.h"
#include "protocol/base64.h"
#include "protocol/metadata_rules.h"

namespace polyrpc {

namespace {
constexpr size_t kCoalesceBelow = 1024;
}  // namespace

CallBase::CallBase(EventLoop* loop, size_t max_recv_message, int64_t max_send_message)
    : loop_(loop),
      max_recv_message_(max_recv_message),
      max_send_message_(max_send_message),
      deframer_(max_recv_message) {}

CallBase::~CallBase() {
  if (recv_quota_ && recv_charged_ > 0) recv_quota_->Release(recv_charged_);
}

bool CallBase::FrameMessage(Slice message, uint32_t flags, Slice* prefix, Slice* payload,
                            std::string* error) {
  if (max_send_message_ >= 0 && message.size() > static_cast<uint64_t>(max_send_message_)) {
    *error = "Sent message larger than max (" + std::to_string(message.size()) + " vs. " +
             std::to_string(max_send_message_) + ")";
    return false;
  }
  bool compressed = false;
  if (!(flags & kWriteNoCompress)) {
    if (!send_encoding_label_.empty()) {
      compressed = true;  // testing hook: send as-is, labelled compressed
    } else if (Compression c = send_compression_.load(); c != Compression::kIdentity) {
      Slice out;
      if (Compress(c, message, &out)) {
        message = std::move(out);
        compressed = true;
      }
    }
  }
  metrics::BytesSent(static_cast<metrics::Side>(metrics_side_), 5 + message.size());
  uint8_t* p;
  if (message.size() <= kCoalesceBelow) {
    // Small message: prefix and payload in one buffer (one allocation; the copy is cheaper
    // than a second allocation and a second gather entry).
    *prefix = Slice::Allocate(5 + message.size(), &p);
    WriteMessagePrefix(p, compressed, static_cast<uint32_t>(message.size()));
    if (!message.empty()) std::memcpy(p + 5, message.data(), message.size());
    *payload = Slice();
    return true;
  }
  *prefix = Slice::Allocate(5, &p);
  WriteMessagePrefix(p, compressed, static_cast<uint32_t>(message.size()));
  *payload = std::move(message);
  return true;
}

void CallBase::EnqueueFramed(Slice prefix, Slice payload, Completion done) {
  if (finished_ || send_done_) {
    Complete(std::move(done), false);
    return;
  }
  size_t n = prefix.size() + payload.size();
  out_.push_back(std::move(prefix));
  if (!payload.empty()) out_.push_back(std::move(payload));
  out_bytes_ += n;
  out_enqueued_ += n;
  send_done_ = std::move(done);
  send_done_at_ = out_enqueued_;
  KickOutput();
}

void CallBase::KickOutput() {
  if (conn_ && stream_id() > 0 && data_deferred_) {
    data_deferred_ = false;
    conn_->ResumeData(stream_id());
  } else if (conn_) {
    conn_->ScheduleFlush();
  }
}

ssize_t CallBase::ReadData(size_t max, uint32_t* data_flags) {
  size_t n = out_bytes_ < max ? out_bytes_ : max;
  if (n == out_bytes_) {
    // Everything queued fits: end the stream in the same frame if the role is done.
    if (OnOutputDrained(data_flags)) return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    data_deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

void CallBase::WriteData(size_t len, WriteBatch* batch) {
  size_t left = len;
  if (keep_sent_ && sent_bytes_ + len > kMaxRetryBytes) DropSent();
  while (left > 0 && !out_.empty()) {
    Slice& front = out_.front();
    if (front.size() <= left) {
      left -= front.size();
      if (keep_sent_) sent_.push_back(front);  // a reference, not a copy of the bytes
      batch->AppendSlice(std::move(front));
      out_.pop_front();
    } else {
      Slice piece = front.Sub(0, left);
      if (keep_sent_) sent_.push_back(piece);
      batch->AppendSlice(std::move(piece));
      front = front.Sub(left, front.size() - left);
      left = 0;
    }
  }
  if (keep_sent_) sent_bytes_ += len;
  out_bytes_ -= len;
  out_written_ += len;
  if (send_done_ && out_written_ >= send_done_at_) {
    Completion done = std::move(send_done_);
    send_done_ = nullptr;
    Complete(std::move(done), true);
  }
}

void CallBase::RewindSent() {
  SimpleQueue<Slice> out;
  size_t bytes = 0;
  for (SimpleQueue<Slice>* q : {&sent_, &out_}) {
    while (!q->empty()) {
      bytes += q->front().size();
      out.push_back(std::move(q->front()));
      q->pop_front();
    }
  }
  out_ = std::move(out);
  out_written_ -= sent_bytes_;  // those bytes are written again, and count again
  out_bytes_ = bytes;
  sent_bytes_ = 0;
  data_deferred_ = false;
}

void CallBase::Complete(Completion done, bool ok) {
  if (!done) return;
  loop_->DeferCompletion(std::move(done), ok, shared_from_this());
}

void CallBase::StartRecv(Completion done) {
  if (recv_done_) {
    Complete(std::move(done), false);
    return;
  }
  recv_done_ = std::move(done);
  DeliverMessages();
  ReturnCreditIfCaughtUp();
}

void CallBase::ReturnCreditIfCaughtUp() {
  // Credit held back while the application was behind goes back only once it has caught up
  // (the queue is empty): returning it on every receive would let a fast peer refill the
  // window each time and the queue grow without bound.
  size_t credit = 0;
  {
    std::lock_guard<std::mutex> lock(ready_mu_);
    if (recv_queue_.empty()) {
      credit = unconsumed_;
      unconsumed_ = 0;
    }
  }
  if (credit > 0 && conn_ && stream_id() > 0) conn_->Consume(stream_id(), credit);
}

void CallBase::DeliverMessages() {
  if (!recv_done_) return;
  bool got = false;
  if (!recv_failed_) {
    std::lock_guard<std::mutex> lock(ready_mu_);
    if (!recv_queue_.empty()) {
      ready_message_ = std::move(recv_queue_.front().payload);
      ready_compressed_ = recv_queue_.front().compressed;
      ready_valid_ = true;
      ReleaseRecvCharge(recv_queue_.front().charged);
      recv_queue_.pop_front();
      got = true;
    }
  }
  if (got || remote_closed_ || finished_ || recv_failed_) {
    Completion done = std::move(recv_done_);
    recv_done_ = nullptr;
    Complete(std::move(done), got);
  }
}

bool CallBase::TryRecvNow() {
  bool credit_waiting;
  {
    std::lock_guard<std::mutex> lock(ready_mu_);
    if (recv_failed_ || ready_valid_ || recv_queue_.empty()) return false;
    ready_message_ = std::move(recv_queue_.front().payload);
    ready_compressed_ = recv_queue_.front().compressed;
    ready_valid_ = true;
    ReleaseRecvCharge(recv_queue_.front().charged);
    recv_queue_.pop_front();
    credit_waiting = recv_queue_.empty() && unconsumed_ > 0;
  }
  if (credit_waiting) {
    // The application caught up: the loop returns the held-back window credit.
    auto self = std::static_pointer_cast<CallBase>(shared_from_this());
    loop_->Post([self] { self->ReturnCreditIfCaughtUp(); });
  }
  return true;
}

void CallBase::ReturnAllCredit() {
  size_t credit;
  {
    std::lock_guard<std::mutex> lock(ready_mu_);
    credit = unconsumed_;
    unconsumed_ = 0;
  }
  if (credit > 0 && conn_ && stream_id() > 0) conn_->Consume(stream_id(), credit);
}

void CallBase::ClearRecvQueue() {
  SimpleQueue<Received> dropped;  // freed after the lock is released
  Slice partial = deframer_.DropPartial();
  {
    std::lock_guard<std::mutex> lock(ready_mu_);
    std::swap(dropped, recv_queue_);
    ReleaseRecvCharge(recv_charged_);  // the queue and the partial message
  }
  // The dropped messages will never be taken: their credit goes back now.
  ReturnAllCredit();
}

void CallBase::FailPendingOps() {
  if (send_done_) {
    Completion done = std::move(send_done_);
    send_done_ = nullptr;
    Complete(std::move(done), false);
  }
  out_.clear();
  out_bytes_ = 0;
  DeliverMessages();
}

bool CallBase::TakeReadyMessage(Slice* out, bool* compressed) {
  std::lock_guard<std::mutex> lock(ready_mu_);
  if (!ready_valid_) return false;
  *out = std::move(ready_message_);
  ready_message_ = Slice();
  if (compressed) *compressed = ready_compressed_;
  ready_valid_ = false;
  return true;
}

void CallBase::MetricsStarted() {
  if (metrics_start_ns_ != 0) return;
  metrics_start_ns_ = metrics::NowNs();
  metrics::CallStarted(static_cast<metrics::Side>(metrics_side_));
}

void CallBase::MetricsFinished(int code) {
  if (metrics_done_ || metrics_start_ns_ == 0) return;
  metrics_done_ = true;
  metrics::CallFinished(static_cast<metrics::Side>(metrics_side_), code, metrics_start_ns_);
}

void CallBase::OnData(const uint8_t* data, size_t len) {
  metrics::BytesReceived(static_cast<metrics::Side>(metrics_side_), len);
  if (recv_failed_ || finished_ || discard_body_) {
    if (conn_) conn_->Consume(stream_id(), len);
    return;
  }
  // The deframed messages go to a per-thread vector that keeps its capacity (a vector per call
  // cost an allocation per call). Taken out while in use, so a nested OnData gets its own.
  thread_local std::vector<MessageDeframer::Message> scratch;
  struct Scratch {
    std::vector<MessageDeframer::Message> v;
    Scratch() : v(std::move(scratch)) { v.clear(); }
    ~Scratch() {
      v.clear();
      scratch = std::move(v);
    }
  } held;
  std::vector<MessageDeframer::Message>& msgs = held.v;
  if (recv_quota_) {
    if (!recv_quota_->TryReserve(len)) {
      if (conn_) conn_->Consume(stream_id(), len);
      OnRecvError(StatusCode::RESOURCE_EXHAUSTED, QuotaError(len));
      return;
    }
    std::lock_guard<std::mutex> lock(ready_mu_);
    recv_charged_ += len;
  }
  size_t buffered_before = deframer_.buffered_bytes();
  std::string error;
  auto r = deframer_.Feed(data, len, &msgs, &error);
  size_t wire_bytes = 0;  // of the complete messages, as they arrived (before decompression)
  for (auto& m : msgs) wire_bytes += m.payload.size();
  for (auto& m : msgs) {
    if (!m.compressed) continue;
    if (recv_compression_ == Compression::kIdentity) {
      OnRecvError(StatusCode::INTERNAL,
                  "Compressed message received, but the grpc-encoding is identity");
      return;
    }
    if (recv_compression_ == Compression::kUnknown) {
      OnRecvError(StatusCode::UNIMPLEMENTED,
                  "Compression algorithm '" + recv_encoding_name_ + "' not supported");
      return;
    }
    Slice plain;
    bool too_large = false;
    std::string derr;
    if (!Decompress(recv_compression_, m.payload, max_recv_message_, &plain, &too_large, &derr)) {
      if (too_large) {
        OnRecvError(StatusCode::RESOURCE_EXHAUSTED,
                    "Received message larger than max after decompression (limit " +
                        std::to_string(max_recv_message_) + ")");
      } else {
        OnRecvError(StatusCode::INTERNAL, "Failed to decompress message: " + derr);
      }
      return;
    }
    if (recv_quota_ && plain.size() > m.payload.size()) {
      // The decompressed bytes are held too (the compressed ones go when m.payload does).
      size_t more = plain.size() - m.payload.size();
      if (!recv_quota_->TryReserve(more)) {
        OnRecvError(StatusCode::RESOURCE_EXHAUSTED, QuotaError(more));
        return;
      }
      std::lock_guard<std::mutex> lock(ready_mu_);
      recv_charged_ += more;
    } else if (recv_quota_) {
      std::lock_guard<std::mutex> lock(ready_mu_);
      ReleaseRecvCharge(m.payload.size() - plain.size());
    }
    m.payload = std::move(plain);
  }
  if (r == MessageDeframer::Result::kTooLarge) {
    if (conn_) conn_->Consume(stream_id(), len);
    OnRecvError(StatusCode::RESOURCE_EXHAUSTED, error);
    return;
  }
  if (r != MessageDeframer::Result::kOk) {
    if (conn_) conn_->Consume(stream_id(), len);
    OnRecvError(StatusCode::INTERNAL, error);
    return;
  }
  if (expect_one_message_ && messages_received_ + msgs.size() > 1) {
    if (conn_) conn_->Consume(stream_id(), len);
    OnCardinalityViolation("More than one message received where the method takes exactly one");
    return;
  }
  // Return flow-control credit now unless the application is behind (then once it catches up).
  bool behind;
  {
    std::lock_guard<std::mutex> lock(ready_mu_);
    behind = !recv_queue_.empty();
    for (auto& m : msgs) {
      size_t charged = recv_quota_ ? m.payload.size() : 0;
      recv_queue_.push_back({std::move(m.payload), m.compressed, charged});
    }
    messages_received_ += msgs.size();
    if (behind) unconsumed_ += len;
    if (recv_quota_) {
      // What is charged now: the partial message and the queued ones. The rest of this read
      // (message prefixes) is not held.
      ReleaseRecvCharge(buffered_before + len - deframer_.buffered_bytes() - wire_bytes);
    }
  }
  if (!behind && conn_) conn_->Consume(stream_id(), len);
  DeliverMessages();
}

std::string CallBase::QuotaError(size_t n) const {
  std::string e =
      "Server memory limit reached: no room for " + std::to_string(n) + " more bytes of this call";
  if (MemoryQuota* q = recv_quota_.get()) {
    e += " (connection holds " + std::to_string(q->used()) + " of " + std::to_string(q->limit()) +
         " bytes";
    if (MemoryQuota* p = q->parent()) {
      e += ", server " + std::to_string(p->used()) + " of " + std::to_string(p->limit());
    }
    e += ")";
  }
  return e;
}

bool CallBase::CountHeader(std::string_view name, std::string_view value) {
  header_block_bytes_ += name.size() + value.size() + 32;
  if (header_block_bytes_ > max_header_list_size_) header_block_too_large_ = true;
  return !header_block_too_large_;
}

bool AddUserMetadata(std::string_view name, std::string_view value, Metadata* md) {
  if (IsReservedHeader(name)) return true;
  if (md->capacity() == 0) md->reserve(4);  // one allocation for the usual few entries
  if (IsBinaryKey(name)) {
    std::string decoded;
    if (!Base64Decode(value, &decoded)) return false;
    md->emplace_back(std::string(name), std::move(decoded));
  } else {
    md->emplace_back(std::string(name), std::string(value));
  }
  return true;
}

bool RawMetadata::Add(std::string_view name, std::string_view value) {
  if (IsReservedHeader(name)) return true;
  if (IsBinaryKey(name)) {
    thread_local std::string checked;  // keeps its capacity: validation allocates nothing
    if (!Base64Decode(value, &checked)) return false;
  }
  // Each entry: name length, value length (host order), name, value.
  uint32_t lens[2] = {static_cast<uint32_t>(name.size()), static_cast<uint32_t>(value.size())};
  Put(lens, sizeof lens);
  Put(name.data(), name.size());
  Put(value.data(), value.size());
  ++entries_;
  return true;
}

void RawMetadata::Put(const void* p, size_t n) {
  if (heap_.empty() && size_ + n <= kInline) {
    std::memcpy(inline_ + size_, p, n);
  } else {
    if (heap_.empty()) heap_.assign(inline_, size_);
    heap_.append(static_cast<const char*>(p), n);
  }
  size_ += n;
}

void RawMetadata::AppendTo(Metadata* md) const {
  md->reserve(md->size() + entries_);
  const char* p = data();
  const char* end = p + size_;
  while (p < end) {
    uint32_t lens[2];
    std::memcpy(lens, p, sizeof lens);
    p += sizeof lens;
    std::string_view name(p, lens[0]);
    std::string_view value(p + lens[0], lens[1]);
    p += lens[0] + lens[1];
    AddUserMetadata(name, value, md);  // cannot fail: Add validated -bin values
  }
}

std::string_view StatusCodeDigits(StatusCode code) {
  static const char* const kDigits[] = {"0", "1", "2",  "3",  "4",  "5",  "6",  "7", "8",
                                        "9", "10", "11", "12", "13", "14", "15", "16"};
  int c = static_cast<int>(code);
  return (c >= 0 && c <= 16) ? kDigits[c] : "2";
}

std::vector<nghttp2_nv> MakeNv(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<nghttp2_nv> nv;
  nv.reserve(headers.size());
  for (const auto& [k, v] : headers) {
    nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(k.data())),
                  reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), k.size(), v.size(),
                  NGHTTP2_NV_FLAG_NONE});
  }
  return nv;
}

bool AppendMetadata(const Metadata& md, std::vector<std::pair<std::string, std::string>>* out,
                    std::string* error) {
  for (const auto& [k, v] : md) {
    if (!IsValidMetadataKey(k)) {
      *error = "Invalid metadata key '" + k + "'";
      return false;
    }
    // grpc-retry-pushback-ms is gRPC's, but servers set it in their trailers (gRFC A6).
    if (IsReservedHeader(k) && k != "grpc-retry-pushback-ms") {
      *error = "Metadata key '" + k + "' is reserved";
      return false;
    }
    if (IsBinaryKey(k)) {
      out->emplace_back(k, Base64Encode(v, false));
    } else {
      if (!IsValidMetadataValue(v)) {
        *error = "Invalid value for metadata key '" + k + "' (use a -bin key for binary data)";
        return false;
      }
      out->emplace_back(k, v);
    }
  }
  return true;
}

}  // namespace polyrpc
