// The server side of TLS for one loaded config (docs/tls.md): one SSL_CTX per
// [[tls.certificate]] (its leaf, chain and key), TLS 1.2/1.3 only (from
// `min_version` up), no renegotiation, session resumption (TLS 1.3 tickets,
// TLS 1.2 tickets and a session-ID cache), ALPN http/1.1, and an SNI callback
// that picks the certificate: exact name, then the "*." name of its parent,
// else the first certificate.
//
// Built from the config at (re)load time, then immutable: shared by every
// worker as shared_ptr<const TlsContext>; any thread may call new_ssl() and
// select(). A reload builds a new one. An SSL made by new_ssl() calls back into
// this object during its handshake (SNI), so whoever holds the SSL also holds
// the shared_ptr (TlsTransport does): an open connection keeps the context it
// started with, and its certificates, until it closes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "routemeter/config.hpp"
#include "routemeter/tls_certificate.hpp"

namespace routemeter {

// What the expiry metric and the logs show about one served certificate.
struct TlsCertificateInfo {
  // The certificate's first DNS name (else its subject CN, else its file);
  // unique within a context: a repeated one gets " #<position>" (1-based).
  std::string name;
  std::string cert_path;
  std::vector<std::string> server_names;  // as configured or defaulted
  int64_t not_after = 0;                  // seconds since the Unix epoch
};

class TlsContext {
 public:
  // Builds the contexts of `config` (its certificates as validated by the
  // config loader). Null and `error` set when OpenSSL refuses something.
  static std::shared_ptr<const TlsContext> build(const TlsConfig& config, std::string* error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A server-side SSL on the accepted, non-blocking socket `fd` (not owned),
  // in accept state, on the first certificate's context until SNI picks
  // another. Partial writes and moving write buffers are enabled. Null when
  // OpenSSL fails (out of memory). The caller keeps this object alive for as
  // long as the SSL exists.
  SslPtr new_ssl(int fd) const;

  // The index of the certificate for an SNI host name: the certificate
  // serving exactly that name, else the one serving "*.<parent domain>" (a
  // wildcard covers one label), else 0. Case-insensitive; a trailing dot is
  // ignored.
  size_t select(std::string_view server_name) const;

  const std::vector<TlsCertificateInfo>& certificates() const { return certificates_; }

 private:
  TlsContext() = default;
  // SNI: switches `ssl` to the chosen certificate's context.
  int on_server_name(SSL* ssl) const;

  std::vector<SslCtxPtr> contexts_;  // [certificate]; contexts_[0] makes every SSL
  std::vector<TlsCertificateInfo> certificates_;
  // Lower-cased names ("a.example.com", "*.example.com") -> certificate index;
  // the first certificate listing a name wins.
  std::unordered_map<std::string, size_t> names_;
};

}  // namespace routemeter
