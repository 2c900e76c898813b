// Moves one HTTP/1.1 message body from an input buffer to an output buffer
// as its framing says, a window at a time: the same loop for request bodies
// (client -> upstream) and response bodies (upstream -> client). Chunked
// framing is checked as the bytes pass; the framing bytes themselves pass
// through unchanged, or are dropped when de-chunking (for an HTTP/1.0
// client). One relay belongs to one message on one thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "routemeter/event_handles.hpp"
#include "routemeter/http.hpp"

namespace routemeter {

class BodyRelay {
 public:
  enum class Framing : uint8_t { kNone, kLength, kChunked, kUntilClose };
  enum class Status : uint8_t {
    kMore,        // the body goes on: more input (or more room) is needed
    kDone,        // the last byte of the body went out
    kBadFraming,  // chunked framing broke: the message cannot be delimited
    kTooLarge,    // more payload than the limit given to start()
  };

  // `length`: the Content-Length (kLength only). `dechunk`: drop the chunked
  // framing and pass the payload only. `max_payload`: kTooLarge beyond it.
  void start(Framing framing, uint64_t length, bool dechunk = false,
             uint64_t max_payload = UINT64_MAX);
  // Moves body bytes from `in` to `out` (nullptr: discard them), taking at
  // most about `limit` bytes out of `in` (a chunk-size line may go over).
  Status relay(evbuffer* in, evbuffer* out, size_t limit = SIZE_MAX);
  // The input ended (EOF): done for a body delimited by the close; any other
  // body still kMore is truncated.
  Status finish_at_eof();

  Framing framing() const { return framing_; }
  Status status() const { return status_; }
  bool done() const { return status_ == Status::kDone; }
  uint64_t payload_bytes() const { return payload_; }

 private:
  Framing framing_ = Framing::kNone;
  Status status_ = Status::kDone;
  bool dechunk_ = false;
  uint64_t remaining_ = 0;  // kLength
  uint64_t max_payload_ = UINT64_MAX;
  uint64_t payload_ = 0;
  http::ChunkedParser chunked_;
};

}  // namespace routemeter
