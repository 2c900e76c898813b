#include "routemeter/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cctype>

namespace routemeter {
namespace {

// Every SSL starts on contexts_[0], whose session cache and ticket keys
// serve the resumptions of every certificate (OpenSSL keeps them in the
// initial context); the same id context lets a session survive the SNI switch.
constexpr unsigned char kSessionIdContext[] = "routemeter";

// TLS 1.2 suites: forward-secret AEADs only (Mozilla's "intermediate" list);
// TLS 1.3 keeps OpenSSL's defaults, which are all of that kind.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// With read-ahead, one read(2) takes up to this much of what the socket
// holds instead of each record's header and body separately. Released
// between reads (SSL_MODE_RELEASE_BUFFERS), so an idle connection holds none.
constexpr size_t kReadBufferBytes = 64 * 1024;

// ALPN, wire format: length-prefixed protocol names.
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// A client that offers ALPN without http/1.1 gets the fatal
// no_application_protocol alert (RFC 7301 3.2); one that offers none is served.
int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length,
                const unsigned char* in, unsigned int in_length, void* /*arg*/) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kAlpnHttp11, sizeof kAlpnHttp11, in,
                            in_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

SslCtxPtr make_context(const TlsConfig& config, const TlsCertificateConfig& cert,
                       const CertificateChain& chain, EVP_PKEY* key, std::string* error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    *error = "SSL_CTX_new: " + take_openssl_error();
    return nullptr;
  }
  SSL_CTX* c = ctx.get();
  const int min = config.min_version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(c, min) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1 ||
      SSL_CTX_set_session_id_context(c, kSessionIdContext, sizeof kSessionIdContext - 1) != 1) {
    *error = "setting up the TLS context: " + take_openssl_error();
    return nullptr;
  }
  // No renegotiation (a client-initiated one is a cheap way to burn server
  // CPU); no compression (CRIME); a peer closing without close_notify is an
  // ordinary end of stream, as HTTP/1.1 framing already says where a message
  // ends.
  SSL_CTX_set_options(
      c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(c, 1);
  SSL_CTX_set_default_read_buffer_len(c, kReadBufferBytes);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
  // One TLS 1.3 ticket per full handshake (OpenSSL sends 2): a client
  // resumes once per new connection anyway.
  SSL_CTX_set_num_tickets(c, 1);
  SSL_CTX_set_alpn_select_cb(c, select_alpn, nullptr);
  if (!use_certificate(c, chain, key, error)) {
    *error = "tls certificate " + cert.cert_path + ": " + *error;
    return nullptr;
  }
  return ctx;
}

}  // namespace

TlsContext::~TlsContext() = default;

std::shared_ptr<const TlsContext> TlsContext::build(const TlsConfig& config, std::string* error) {
  std::shared_ptr<TlsContext> out(new TlsContext());
  for (size_t i = 0; i < config.certificates.size(); ++i) {
    const TlsCertificateConfig& cert = config.certificates[i];
    CertificateChain chain = parse_certificate_chain(cert.cert_pem, error);
    if (!chain.leaf) {
      *error = "tls certificate " + cert.cert_path + ": " + *error;
      return nullptr;
    }
    EvpPkeyPtr key = parse_private_key(cert.key_pem, error);
    if (!key) {
      *error = "tls key " + cert.key_path + ": " + *error;
      return nullptr;
    }
    SslCtxPtr ctx = make_context(config, cert, chain, key.get(), error);
    if (!ctx) return nullptr;

    TlsCertificateInfo info;
    std::vector<std::string> dns = certificate_dns_names(chain.leaf.get());
    info.name = !dns.empty() ? dns.front() : certificate_common_name(chain.leaf.get());
    if (info.name.empty()) info.name = cert.cert_path;
    for (const TlsCertificateInfo& seen : out->certificates_) {
      if (seen.name == info.name) {
        info.name += " #" + std::to_string(i + 1);
        break;
      }
    }
    info.cert_path = cert.cert_path;
    info.server_names = cert.server_names;
    info.not_after = certificate_not_after(chain.leaf.get());
    for (const std::string& name : cert.server_names) out->names_.emplace(lower(name), i);
    out->certificates_.push_back(std::move(info));
    out->contexts_.push_back(std::move(ctx));
  }
  if (out->contexts_.empty()) {
    *error = "tls: no certificate";
    return nullptr;
  }
  // Only the first context makes SSLs, so only its SNI callback runs.
  SSL_CTX* first = out->contexts_.front().get();
  SSL_CTX_set_tlsext_servername_callback(
      first, +[](SSL* ssl, int* /*alert*/, void* arg) {
        return static_cast<const TlsContext*>(arg)->on_server_name(ssl);
      });
  SSL_CTX_set_tlsext_servername_arg(first, out.get());
  return out;
}

SslPtr TlsContext::new_ssl(int fd) const {
  clear_openssl_errors();
  SslPtr ssl(SSL_new(contexts_.front().get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_accept_state(ssl.get());
  return ssl;
}

size_t TlsContext::select(std::string_view server_name) const {
  if (!server_name.empty() && server_name.back() == '.') server_name.remove_suffix(1);
  if (server_name.empty()) return 0;
  std::string name = lower(server_name);
  if (auto it = names_.find(name); it != names_.end()) return it->second;
  const size_t dot = name.find('.');
  if (dot == std::string::npos || dot == 0) return 0;
  name.replace(0, dot, "*");
  if (auto it = names_.find(name); it != names_.end()) return it->second;
  return 0;
}

int TlsContext::on_server_name(SSL* ssl) const {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_NOACK;  // no SNI: the first certificate
  const size_t index = select(name);
  if (index != 0 && SSL_set_SSL_CTX(ssl, contexts_[index].get()) == nullptr) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace routemeter
