#include "tls_client.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>

namespace routemeter::test {
namespace {

std::string ssl_error() {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  return buf;
}

}  // namespace

TlsTestClient::TlsTestClient(uint16_t port, const TlsClientOptions& options) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx_, options.min_version);
  SSL_CTX_set_max_proto_version(ctx_, options.max_version);
  // Old versions are off at Debian's default security level on the client
  // side too: level 0 lets a test offer them.
  if (options.min_version < TLS1_2_VERSION) SSL_CTX_set_security_level(ctx_, 0);
  if (!options.ca_pem.empty()) {
    BIO* bio = BIO_new_mem_buf(options.ca_pem.data(), static_cast<int>(options.ca_pem.size()));
    X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca);
    X509_free(ca);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!options.alpn.empty()) {
    std::string wire;
    for (const std::string& p : options.alpn) wire += static_cast<char>(p.size()) + p;
    SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    error_ = "connect failed";
    return;
  }
  timeval tv{5, 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  if (!options.server_name.empty()) {
    SSL_set_tlsext_host_name(ssl_, options.server_name.c_str());
    if (!options.ca_pem.empty()) SSL_set1_host(ssl_, options.server_name.c_str());
  }
  if (options.session != nullptr) SSL_set_session(ssl_, options.session);
  if (SSL_connect(ssl_) != 1) {
    error_ = "handshake failed: " + ssl_error();
    return;
  }
  ok_ = true;
}

TlsTestClient::~TlsTestClient() {
  if (ssl_ != nullptr) {
    // Without a close_notify OpenSSL marks the session not resumable.
    if (ok_) SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

std::string TlsTestClient::peer_common_name() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return "";
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  return cn;
}

std::string TlsTestClient::alpn() const {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return std::string(reinterpret_cast<const char*>(p), len);
}

bool TlsTestClient::session_reused() const { return SSL_session_reused(ssl_) == 1; }

SSL_SESSION* TlsTestClient::take_session() const { return SSL_get1_session(ssl_); }

Response TlsTestClient::request(const std::string& raw_request, milliseconds timeout) {
  Response r;
  if (SSL_write(ssl_, raw_request.data(), static_cast<int>(raw_request.size())) <= 0) {
    r.error = "write failed: " + ssl_error();
    return r;
  }
  std::string data;
  const auto deadline = Clock::now() + timeout;
  size_t head_end = std::string::npos;
  uint64_t length = 0;
  while (Clock::now() < deadline) {
    if (head_end != std::string::npos && data.size() >= head_end + 4 + length) break;
    char buf[16384];
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (n <= 0) {
      r.closed_by_peer = true;
      break;
    }
    data.append(buf, static_cast<size_t>(n));
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end == std::string::npos) continue;
      const std::string head = data.substr(0, head_end);
      if (head.size() > 12) std::from_chars(head.data() + 9, head.data() + 12, r.status);
      size_t line = head.find("\r\n");
      while (line != std::string::npos) {
        const size_t next = head.find("\r\n", line + 2);
        const std::string field =
            head.substr(line + 2, next == std::string::npos ? std::string::npos : next - line - 2);
        const size_t colon = field.find(':');
        if (colon != std::string::npos) {
          std::string value = field.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.erase(0, 1);
          r.headers.fields.emplace_back(field.substr(0, colon), value);
          if (iequals(field.substr(0, colon), "content-length")) length = std::stoull(value);
        }
        line = next;
      }
    }
  }
  if (head_end != std::string::npos) {
    r.body = data.substr(head_end + 4);
    r.complete = r.body.size() == length;
  }
  return r;
}

}  // namespace routemeter::test
