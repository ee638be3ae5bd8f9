// polyrpc::Slice: an immutable, reference-counted view of bytes. Payloads travel through the
// core as slices, so a message is never copied between layers: handing a Slice to the transport
// hands it a reference, and the bytes go to the kernel from where the caller put them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace polyrpc {

class Slice {
 public:
  Slice() = default;

  // Copies len bytes.
  static Slice Copy(const void* data, size_t len) {
    if (len == 0) return Slice();
    uint8_t* p;
    Slice s = Allocate(len, &p);
    std::memcpy(p, data, len);
    return s;
  }
  static Slice Copy(std::string_view s) { return Copy(s.data(), s.size()); }
  // Takes ownership of the string's buffer (no copy of the bytes).
  static Slice FromString(std::string&& s) {
    if (s.empty()) return Slice();
    auto owner = std::make_shared<std::string>(std::move(s));
    const auto* p = reinterpret_cast<const uint8_t*>(owner->data());
    size_t n = owner->size();
    return Slice(std::shared_ptr<const void>(owner, p), p, n);
  }
  // Allocates an uninitialised buffer of len bytes; the caller fills it through *out before
  // sharing the slice. The bytes and the reference count are one block; small ones come from
  // per-thread free lists (core/src/runtime/small_alloc.h).
  static Slice Allocate(size_t len, uint8_t** out);
  // Wraps caller memory without copying; free_fn(user_data) runs when the last reference goes,
  // on whichever thread drops it.
  static Slice Wrap(const uint8_t* data, size_t len, void (*free_fn)(void*), void* user_data) {
    // Built in place (never copied), so free_fn runs exactly once.
    struct Releaser {
      Releaser(void (*f)(void*), void* u) : fn(f), ud(u) {}
      Releaser(const Releaser&) = delete;
      Releaser& operator=(const Releaser&) = delete;
      ~Releaser() {
        if (fn) fn(ud);
      }
      void (*fn)(void*);
      void* ud;
    };
    auto owner = std::make_shared<Releaser>(free_fn, user_data);
    return Slice(std::shared_ptr<const void>(owner, data), data, len);
  }
  // Borrows static memory (never freed).
  static Slice Static(const void* data, size_t len) {
    return Slice(nullptr, static_cast<const uint8_t*>(data), len);
  }

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const {
    return std::string_view(reinterpret_cast<const char*>(data_), size_);
  }
  std::string ToString() const { return std::string(view()); }
  // A slice of a part of this one, sharing the same buffer.
  Slice Sub(size_t offset, size_t len) const { return Slice(owner_, data_ + offset, len); }

 private:
  Slice(std::shared_ptr<const void> owner, const uint8_t* data, size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  std::shared_ptr<const void> owner_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace polyrpc
