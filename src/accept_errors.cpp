#include "routemeter/accept_errors.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "routemeter/log.hpp"
#include "routemeter/request_record.hpp"

namespace routemeter {
namespace {

constexpr uint64_t kLogIntervalNs = 1000000000ULL;

struct LogState {
  std::atomic<uint64_t> last_ns{0};
  std::atomic<uint64_t> suppressed{0};
};
std::array<LogState, kAcceptListeners> g_log_state;

}  // namespace

std::string_view accept_listener_name(AcceptListener listener) {
  return listener == AcceptListener::kAdmin ? "admin" : "proxy";
}

std::string_view accept_reason_name(size_t reason) {
  static constexpr std::array<std::string_view, kAcceptReasons> kNames = {
      "emfile", "enfile", "enobufs", "enomem", "other"};
  return reason < kNames.size() ? kNames[reason] : kNames.back();
}

size_t accept_reason(int err) {
  switch (err) {
    case EMFILE:
      return 0;
    case ENFILE:
      return 1;
    case ENOBUFS:
      return 2;
    case ENOMEM:
      return 3;
    default:
      return 4;
  }
}

bool accept_error_retriable(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED;
}

void log_accept_error(AcceptListener listener, int err) {
  LogState& state = g_log_state[static_cast<size_t>(listener)];
  const uint64_t now = monotonic_ns();
  uint64_t last = state.last_ns.load(std::memory_order_relaxed);
  if ((last != 0 && now - last < kLogIntervalNs) ||
      !state.last_ns.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    state.suppressed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const uint64_t more = state.suppressed.exchange(0, std::memory_order_relaxed);
  std::string line = "accept failed on the " + std::string(accept_listener_name(listener)) +
                     " listener: " + std::strerror(err) + "; pausing it for " +
                     std::to_string(kAcceptBackoff.count()) + " ms";
  if (more != 0) line += " (" + std::to_string(more) + " more failures not logged)";
  log(LogLevel::kWarn, line);
}

}  // namespace routemeter
