// The Pushgateway pusher: a thread that renders the exposition and PUTs it
// every interval with libcurl, each request bounded by push_timeout. See
// pusher.hpp for why not prometheus-cpp's push library.
#include "routemeter/pusher.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "routemeter/build_info.hpp"
#include "routemeter/log.hpp"

namespace routemeter {
namespace {

using Clock = std::chrono::steady_clock;

// A failure that lasts is logged again this often, not on every push.
constexpr std::chrono::minutes kRelogFailure{1};
// The Pushgateway's answer to a refused push says why in its body.
constexpr size_t kMaxAnswerBytes = 512;

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

// RFC 4648 section 5, without padding (Go's base64.RawURLEncoding).
std::string base64url(std::string_view text) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    bits = (bits << 8) | static_cast<unsigned char>(c);
    count += 8;
    while (count >= 6) {
      count -= 6;
      out += kAlphabet[(bits >> count) & 63];
    }
  }
  if (count > 0) out += kAlphabet[(bits << (6 - count)) & 63];
  return out;
}

// "name/value", or "name@base64/..." for a value holding a '/'.
std::string url_segment(std::string_view name, std::string_view value) {
  std::string out(name);
  if (value.find('/') != std::string_view::npos) {
    out += "@base64/";
    out += base64url(value);
  } else {
    out += '/';
    out += percent_encode(value);
  }
  return out;
}

bool same_target(const PushConfig& a, const PushConfig& b) {
  return a.url == b.url && a.job == b.job && a.interval == b.interval && a.grouping == b.grouping;
}

size_t collect_answer(char* data, size_t size, size_t n, void* out) {
  auto* answer = static_cast<std::string*>(out);
  const size_t bytes = size * n;
  answer->append(data,
                 std::min(bytes, kMaxAnswerBytes - std::min(answer->size(), kMaxAnswerBytes)));
  return bytes;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string push_url(const PushConfig& config) {
  std::string out = config.url + "/metrics/" + url_segment("job", config.job);
  for (const auto& [name, value] : config.grouping) out += "/" + url_segment(name, value);
  return out;
}

Duration push_timeout(Duration interval) {
  return std::clamp<Duration>(interval, std::chrono::seconds(1), std::chrono::seconds(10));
}

Pusher::Pusher(prometheus::Family<prometheus::Counter>& push_total,
               std::function<std::string()> render)
    : render_(std::move(render)),
      ok_(push_total.Add({{"result", "ok"}})),
      failed_(push_total.Add({{"result", "failed"}})) {
  // Before any thread of ours uses libcurl (curl_global_init is not
  // thread-safe in every build); never cleaned up: it lives as long as the
  // process.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Pusher::~Pusher() { stop(false); }

void Pusher::configure(std::optional<PushConfig> config) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const bool changed =
        config.has_value() != config_.has_value() || (config && !same_target(*config, *config_));
    config_ = std::move(config);
    if (changed) ++config_generation_;
  }
  cv_.notify_all();
}

void Pusher::start() {
  thread_ = std::thread([this] { run(); });
}

void Pusher::stop(bool final_push) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    final_push_ = final_push;
  }
  cancel_.store(true);
  cv_.notify_all();
  thread_.join();
}

void Pusher::run() {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t generation = config_generation_ - 1;  // a push at once
  Clock::time_point next = Clock::now();
  while (!stopping_) {
    if (!config_) {
      cv_.wait(lock, [this] { return stopping_ || config_.has_value(); });
      continue;
    }
    if (generation != config_generation_) {
      generation = config_generation_;
      next = Clock::now();
    }
    if (Clock::now() < next) {
      cv_.wait_until(lock, next,
                     [&] { return stopping_ || generation != config_generation_ || !config_; });
      continue;
    }
    const PushConfig config = *config_;
    lock.unlock();
    const Clock::time_point started = Clock::now();
    push(config, true);
    lock.lock();
    // Every interval from the start of the last push; one that took longer
    // than the interval is followed by the next at once, not by a burst.
    next = std::max(started + config.interval, Clock::now());
  }
  if (final_push_ && config_) {
    const PushConfig config = *config_;
    lock.unlock();
    push(config, false);
  }
}

int Pusher::on_progress(void* self, int64_t, int64_t, int64_t, int64_t) {
  return static_cast<Pusher*>(self)->cancel_.load() ? 1 : 0;  // non-zero aborts
}

bool Pusher::push(const PushConfig& config, bool cancellable) {
  const std::string body = render_();
  const std::string url = push_url(config);
  const long timeout_ms = static_cast<long>(push_timeout(config.interval).count());
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  std::unique_ptr<curl_slist, SlistDeleter> headers(
      curl_slist_append(nullptr, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
  // No "Expect: 100-continue" round trip before a large body.
  headers.reset(curl_slist_append(headers.release(), "Expect:"));
  std::string answer;
  char error[CURL_ERROR_SIZE] = {};
  CURLcode rc = CURLE_FAILED_INIT;
  long status = 0;
  if (curl && headers) {
    CURL* c = curl.get();
    const std::string agent = std::string("routemeter/") + build::kVersion;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_USERAGENT, agent.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: we are threaded
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &collect_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    if (cancellable) {
      curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
      curl_easy_setopt(c, CURLOPT_XFERINFODATA, this);
    }
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK) return false;  // stop() abandoned it: not a failure
  const bool ok = rc == CURLE_OK && status >= 200 && status <= 299;
  const Clock::time_point now = Clock::now();
  if (ok) {
    ok_.Increment();
    if (failures_ != 0) {
      log_info("push to " + url + " works again after " + std::to_string(failures_) +
               " failed push(es)");
    }
    failures_ = 0;
    last_error_.clear();
    return true;
  }
  failed_.Increment();
  std::string why;
  if (rc != CURLE_OK) {
    why = error[0] != '\0' ? error : curl_easy_strerror(rc);
  } else {
    while (!answer.empty() && (answer.back() == '\n' || answer.back() == '\r')) answer.pop_back();
    why = "HTTP " + std::to_string(status) + (answer.empty() ? "" : ": " + answer);
  }
  ++failures_;
  if (why != last_error_ || now - last_log_ >= kRelogFailure) {
    log(LogLevel::kWarn, "push to " + url + " failed: " + why + " (" + std::to_string(failures_) +
                             " in a row; the proxy is not affected)");
    last_error_ = why;
    last_log_ = now;
  }
  return false;
}

}  // namespace routemeter
