// Pushing the metrics to a Prometheus Pushgateway ([push]; docs/metrics.md,
// "Pushgateway"): the /metrics exposition, every `interval`, from a thread of
// its own (never a worker, never the admin thread), as client_golang's
// push.Push does it: an HTTP PUT to <url>/metrics/job/<job>/<name>/<value>...
// that replaces the group's metrics. One last push when the process stops.
//
// Over libcurl, which prometheus-cpp's push library (Debian 12: 1.0.1) wraps
// without a request timeout: every push here is bounded (push_timeout), so a
// Pushgateway that is down or never answers costs a failed push, counted in
// <ns>_push_total{result="failed"} and logged, and never holds anything up.
//
// Owned by the Server; configure() and stop() from the main thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "routemeter/config.hpp"

namespace routemeter {

// <url>/metrics/job/<job>[/<name>/<value>]...: each value percent-encoded, or
// as "<name>@base64/<base64url>" when it holds a '/' (client_golang's rule;
// the Pushgateway decodes both).
std::string push_url(const PushConfig& config);
// How long one push may take: the interval, but at least 1 s and at most 10 s.
Duration push_timeout(Duration interval);

class Pusher {
 public:
  // `push_total`: the <ns>_push_total family (its two series are added
  // here). `render`: the exposition, called on the push thread (thread-safe).
  Pusher(prometheus::Family<prometheus::Counter>& push_total, std::function<std::string()> render);
  ~Pusher();  // stop(false)
  Pusher(const Pusher&) = delete;
  Pusher& operator=(const Pusher&) = delete;

  // From the next push on, push with `config`; nullopt: stop pushing (the
  // thread idles). Any thread.
  void configure(std::optional<PushConfig> config);
  // Starts the thread: a push at once, then one per interval.
  void start();
  // Ends the thread; with `final_push`, after one more push with everything
  // counted until now (a periodic push in progress is abandoned first).
  // Returns within about push_timeout.
  void stop(bool final_push);

 private:
  void run();
  bool push(const PushConfig& config, bool cancellable);
  static int on_progress(void* self, int64_t, int64_t, int64_t, int64_t);

  std::function<std::string()> render_;
  prometheus::Counter& ok_;
  prometheus::Counter& failed_;
  std::mutex mu_;  // guards the four fields below
  std::condition_variable cv_;
  std::optional<PushConfig> config_;
  uint64_t config_generation_ = 0;  // +1 per configure(): push at once with a new config
  bool stopping_ = false;
  bool final_push_ = false;
  std::atomic<bool> cancel_{false};  // abandon the periodic push in progress
  std::thread thread_;
  // The push thread's log state: a failure is logged when it starts or its
  // reason changes, then once a minute while it lasts, and the recovery.
  std::string last_error_;
  uint64_t failures_ = 0;
  std::chrono::steady_clock::time_point last_log_{};
};

}  // namespace routemeter
