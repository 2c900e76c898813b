// A blocking TLS client on 127.0.0.1 for the TLS tests, on the OpenSSL API
// (curl and openssl s_client cover the everyday client; this one gives the
// tests the session facts: the peer certificate, ALPN, resumption). One
// connection, one thread.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <string>
#include <vector>

#include "harness.hpp"

namespace routemeter::test {

struct TlsClientOptions {
  std::string ca_pem;       // trusted certificate ("" = no verification)
  std::string server_name;  // SNI ("" = none)
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  std::vector<std::string> alpn;   // offered, in order
  SSL_SESSION* session = nullptr;  // resume this session
};

class TlsTestClient {
 public:
  TlsTestClient(uint16_t port, const TlsClientOptions& options);
  ~TlsTestClient();
  TlsTestClient(const TlsTestClient&) = delete;
  TlsTestClient& operator=(const TlsTestClient&) = delete;

  bool connected() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string peer_common_name() const;
  std::string alpn() const;
  bool session_reused() const;
  // The session for a later resumption (owned by the caller: SSL_SESSION_free).
  SSL_SESSION* take_session() const;
  // One request on the connection; the response read per its Content-Length.
  Response request(const std::string& raw_request, milliseconds timeout = kDefaultTimeout);

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool ok_ = false;
  std::string error_;
};

}  // namespace routemeter::test
