#include "routemeter/request_record.hpp"

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

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace routemeter
