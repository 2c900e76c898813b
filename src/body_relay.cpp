#include "routemeter/body_relay.hpp"

#include <algorithm>

namespace routemeter {
namespace {

// Framing bytes are parsed from a contiguous view of at most this many bytes.
constexpr size_t kFramingLook = 4096;

void move_bytes(evbuffer* in, evbuffer* out, size_t n) {
  if (out == nullptr) {
    evbuffer_drain(in, n);
  } else {
    evbuffer_remove_buffer(in, out, n);
  }
}

}  // namespace

void BodyRelay::start(Framing framing, uint64_t length, bool dechunk, uint64_t max_payload) {
  framing_ = framing;
  dechunk_ = dechunk;
  remaining_ = length;
  max_payload_ = max_payload;
  payload_ = 0;
  chunked_.reset();
  const bool empty = framing == Framing::kNone || (framing == Framing::kLength && length == 0);
  status_ = empty ? Status::kDone : Status::kMore;
}

BodyRelay::Status BodyRelay::relay(evbuffer* in, evbuffer* out, size_t limit) {
  if (status_ != Status::kMore) return status_;
  switch (framing_) {
    case Framing::kNone:
      break;
    case Framing::kLength: {
      const size_t take = std::min({evbuffer_get_length(in), limit,
                                    static_cast<size_t>(std::min<uint64_t>(remaining_, SIZE_MAX))});
      move_bytes(in, out, take);
      remaining_ -= take;
      payload_ += take;
      if (remaining_ == 0) status_ = Status::kDone;
      break;
    }
    case Framing::kUntilClose: {
      const size_t take = std::min(evbuffer_get_length(in), limit);
      move_bytes(in, out, take);
      payload_ += take;
      break;
    }
    case Framing::kChunked: {
      size_t taken = 0;
      while (!chunked_.done() && taken < limit) {
        const size_t avail = evbuffer_get_length(in);
        if (avail == 0) break;
        if (chunked_.state() == http::ChunkedParser::State::kData) {
          const uint64_t want = chunked_.data_remaining();
          if (payload_ + want > max_payload_) {
            status_ = Status::kTooLarge;
            return status_;
          }
          const auto take = static_cast<size_t>(std::min<uint64_t>({avail, want, limit - taken}));
          move_bytes(in, out, take);
          chunked_.consume_data(take);
          payload_ += take;
          taken += take;
          continue;
        }
        const size_t look = std::min(avail, kFramingLook);
        const char* p =
            reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(look)));
        const size_t used = chunked_.parse(p, look);
        move_bytes(in, dechunk_ ? nullptr : out, used);
        taken += used;
        if (chunked_.failed()) {
          status_ = Status::kBadFraming;
          return status_;
        }
      }
      if (chunked_.done()) status_ = Status::kDone;
      break;
    }
  }
  return status_;
}

BodyRelay::Status BodyRelay::finish_at_eof() {
  if (status_ == Status::kMore && framing_ == Framing::kUntilClose) status_ = Status::kDone;
  return status_;
}

}  // namespace routemeter
