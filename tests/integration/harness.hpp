// The integration-test harness: everything a test needs to run the real
// routemeter binary on loopback against in-test upstreams and check what went
// over the wire and what /metrics says.
//
//   TestBackend   an HTTP/1.1 upstream with byte-level control, on its own thread
//   Process       a child process with captured stdout/stderr
//   Routemeter    the proxy binary with a config written from a string
//   HttpClient    a blocking client over a raw socket (http_get for one-shots)
//   scrape / find_metric / metric_value / sum_metric   reading /metrics
//   wait_until    the one polling helper, always with a deadline
//
// Harness code may throw (Catch2 reports it as a test failure); it is test
// code, not the data path. Every wait has a deadline; every socket is loopback.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
// GCC 12 reports a false -Wmaybe-uninitialized inside libstdc++'s <regex>
// (std::function in its NFA) in optimised sanitizer builds.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace routemeter::test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr milliseconds kDefaultTimeout = 5s;

// ---------------------------------------------------------------- utilities

// Case-insensitive ASCII equality (header names).
bool iequals(std::string_view a, std::string_view b);

// Header fields in the order received; lookups ignore case.
struct Headers {
  std::vector<std::pair<std::string, std::string>> fields;
  std::optional<std::string> get(std::string_view name) const;  // first match
  std::vector<std::string> get_all(std::string_view name) const;
  size_t count(std::string_view name) const;
  bool has(std::string_view name) const { return count(name) > 0; }
};

// 64-bit FNV-1a, incremental: fnv1a(b, fnv1a(a)) == fnv1a(a + b).
constexpr uint64_t kFnvOffset = 14695981039346656037ull;
uint64_t fnv1a(std::string_view data, uint64_t state = kFnvOffset);

// The deterministic byte stream of Reply::stream(): byte i is i % 251 (a prime
// period, so a dropped or repeated block changes the hash).
uint8_t pattern_byte(uint64_t offset);
std::string pattern_bytes(uint64_t offset, size_t n);
// A content digest that reads 8 bytes at a time: for a backend that must
// check a large body within a deadline even in a sanitizer build, where each
// instrumented load costs (fnv1a reads one byte per load).
uint64_t word_digest(std::string_view data);
// fnv1a of the first n pattern bytes (about 1 s per GiB).
uint64_t pattern_fnv1a(uint64_t n);

// Polls `predicate` every `interval` until it is true or `timeout` passed.
// Returns the predicate's last value. The only polling loop tests may use.
bool wait_until(const std::function<bool()>& predicate, milliseconds timeout = kDefaultTimeout,
                milliseconds interval = 5ms);

// Polls `read` every `interval` until it gave a non-zero value `looks` times
// in a row and returns it ("has stopped growing": a sender blocked by
// back-pressure); after `timeout`, the last value read.
uint64_t wait_until_steady(const std::function<uint64_t()>& read, int looks = 5,
                           milliseconds interval = 50ms, milliseconds timeout = 30s);

// Replaces every "{{key}}" in `text` with its value: config templates.
std::string fill(std::string text, const std::map<std::string, std::string>& values);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string write(const std::string& name, std::string_view content) const;

 private:
  std::string path_;
};

// ---------------------------------------------------------------- TestBackend

// One request as the backend received it.
struct ReceivedRequest {
  uint64_t connection_id = 0;        // 1, 2, ... in accept order
  uint64_t index_on_connection = 0;  // 0 for the first request on its connection
  std::string method;
  std::string target;
  std::string version;  // "HTTP/1.1"
  Headers headers;
  std::string body;  // decoded (chunked framing removed)
  bool chunked = false;
  std::string raw;  // the bytes as received: head, then body with its framing
};

// Holds a backend's answers until the test opens it (Reply::held_by), so a
// test decides when an upstream answers instead of guessing a delay long
// enough for a slow machine. Thread-safe; copies share the state.
class Gate {
 public:
  void open() { open_->store(true); }
  bool is_open() const { return open_->load(); }

 private:
  std::shared_ptr<std::atomic<bool>> open_ = std::make_shared<std::atomic<bool>>(false);
};

// What the backend does with a request. Build with the static helpers.
struct Reply {
  enum class Kind {
    kResponse,              // a normal response
    kRaw,                   // send `raw` as is, then close unless keep_open
    kCloseImmediately,      // close without answering
    kReset,                 // close with SO_LINGER 0: the peer sees a RST
    kNeverAnswer,           // keep the connection open, answer nothing
    kPartialBodyThenClose,  // head with Content-Length, `partial_bytes` of the body, close
    kStream,                // head + `stream_bytes` pattern bytes, generated on the fly
  };
  enum class Framing { kContentLength, kChunked, kCloseDelimited };

  Kind kind = Kind::kResponse;
  int status = 200;
  std::string reason;  // empty: the standard phrase
  Headers headers;     // extra headers; a Content-Length or Transfer-Encoding given
                       // here replaces the automatic one (for bad-upstream tests)
  std::string body;
  Framing framing = Framing::kContentLength;
  size_t chunk_size = 0;       // kChunked: body split into chunks of this size (0: one)
  milliseconds delay{0};       // before the head is sent (a timer, the loop keeps going)
  std::optional<Gate> gate;    // and not before this gate is open (held_by)
  bool close_after = false;    // close after the response (adds no header by itself)
  std::string raw;             // kRaw
  bool keep_open = false;      // kRaw: keep the connection after sending
  uint64_t partial_bytes = 0;  // kPartialBodyThenClose
  uint64_t stream_bytes = 0;   // kStream; also the declared length of kPartialBodyThenClose

  static Reply ok(std::string body = "ok");
  static Reply with_status(int status, std::string body = "");
  static Reply chunked(int status, std::string body, size_t chunk_size = 0);
  static Reply raw_bytes(std::string bytes, bool keep_open = false);
  static Reply close_immediately();
  static Reply reset();
  static Reply never_answer();
  // Head declares `declared_length` bytes, sends `sent_bytes` pattern bytes, closes.
  static Reply partial_body_then_close(uint64_t declared_length, uint64_t sent_bytes);
  // 200 with `n` pattern bytes, Content-Length (or chunked) framing.
  static Reply stream(uint64_t n, Framing framing = Framing::kContentLength);
  Reply& after(milliseconds d) {
    delay = d;
    return *this;
  }
  // Answers once `g` is open (and `delay`, if any, has passed).
  Reply& held_by(Gate g) {
    gate = std::move(g);
    return *this;
  }
  Reply& header(std::string name, std::string value) {
    headers.fields.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

using Handler = std::function<Reply(const ReceivedRequest&)>;

// How a backend reads its connections: as fast as bytes arrive, by default.
// Paced, it plays an upstream that takes a request body slowly (a token
// bucket: at most `bytes_per_tick` per `tick`) or stops taking it
// (`stop_after`); a small `receive_buffer` keeps the kernel from taking the
// body on the backend's behalf. Counts are per connection.
struct ReadPace {
  size_t bytes_per_tick = 0;  // 0: no pacing
  milliseconds tick{20};
  uint64_t paced_bytes = std::numeric_limits<uint64_t>::max();  // then full speed
  uint64_t stop_after = std::numeric_limits<uint64_t>::max();   // then read nothing more
  int receive_buffer = 0;  // SO_RCVBUF of each accepted socket; 0: the kernel's
};

// An HTTP/1.1 upstream on 127.0.0.1:<port 0>, serving from its own thread.
// Requests on one connection are answered in order (pipelining allowed).
// All public members are thread-safe; the handler runs on the backend thread.
class TestBackend {
 public:
  explicit TestBackend(Handler handler = nullptr);  // nullptr: Reply::ok("ok")
  // Listens on 127.0.0.1:`port` (SO_REUSEADDR), e.g. the port of a backend
  // stopped a moment ago, to play a restarted server; throws if it is taken.
  TestBackend(Handler handler, uint16_t port);
  ~TestBackend();  // stop()
  TestBackend(const TestBackend&) = delete;
  TestBackend& operator=(const TestBackend&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void set_handler(Handler handler);
  // For connections accepted from now on.
  void set_read_pace(const ReadPace& pace);
  // Bytes sent for every request as soon as its head has arrived, before its
  // body is read (or just before the reply, if both came at once): an interim
  // answer such as "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n". Empty: none.
  void set_interim(std::string bytes);
  // Closes the listener and every connection, joins the thread: afterwards the
  // port refuses connections. Idempotent.
  void stop();

  uint64_t connections_accepted() const { return accepted_.load(); }
  uint64_t connections_open() const { return open_.load(); }
  uint64_t bytes_written() const { return bytes_written_.load(); }  // handed to the kernel
  uint64_t bytes_read() const { return bytes_read_.load(); }        // heads and bodies, all
  size_t request_count() const;
  std::vector<ReceivedRequest> requests() const;
  ReceivedRequest request(size_t i) const;  // throws if absent
  bool wait_for_requests(size_t n, milliseconds timeout = kDefaultTimeout) const;
  void clear_requests();

  struct Impl;  // the loop-thread state (harness_backend.cpp)

 private:
  friend struct Impl;
  friend struct BackendConn;  // one connection of the loop thread (harness_backend.cpp)
  void record(ReceivedRequest request);
  Handler current_handler() const;
  ReadPace current_read_pace() const;
  std::string current_interim() const;

  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::vector<ReceivedRequest> log_;  // guarded by mutex_
  Handler handler_;                   // guarded by mutex_
  ReadPace read_pace_;                // guarded by mutex_
  std::string interim_;               // guarded by mutex_
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> bytes_read_{0};
};

// ---------------------------------------------------------------- Process

struct ExitStatus {
  bool exited = false;  // true: normal exit with `code`; false: killed by `signal`
  int code = -1;
  int signal = 0;
  bool ok() const { return exited && code == 0; }
  std::string text() const;  // "exit 0", "signal 9"
};

struct MemoryStatus {
  uint64_t vm_rss_kib = 0;
  uint64_t vm_hwm_kib = 0;
};

// A child process, its stdout and stderr drained into memory by a reader
// thread (so a chatty child never blocks on a full pipe). Kills the child on
// destruction: SIGTERM, then SIGKILL after `grace`. Create and destroy it on
// the same thread (the child gets PR_SET_PDEATHSIG, tied to that thread).
// Set ROUTEMETER_TEST_VERBOSE=1 to echo the child's stderr to ours.
class Process {
 public:
  // `max_open_files` (0: inherited) sets the child's RLIMIT_NOFILE, soft and
  // hard, before exec. Throws if fork/exec setup fails.
  Process(std::string binary, std::vector<std::string> args,
          std::vector<std::string> extra_env = {}, uint64_t max_open_files = 0);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();  // not exited yet (reaps it if it has)
  bool signal(int sig);

  // Waits for a complete stderr/stdout line matching; returns the line.
  std::optional<std::string> wait_for_stderr_line(const std::regex& re,
                                                  milliseconds timeout = kDefaultTimeout);
  std::optional<std::string> wait_for_stderr(std::string_view substring,
                                             milliseconds timeout = kDefaultTimeout);
  std::optional<std::string> wait_for_stdout_line(const std::regex& re,
                                                  milliseconds timeout = kDefaultTimeout);
  // Both pipes closed (the child and anything it spawned are gone).
  bool wait_output_closed(milliseconds timeout = kDefaultTimeout);
  std::string stdout_text() const;
  std::string stderr_text() const;
  size_t stdout_line_count() const;

  // Waits for the child to exit; std::nullopt if it is still running at the deadline.
  std::optional<ExitStatus> wait_exit(milliseconds timeout = kDefaultTimeout);
  // SIGTERM, wait `grace`, then SIGKILL. Returns how it ended.
  ExitStatus stop(milliseconds grace = 5s);

  // VmRSS/VmHWM from /proc/PID/status; std::nullopt once the child is gone.
  std::optional<MemoryStatus> memory() const;

 private:
  struct Stream {
    std::string text;
    size_t dropped = 0;  // bytes beyond the capture limit
  };
  void drain();  // reader thread
  std::optional<std::string> wait_for_line(const Stream& stream,
                                           const std::function<bool(std::string_view)>& match,
                                           milliseconds timeout);

  std::string binary_;
  pid_t pid_ = -1;
  std::optional<ExitStatus> exit_;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: tells the reader thread to finish
  bool echo_ = false;
  std::thread reader_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  Stream out_;        // guarded by mutex_
  Stream err_;        // guarded by mutex_
  bool eof_ = false;  // both pipes closed; guarded by mutex_
};

// Runs a command to completion (for promtool, --check-config ...).
struct CommandResult {
  ExitStatus status;
  std::string out;
  std::string err;
};
CommandResult run_command(const std::string& binary, const std::vector<std::string>& args,
                          milliseconds timeout = 30s);

// `promtool check metrics` over `text`: status ok() when it passes; its
// complaints are in err/out.
CommandResult promtool_check_metrics(std::string_view text);

// ---------------------------------------------------------------- Routemeter

// The proxy binary started with a config given as a string. The constructor
// waits for "routemeter: info: listening proxy=... admin=... workers=N" and
// throws (with the child's stderr) if it does not come within `start_timeout`.
class Routemeter {
 public:
  struct Options {
    std::vector<std::string> extra_args;
    std::vector<std::string> extra_env;
    milliseconds start_timeout = 10s;
    uint64_t max_open_files = 0;  // RLIMIT_NOFILE of the process; 0: inherited
  };
  explicit Routemeter(std::string config_toml) : Routemeter(std::move(config_toml), Options{}) {}
  Routemeter(std::string config_toml, Options options);

  uint16_t proxy_port(size_t i = 0) const { return proxy_ports_.at(i); }
  const std::vector<uint16_t>& proxy_ports() const { return proxy_ports_; }
  uint16_t admin_port() const { return admin_port_; }
  uint16_t tls_port(size_t i = 0) const { return tls_ports_.at(i); }  // [tls] listen
  int workers() const { return workers_; }
  const std::string& config_path() const { return config_path_; }
  Process& process() { return *process_; }

  // Replaces the config file's content (for reload tests); does not signal.
  void write_config(std::string_view config_toml);
  bool reload() { return process_->signal(SIGHUP); }  // SIGHUP

 private:
  TempDir dir_;
  std::string config_path_;
  std::unique_ptr<Process> process_;
  std::vector<uint16_t> proxy_ports_;
  std::vector<uint16_t> tls_ports_;
  uint16_t admin_port_ = 0;
  int workers_ = 0;
};

// Parses the listening line; false if `line` is not one.
bool parse_listening_line(std::string_view line, std::vector<uint16_t>& proxy_ports,
                          uint16_t& admin_port, int& workers);
// The ports of " tls=ADDR,ADDR" on the same line (none without [tls]).
std::vector<uint16_t> parse_tls_ports(std::string_view line);

// ---------------------------------------------------------------- HttpClient

struct Response {
  int status = 0;  // 0: no status line could be read (see error)
  std::string version;
  std::string reason;
  Headers headers;
  std::string body;                  // empty when ReadOptions::store_body is false
  uint64_t body_bytes = 0;           // decoded body length, stored or not
  uint64_t body_fnv1a = kFnvOffset;  // fnv1a of the decoded body, stored or not
  bool chunked = false;
  bool complete = false;        // the whole message arrived per its framing
  bool closed_by_peer = false;  // EOF seen while reading this response
  uint64_t pauses = 0;          // ReadOptions::pause_between_reads taken
  std::string error;            // "timeout", "connection reset", "bad chunk" ...
  std::optional<std::string> header(std::string_view name) const { return headers.get(name); }
};

struct ReadOptions {
  bool head_request = false;     // the response to HEAD has no body
  bool store_body = true;        // false: only count and hash (huge bodies)
  size_t read_size = 64 * 1024;  // bytes per read() (small + pause = a slow reader)
  milliseconds pause_between_reads{0};
};

// A blocking HTTP/1.1 client on one TCP connection to 127.0.0.1:port.
// Each read waits at most `timeout` for new bytes. Single-threaded.
class HttpClient {
 public:
  explicit HttpClient(uint16_t port, milliseconds timeout = kDefaultTimeout);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }  // of the last failed operation
  int fd() const { return fd_; }
  void set_timeout(milliseconds timeout) { timeout_ = timeout; }

  bool send_raw(std::string_view bytes);
  // Sends "METHOD target HTTP/1.1" with Host: 127.0.0.1:port (unless a Host
  // is given), the headers, and Content-Length when `body` is non-empty and
  // no Content-Length/Transfer-Encoding is given.
  bool send_request(std::string_view method, std::string_view target,
                    const std::vector<std::pair<std::string, std::string>>& headers = {},
                    std::string_view body = {});
  Response read_response(bool head_request = false);
  Response read_response_with(const ReadOptions& options);
  Response request(std::string_view method, std::string_view target,
                   const std::vector<std::pair<std::string, std::string>>& headers = {},
                   std::string_view body = {});
  // Everything until EOF (or the timeout passes without new bytes).
  std::string read_until_close();
  // Waits up to `timeout` for the peer to close; true on EOF or reset.
  bool wait_peer_closed(milliseconds timeout);
  void shutdown_write();
  void close();

 private:
  // Appends up to `max` bytes to buffer_; 0 on EOF, -1 on timeout/error (error_ set).
  ssize_t fill(size_t max);
  bool read_line(std::string& line, Response& r);

  uint16_t port_;
  int fd_ = -1;
  milliseconds timeout_;
  std::string buffer_;  // bytes read but not yet consumed
  std::string error_;
  bool eof_ = false;
  bool reset_ = false;  // the peer sent a RST (error_ says "connection reset")
};

// One request on a fresh connection, with "Connection: close" unless the
// caller gives a Connection header.
Response http_get(uint16_t port, std::string_view path,
                  const std::vector<std::pair<std::string, std::string>>& headers = {},
                  milliseconds timeout = kDefaultTimeout);

// ---------------------------------------------------------------- metrics

// GET /metrics on the admin port; the body ("" if it failed).
std::string scrape(uint16_t admin_port);
// The value of the exact series `series` as exposed, e.g.
// `routemeter_requests_total{code="200",method="GET",route="r",upstream="u"}`.
std::optional<double> find_metric(std::string_view text, std::string_view series);
// Same, by name and the complete label set in any order.
std::optional<double> find_metric(std::string_view text, std::string_view name,
                                  const std::map<std::string, std::string>& labels);
// find_metric or NaN (which never compares equal: a missing series fails).
double metric_value(std::string_view text, std::string_view series);
// Sum over every series of `name` whose labels include `labels` (0 if none).
double sum_metric(std::string_view text, std::string_view name,
                  const std::map<std::string, std::string>& labels = {});

}  // namespace routemeter::test
