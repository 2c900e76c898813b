// TLS termination ([tls], docs/tls.md) with real clients: curl and openssl
// s_client as users run them, and an OpenSSL-API client for the session's
// facts. Certificates are made by the test (nothing checked in expires).
#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>

#include "proxy_support.hpp"
#include "test_certificates.hpp"
#include "tls_client.hpp"

using namespace routemeter::test;
using routemeter::testing::CertificateSpec;
using routemeter::testing::make_certificate;
using routemeter::testing::TestCertificate;

namespace {

// Two certificates: "site" for site.test (the default), "wild" for *.wild.test.
struct TlsFixture {
  explicit TlsFixture(const std::string& tls_extra = "", Handler handler = nullptr)
      : site(make_certificate(spec("site", {"site.test"}))),
        wild(make_certificate(spec("wild", {"*.wild.test"}))),
        backend(std::move(handler)),
        proxy(config(tls_extra)) {}

  static CertificateSpec spec(const std::string& cn, std::vector<std::string> names) {
    CertificateSpec s;
    s.common_name = cn;
    s.dns_names = std::move(names);
    return s;
  }

  std::string config(const std::string& tls_extra) {
    const std::string site_cert = dir.write("site.pem", site.cert_pem);
    const std::string site_key = dir.write("site.key", site.key_pem);
    const std::string wild_cert = dir.write("wild.pem", wild.cert_pem);
    const std::string wild_key = dir.write("wild.key", wild.key_pem);
    const std::string tls = "[tls]\nlisten = [\"127.0.0.1:0\"]\n" + tls_extra +
                            "\n[[tls.certificate]]\ncert = \"" + site_cert + "\"\nkey = \"" +
                            site_key + "\"\n[[tls.certificate]]\ncert = \"" + wild_cert +
                            "\"\nkey = \"" + wild_key + "\"\n";
    return proxy_config("\"" + backend.address() + "\"", "", "", "") + tls;
  }

  uint16_t tls_port() const { return proxy.tls_port(); }
  double handshakes(const char* result) const {
    return metric_value(scrape(proxy.admin_port()),
                        std::string("routemeter_tls_handshakes_total{result=\"") + result + "\"}");
  }

  TempDir dir;
  TestCertificate site;
  TestCertificate wild;
  TestBackend backend;
  Routemeter proxy;
};

const char kGet[] = "GET /x HTTP/1.1\r\nHost: site.test\r\n\r\n";

}  // namespace

TEST_CASE("curl gets its answer over HTTPS and the upstream sees X-Forwarded-Proto: https",
          "[tls]") {
  TlsFixture f("", [](const ReceivedRequest& req) {
    return Reply::ok("proto=" + req.headers.get("x-forwarded-proto").value_or("-"));
  });
  const std::string ca = f.dir.write("ca.pem", f.site.cert_pem);
  const std::string port = std::to_string(f.tls_port());
  CommandResult r = run_command(
      "/usr/bin/curl", {"-sS", "--cacert", ca, "--resolve", "site.test:" + port + ":127.0.0.1",
                        "https://site.test:" + port + "/hello"});
  INFO(r.err);
  CHECK(r.status.ok());
  CHECK(r.out == "proto=https");
  CHECK(f.handshakes("ok") == 1);
  CHECK(f.handshakes("failed") == 0);
  const std::string m = scrape_settled(f.proxy.admin_port());
  CHECK(metric_value(m,
                     "routemeter_requests_total{code=\"200\",method=\"GET\",route=\"all\","
                     "upstream=\"app\"}") == 1);
}

TEST_CASE("SNI chooses the certificate: exact name, wildcard, else the first", "[tls]") {
  TlsFixture f;
  struct Case {
    const char* sni;
    const char* cn;
  };
  for (const Case& c : {Case{"site.test", "site"}, Case{"a.wild.test", "wild"},
                        Case{"other.test", "site"}, Case{"", "site"}}) {
    INFO("SNI " << c.sni);
    TlsClientOptions o;
    o.server_name = c.sni;
    TlsTestClient client(f.tls_port(), o);
    REQUIRE(client.connected());
    CHECK(client.peer_common_name() == c.cn);
  }
  // openssl s_client, as a user checks it.
  CommandResult r = run_command(
      "/bin/sh",
      {"-c", "echo | openssl s_client -connect 127.0.0.1:" + std::to_string(f.tls_port()) +
                 " -servername b.wild.test -alpn h2,http/1.1 2>&1"});
  CHECK(r.out.find("subject=CN = wild") != std::string::npos);
  CHECK(r.out.find("ALPN protocol: http/1.1") != std::string::npos);
}

TEST_CASE("ALPN selects http/1.1; a client that offers only h2 is refused", "[tls]") {
  TlsFixture f;
  TlsClientOptions both;
  both.alpn = {"h2", "http/1.1"};
  TlsTestClient ok(f.tls_port(), both);
  REQUIRE(ok.connected());
  CHECK(ok.alpn() == "http/1.1");
  TlsClientOptions h2;
  h2.alpn = {"h2"};
  TlsTestClient refused(f.tls_port(), h2);
  CHECK_FALSE(refused.connected());
  CHECK(wait_until([&] { return f.handshakes("failed") == 1; }));
}

TEST_CASE("TLS 1.1 is never offered; min_version 1.3 refuses 1.2", "[tls]") {
  TlsFixture f("min_version = \"1.3\"");
  TlsClientOptions old;
  old.min_version = TLS1_VERSION;
  old.max_version = TLS1_1_VERSION;
  TlsTestClient v11(f.tls_port(), old);
  CHECK_FALSE(v11.connected());
  TlsClientOptions v12;
  v12.max_version = TLS1_2_VERSION;
  TlsTestClient c12(f.tls_port(), v12);
  CHECK_FALSE(c12.connected());
  TlsTestClient c13(f.tls_port(), TlsClientOptions{});
  CHECK(c13.connected());
  CHECK(wait_until([&] { return f.handshakes("failed") == 2 && f.handshakes("ok") == 1; }));
}

TEST_CASE("a session is resumed on the next connection", "[tls]") {
  TlsFixture f;
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    INFO("version " << version);
    TlsClientOptions o;
    o.min_version = o.max_version = version;
    o.server_name = "site.test";
    SSL_SESSION* session = nullptr;
    {
      TlsTestClient first(f.tls_port(), o);
      REQUIRE(first.connected());
      CHECK_FALSE(first.session_reused());
      // TLS 1.3 sends its tickets after the handshake: a request reads them.
      CHECK(first.request(kGet).status == 200);
      session = first.take_session();
    }
    o.session = session;
    TlsTestClient second(f.tls_port(), o);
    REQUIRE(second.connected());
    CHECK(second.session_reused());
    CHECK(second.request(kGet).status == 200);
    SSL_SESSION_free(session);
  }
}

TEST_CASE("plain HTTP sent to the TLS port gets a clear 400 and counts a failed handshake",
          "[tls]") {
  TlsFixture f;
  HttpClient plain(f.tls_port());
  Response r = plain.request("GET", "/x");
  CHECK(r.status == 400);
  CHECK(r.body.find("plain HTTP request sent to the HTTPS port") != std::string::npos);
  CHECK(plain.wait_peer_closed(5s));
  CHECK(f.handshakes("failed") == 1);
  // The listener goes on serving TLS.
  TlsTestClient tls(f.tls_port(), TlsClientOptions{});
  REQUIRE(tls.connected());
  CHECK(tls.request(kGet).status == 200);
}

TEST_CASE("a handshake that never completes is closed after handshake_timeout and counted",
          "[tls]") {
  TlsFixture f("handshake_timeout = \"300ms\"");
  // Before the connect: the proxy's timer starts when it accepts, which can
  // come before the client's connect() returns.
  const auto start = Clock::now();
  HttpClient stalled(f.tls_port());
  REQUIRE(stalled.send_raw(std::string("\x16\x03\x01\x00\x80", 5)));  // half a record
  CHECK(stalled.wait_peer_closed(5s));
  CHECK(Clock::now() - start >= 300ms);
  CHECK(wait_until([&] { return f.handshakes("failed") == 1; }));
  // A client that connects and leaves without a byte is not a handshake.
  { HttpClient idle(f.tls_port()); }
  TlsTestClient ok(f.tls_port(), TlsClientOptions{});
  CHECK(ok.connected());
  CHECK(wait_until([&] { return f.handshakes("ok") == 1; }));
  CHECK(f.handshakes("failed") == 1);
}

TEST_CASE("a reload serves the new certificate to new handshakes; open connections keep theirs",
          "[tls]") {
  TlsFixture f;
  TlsClientOptions o;
  o.server_name = "site.test";
  TlsTestClient before(f.tls_port(), o);
  REQUIRE(before.connected());
  CHECK(before.peer_common_name() == "site");
  CHECK(before.request(kGet).status == 200);

  const TestCertificate renewed = make_certificate(TlsFixture::spec("site renewed", {"site.test"}));
  f.dir.write("site.pem", renewed.cert_pem);
  f.dir.write("site.key", renewed.key_pem);
  REQUIRE(f.proxy.reload());
  REQUIRE(wait_until([&] {
    TlsTestClient probe(f.tls_port(), o);
    return probe.connected() && probe.peer_common_name() == "site renewed";
  }));
  CHECK(before.request(kGet).status == 200);  // the open connection goes on
  CHECK(before.peer_common_name() == "site");
  const std::string m = scrape(f.proxy.admin_port());
  CHECK(
      metric_value(m, "routemeter_tls_certificate_expiry_timestamp_seconds{name=\"site.test\"}") ==
      static_cast<double>(renewed.not_after));
}

TEST_CASE("an expired certificate loads with a warning and shows in the expiry metric", "[tls]") {
  TempDir dir;
  CertificateSpec s = TlsFixture::spec("old", {"old.test"});
  s.not_before = routemeter::testing::unix_now() - 7200;
  s.not_after = routemeter::testing::unix_now() - 3600;
  const TestCertificate old = make_certificate(s);
  TestBackend backend;
  Routemeter proxy(proxy_config("\"" + backend.address() + "\"", "", "", "") +
                   "[tls]\nlisten = [\"127.0.0.1:0\"]\n[[tls.certificate]]\ncert = \"" +
                   dir.write("old.pem", old.cert_pem) + "\"\nkey = \"" +
                   dir.write("old.key", old.key_pem) + "\"\n");
  CHECK(proxy.process().stderr_text().find("expired") != std::string::npos);
  CHECK(metric_value(scrape(proxy.admin_port()),
                     "routemeter_tls_certificate_expiry_timestamp_seconds{name=\"old.test\"}") ==
        static_cast<double>(old.not_after));
  TlsTestClient client(proxy.tls_port(), TlsClientOptions{});
  CHECK(client.connected());  // served, as nginx does; the client decides
}

TEST_CASE("certificate reloads under TLS load lose no request", "[tls]") {
  TlsFixture f;
  TlsClientOptions o;
  o.server_name = "site.test";
  // 300 requests, each on a new TLS connection, while the certificate is
  // renewed three times.
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  std::thread load([&] {
    for (int i = 0; i < 300; ++i) {
      TlsTestClient c(f.tls_port(), o);
      if (c.connected() && c.request(kGet).status == 200) ++ok;
      ++done;
    }
  });
  for (int round = 1; round <= 3; ++round) {
    REQUIRE(wait_until([&] { return done.load() >= round * 60; }, 30s));
    const TestCertificate renewed =
        make_certificate(TlsFixture::spec("site r" + std::to_string(round), {"site.test"}));
    f.dir.write("site.pem", renewed.cert_pem);
    f.dir.write("site.key", renewed.key_pem);
    REQUIRE(f.proxy.reload());
    CHECK(wait_until([&] {
      TlsTestClient probe(f.tls_port(), o);
      return probe.connected() && probe.peer_common_name() == "site r" + std::to_string(round);
    }));
  }
  load.join();
  CHECK(ok.load() == 300);
}
