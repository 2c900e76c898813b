#include "routemeter/transport.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "routemeter/net.hpp"

namespace routemeter {
namespace {

// The most one TLS record carries. Each SSL_write_ex gets up to this much,
// made contiguous, so a fragmented evbuffer still goes out in full records
// (one write(2) each) rather than one small record per chain.
constexpr size_t kRecordBytes = 16 * 1024;

// The first byte of what a client sends: a TLS record starts with its
// content type (22, handshake; SSLv2 hellos with a byte >= 0x80); an HTTP
// request with a method token, or the empty lines RFC 9112 2.2 lets a
// client send before it.
bool looks_like_plain_http(unsigned char first) {
  return (first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z') || first == '\r' ||
         first == '\n';
}

const std::string kNoError;

}  // namespace

ssize_t PlainTransport::read_into(evbuffer* buf, size_t max_bytes) {
  const ssize_t n = routemeter::read_into(buf, fd_, max_bytes);
  if (n < 0) want_ = IoWait::kRead;
  return n;
}

ssize_t PlainTransport::write_from(evbuffer* buf) {
  const ssize_t n = routemeter::write_from(buf, fd_);
  if (n < 0) want_ = IoWait::kWrite;
  return n;
}

const std::string& PlainTransport::error() const { return kNoError; }

std::unique_ptr<TlsTransport> TlsTransport::create(std::shared_ptr<const TlsContext> context,
                                                   int fd) {
  SslPtr ssl = context->new_ssl(fd);
  if (!ssl) return nullptr;
  return std::unique_ptr<TlsTransport>(new TlsTransport(std::move(context), std::move(ssl), fd));
}

TlsTransport::TlsTransport(std::shared_ptr<const TlsContext> context, SslPtr ssl, int fd)
    : context_(std::move(context)), ssl_(std::move(ssl)), fd_(fd) {}

TlsTransport::~TlsTransport() = default;

HandshakeStatus TlsTransport::handshake() {
  switch (state_) {
    case State::kOpen:
      return HandshakeStatus::kDone;
    case State::kPlain:
      return HandshakeStatus::kPlainHttp;
    case State::kFailed:
    case State::kShutdown:
      return HandshakeStatus::kFailed;
    case State::kNew:
      // The first step waits for the event loop even when the ClientHello is
      // already there: run at once, the steps of a burst of new connections
      // (a worker accepts up to 64 per wake-up, each step an ECDHE key
      // generation and more) would hold back every request and response
      // already waiting behind them.
      state_ = State::kFirstByte;
      want_ = IoWait::kRead;
      return HandshakeStatus::kWantRead;
    case State::kFirstByte: {
      // Peeked, not read: plain HTTP stays in the socket for the caller.
      unsigned char first = 0;
      ssize_t n = 0;
      do {
        n = ::recv(fd_, &first, 1, MSG_PEEK);
      } while (n < 0 && errno == EINTR);
      if (n < 0 && errno == EAGAIN) {
        want_ = IoWait::kRead;
        return HandshakeStatus::kWantRead;
      }
      if (n <= 0) {
        error_ = n == 0 ? "closed before the handshake" : std::strerror(errno);
        state_ = State::kFailed;
        return HandshakeStatus::kClosed;
      }
      if (looks_like_plain_http(first)) {
        error_ = "plain HTTP sent to the TLS port";
        state_ = State::kPlain;
        ssl_.reset();
        return HandshakeStatus::kPlainHttp;
      }
      state_ = State::kHandshake;
      [[fallthrough]];
    }
    case State::kHandshake:
      break;
  }
  clear_openssl_errors();
  const int rc = SSL_do_handshake(ssl_.get());
  if (rc == 1) {
    state_ = State::kOpen;
    return HandshakeStatus::kDone;
  }
  if (fail_io(rc) < 0 && errno == EAGAIN) {
    return want_ == IoWait::kRead ? HandshakeStatus::kWantRead : HandshakeStatus::kWantWrite;
  }
  if (error_.empty()) error_ = "the client closed the connection during the handshake";
  state_ = State::kFailed;
  return HandshakeStatus::kFailed;
}

ssize_t TlsTransport::fail_io(int rc) {
  const int saved_errno = errno;
  const int err = SSL_get_error(ssl_.get(), rc);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      clear_openssl_errors();
      want_ = IoWait::kRead;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_WANT_WRITE:
      clear_openssl_errors();
      want_ = IoWait::kWrite;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:
      // close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a plain close.
      clear_openssl_errors();
      eof_ = true;
      return 0;
    case SSL_ERROR_SYSCALL:
      clear_openssl_errors();
      if (saved_errno == 0) {
        eof_ = true;
        return 0;
      }
      error_ = std::strerror(saved_errno);
      fatal_errno_ = saved_errno;
      errno = saved_errno;
      return -1;
    default:
      error_ = take_openssl_error();
      if (error_.empty()) error_ = "TLS error " + std::to_string(err);
      fatal_errno_ = EPROTO;
      errno = EPROTO;
      return -1;
  }
}

ssize_t TlsTransport::read_into(evbuffer* buf, size_t max_bytes) {
  if (state_ == State::kPlain) {
    const ssize_t n = routemeter::read_into(buf, fd_, max_bytes);
    if (n < 0) want_ = IoWait::kRead;
    return n;
  }
  if (fatal_errno_ != 0) {
    errno = fatal_errno_;
    return -1;
  }
  if (eof_) return 0;
  if (state_ != State::kOpen) {
    errno = ENOTCONN;
    return -1;
  }
  evbuffer_iovec vec[2];
  const int count = evbuffer_reserve_space(buf, static_cast<ev_ssize_t>(max_bytes), vec, 2);
  if (count <= 0) {
    errno = ENOMEM;
    return -1;
  }
  // The reservation may be larger than asked for; never read more.
  size_t room = max_bytes;
  for (int i = 0; i < count; ++i) {
    vec[i].iov_len = std::min(vec[i].iov_len, room);
    room -= vec[i].iov_len;
  }
  clear_openssl_errors();
  size_t total = 0;
  int used = 0;
  int failed_rc = 1;  // the return value of the SSL_read_ex that stopped the loop, if one did
  bool stop = false;
  for (int i = 0; i < count && !stop; ++i) {
    auto* base = static_cast<char*>(vec[i].iov_base);
    size_t filled = 0;
    while (filled < vec[i].iov_len) {
      size_t got = 0;
      const int rc = SSL_read_ex(ssl_.get(), base + filled, vec[i].iov_len - filled, &got);
      if (rc != 1) {
        failed_rc = rc;
        stop = true;
        break;
      }
      filled += got;
      // Nothing read ahead: the next record needs the socket, and the
      // event loop says when it has one (saves a read(2) returning EAGAIN).
      if (SSL_has_pending(ssl_.get()) == 0) {
        stop = true;
        break;
      }
    }
    vec[i].iov_len = filled;
    total += filled;
    if (filled > 0) used = i + 1;
  }
  evbuffer_commit_space(buf, vec, used);
  read_blocked_ = false;
  if (failed_rc != 1) {
    const ssize_t rc = fail_io(failed_rc);
    read_blocked_ = rc < 0 && errno == EAGAIN;
    if (total == 0) return rc;
  }
  return static_cast<ssize_t>(total);
}

ssize_t TlsTransport::write_from(evbuffer* buf) {
  if (state_ == State::kPlain) {
    const ssize_t n = routemeter::write_from(buf, fd_);
    if (n < 0) want_ = IoWait::kWrite;
    return n;
  }
  if (fatal_errno_ != 0) {
    errno = fatal_errno_;
    return -1;
  }
  if (state_ != State::kOpen) {
    errno = ENOTCONN;
    return -1;
  }
  clear_openssl_errors();
  size_t total = 0;
  for (size_t left = evbuffer_get_length(buf); left > 0; left = evbuffer_get_length(buf)) {
    const size_t n = std::min(left, kRecordBytes);
    unsigned char* data = evbuffer_pullup(buf, static_cast<ev_ssize_t>(n));
    if (data == nullptr) {
      errno = ENOMEM;
      return total > 0 ? static_cast<ssize_t>(total) : -1;
    }
    size_t written = 0;
    const int rc = SSL_write_ex(ssl_.get(), data, n, &written);
    if (rc != 1) {
      // The record stays at the front of `buf`: the retry passes it again.
      const ssize_t failed = fail_io(rc);
      if (total > 0) return static_cast<ssize_t>(total);
      if (failed == 0) {  // the peer closed: nothing more can be written
        error_ = "the peer closed the connection";
        errno = EPIPE;
      }
      return -1;
    }
    evbuffer_drain(buf, written);
    total += written;
  }
  return static_cast<ssize_t>(total);
}

bool TlsTransport::has_buffered_input() const {
  return state_ == State::kOpen && !read_blocked_ && fatal_errno_ == 0 && !eof_ &&
         SSL_has_pending(ssl_.get()) != 0;
}

void TlsTransport::shutdown() {
  if (state_ != State::kOpen || fatal_errno_ != 0) return;
  clear_openssl_errors();
  SSL_shutdown(ssl_.get());  // sends close_notify if the socket takes it; never waits
  clear_openssl_errors();
  state_ = State::kShutdown;  // no more reads or writes
}

}  // namespace routemeter
