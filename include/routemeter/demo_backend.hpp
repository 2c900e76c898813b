// routemeter-demo-backend: the simulated `car` and `shop` services of the
// reference setup (docs/operations.md, "The demo services"). `GET /api/<service>/random` waits
// 100-600 ms (a libevent timer, the loop keeps serving) and answers 200 with
// the service's success probability, else 500, with a small JSON body;
// (POST too; other methods 405); `GET /healthz` answers 200 "ok"; other paths
// 404 JSON.
//
// It is a demo and a test fixture, not part of the proxy's data path, so it
// uses libevent's evhttp. DemoBackend is owned by main() and lives on the one
// thread that runs its event_base; nothing here is thread-safe.
#pragma once

#include <event2/http.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "routemeter/event_handles.hpp"

namespace routemeter::demo {

// The command line: --service car|shop --listen HOST:PORT [--seed N].
struct DemoOptions {
  std::string service;  // "car" or "shop"
  std::string host;     // "127.0.0.1"; IPv6 given as "[::1]:9001" is stored without brackets
  uint16_t port = 0;    // 0: the kernel picks one, printed at start
  std::optional<uint64_t> seed;  // unset: seeded from std::random_device
};

struct DemoArgsResult {
  std::optional<DemoOptions> options;  // set on success
  std::string error;                   // set on failure (without the usage text)
  bool help = false;                   // --help was given
};

DemoArgsResult parse_demo_args(const std::vector<std::string_view>& args);  // args without argv[0]
std::string demo_usage();

// Probability of a 200 for a known service; std::nullopt for unknown names.
std::optional<double> success_probability(std::string_view service);

// What one /api/<service>/random request gets.
struct DemoAnswer {
  std::chrono::microseconds delay{0};  // in [100 ms, 600 ms]
  int status = 200;                    // 200 or 500
};

// The random source of the answers. The same seed gives the same sequence
// (std::mt19937_64 with libstdc++'s distributions).
class DemoDecider {
 public:
  static constexpr std::chrono::microseconds kMinDelay{100'000};
  static constexpr std::chrono::microseconds kMaxDelay{600'000};

  DemoDecider(double success_probability, uint64_t seed);
  DemoAnswer next();

 private:
  std::mt19937_64 rng_;
  std::uniform_int_distribution<int64_t> delay_us_;
  std::bernoulli_distribution success_;
};

// {"service":"car","message":"...","delay":"0.312s"}; `sequence` numbers the answers.
std::string demo_body(std::string_view service, const DemoAnswer& answer, uint64_t sequence);
// "0.312s"
std::string format_delay(std::chrono::microseconds delay);

using EvhttpPtr = std::unique_ptr<evhttp, CDeleter<&evhttp_free>>;

// The HTTP server of one simulated service on a caller-owned event_base.
class DemoBackend {
 public:
  DemoBackend(event_base& base, DemoOptions options);
  ~DemoBackend();
  DemoBackend(const DemoBackend&) = delete;
  DemoBackend& operator=(const DemoBackend&) = delete;

  // Binds the listener. Returns false and sets `error` on failure.
  bool start(std::string* error);
  // The bound address, e.g. "127.0.0.1:9001" (valid after start()).
  const std::string& bound_address() const { return bound_address_; }
  uint16_t bound_port() const { return bound_port_; }

  // Called by the evhttp trampoline: routes one request.
  void handle(evhttp_request* req);
  // Called by a reply timer: sends the delayed answer.
  void finish(uint64_t pending_id);

 private:
  struct Pending;

  void handle_random(evhttp_request* req);
  static void send_text(evhttp_request* req, int status, std::string_view content_type,
                        std::string_view body);

  event_base& base_;
  DemoOptions options_;
  std::string random_path_;  // "/api/<service>/random"
  DemoDecider decider_;
  EvhttpPtr http_;
  std::string bound_address_;
  uint16_t bound_port_ = 0;
  uint64_t next_pending_id_ = 1;
  uint64_t answers_ = 0;
  // Requests waiting for their timer, by id. Owned here; erased when answered.
  std::unordered_map<uint64_t, std::unique_ptr<Pending>> pending_;
};

}  // namespace routemeter::demo
