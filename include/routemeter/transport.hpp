// How a client connection's bytes cross its socket: PlainTransport moves them
// as they are (net.hpp read_into/write_from), TlsTransport through a TLS
// session of a TlsContext. The connection reads, writes and waits for the
// readiness the transport names; nothing above the transport asks which kind
// it has (nginx swaps recv/send once the handshake is done, Envoy has
// TransportSocket).
//
// A transport belongs to one connection and is used by its worker's thread
// only. It does not own the socket: the connection closes the fd after the
// transport is gone or shut down.
#pragma once

#include <event2/buffer.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "routemeter/tls_certificate.hpp"
#include "routemeter/tls_context.hpp"

namespace routemeter {

// The socket readiness a call that would block is waiting for.
enum class IoWait : uint8_t { kRead, kWrite };

enum class HandshakeStatus : uint8_t {
  kDone,       // read and write from now on (call read_into() at once: see below)
  kWantRead,   // call handshake() again when the socket is readable
  kWantWrite,  // ... when it is writable
  kFailed,     // a failed handshake (error() says why): count it, close the connection
  kPlainHttp,  // plain HTTP sent to the TLS port: count a failed handshake; the transport
               // now passes bytes through as they are, so the caller can read the request
               // and answer it 400 in plain text, then close
  kClosed,     // the client closed (or reset) before sending anything: not a handshake
               // attempt; close the connection without counting it
};

class Transport {
 public:
  virtual ~Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Drives the handshake one step; call it until it stops returning
  // kWantRead/kWantWrite, waiting for that readiness in between (the caller
  // also bounds the whole handshake with [tls] handshake_timeout). A plain
  // transport is done at once.
  virtual HandshakeStatus handshake() = 0;

  // Reads into `buf`, up to `max_bytes` (> 0). Returns the bytes read; 0 at
  // the end of the stream (the peer closed, with or without a TLS
  // close_notify); -1 with errno: EAGAIN when nothing can be read now (wait
  // for want()), else a fatal error (EPROTO: a TLS protocol error, error()
  // says which). A TLS read may take bytes out of the socket that it cannot
  // return yet; see has_buffered_input().
  virtual ssize_t read_into(evbuffer* buf, size_t max_bytes) = 0;

  // Writes as much of `buf` as the socket takes and drains what was written.
  // Returns the bytes written (> 0) or -1 with errno (EAGAIN: wait for
  // want(); EPIPE/ECONNRESET: the peer is gone; EPROTO). After EAGAIN, the
  // bytes not drained must stay at the front of `buf` until the next call
  // (more may be appended): a TLS record may be half sent. A write to a
  // closed peer raises SIGPIPE, which the process ignores (main()).
  virtual ssize_t write_from(evbuffer* buf) = 0;

  // After a call that would block (handshake() kWantRead/kWantWrite,
  // read_into() or write_from() EAGAIN): the readiness that lets that call
  // progress. Plain sockets: reads wait to read, writes to write. TLS: a
  // read may wait for writability and a write for readability (a record
  // half received, a protocol message to send first).
  virtual IoWait want() const = 0;

  // Whether read_into() would return bytes without the socket becoming
  // readable again: TLS keeps what it read ahead of the record being
  // returned. A caller that stopped reading (its window was full) or just
  // finished the handshake (the request often arrives with the client's last
  // handshake flight) must call read_into() when this is true instead of
  // waiting for a read event that may never come. Plain: always false.
  virtual bool has_buffered_input() const = 0;

  // Ends the session before the caller closes the socket: TLS sends a
  // close_notify if the socket takes it now (never waits for the peer's).
  // Plain: nothing.
  virtual void shutdown() = 0;

  // "http" or "https": X-Forwarded-Proto and the access log.
  virtual std::string_view scheme() const = 0;

  // Why the last call failed ("" when none did), for logs.
  virtual const std::string& error() const = 0;

 protected:
  Transport() = default;
};

// A socket as it is: read_into/write_from of net.hpp, nothing added.
class PlainTransport final : public Transport {
 public:
  explicit PlainTransport(int fd) : fd_(fd) {}

  HandshakeStatus handshake() override { return HandshakeStatus::kDone; }
  ssize_t read_into(evbuffer* buf, size_t max_bytes) override;
  ssize_t write_from(evbuffer* buf) override;
  IoWait want() const override { return want_; }
  bool has_buffered_input() const override { return false; }
  void shutdown() override {}
  std::string_view scheme() const override { return "http"; }
  const std::string& error() const override;

 private:
  int fd_;
  IoWait want_ = IoWait::kRead;
};

// A server-side TLS session on an accepted socket.
class TlsTransport final : public Transport {
 public:
  // A session on the accepted socket `fd` with `context` (not null). Its
  // first handshake() only asks to wait for the socket to be readable; the
  // next one peeks at what the client sent first. Null when
  // OpenSSL cannot make the session (out of memory). Holds `context` for as
  // long as the session exists.
  static std::unique_ptr<TlsTransport> create(std::shared_ptr<const TlsContext> context, int fd);
  ~TlsTransport() override;

  HandshakeStatus handshake() override;
  ssize_t read_into(evbuffer* buf, size_t max_bytes) override;
  ssize_t write_from(evbuffer* buf) override;
  IoWait want() const override { return want_; }
  bool has_buffered_input() const override;
  void shutdown() override;
  std::string_view scheme() const override { return "https"; }
  const std::string& error() const override { return error_; }

  // The session, for its facts (SSL_version, SSL_get_servername,
  // SSL_session_reused); null after kPlainHttp.
  SSL* ssl() const { return ssl_.get(); }

 private:
  enum class State : uint8_t { kNew, kFirstByte, kHandshake, kOpen, kPlain, kFailed, kShutdown };

  TlsTransport(std::shared_ptr<const TlsContext> context, SslPtr ssl, int fd);
  // Maps a failed SSL call to -1/errno (or 0 at the end of the stream) and
  // sets want_ and error_.
  ssize_t fail_io(int rc);

  std::shared_ptr<const TlsContext> context_;  // the SNI callback runs on it
  SslPtr ssl_;
  int fd_;
  State state_ = State::kNew;
  IoWait want_ = IoWait::kRead;
  bool eof_ = false;           // the stream ended; every later read returns 0
  bool read_blocked_ = false;  // the last read_into() ended waiting for the socket
  int fatal_errno_ = 0;        // a fatal error; every later call fails with it
  std::string error_;
};

}  // namespace routemeter
