#include "routemeter/demo_backend.hpp"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <utility>

namespace routemeter::demo {
namespace {

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// "127.0.0.1:9001", "localhost:0", "[::1]:9001".
bool parse_listen(std::string_view text, std::string& host, uint16_t& port) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view h = text.substr(0, colon);
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return false;
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string_view::npos) {
    return false;  // IPv6 needs brackets
  }
  uint64_t p = 0;
  if (!parse_u64(text.substr(colon + 1), p) || p > 65535) return false;
  host.assign(h);
  port = static_cast<uint16_t>(p);
  return true;
}

std::string sockaddr_text(const sockaddr_storage& ss) {
  std::array<char, INET6_ADDRSTRLEN> ip{};
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    inet_ntop(AF_INET6, &a.sin6_addr, ip.data(), ip.size());
    return "[" + std::string(ip.data()) + "]:" + std::to_string(ntohs(a.sin6_port));
  }
  const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
  inet_ntop(AF_INET, &a.sin_addr, ip.data(), ip.size());
  return std::string(ip.data()) + ":" + std::to_string(ntohs(a.sin_port));
}

void http_trampoline(evhttp_request* req, void* arg) {
  static_cast<DemoBackend*>(arg)->handle(req);
}

}  // namespace

DemoArgsResult parse_demo_args(const std::vector<std::string_view>& args) {
  DemoArgsResult result;
  DemoOptions options;
  bool have_listen = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      result.help = true;
      return result;
    }
    if (arg != "--service" && arg != "--listen" && arg != "--seed") {
      result.error = "unknown argument \"" + std::string(arg) + "\"";
      return result;
    }
    if (i + 1 >= args.size()) {
      result.error = std::string(arg) + " needs a value";
      return result;
    }
    std::string_view value = args[++i];
    if (arg == "--service") {
      if (!success_probability(value)) {
        result.error = "unknown service \"" + std::string(value) + "\" (expected car or shop)";
        return result;
      }
      options.service.assign(value);
    } else if (arg == "--listen") {
      if (!parse_listen(value, options.host, options.port)) {
        result.error = "--listen: expected HOST:PORT, got \"" + std::string(value) + "\"";
        return result;
      }
      have_listen = true;
    } else {
      uint64_t seed = 0;
      if (!parse_u64(value, seed)) {
        result.error = "--seed: expected an unsigned integer, got \"" + std::string(value) + "\"";
        return result;
      }
      options.seed = seed;
    }
  }
  if (options.service.empty()) {
    result.error = "--service is required";
  } else if (!have_listen) {
    result.error = "--listen is required";
  } else {
    result.options = std::move(options);
  }
  return result;
}

std::string demo_usage() {
  return "usage: routemeter-demo-backend --service car|shop --listen HOST:PORT [--seed N]\n"
         "  GET /api/<service>/random  waits 100-600 ms, 200 (car 70%, shop 80%) or 500, JSON\n"
         "  GET /healthz               200 ok\n";
}

std::optional<double> success_probability(std::string_view service) {
  if (service == "car") return 0.7;
  if (service == "shop") return 0.8;
  return std::nullopt;
}

DemoDecider::DemoDecider(double success_probability, uint64_t seed)
    : rng_(seed), delay_us_(kMinDelay.count(), kMaxDelay.count()), success_(success_probability) {}

DemoAnswer DemoDecider::next() {
  DemoAnswer answer;
  answer.delay = std::chrono::microseconds(delay_us_(rng_));
  answer.status = success_(rng_) ? 200 : 500;
  return answer;
}

std::string format_delay(std::chrono::microseconds delay) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%.3fs", static_cast<double>(delay.count()) / 1e6);
  return buf.data();
}

std::string demo_body(std::string_view service, const DemoAnswer& answer, uint64_t sequence) {
  std::string message;
  if (answer.status == 200) {
    message = std::string(service) + " #" + std::to_string(sequence) + " served";
  } else {
    message = std::string(service) + " #" + std::to_string(sequence) + " failed (simulated)";
  }
  // Service names are validated (car/shop), so nothing here needs JSON escaping.
  return "{\"service\":\"" + std::string(service) + "\",\"message\":\"" + message +
         "\",\"delay\":\"" + format_delay(answer.delay) + "\"}\n";
}

// One request waiting for its reply timer.
struct DemoBackend::Pending {
  DemoBackend* owner = nullptr;  // outlives every Pending: it owns them
  uint64_t id = 0;
  evhttp_request* req = nullptr;  // owned by evhttp until evhttp_send_reply
  DemoAnswer answer;
  uint64_t sequence = 0;
  EventPtr timer;
};

DemoBackend::DemoBackend(event_base& base, DemoOptions options)
    : base_(base),
      options_(std::move(options)),
      random_path_("/api/" + options_.service + "/random"),
      decider_(success_probability(options_.service).value_or(0.0),
               options_.seed ? *options_.seed : std::random_device{}()) {}

DemoBackend::~DemoBackend() {
  for (auto& [id, pending] : pending_) {
    // A request whose client went away is detached from its connection and
    // would otherwise be freed by evhttp_send_reply; it is ours to free now.
    if (evhttp_request_get_connection(pending->req) == nullptr) evhttp_request_free(pending->req);
  }
  pending_.clear();  // timers first, then the server that owns the live requests
  http_.reset();
}

bool DemoBackend::start(std::string* error) {
  http_.reset(evhttp_new(&base_));
  if (!http_) {
    *error = "evhttp_new failed";
    return false;
  }
  evhttp_set_allowed_methods(http_.get(), EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
  evhttp_set_gencb(http_.get(), &http_trampoline, this);
  evhttp_bound_socket* bound =
      evhttp_bind_socket_with_handle(http_.get(), options_.host.c_str(), options_.port);
  if (bound == nullptr) {
    *error = "cannot listen on " + options_.host + ":" + std::to_string(options_.port);
    return false;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(evhttp_bound_socket_get_fd(bound), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    *error = "getsockname failed";
    return false;
  }
  bound_address_ = sockaddr_text(ss);
  bound_port_ = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6&>(ss).sin6_port)
                                         : ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port);
  return true;
}

void DemoBackend::send_text(evhttp_request* req, int status, std::string_view content_type,
                            std::string_view body) {
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Type", std::string(content_type).c_str());
  evbuffer* buf = evbuffer_new();
  evbuffer_add(buf, body.data(), body.size());
  evhttp_send_reply(req, status, nullptr, buf);
  evbuffer_free(buf);
}

void DemoBackend::handle(evhttp_request* req) {
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* raw_path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  std::string_view path = raw_path != nullptr ? raw_path : "";
  evhttp_cmd_type method = evhttp_request_get_command(req);
  bool readable = method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;
  if (path == random_path_) {
    if (readable || method == EVHTTP_REQ_POST) {
      handle_random(req);
    } else {
      evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD, POST");
      send_text(req, 405, "application/json", "{\"error\":\"method not allowed\"}\n");
    }
  } else if (path == "/healthz" && !readable) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
    send_text(req, 405, "application/json", "{\"error\":\"method not allowed\"}\n");
  } else if (path == "/healthz") {
    send_text(req, 200, "text/plain; charset=utf-8", "ok");
  } else {
    send_text(req, 404, "application/json",
              "{\"service\":\"" + options_.service + "\",\"error\":\"not found\"}\n");
  }
}

void DemoBackend::handle_random(evhttp_request* req) {
  auto pending = std::make_unique<Pending>();
  pending->owner = this;
  pending->id = next_pending_id_++;
  pending->req = req;
  pending->answer = decider_.next();
  pending->sequence = ++answers_;
  pending->timer.reset(evtimer_new(
      &base_,
      [](evutil_socket_t, short, void* arg) {
        auto* p = static_cast<Pending*>(arg);
        p->owner->finish(p->id);
      },
      pending.get()));
  if (!pending->timer) {
    send_text(req, 500, "application/json", "{\"error\":\"timer\"}\n");
    return;
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(pending->answer.delay.count() / 1'000'000);
  tv.tv_usec = static_cast<suseconds_t>(pending->answer.delay.count() % 1'000'000);
  evtimer_add(pending->timer.get(), &tv);
  uint64_t id = pending->id;
  pending_.emplace(id, std::move(pending));
}

void DemoBackend::finish(uint64_t pending_id) {
  auto it = pending_.find(pending_id);
  if (it == pending_.end()) return;
  std::unique_ptr<Pending> pending = std::move(it->second);
  pending_.erase(it);
  // If the client left meanwhile, evhttp_send_reply frees the detached request.
  send_text(pending->req, pending->answer.status, "application/json",
            demo_body(options_.service, pending->answer, pending->sequence));
}

}  // namespace routemeter::demo
