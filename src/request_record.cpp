#include "routemeter/request_record.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>

namespace routemeter {

std::string_view upstream_error_name(UpstreamError e) {
  switch (e) {
    case UpstreamError::kNone:
      return "none";
    case UpstreamError::kConnectRefused:
      return "connect_refused";
    case UpstreamError::kConnectTimeout:
      return "connect_timeout";
    case UpstreamError::kResponseTimeout:
      return "response_timeout";
    case UpstreamError::kReset:
      return "reset";
    case UpstreamError::kBadResponse:
      return "bad_response";
    case UpstreamError::kNoHealthyServer:
      return "no_healthy_server";
  }
  return "none";
}

int upstream_error_status(UpstreamError e) {
  switch (e) {
    case UpstreamError::kNone:
      return 0;
    case UpstreamError::kConnectTimeout:
    case UpstreamError::kResponseTimeout:
      return 504;
    case UpstreamError::kConnectRefused:
    case UpstreamError::kReset:
    case UpstreamError::kBadResponse:
    case UpstreamError::kNoHealthyServer:
      return 502;
  }
  return 502;
}

void RawPath::assign(std::string_view path) {
  truncated = path.size() > kMaxBytes;
  size = static_cast<uint16_t>(std::min(path.size(), kMaxBytes));
  std::memcpy(bytes, path.data(), size);
}

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace routemeter
