// Transports over in-process socketpairs: the plain one is read_into/
// write_from; the TLS one handshakes (the server side, against a client SSL),
// then moves bytes both ways, large transfers through small socket buffers
// (partial records, records retried after EAGAIN), ends of stream, and plain
// HTTP sent to it.
#include "routemeter/transport.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <string>

#include "routemeter/event_handles.hpp"
#include "test_certificates.hpp"
#include "tls_test_support.hpp"

using namespace routemeter;
using namespace routemeter::testing;

namespace {

std::string drain(evbuffer* buf) {
  std::string out(evbuffer_get_length(buf), '\0');
  evbuffer_remove(buf, out.data(), out.size());
  return out;
}

// Bytes that show where they are: a transfer that drops, repeats or reorders
// any of them does not compare equal.
std::string pattern(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>((i * 7 + (i >> 13)) & 0xff);
  return out;
}

std::shared_ptr<const TlsContext> make_context(const TestCertificate& cert) {
  TlsConfig config;
  TlsCertificateConfig c;
  c.cert_path = "/test.pem";
  c.cert_pem = cert.cert_pem;
  c.key_pem = cert.key_pem;
  c.server_names = {"localhost"};
  config.certificates.push_back(c);
  std::string error;
  auto context = TlsContext::build(config, &error);
  INFO(error);
  REQUIRE(context);
  return context;
}

// A TLS server transport and a client SSL over a socketpair.
struct TlsPair {
  TestCertificate cert = make_certificate({});
  std::shared_ptr<const TlsContext> context = make_context(cert);
  std::pair<UniqueFd, UniqueFd> fds = socket_pair();
  TlsClient tls_client;
  SslPtr client;
  std::unique_ptr<TlsTransport> server = TlsTransport::create(context, fds.second.get());

  explicit TlsPair(TlsClientOptions options = {})
      : tls_client(std::move(options)), client(tls_client.connect(fds.first.get())) {
    REQUIRE(server);
    std::signal(SIGPIPE, SIG_IGN);  // as main() does: a write to a closed peer is EPIPE
  }

  HandshakeOutcome handshake() {
    return run_handshake(client.get(), [this] {
      switch (server->handshake()) {
        case HandshakeStatus::kDone:
          return Step::kDone;
        case HandshakeStatus::kWantRead:
        case HandshakeStatus::kWantWrite:
          return Step::kAgain;
        default:
          return Step::kFailed;
      }
    });
  }

  // Reads what the client can now; "" when nothing is there.
  std::string client_read() {
    std::string out;
    char chunk[64 * 1024];
    for (;;) {
      size_t got = 0;
      if (SSL_read_ex(client.get(), chunk, sizeof chunk, &got) != 1) break;
      out.append(chunk, got);
    }
    ERR_clear_error();
    return out;
  }

  void client_write(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      size_t n = 0;
      REQUIRE(SSL_write_ex(client.get(), data.data() + done, data.size() - done, &n) == 1);
      done += n;
    }
  }
};

}  // namespace

TEST_CASE("plain transport: read_into and write_from of the socket, as they are", "[transport]") {
  auto [a, b] = socket_pair();
  PlainTransport t(b.get());
  CHECK(t.handshake() == HandshakeStatus::kDone);
  CHECK(t.scheme() == "http");
  EvbufferPtr in(evbuffer_new());
  CHECK(t.read_into(in.get(), 4096) == -1);
  CHECK(errno == EAGAIN);
  CHECK(t.want() == IoWait::kRead);
  REQUIRE(::write(a.get(), "GET / HTTP/1.1\r\n\r\n", 18) == 18);
  CHECK(t.read_into(in.get(), 4096) == 18);
  CHECK(drain(in.get()) == "GET / HTTP/1.1\r\n\r\n");
  CHECK_FALSE(t.has_buffered_input());

  EvbufferPtr out(evbuffer_new());
  const std::string big = pattern(4 * 1024 * 1024);  // more than the socket buffers take
  evbuffer_add(out.get(), big.data(), big.size());
  const ssize_t n = t.write_from(out.get());
  CHECK(n > 0);
  CHECK(static_cast<size_t>(n) + evbuffer_get_length(out.get()) == big.size());
  CHECK(t.write_from(out.get()) == -1);
  CHECK(errno == EAGAIN);
  CHECK(t.want() == IoWait::kWrite);

  auto [c, d] = socket_pair();
  PlainTransport closed(d.get());
  c.reset();
  CHECK(closed.read_into(in.get(), 4096) == 0);
}

TEST_CASE("tls transport: handshake, then bytes both ways", "[transport][tls]") {
  TlsPair p;
  HandshakeOutcome out = p.handshake();
  REQUIRE(out.client_ok);
  REQUIRE(out.server_ok);
  CHECK(p.server->scheme() == "https");
  CHECK(SSL_version(p.server->ssl()) == TLS1_3_VERSION);

  EvbufferPtr in(evbuffer_new());
  CHECK(p.server->read_into(in.get(), 4096) == -1);
  CHECK(errno == EAGAIN);
  CHECK(p.server->want() == IoWait::kRead);
  CHECK_FALSE(p.server->has_buffered_input());

  p.client_write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(p.server->read_into(in.get(), 4096) == 35);
  CHECK(drain(in.get()) == "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");

  EvbufferPtr reply(evbuffer_new());
  evbuffer_add_printf(reply.get(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  CHECK(p.server->write_from(reply.get()) == 40);
  CHECK(evbuffer_get_length(reply.get()) == 0);
  CHECK(p.client_read() == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  CHECK(p.server->error().empty());
}

// SSL_get_error() blames the SSL call for whatever is on the thread's error
// queue; the transport empties the queue before each call (cheaply, so only
// when something is there), so an error some other OpenSSL user left behind
// does not turn a read that would block, or a write, into a TLS failure.
TEST_CASE("tls transport: an error left on the thread's queue fails no read or write",
          "[transport][tls]") {
  TlsPair p;
  HandshakeOutcome out = p.handshake();
  REQUIRE(out.server_ok);
  auto leave_error = [] {
    ERR_raise(ERR_LIB_SSL, SSL_R_BAD_PACKET);
    REQUIRE(ERR_peek_error() != 0);
  };

  EvbufferPtr in(evbuffer_new());
  leave_error();
  CHECK(p.server->read_into(in.get(), 4096) == -1);
  CHECK(errno == EAGAIN);
  CHECK(p.server->error().empty());

  p.client_write("GET / HTTP/1.1\r\n\r\n");
  leave_error();
  CHECK(p.server->read_into(in.get(), 4096) == 18);

  EvbufferPtr reply(evbuffer_new());
  evbuffer_add_printf(reply.get(), "HTTP/1.1 204 No Content\r\n\r\n");
  leave_error();
  CHECK(p.server->write_from(reply.get()) == 27);
  CHECK(p.client_read() == "HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(p.server->error().empty());
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("tls transport: a request sent with the client's last flight is read at once",
          "[transport][tls]") {
  TlsPair p;
  // The client finishes first (TLS 1.3: it has the server's Finished) and
  // sends its request right behind its own Finished, before the server has
  // read either. Read-ahead takes both off the socket in one read: no read
  // event will announce the request.
  bool client_done = false;
  for (int round = 0; round < 10 && !client_done; ++round) {
    client_done = handshake_step(p.client.get()) == Step::kDone;
    if (!client_done) REQUIRE(p.server->handshake() == HandshakeStatus::kWantRead);
  }
  REQUIRE(client_done);
  p.client_write("GET /early HTTP/1.1\r\n\r\n");
  REQUIRE(p.server->handshake() == HandshakeStatus::kDone);
  CHECK(p.server->has_buffered_input());
  char byte = 0;
  CHECK(::recv(p.fds.second.get(), &byte, 1, MSG_PEEK) == -1);  // nothing left in the socket
  EvbufferPtr in(evbuffer_new());
  CHECK(p.server->read_into(in.get(), 4096) == 23);
  CHECK(drain(in.get()) == "GET /early HTTP/1.1\r\n\r\n");
  CHECK_FALSE(p.server->has_buffered_input());
}

TEST_CASE("tls transport: a read stopped by its limit leaves the rest buffered",
          "[transport][tls]") {
  TlsPair p;
  REQUIRE(p.handshake().server_ok);
  const std::string data = pattern(40000);  // three records, read ahead in one read(2)
  p.client_write(data);
  EvbufferPtr in(evbuffer_new());
  std::string got;
  int reads = 0;
  while (got.size() < data.size() && reads < 100) {
    const ssize_t n = p.server->read_into(in.get(), 1000);
    REQUIRE(n > 0);
    CHECK(n <= 1000);
    got += drain(in.get());
    ++reads;
    // Whatever is not returned yet is in the transport, not the socket.
    CHECK(p.server->has_buffered_input() == (got.size() < data.size()));
  }
  CHECK(got == data);
  CHECK(p.server->read_into(in.get(), 1000) == -1);
  CHECK(errno == EAGAIN);
}

TEST_CASE("tls transport: large transfers through small socket buffers", "[transport][tls]") {
  TlsPair p;
  REQUIRE(p.handshake().server_ok);
  // Small kernel buffers: records go out in pieces, SSL_write_ex wants to be
  // retried in the middle of one, with more appended to the buffer meanwhile.
  int small = 4096;
  REQUIRE(setsockopt(p.fds.second.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  REQUIRE(setsockopt(p.fds.first.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);

  const std::string down = pattern(3 * 1024 * 1024 + 123);
  EvbufferPtr out(evbuffer_new());
  size_t queued = 0;
  std::string received;
  int would_block = 0;
  for (int round = 0; round < 200000 && received.size() < down.size(); ++round) {
    // Append in small pieces (a fragmented buffer), more than the socket takes.
    while (evbuffer_get_length(out.get()) < 64 * 1024 && queued < down.size()) {
      const size_t piece = std::min<size_t>(1000, down.size() - queued);
      evbuffer_add(out.get(), down.data() + queued, piece);
      queued += piece;
    }
    if (evbuffer_get_length(out.get()) > 0) {
      const ssize_t n = p.server->write_from(out.get());
      if (n < 0) {
        REQUIRE(errno == EAGAIN);
        CHECK(p.server->want() == IoWait::kWrite);
        ++would_block;
      }
    }
    received += p.client_read();
  }
  CHECK(would_block > 0);
  REQUIRE(received.size() == down.size());
  CHECK(received == down);

  // And up: the client writes, the server reads in a bounded window.
  const std::string up = pattern(2 * 1024 * 1024 + 7);
  std::string got;
  EvbufferPtr in(evbuffer_new());
  size_t sent = 0;
  for (int round = 0; round < 200000 && got.size() < up.size(); ++round) {
    if (sent < up.size()) {
      size_t n = 0;
      if (SSL_write_ex(p.client.get(), up.data() + sent, std::min<size_t>(50000, up.size() - sent),
                       &n) == 1) {
        sent += n;
      }
      ERR_clear_error();
    }
    for (;;) {
      const ssize_t n = p.server->read_into(in.get(), 64 * 1024);
      if (n > 0) {
        got += drain(in.get());
        continue;
      }
      REQUIRE(n == -1);
      REQUIRE(errno == EAGAIN);
      break;
    }
  }
  REQUIRE(got.size() == up.size());
  CHECK(got == up);
}

TEST_CASE("tls transport: the end of the stream, with and without close_notify",
          "[transport][tls]") {
  EvbufferPtr in(evbuffer_new());
  {
    TlsPair p;
    REQUIRE(p.handshake().server_ok);
    p.client_write("last words");
    REQUIRE(SSL_shutdown(p.client.get()) == 0);  // close_notify sent
    CHECK(p.server->read_into(in.get(), 4096) == 10);
    CHECK(drain(in.get()) == "last words");
    CHECK(p.server->read_into(in.get(), 4096) == 0);
    CHECK(p.server->read_into(in.get(), 4096) == 0);  // and stays so
  }
  {
    TlsPair p;
    REQUIRE(p.handshake().server_ok);
    CHECK(p.client_read().empty());  // takes the session ticket
    p.client.reset();                // no close_notify: an HTTP client may just close
    p.fds.first.reset();
    CHECK(p.server->read_into(in.get(), 4096) == 0);
    EvbufferPtr out(evbuffer_new());
    evbuffer_add(out.get(), "late", 4);
    CHECK(p.server->write_from(out.get()) == -1);
    CHECK(errno == EPIPE);
    CHECK_FALSE(p.server->error().empty());
    CHECK(evbuffer_get_length(out.get()) == 4);
  }
  {
    // A reset (here: closed with the session ticket unread) is an error.
    TlsPair p;
    REQUIRE(p.handshake().server_ok);
    p.client.reset();
    p.fds.first.reset();
    CHECK(p.server->read_into(in.get(), 4096) == -1);
    CHECK(errno == ECONNRESET);
    CHECK(p.server->read_into(in.get(), 4096) == -1);  // and stays so
    CHECK(errno == ECONNRESET);
    CHECK(p.server->error() == "Connection reset by peer");
  }
  {
    // The server ends the session: the client reads a close_notify.
    TlsPair p;
    REQUIRE(p.handshake().server_ok);
    p.server->shutdown();
    char byte = 0;
    size_t got = 0;
    CHECK(SSL_read_ex(p.client.get(), &byte, 1, &got) == 0);
    CHECK(SSL_get_error(p.client.get(), 0) == SSL_ERROR_ZERO_RETURN);
    ERR_clear_error();
  }
}

TEST_CASE("tls transport: plain HTTP on the TLS port is detected and left readable",
          "[transport][tls]") {
  for (const std::string request : {"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                                    "PURGE /a HTTP/1.1\r\n\r\n", "\r\nGET / HTTP/1.0\r\n\r\n"}) {
    INFO(request);
    TlsPair p;
    CHECK(p.server->handshake() == HandshakeStatus::kWantRead);  // nothing sent yet
    CHECK(p.server->want() == IoWait::kRead);
    REQUIRE(::write(p.fds.first.get(), request.data(), request.size()) ==
            static_cast<ssize_t>(request.size()));
    CHECK(p.server->handshake() == HandshakeStatus::kPlainHttp);
    CHECK(p.server->handshake() == HandshakeStatus::kPlainHttp);
    CHECK(p.server->error() == "plain HTTP sent to the TLS port");
    CHECK(p.server->ssl() == nullptr);
    // The request is intact, and the answer goes out in plain text.
    EvbufferPtr in(evbuffer_new());
    CHECK(p.server->read_into(in.get(), 4096) == static_cast<ssize_t>(request.size()));
    CHECK(drain(in.get()) == request);
    EvbufferPtr out(evbuffer_new());
    evbuffer_add_printf(out.get(), "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    CHECK(p.server->write_from(out.get()) == 47);
    char answer[64] = {};
    CHECK(::read(p.fds.first.get(), answer, sizeof answer) == 47);
    CHECK(std::string(answer).rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  }
}

TEST_CASE("tls transport: failed handshakes and clients that leave before one",
          "[transport][tls]") {
  {
    TlsPair p;
    CHECK(p.server->handshake() == HandshakeStatus::kWantRead);
    p.fds.first.reset();  // connected and left: not a handshake attempt
    CHECK(p.server->handshake() == HandshakeStatus::kClosed);
  }
  {
    TlsPair p;
    const char garbage[] = {0x16, 0x09, 0x09, 0x00, 0x05,
                            0x01, 0x02, 0x03, 0x04, 0x05};  // no such version
    REQUIRE(::write(p.fds.first.get(), garbage, sizeof garbage) == sizeof garbage);
    // The first step only waits for the event loop, even with bytes there.
    CHECK(p.server->handshake() == HandshakeStatus::kWantRead);
    CHECK(p.server->handshake() == HandshakeStatus::kFailed);
    CHECK_FALSE(p.server->error().empty());
    CHECK(p.server->handshake() == HandshakeStatus::kFailed);
    EvbufferPtr in(evbuffer_new());
    CHECK(p.server->read_into(in.get(), 10) == -1);
  }
  {
    TlsPair p({.min_version = TLS1_1_VERSION, .max_version = TLS1_1_VERSION});
    HandshakeOutcome out = p.handshake();
    CHECK_FALSE(out.client_ok);
    CHECK_FALSE(out.server_ok);
    CHECK(p.server->handshake() == HandshakeStatus::kFailed);
    CHECK(p.server->error() == "unsupported protocol");
  }
  {
    TlsPair p;
    REQUIRE(handshake_step(p.client.get()) == Step::kAgain);  // ClientHello sent
    p.client.reset();
    p.fds.first.reset();  // gone in the middle of the handshake
    CHECK(p.server->handshake() == HandshakeStatus::kWantRead);
    HandshakeStatus status = p.server->handshake();
    CHECK(status == HandshakeStatus::kFailed);
    CHECK_FALSE(p.server->error().empty());
  }
}
