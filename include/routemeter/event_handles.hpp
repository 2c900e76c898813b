// Owner types for libevent handles: every event_base, event and evbuffer the
// program creates is held by one of these, so it is freed exactly once.
#pragma once

#include <event2/buffer.h>
#include <event2/event.h>

#include <memory>

namespace routemeter {

template <auto Fn>
struct CDeleter {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) Fn(p);
  }
};

using EventBasePtr = std::unique_ptr<event_base, CDeleter<&event_base_free>>;
using EventPtr = std::unique_ptr<event, CDeleter<&event_free>>;
using EvbufferPtr = std::unique_ptr<evbuffer, CDeleter<&evbuffer_free>>;

// A file descriptor that is closed when its owner goes away.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace routemeter
