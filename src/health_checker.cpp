#include "routemeter/health_checker.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "routemeter/http.hpp"
#include "routemeter/log.hpp"
#include "routemeter/net.hpp"
#include "routemeter/request_record.hpp"

namespace routemeter {
namespace {

// A health endpoint's head is small; a larger one fails the check.
constexpr size_t kMaxHead = 16 * 1024;
constexpr size_t kReadSize = 4096;

timeval to_timeval(uint64_t ns) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ns / 1000000000ull);
  tv.tv_usec = static_cast<suseconds_t>((ns % 1000000000ull) / 1000);
  return tv;
}

uint64_t to_ns(Duration d) { return static_cast<uint64_t>(d.count()) * 1000000ull; }

}  // namespace

// One server's checks: waiting for the next one, or running one (connect,
// send, read the response head). One timer serves both: the start of the
// next check while waiting, the check's timeout while running.
class HealthChecker::Check {
 public:
  Check(event_base* base, const ResolvedUpstream& upstream, size_t server,
        MetricsBinding::HealthCheckSeries series)
      : base_(base),
        upstream_(upstream),
        server_(server),
        series_(series),
        timer_(evtimer_new(base, &on_timer, this)) {
    const HealthCheckConfig& hc = upstream.config->health;
    request_ = "GET " + hc.path + " HTTP/1.1\r\nHost: " + upstream.server_names[server] +
               "\r\nUser-Agent: routemeter-health-check\r\nAccept: */*\r\n"
               "Connection: close\r\n\r\n";
  }
  Check(const Check&) = delete;
  Check& operator=(const Check&) = delete;
  ~Check() = default;  // the events go before the socket (declaration order)

  void start_in(uint64_t delay_ns) {
    const timeval tv = to_timeval(delay_ns);
    evtimer_add(timer_.get(), &tv);
  }

 private:
  static void on_timer(evutil_socket_t, short, void* arg) {
    static_cast<Check*>(arg)->timer_fired();
  }
  static void on_io(evutil_socket_t, short, void* arg) { static_cast<Check*>(arg)->io_ready(); }

  const HealthCheckConfig& config() const { return upstream_.config->health; }

  void timer_fired() {
    if (running_) {
      finish(false, "timed out after " + format_duration(config().timeout));
    } else {
      begin();
    }
  }

  void begin() {
    running_ = true;
    sending_ = true;
    sent_ = 0;
    response_.clear();
    started_ns_ = monotonic_ns();
    const timeval timeout = to_timeval(to_ns(config().timeout));
    evtimer_add(timer_.get(), &timeout);
    const int fd = connect_nonblocking(upstream_.servers[server_]);
    if (fd < 0) {
      finish(false, std::string("connect: ") + std::strerror(errno));
      return;
    }
    fd_ = UniqueFd(fd);
    // Writable once connected (or the connect failed: SO_ERROR says).
    io_.reset(event_new(base_, fd, EV_WRITE | EV_PERSIST, &on_io, this));
    event_add(io_.get(), nullptr);
  }

  void io_ready() {
    if (sending_) {
      send_request();
    } else {
      read_response();
    }
  }

  void send_request() {
    if (sent_ == 0) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        finish(false, std::string("connect: ") + std::strerror(err));
        return;
      }
    }
    const ssize_t n =
        ::send(fd_.get(), request_.data() + sent_, request_.size() - sent_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      finish(false, std::string("send: ") + std::strerror(errno));
      return;
    }
    sent_ += static_cast<size_t>(n);
    if (sent_ < request_.size()) return;
    sending_ = false;
    io_.reset(event_new(base_, fd_.get(), EV_READ | EV_PERSIST, &on_io, this));
    event_add(io_.get(), nullptr);
  }

  void read_response() {
    char buffer[kReadSize];
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      finish(false, std::string("receive: ") + std::strerror(errno));
      return;
    }
    if (n == 0) {
      finish(false, "closed before a response head");
      return;
    }
    response_.append(buffer, static_cast<size_t>(n));
    for (;;) {
      http::ResponseHead head;
      const http::ParseResult res =
          http::parse_response_head(response_.data(), response_.size(), kMaxHead, head);
      if (res.status == http::ParseStatus::kIncomplete) {
        if (response_.size() >= kMaxHead) finish(false, "response head too large");
        return;
      }
      if (res.status == http::ParseStatus::kError) {
        finish(false, "malformed response: " + std::string(res.error));
        return;
      }
      if (head.status < 200 && head.status != 101) {
        response_.erase(0, res.head_bytes);  // interim (103 Early Hints): the final one follows
        continue;
      }
      const int status = head.status;
      finish(status >= 200 && status < 400, "HTTP " + std::to_string(status));
      return;
    }
  }

  // Ends the running check, records it and schedules the next one.
  void finish(bool passed, const std::string& outcome) {
    io_.reset();
    fd_.reset();
    running_ = false;
    const HealthCheckConfig& hc = config();
    ServerHealth& health = upstream_.health[server_];
    const bool changed =
        passed ? health.check_passed(hc.healthy_after) : health.check_failed(hc.unhealthy_after);
    prometheus::Counter* counter = passed ? series_.ok : series_.failed;
    if (counter != nullptr) counter->Increment();
    if (changed) {
      const std::string who =
          "upstream \"" + upstream_.config->name + "\": server " + upstream_.server_names[server_];
      if (passed) {
        log_info(who + " is up: " + std::to_string(hc.healthy_after) +
                 " health checks passed in a row");
      } else {
        log(LogLevel::kWarn, who + " is down: " + std::to_string(hc.unhealthy_after) +
                                 " health checks failed in a row (last: " + outcome + ")");
      }
    }
    const uint64_t elapsed = monotonic_ns() - started_ns_;
    const uint64_t interval = to_ns(hc.interval);
    start_in(interval > elapsed ? interval - elapsed : 0);
  }

  event_base* base_;
  const ResolvedUpstream& upstream_;  // the checker holds its snapshot
  size_t server_;
  MetricsBinding::HealthCheckSeries series_;
  std::string request_;
  UniqueFd fd_;
  EventPtr timer_;
  EventPtr io_;
  std::string response_;  // what arrived of the response head
  size_t sent_ = 0;
  uint64_t started_ns_ = 0;
  bool running_ = false;
  bool sending_ = false;
};

HealthChecker::HealthChecker(event_base* base, std::shared_ptr<const Snapshot> snapshot)
    : snapshot_(std::move(snapshot)) {
  const std::vector<ResolvedUpstream>& upstreams = snapshot_->upstreams();
  for (size_t u = 0; u < upstreams.size(); ++u) {
    const ResolvedUpstream& up = upstreams[u];
    if (!up.config->health.enabled) continue;
    for (size_t s = 0; s < up.servers.size(); ++s) {
      MetricsBinding::HealthCheckSeries series;
      if (snapshot_->metrics() != nullptr) series = snapshot_->metrics()->health_checks(u, s);
      checks_.push_back(std::make_unique<Check>(base, up, s, series));
    }
  }
}

HealthChecker::~HealthChecker() = default;

void HealthChecker::start() {
  for (auto& check : checks_) check->start_in(0);
}

}  // namespace routemeter
