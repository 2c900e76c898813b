// In-process TLS for the unit tests: a non-blocking socketpair, a client
// SSL_CTX with chosen versions, trust, SNI and ALPN, and a loop that steps a
// client and a server handshake in turn until both are done or one fails.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "routemeter/event_handles.hpp"
#include "routemeter/tls_certificate.hpp"

namespace routemeter::testing {

// A connected pair of non-blocking stream sockets: [0] client, [1] server.
inline std::pair<UniqueFd, UniqueFd> socket_pair() {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

struct TlsClientOptions {
  std::string trusted_pem{};  // verify the server against this certificate; "" = no checking
  std::string server_name{};  // SNI (and the name verified); "" = no SNI
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  std::vector<std::string> alpn{};  // offered protocols; empty = no ALPN extension
};

// A client SSL_CTX and the SSLs made from it.
class TlsClient {
 public:
  explicit TlsClient(TlsClientOptions options) : options_(std::move(options)) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    REQUIRE(ctx_);
    if (options_.min_version < TLS1_2_VERSION) {
      // Old versions need the old suites, which the default security level refuses.
      SSL_CTX_set_security_level(ctx_.get(), 0);
      REQUIRE(SSL_CTX_set_cipher_list(ctx_.get(), "DEFAULT:@SECLEVEL=0") == 1);
    }
    REQUIRE(SSL_CTX_set_min_proto_version(ctx_.get(), options_.min_version) == 1);
    REQUIRE(SSL_CTX_set_max_proto_version(ctx_.get(), options_.max_version) == 1);
    SSL_CTX_set_session_cache_mode(ctx_.get(), SSL_SESS_CACHE_CLIENT);
    if (!options_.trusted_pem.empty()) {
      std::string error;
      CertificateChain trusted = parse_certificate_chain(options_.trusted_pem, &error);
      REQUIRE(trusted.leaf);
      X509_STORE* store = SSL_CTX_get_cert_store(ctx_.get());
      REQUIRE(X509_STORE_add_cert(store, trusted.leaf.get()) == 1);
      SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    }
    if (!options_.alpn.empty()) {
      std::string wire;
      for (const std::string& p : options_.alpn) wire += static_cast<char>(p.size()) + p;
      REQUIRE(SSL_CTX_set_alpn_protos(ctx_.get(),
                                      reinterpret_cast<const unsigned char*>(wire.data()),
                                      static_cast<unsigned>(wire.size())) == 0);
    }
  }

  SSL_CTX* ctx() const { return ctx_.get(); }

  // A client SSL on `fd`, resuming `session` when given.
  SslPtr connect(int fd, SSL_SESSION* session = nullptr) const {
    SslPtr ssl(SSL_new(ctx_.get()));
    REQUIRE(ssl);
    REQUIRE(SSL_set_fd(ssl.get(), fd) == 1);
    SSL_set_connect_state(ssl.get());
    SSL_set_mode(ssl.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (!options_.server_name.empty()) {
      REQUIRE(SSL_set_tlsext_host_name(ssl.get(), options_.server_name.c_str()) == 1);
      if (!options_.trusted_pem.empty()) {
        REQUIRE(SSL_set1_host(ssl.get(), options_.server_name.c_str()) == 1);
      }
    }
    if (session != nullptr) REQUIRE(SSL_set_session(ssl.get(), session) == 1);
    return ssl;
  }

 private:
  TlsClientOptions options_;
  SslCtxPtr ctx_;
};

enum class Step { kDone, kAgain, kFailed };

// One SSL_do_handshake of either side.
inline Step handshake_step(SSL* ssl) {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl);
  if (rc == 1) return Step::kDone;
  const int err = SSL_get_error(ssl, rc);
  ERR_clear_error();
  return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? Step::kAgain : Step::kFailed;
}

struct HandshakeOutcome {
  bool client_ok = false;
  bool server_ok = false;
};

// Steps both sides in turn (the socketpair buffers every flight) until both
// are done or either fails.
inline HandshakeOutcome run_handshake(SSL* client, const std::function<Step()>& server_step) {
  HandshakeOutcome out;
  bool client_failed = false;
  bool server_failed = false;
  for (int round = 0; round < 50; ++round) {
    if (!out.client_ok && !client_failed) {
      const Step s = handshake_step(client);
      out.client_ok = s == Step::kDone;
      client_failed = s == Step::kFailed;
    }
    if (!out.server_ok && !server_failed) {
      const Step s = server_step();
      out.server_ok = s == Step::kDone;
      server_failed = s == Step::kFailed;
    }
    if ((out.client_ok || client_failed) && (out.server_ok || server_failed)) break;
  }
  return out;
}

// The first DNS name of the certificate the client got.
inline std::string peer_name(SSL* client) {
  X509* cert = SSL_get0_peer_certificate(client);
  if (cert == nullptr) return "";
  std::vector<std::string> names = certificate_dns_names(cert);
  return names.empty() ? "" : names.front();
}

// The ALPN protocol the handshake settled on ("" for none).
inline std::string alpn_of(SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl, &data, &length);
  return std::string(reinterpret_cast<const char*>(data), length);
}

}  // namespace routemeter::testing
