// TestBackend: a libevent loop with bufferevents on its own thread, and a
// small strict request parser of its own so the proxy's parser is checked by
// an independent one. Everything in Impl/BackendConn runs on the backend thread.
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <map>
#include <stdexcept>

#include "harness.hpp"
#include "harness_wire.hpp"
#include "routemeter/event_handles.hpp"

namespace routemeter::test {
namespace {

using ListenerPtr = std::unique_ptr<evconnlistener, CDeleter<&evconnlistener_free>>;
using BuffereventPtr = std::unique_ptr<bufferevent, CDeleter<&bufferevent_free>>;
using TokenBucketPtr = std::unique_ptr<ev_token_bucket_cfg, CDeleter<&ev_token_bucket_cfg_free>>;

constexpr size_t kMaxRequestBytes = 64 * 1024 * 1024;  // a runaway request closes the connection
constexpr size_t kStreamLowWater = 256 * 1024;
constexpr size_t kStreamRefill = 1024 * 1024;

std::once_flag g_threads_once;

}  // namespace

struct BackendConn;

struct TestBackend::Impl {
  TestBackend& owner;
  EventBasePtr base;
  ListenerPtr listener;
  uint64_t next_id = 1;
  std::map<uint64_t, std::unique_ptr<BackendConn>> conns;

  explicit Impl(TestBackend& o) : owner(o) {}
  void accept(evutil_socket_t fd);
  void close(uint64_t id, bool reset);
};

struct BackendConn {
  TestBackend::Impl* impl = nullptr;  // owns this BackendConn
  uint64_t id = 0;
  evutil_socket_t fd = -1;  // owned: closed by the destructor, not by libevent
  BuffereventPtr bev;
  std::string in;  // received, not yet parsed
  uint64_t requests = 0;
  bool busy = false;     // a reply is in progress: later requests wait
  bool closing = false;  // close once the output is written
  bool peer_eof = false;
  bool continue_sent = false;
  bool interim_sent = false;  // TestBackend::set_interim, for the request being read
  EventPtr timer;
  Reply delayed;
  bool delayed_head = false;
  bool streaming = false;
  uint64_t stream_left = 0;
  uint64_t stream_offset = 0;
  bool stream_chunked = false;
  bool stream_then_close = false;
  ReadPace pace;
  TokenBucketPtr pace_bucket;  // while reading paced; outlives bev's use of it
  uint64_t bytes_read = 0;

  ~BackendConn() {
    timer.reset();
    bev.reset();  // removes the events from the loop at once
    if (fd >= 0) evutil_closesocket(fd);
  }
  // A delayed reply whose gate is still closed looks again in 5 ms.
  bool held() {
    if (!delayed.gate || delayed.gate->is_open()) return false;
    const timeval poll{0, 5000};
    evtimer_add(timer.get(), &poll);
    return true;
  }
  void on_read();
  void on_write();
  void on_event(short what);
  void process();
  void send(const Reply& reply, bool head_request);
  void refill_stream();
  void add(std::string_view bytes) { bufferevent_write(bev.get(), bytes.data(), bytes.size()); }
  void send_interim() {
    if (interim_sent) return;
    interim_sent = true;
    const std::string bytes = impl->owner.current_interim();
    if (!bytes.empty()) add(bytes);
  }
  void add_pattern(uint64_t n, bool chunked);
  size_t pending_output() const { return evbuffer_get_length(bufferevent_get_output(bev.get())); }
};

void TestBackend::Impl::accept(evutil_socket_t fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto conn = std::make_unique<BackendConn>();
  conn->impl = this;
  conn->id = next_id++;
  conn->fd = fd;
  conn->pace = owner.current_read_pace();
  if (conn->pace.receive_buffer > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &conn->pace.receive_buffer,
               sizeof(conn->pace.receive_buffer));
  }
  // Not BEV_OPT_CLOSE_ON_FREE: libevent 2.1 defers that close to a finalizer
  // that runs on a later loop iteration (or never, after the loop stopped);
  // tests need the socket closed now.
  conn->bev.reset(bufferevent_socket_new(base.get(), fd, 0));
  if (!conn->bev) {
    evutil_closesocket(fd);
    return;
  }
  owner.accepted_.fetch_add(1);
  owner.open_.fetch_add(1);
  BackendConn* c = conn.get();
  bufferevent_setcb(
      c->bev.get(), [](bufferevent*, void* arg) { static_cast<BackendConn*>(arg)->on_read(); },
      [](bufferevent*, void* arg) { static_cast<BackendConn*>(arg)->on_write(); },
      [](bufferevent*, short what, void* arg) { static_cast<BackendConn*>(arg)->on_event(what); },
      c);
  // Count what leaves the output buffer: bytes the kernel accepted.
  evbuffer_add_cb(
      bufferevent_get_output(c->bev.get()),
      [](evbuffer*, const evbuffer_cb_info* info, void* arg) {
        static_cast<TestBackend*>(arg)->bytes_written_.fetch_add(info->n_deleted);
      },
      &owner);
  if (c->pace.bytes_per_tick > 0) {
    const size_t rate = c->pace.bytes_per_tick;
    constexpr auto kUnlimited = static_cast<size_t>(EV_RATE_LIMIT_MAX);
    const auto ms = c->pace.tick.count();
    const timeval tick{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
    c->pace_bucket.reset(ev_token_bucket_cfg_new(rate, rate, kUnlimited, kUnlimited, &tick));
    bufferevent_set_rate_limit(c->bev.get(), c->pace_bucket.get());
  }
  bufferevent_enable(c->bev.get(), EV_READ | EV_WRITE);
  conns.emplace(c->id, std::move(conn));
}

void TestBackend::Impl::close(uint64_t id, bool reset) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  if (reset) {
    linger l{1, 0};
    setsockopt(it->second->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  conns.erase(it);  // frees the bufferevent and closes the socket
  owner.open_.fetch_sub(1);
}

void BackendConn::on_read() {
  evbuffer* input = bufferevent_get_input(bev.get());
  size_t n = evbuffer_get_length(input);
  size_t old = in.size();
  in.resize(old + n);
  evbuffer_remove(input, in.data() + old, n);
  if (in.size() > kMaxRequestBytes) {
    impl->close(id, false);
    return;
  }
  bytes_read += n;
  impl->owner.bytes_read_.fetch_add(n);
  if (pace_bucket && bytes_read >= pace.paced_bytes) {
    bufferevent_set_rate_limit(bev.get(), nullptr);
    pace_bucket.reset();
  }
  if (bytes_read >= pace.stop_after) bufferevent_disable(bev.get(), EV_READ);
  process();
}

void BackendConn::on_event(short what) {
  if ((what & BEV_EVENT_EOF) != 0 && (what & BEV_EVENT_ERROR) == 0) {
    peer_eof = true;  // half-close: still answer what was asked
    if (!busy && pending_output() == 0) impl->close(id, false);
    return;
  }
  impl->close(id, false);
}

void BackendConn::on_write() {
  if (streaming) {
    refill_stream();
    return;
  }
  if (pending_output() != 0) return;
  if (closing || (peer_eof && !busy)) impl->close(id, false);
}

void BackendConn::process() {
  // send() may close this connection: check through locals, never `this`.
  TestBackend::Impl* im = impl;
  uint64_t my_id = id;
  auto alive = [im, my_id] { return im->conns.count(my_id) != 0; };
  while (!busy && !closing) {
    wire::ParsedRequest parsed;
    wire::Parse status = wire::parse_request(in, parsed);
    if (status == wire::Parse::kIncomplete) {
      if (parsed.head_complete) send_interim();
      if (parsed.expect_continue && !continue_sent) {
        continue_sent = true;
        add("HTTP/1.1 100 Continue\r\n\r\n");
      }
      break;
    }
    if (status == wire::Parse::kComplete) send_interim();
    ReceivedRequest req;
    req.connection_id = id;
    req.index_on_connection = requests++;
    continue_sent = false;
    interim_sent = false;
    if (status == wire::Parse::kError) {
      req.method = "<malformed>";
      req.raw = in;
      in.clear();
      impl->owner.record(std::move(req));
      add("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      closing = true;
      break;
    }
    req.method = std::move(parsed.method);
    req.target = std::move(parsed.target);
    req.version = std::move(parsed.version);
    req.headers = std::move(parsed.headers);
    req.body = std::move(parsed.body);
    req.chunked = parsed.chunked;
    req.raw = in.substr(0, parsed.consumed);
    in.erase(0, parsed.consumed);
    Handler handler = impl->owner.current_handler();
    Reply reply = handler ? handler(req) : Reply::ok();
    bool head = req.method == "HEAD";
    impl->owner.record(std::move(req));
    if (reply.delay.count() > 0 || reply.gate) {
      busy = true;
      delayed = std::move(reply);
      delayed_head = head;
      timer.reset(evtimer_new(
          impl->base.get(),
          [](evutil_socket_t, short, void* arg) {
            auto* c = static_cast<BackendConn*>(arg);
            if (c->held()) return;
            c->busy = false;
            Reply r = std::move(c->delayed);
            r.delay = milliseconds(0);
            uint64_t cid = c->id;
            TestBackend::Impl* im = c->impl;
            c->send(r, c->delayed_head);
            if (im->conns.count(cid) != 0) c->process();
          },
          this));
      timeval tv{static_cast<time_t>(delayed.delay.count() / 1000),
                 static_cast<suseconds_t>(delayed.delay.count() % 1000 * 1000)};
      evtimer_add(timer.get(), &tv);
      break;
    }
    send(reply, head);
    if (!alive()) return;
  }
  if (alive() && !busy && pending_output() == 0 && (closing || peer_eof)) impl->close(id, false);
}

void BackendConn::add_pattern(uint64_t n, bool chunked) {
  evbuffer* out = bufferevent_get_output(bev.get());
  if (chunked && n > 0) add(wire::hex(n) + "\r\n");
  while (n > 0) {
    size_t piece = 0;
    const char* p = wire::pattern_block(stream_offset, n, piece);
    evbuffer_add_reference(out, p, piece, nullptr, nullptr);  // static bytes: no copy
    stream_offset += piece;
    n -= piece;
  }
  if (chunked) add("\r\n");
}

void BackendConn::refill_stream() {
  if (pending_output() > kStreamLowWater) return;
  uint64_t n = std::min<uint64_t>(stream_left, kStreamRefill);
  if (n > 0) {
    add_pattern(n, stream_chunked);
    stream_left -= n;
    return;
  }
  if (stream_chunked) add("0\r\n\r\n");
  streaming = false;
  stream_chunked = false;
  bufferevent_setwatermark(bev.get(), EV_WRITE, 0, 0);
  busy = false;
  if (stream_then_close) closing = true;
  process();
}

void BackendConn::send(const Reply& reply, bool head_request) {
  using K = Reply::Kind;
  switch (reply.kind) {
    case K::kCloseImmediately:
      impl->close(id, false);
      return;
    case K::kReset:
      impl->close(id, true);
      return;
    case K::kNeverAnswer:
      busy = true;
      return;
    case K::kRaw:
      add(reply.raw);
      if (!reply.keep_open) closing = true;
      return;
    case K::kPartialBodyThenClose:
      add(wire::response_head(reply, reply.stream_bytes, false));
      stream_offset = 0;
      add_pattern(reply.partial_bytes, false);
      closing = true;
      return;
    case K::kStream: {
      bool chunked = reply.framing == Reply::Framing::kChunked;
      add(wire::response_head(reply, reply.stream_bytes, chunked));
      if (head_request) return;
      if (reply.stream_bytes == 0) {
        if (chunked) add("0\r\n\r\n");
        if (reply.close_after || reply.framing == Reply::Framing::kCloseDelimited) closing = true;
        return;
      }
      stream_offset = 0;
      stream_left = reply.stream_bytes;
      stream_chunked = chunked;
      stream_then_close = reply.close_after || reply.framing == Reply::Framing::kCloseDelimited;
      streaming = true;
      busy = true;
      bufferevent_setwatermark(bev.get(), EV_WRITE, kStreamLowWater, 0);
      refill_stream();
      return;
    }
    case K::kResponse:
      add(wire::response_bytes(reply, head_request));
      if (reply.close_after || reply.framing == Reply::Framing::kCloseDelimited) closing = true;
      return;
  }
}

TestBackend::TestBackend(Handler handler) : TestBackend(std::move(handler), 0) {}

TestBackend::TestBackend(Handler handler, uint16_t port) : impl_(std::make_unique<Impl>(*this)) {
  handler_ = std::move(handler);
  std::call_once(g_threads_once, [] {
    evthread_use_pthreads();
    // libevent writes with writev(), which raises SIGPIPE on a closed socket.
    std::signal(SIGPIPE, SIG_IGN);
  });
  impl_->base.reset(event_base_new());
  if (!impl_->base) throw std::runtime_error("TestBackend: event_base_new failed");
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(port);
  impl_->listener.reset(evconnlistener_new_bind(
      impl_->base.get(),
      [](evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
        static_cast<Impl*>(arg)->accept(fd);
      },
      impl_.get(), LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, 128,
      reinterpret_cast<sockaddr*>(&sin), sizeof(sin)));
  if (!impl_->listener) {
    throw std::runtime_error("TestBackend: cannot listen on 127.0.0.1:" + std::to_string(port));
  }
  sockaddr_in bound{};
  socklen_t len = sizeof(bound);
  getsockname(evconnlistener_get_fd(impl_->listener.get()), reinterpret_cast<sockaddr*>(&bound),
              &len);
  port_ = ntohs(bound.sin_port);
  thread_ = std::thread([this] {
    event_base_dispatch(impl_->base.get());
    // Tear down on the loop thread, before anyone else touches the sockets.
    impl_->conns.clear();
    impl_->listener.reset();
    open_.store(0);
  });
}

TestBackend::~TestBackend() { stop(); }

void TestBackend::stop() {
  if (!thread_.joinable()) return;
  event_base_loopbreak(impl_->base.get());
  thread_.join();
}

void TestBackend::set_handler(Handler handler) {
  std::lock_guard lock(mutex_);
  handler_ = std::move(handler);
}

Handler TestBackend::current_handler() const {
  std::lock_guard lock(mutex_);
  return handler_;
}

void TestBackend::set_read_pace(const ReadPace& pace) {
  std::lock_guard lock(mutex_);
  read_pace_ = pace;
}

ReadPace TestBackend::current_read_pace() const {
  std::lock_guard lock(mutex_);
  return read_pace_;
}

void TestBackend::set_interim(std::string bytes) {
  std::lock_guard lock(mutex_);
  interim_ = std::move(bytes);
}

std::string TestBackend::current_interim() const {
  std::lock_guard lock(mutex_);
  return interim_;
}

void TestBackend::record(ReceivedRequest request) {
  {
    std::lock_guard lock(mutex_);
    log_.push_back(std::move(request));
  }
  cv_.notify_all();
}

size_t TestBackend::request_count() const {
  std::lock_guard lock(mutex_);
  return log_.size();
}

std::vector<ReceivedRequest> TestBackend::requests() const {
  std::lock_guard lock(mutex_);
  return log_;
}

ReceivedRequest TestBackend::request(size_t i) const {
  std::lock_guard lock(mutex_);
  if (i >= log_.size()) {
    throw std::out_of_range("TestBackend: request " + std::to_string(i) + " not received (" +
                            std::to_string(log_.size()) + " so far)");
  }
  return log_[i];
}

bool TestBackend::wait_for_requests(size_t n, milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return log_.size() >= n; });
}

void TestBackend::clear_requests() {
  std::lock_guard lock(mutex_);
  log_.clear();
}

}  // namespace routemeter::test
