// Failed accept() calls on a listener (docs/operations.md, "Out of file
// descriptors"). Out of descriptors (or kernel memory), the listening socket
// stays readable while every accept fails, so a listener that simply tried
// again would spin. Instead it pauses accepting for kAcceptBackoff, counts the
// failure (routemeter_accept_errors_total{listener,reason}, in Metrics) and
// logs through log_accept_error(), at most once a second per listener kind.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace routemeter {

enum class AcceptListener : uint8_t { kProxy, kAdmin };
inline constexpr size_t kAcceptListeners = 2;
// Reasons, the `reason` label: emfile, enfile, enobufs, enomem, other.
inline constexpr size_t kAcceptReasons = 5;
inline constexpr std::chrono::milliseconds kAcceptBackoff{100};

std::string_view accept_listener_name(AcceptListener listener);
std::string_view accept_reason_name(size_t reason);
// The reason index of a failed accept's errno.
size_t accept_reason(int err);
// An ordinary outcome (EAGAIN: nothing left to accept; EINTR; ECONNABORTED:
// the client gave up): nothing to count, nothing to pause for.
bool accept_error_retriable(int err);
// Logs a failed accept at warn level unless this listener kind logged one
// less than a second ago; the next line says how many were not logged.
void log_accept_error(AcceptListener listener, int err);

}  // namespace routemeter
