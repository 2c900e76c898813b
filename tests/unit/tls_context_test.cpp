// TlsContext: real handshakes in-process (a client SSL against the server SSL
// the context makes, over a socketpair): SNI picks the certificate (exact,
// wildcard, default), the chain is sent, ALPN settles on http/1.1, old
// versions and renegotiation are refused, sessions resume.
#include "routemeter/tls_context.hpp"

#include <openssl/ssl.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "test_certificates.hpp"
#include "tls_test_support.hpp"

using namespace routemeter;
using namespace routemeter::testing;

namespace {

TlsCertificateConfig certificate_config(const TestCertificate& cert, const std::string& chain_pem,
                                        std::vector<std::string> server_names,
                                        const std::string& path) {
  TlsCertificateConfig c;
  c.cert_path = path;
  c.key_path = path + ".key";
  c.cert_pem = cert.cert_pem + chain_pem;
  c.key_pem = cert.key_pem;
  c.server_names = std::move(server_names);
  return c;
}

// Two certificates signed by one test CA: shop (the default) and car.
struct Setup {
  TestCertificate ca = make_certificate({.dns_names = {}, .common_name = "test CA", .is_ca = true});
  TestCertificate shop =
      make_certificate({.dns_names = {"shop.example.test", "*.shop.example.test"}, .issuer = &ca});
  TestCertificate car =
      make_certificate({.dns_names = {"car.example.test", "*.example.test"}, .issuer = &ca});
  TlsConfig config;
  std::shared_ptr<const TlsContext> context;

  explicit Setup(TlsVersion min = TlsVersion::kTls12) {
    config.min_version = min;
    config.certificates.push_back(certificate_config(
        shop, "", {"shop.example.test", "*.shop.example.test"}, "/etc/shop.pem"));
    config.certificates.push_back(
        certificate_config(car, "", {"car.example.test", "*.example.test"}, "/etc/car.pem"));
    std::string error;
    context = TlsContext::build(config, &error);
    INFO(error);
    REQUIRE(context);
  }
};

// One connection: a client SSL and the server SSL of `context`.
struct Connection {
  std::pair<UniqueFd, UniqueFd> fds = socket_pair();
  SslPtr client;
  SslPtr server;

  Connection(const TlsClient& tls_client, const TlsContext& context, SSL_SESSION* session = nullptr)
      : client(tls_client.connect(fds.first.get(), session)),
        server(context.new_ssl(fds.second.get())) {
    REQUIRE(server);
  }
  HandshakeOutcome handshake() {
    return run_handshake(client.get(), [this] { return handshake_step(server.get()); });
  }
};

}  // namespace

TEST_CASE("tls context: select() by exact name, one-label wildcard, else the first", "[tls]") {
  Setup s;
  struct Case {
    const char* name;
    size_t index;
  };
  const Case cases[] = {
      {"shop.example.test", 0},
      {"SHOP.Example.Test.", 0},
      {"a.shop.example.test", 0},
      {"car.example.test", 1},
      {"x.example.test", 1},
      {"CAR.EXAMPLE.TEST", 1},
      {"a.b.example.test", 0},  // a wildcard covers one label
      {"example.test", 0},
      {"unknown.org", 0},
      {"", 0},
      {".", 0},
      {"localhost", 0},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(s.context->select(c.name) == c.index);
  }
}

TEST_CASE("tls context: SNI picks the certificate, and its chain is sent", "[tls]") {
  // A root, an intermediate and a leaf: the client trusts only the root, so
  // verification passes only if the server sends the intermediate.
  TestCertificate root = make_certificate({.dns_names = {}, .common_name = "root", .is_ca = true});
  TestCertificate intermediate = make_certificate(
      {.dns_names = {}, .common_name = "intermediate", .is_ca = true, .issuer = &root});
  TestCertificate leaf =
      make_certificate({.dns_names = {"chain.example.test"}, .issuer = &intermediate});
  Setup s;
  TlsConfig config = s.config;
  config.certificates.push_back(
      certificate_config(leaf, intermediate.cert_pem, {"chain.example.test"}, "/etc/chain.pem"));
  std::string error;
  auto context = TlsContext::build(config, &error);
  REQUIRE(context);

  struct Case {
    const char* sni;
    const char* expected;  // the first DNS name of the certificate served
    const std::string* trusted;
  };
  const Case cases[] = {
      {"shop.example.test", "shop.example.test", &s.ca.cert_pem},
      {"api.shop.example.test", "shop.example.test", &s.ca.cert_pem},
      {"car.example.test", "car.example.test", &s.ca.cert_pem},
      {"www.example.test", "car.example.test", &s.ca.cert_pem},
      {"chain.example.test", "chain.example.test", &root.cert_pem},
      {"unknown.org", "shop.example.test", nullptr},  // the default (the name does not verify)
      {"", "shop.example.test", nullptr},             // no SNI at all
  };
  for (const Case& c : cases) {
    INFO("SNI " << c.sni);
    TlsClient client({.trusted_pem = c.trusted ? *c.trusted : "", .server_name = c.sni});
    Connection conn(client, *context);
    HandshakeOutcome out = conn.handshake();
    CHECK(out.client_ok);
    CHECK(out.server_ok);
    CHECK(peer_name(conn.client.get()) == c.expected);
    if (c.trusted != nullptr) CHECK(SSL_get_verify_result(conn.client.get()) == X509_V_OK);
  }
}

TEST_CASE("tls context: ALPN settles on http/1.1; a client without it is refused", "[tls]") {
  Setup s;
  struct Case {
    std::vector<std::string> offered;
    bool ok;
    const char* selected;
  };
  const std::vector<Case> cases = {
      {{"h2", "http/1.1"}, true, "http/1.1"},
      {{"http/1.1"}, true, "http/1.1"},
      {{}, true, ""},  // no ALPN extension: served, nothing selected
      {{"h2"}, false, ""},
      {{"http/1.0", "spdy/3"}, false, ""},
  };
  for (const Case& c : cases) {
    INFO("offered " << c.offered.size() << " protocols, first "
                    << (c.offered.empty() ? "-" : c.offered[0]));
    TlsClient client({.alpn = c.offered});
    Connection conn(client, *s.context);
    HandshakeOutcome out = conn.handshake();
    CHECK(out.client_ok == c.ok);
    CHECK(out.server_ok == c.ok);
    if (c.ok) {
      CHECK(alpn_of(conn.client.get()) == c.selected);
      CHECK(alpn_of(conn.server.get()) == c.selected);
    }
  }
}

TEST_CASE("tls context: TLS 1.3 and 1.2 are served, 1.1 and 1.0 refused", "[tls]") {
  Setup s;
  struct Case {
    int version;
    bool ok;
  };
  const Case cases[] = {{TLS1_3_VERSION, true},
                        {TLS1_2_VERSION, true},
                        {TLS1_1_VERSION, false},
                        {TLS1_VERSION, false}};
  for (const Case& c : cases) {
    INFO("version " << std::hex << c.version);
    TlsClient client({.min_version = c.version, .max_version = c.version});
    Connection conn(client, *s.context);
    HandshakeOutcome out = conn.handshake();
    CHECK(out.client_ok == c.ok);
    CHECK(out.server_ok == c.ok);
    if (c.ok) CHECK(SSL_version(conn.server.get()) == c.version);
  }
  // Offered a range, the newest wins.
  TlsClient any({});
  Connection conn(any, *s.context);
  REQUIRE(conn.handshake().server_ok);
  CHECK(SSL_version(conn.server.get()) == TLS1_3_VERSION);
  // Refused by routemeter's own setting, not only by the system's OpenSSL
  // configuration (Debian's also says TLSv1.2).
  CHECK(SSL_get_min_proto_version(conn.server.get()) == TLS1_2_VERSION);
  CHECK(SSL_get_max_proto_version(conn.server.get()) == TLS1_3_VERSION);
}

TEST_CASE("tls context: min_version 1.3 refuses a TLS 1.2 client", "[tls]") {
  Setup s(TlsVersion::kTls13);
  TlsClient old({.max_version = TLS1_2_VERSION});
  Connection refused(old, *s.context);
  HandshakeOutcome out = refused.handshake();
  CHECK_FALSE(out.client_ok);
  CHECK_FALSE(out.server_ok);
  TlsClient modern({});
  Connection served(modern, *s.context);
  CHECK(served.handshake().server_ok);
  CHECK(SSL_get_min_proto_version(served.server.get()) == TLS1_3_VERSION);
}

TEST_CASE("tls context: a TLS 1.2 renegotiation is refused", "[tls]") {
  Setup s;
  TlsClient client({.max_version = TLS1_2_VERSION});
  Connection conn(client, *s.context);
  REQUIRE(conn.handshake().server_ok);
  CHECK((SSL_get_options(conn.server.get()) & SSL_OP_NO_RENEGOTIATION) != 0);
  REQUIRE(SSL_renegotiate(conn.client.get()) == 1);
  // The server answers the new ClientHello with a no_renegotiation alert
  // while reading; the client's renegotiation fails. (OpenSSL 3 servers
  // refuse client-initiated renegotiation by default too;
  // SSL_OP_NO_RENEGOTIATION also rules out the server-initiated kind.)
  bool client_failed = false;
  for (int round = 0; round < 20 && !client_failed; ++round) {
    client_failed = handshake_step(conn.client.get()) == Step::kFailed;
    char byte = 0;
    size_t got = 0;
    ERR_clear_error();
    SSL_read_ex(conn.server.get(), &byte, 1, &got);
    ERR_clear_error();
  }
  CHECK(client_failed);
  CHECK(SSL_renegotiate_pending(conn.client.get()) == 1);
}

namespace {

// A client gets a TLS 1.3 session ticket only after the handshake, with the
// first application data it reads.
SSL_SESSION* session_after_exchange(Connection& conn) {
  size_t n = 0;
  REQUIRE(SSL_write_ex(conn.server.get(), "x", 1, &n) == 1);
  char byte = 0;
  for (int round = 0; round < 10 && n != 0; ++round) {
    size_t got = 0;
    if (SSL_read_ex(conn.client.get(), &byte, 1, &got) == 1) break;
    ERR_clear_error();
  }
  CHECK(byte == 'x');
  SSL_SESSION* session = SSL_get1_session(conn.client.get());
  REQUIRE(session != nullptr);
  return session;
}

}  // namespace

TEST_CASE("tls context: a second connection resumes the first one's session", "[tls]") {
  Setup s;
  struct Case {
    int version;
    const char* sni;  // the default certificate and one chosen by SNI
  };
  const Case cases[] = {{TLS1_3_VERSION, "shop.example.test"},
                        {TLS1_3_VERSION, "car.example.test"},
                        {TLS1_2_VERSION, "shop.example.test"},
                        {TLS1_2_VERSION, "car.example.test"}};
  for (const Case& c : cases) {
    INFO("version " << std::hex << c.version << " SNI " << c.sni);
    TlsClient client({.trusted_pem = s.ca.cert_pem,
                      .server_name = c.sni,
                      .min_version = c.version,
                      .max_version = c.version});
    Connection first(client, *s.context);
    REQUIRE(first.handshake().server_ok);
    CHECK_FALSE(SSL_session_reused(first.server.get()));
    SSL_SESSION* session = session_after_exchange(first);

    Connection second(client, *s.context, session);
    HandshakeOutcome out = second.handshake();
    SSL_SESSION_free(session);
    CHECK(out.client_ok);
    CHECK(out.server_ok);
    CHECK(SSL_session_reused(second.client.get()) == 1);
    CHECK(SSL_session_reused(second.server.get()) == 1);
    CHECK(peer_name(second.client.get()) == std::string(c.sni));
  }
}

TEST_CASE("tls context: a session does not resume on a context built by a reload", "[tls]") {
  Setup before;
  TlsClient client({.server_name = "shop.example.test"});
  Connection first(client, *before.context);
  REQUIRE(first.handshake().server_ok);
  SSL_SESSION* session = session_after_exchange(first);
  std::string error;
  auto reloaded = TlsContext::build(before.config, &error);
  REQUIRE(reloaded);
  Connection second(client, *reloaded, session);
  HandshakeOutcome out = second.handshake();
  SSL_SESSION_free(session);
  CHECK(out.server_ok);  // a full handshake instead
  CHECK_FALSE(SSL_session_reused(second.server.get()));
}

TEST_CASE("tls context: certificate facts for the expiry metric", "[tls]") {
  const int64_t not_after = unix_now() + (90 * 86400) + 17;
  TestCertificate a = make_certificate(
      {.dns_names = {"Shop.Example.Test", "www.example.test"}, .not_after = not_after});
  TestCertificate b = make_certificate({.dns_names = {"shop.example.test", "b.example.test"}});
  TestCertificate bare = make_certificate({.dns_names = {}, .common_name = "internal"});
  TestCertificate nameless = make_certificate({.dns_names = {}, .common_name = ""});
  TlsConfig config;
  config.certificates.push_back(certificate_config(a, "", {"shop.example.test"}, "/a.pem"));
  config.certificates.push_back(certificate_config(b, "", {"b.example.test"}, "/b.pem"));
  config.certificates.push_back(certificate_config(bare, "", {"c.example.test"}, "/c.pem"));
  config.certificates.push_back(certificate_config(nameless, "", {"d.example.test"}, "/d.pem"));
  std::string error;
  auto context = TlsContext::build(config, &error);
  REQUIRE(context);
  const auto& certs = context->certificates();
  REQUIRE(certs.size() == 4);
  CHECK(certs[0].name == "shop.example.test");  // the certificate's first DNS name, lower-cased
  CHECK(certs[0].not_after == not_after);
  CHECK(certs[0].cert_path == "/a.pem");
  CHECK(certs[0].server_names == std::vector<std::string>{"shop.example.test"});
  CHECK(certs[1].name == "shop.example.test #2");  // names stay unique
  CHECK(certs[1].not_after == b.not_after);
  CHECK(certs[2].name == "internal");  // no DNS name: the subject CN
  CHECK(certs[3].name == "/d.pem");    // nor a CN: the file
}

TEST_CASE("tls context: the server SSL writes partially and accepts a moved buffer", "[tls]") {
  Setup s;
  auto [client_fd, server_fd] = socket_pair();
  SslPtr ssl = s.context->new_ssl(server_fd.get());
  REQUIRE(ssl);
  const long mode = SSL_get_mode(ssl.get());
  CHECK((mode & SSL_MODE_ENABLE_PARTIAL_WRITE) != 0);
  CHECK((mode & SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER) != 0);
  CHECK((mode & SSL_MODE_RELEASE_BUFFERS) != 0);
  CHECK(SSL_is_server(ssl.get()) == 1);
}
