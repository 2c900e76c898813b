// Upgrade tunnels (DESIGN section 6, docs/http.md "Upgrade"): a real
// WebSocket client and server (Debian's python3-websockets, through
// ws_peer.py) on both sides of the proxy, plain and over TLS; the request
// counted once as 101, the tunnel's bytes counted exactly, tunnels_active,
// tunnel_idle_timeout and the end of a drain.
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <regex>
#include <string>

#include "proxy_support.hpp"
#include "test_certificates.hpp"

using namespace routemeter::test;

namespace {

const std::string kPython = "/usr/bin/python3";
const std::string kPeer = std::string(ROUTEMETER_SOURCE_DIR) + "/tests/integration/ws_peer.py";
// Python and its asyncio and websockets imports take seconds to start on a
// loaded machine (more than kDefaultTimeout was seen at a load of 20).
constexpr milliseconds kPythonStart = 60s;

// The echo server, on a port it picks and prints.
struct WsServer {
  WsServer() : process(kPython, {kPeer, "server"}) {
    const auto line = process.wait_for_stdout_line(std::regex("port \\d+"), kPythonStart);
    if (!line)
      throw std::runtime_error("ws_peer.py server did not start: " + process.stderr_text());
    port = static_cast<uint16_t>(std::stoul(line->substr(5)));
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  Process process;
  uint16_t port = 0;
};

// WebSocket frame sizes as ws_peer.py sends them (no compression): header,
// extended length, and the mask on the client's frames.
uint64_t frame(uint64_t payload, bool masked) {
  const uint64_t ext = payload < 126 ? 0 : (payload < 65536 ? 2 : 8);
  return 2 + ext + (masked ? 4 : 0) + payload;
}

double series(const std::string& m, const std::string& s) { return metric_value(m, s); }

const char kCode101[] =
    "routemeter_requests_total{code=\"101\",method=\"GET\",route=\"all\",upstream=\"app\"}";
const char kTunnels[] = "routemeter_tunnels_active{upstream=\"app\"}";

}  // namespace

TEST_CASE(
    "a WebSocket goes through as a tunnel: echoed both ways, counted once as 101, its "
    "bytes exactly",
    "[proxy][websocket]") {
  WsServer ws;
  Routemeter proxy(proxy_config("\"" + ws.address() + "\""));
  CommandResult r = run_command(
      kPython,
      {kPeer, "client", "ws://127.0.0.1:" + std::to_string(proxy.proxy_port()) + "/chat", "3"});
  INFO(r.out << r.err);
  REQUIRE(r.status.ok());
  CHECK(r.out == "ok 3 1048606\n");
  // A ping and its pong (4-byte payloads), messages of 10, 20 and 1 MiB
  // bytes each way, then the close frames (client: masked, with a status
  // code; server: its code).
  const uint64_t up =
      frame(4, true) + frame(10, true) + frame(20, true) + frame(1048576, true) + frame(2, true);
  const uint64_t down = frame(4, false) + frame(10, false) + frame(20, false) +
                        frame(1048576, false) + frame(2, false);
  std::string m;
  wait_until([&] {
    m = scrape(proxy.admin_port());
    return series(m, kTunnels) == 0 &&
           series(m, "routemeter_response_bytes_total{route=\"all\",upstream=\"app\"}") ==
               static_cast<double>(down);
  });
  INFO(m);
  CHECK(series(m, kTunnels) == 0);
  CHECK(series(m, "routemeter_response_bytes_total{route=\"all\",upstream=\"app\"}") ==
        static_cast<double>(down));
  CHECK(series(m, kCode101) == 1);
  CHECK(series(m, "routemeter_request_bytes_total{route=\"all\",upstream=\"app\"}") ==
        static_cast<double>(up));
  CHECK(sum_metric(m, "routemeter_requests_in_flight") == 0);
}

TEST_CASE("an open tunnel shows in tunnels_active and is closed after tunnel_idle_timeout",
          "[proxy][websocket]") {
  WsServer ws;
  Routemeter proxy(proxy_config("\"" + ws.address() + "\"", "", "tunnel_idle_timeout = \"500ms\""));
  const auto start = Clock::now();
  Process client(kPython,
                 {kPeer, "hold", "ws://127.0.0.1:" + std::to_string(proxy.proxy_port()) + "/chat"});
  REQUIRE(client.wait_for_stdout_line(std::regex("open"), kPythonStart));
  // Counted as answered (101) while the tunnel is still open.
  CHECK(wait_until([&] {
    const std::string m = scrape(proxy.admin_port());
    return series(m, kTunnels) == 1 && series(m, kCode101) == 1;
  }));
  REQUIRE(client.wait_for_stdout_line(std::regex("closed"), 10s));
  CHECK(Clock::now() - start >= 500ms);
  CHECK(wait_until([&] { return series(scrape(proxy.admin_port()), kTunnels) == 0; }));
}

TEST_CASE("tunnels end with a drain", "[proxy][websocket]") {
  WsServer ws;
  Routemeter proxy(proxy_config("\"" + ws.address() + "\"", "", "drain_timeout = \"300ms\""));
  Process client(kPython,
                 {kPeer, "hold", "ws://127.0.0.1:" + std::to_string(proxy.proxy_port()) + "/chat"});
  REQUIRE(client.wait_for_stdout_line(std::regex("open"), kPythonStart));
  REQUIRE(proxy.process().signal(SIGTERM));
  CHECK(client.wait_for_stdout_line(std::regex("closed"), 10s));
  const auto status = proxy.process().wait_exit(10s);
  REQUIRE(status.has_value());
  CHECK(status->ok());
}

TEST_CASE("a WebSocket over TLS (wss)", "[proxy][websocket][tls]") {
  using routemeter::testing::CertificateSpec;
  WsServer ws;
  TempDir dir;
  CertificateSpec spec;
  spec.dns_names = {"ws.test"};
  const auto cert = routemeter::testing::make_certificate(spec);
  const std::string ca = dir.write("ws.pem", cert.cert_pem);
  Routemeter proxy(proxy_config("\"" + ws.address() + "\"") +
                   "[tls]\nlisten = [\"127.0.0.1:0\"]\n[[tls.certificate]]\ncert = \"" + ca +
                   "\"\nkey = \"" + dir.write("ws.key", cert.key_pem) + "\"\n");
  CommandResult r = run_command(
      kPython, {kPeer, "client", "wss://127.0.0.1:" + std::to_string(proxy.tls_port()) + "/chat",
                "2", "--ca", ca, "--name", "ws.test"});
  INFO(r.out << r.err);
  CHECK(r.status.ok());
  CHECK(r.out == "ok 2 1048586\n");
  CHECK(wait_until([&] { return series(scrape(proxy.admin_port()), kCode101) == 1; }));
}

TEST_CASE("an upgrade the upstream refuses is an ordinary answer; a 101 nobody asked for is a 502",
          "[proxy][websocket]") {
  ProxyFixture f([](const ReceivedRequest& req) {
    if (req.target == "/surprise") return Reply::with_status(101);
    return Reply::with_status(400, "no upgrade here");
  });
  HttpClient client(f.port());
  REQUIRE(client.send_request("GET", "/ws",
                              {{"Connection", "Upgrade"},
                               {"Upgrade", "websocket"},
                               {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                               {"Sec-WebSocket-Version", "13"}}));
  Response refused = client.read_response();
  CHECK(refused.status == 400);
  CHECK(refused.body == "no upgrade here");
  REQUIRE(f.backend.wait_for_requests(1));
  const ReceivedRequest got = f.backend.request(0);
  CHECK(got.headers.get("upgrade") == "websocket");
  CHECK(got.headers.get("connection") == "upgrade");
  // The connection goes on as plain HTTP.
  Response surprise = client.request("GET", "/surprise");
  CHECK(surprise.status == 502);
  const std::string m = f.metrics();
  INFO(m);
  CHECK(series(m, "routemeter_upstream_errors_total{kind=\"bad_response\",upstream=\"app\"}") == 1);
}

TEST_CASE("a tunnel the server closes closes on the client's side too", "[proxy][websocket]") {
  WsServer ws;
  Routemeter proxy(proxy_config("\"" + ws.address() + "\""));
  CommandResult r = run_command(
      kPython,
      {kPeer, "server-closes", "ws://127.0.0.1:" + std::to_string(proxy.proxy_port()) + "/close"});
  INFO(r.out << r.err);
  CHECK(r.status.ok());
  CHECK(r.out == "closed by server 1000\n");
  CHECK(wait_until([&] { return series(scrape(proxy.admin_port()), kTunnels) == 0; }));
}

TEST_CASE("a thousand idle tunnels at once: the memory each costs", "[proxy][websocket][memory]") {
  constexpr int kCount = 1000;
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, 8 * kCount);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &nofile) == 0);  // inherited by the peers and the proxy
  REQUIRE(nofile.rlim_cur >= 3 * kCount);
  WsServer ws;
  Routemeter proxy(proxy_config("\"" + ws.address() + "\""));
  const uint64_t before = proxy.process().memory().value().vm_rss_kib;
  Process clients(kPython,
                  {kPeer, "many", "ws://127.0.0.1:" + std::to_string(proxy.proxy_port()) + "/chat",
                   std::to_string(kCount)});
  REQUIRE(clients.wait_for_stdout_line(std::regex("open \\d+"), 60s));
  CHECK(wait_until(
      [&] { return series(scrape(proxy.admin_port()), kTunnels) == static_cast<double>(kCount); }));
  const uint64_t held = proxy.process().memory().value().vm_rss_kib;
  const double per_tunnel_kib = static_cast<double>(held - before) / kCount;
  // docs/performance.md records the figure (plain build).
  WARN("RSS " << before << " KiB before, " << held << " KiB with " << kCount
              << " idle tunnels: " << per_tunnel_kib << " KiB per tunnel");
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  CHECK(per_tunnel_kib < 64);  // two sockets' buffers, emptied, and their records
#endif
}

TEST_CASE("256 MiB one way through a tunnel to a slow reader with flat proxy memory",
          "[proxy][websocket][memory]") {
  WsServer ws;
  Routemeter proxy(proxy_config("\"" + ws.address() + "\""));
  const uint64_t before = proxy.process().memory().value().vm_rss_kib;
  CommandResult r = run_command(
      kPython,
      {kPeer, "sink", "ws://127.0.0.1:" + std::to_string(proxy.proxy_port()) + "/sink", "256"},
      120s);
  INFO(r.out << r.err);
  CHECK(r.status.ok());
  CHECK(r.out == "got " + std::to_string(256ull * 1024 * 1024) + "\n");
  const uint64_t peak = proxy.process().memory().value().vm_hwm_kib;
  INFO("RSS before " << before << " KiB, peak " << peak << " KiB");
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  CHECK(peak - before < 16 * 1024);  // the windows, not the 256 MiB
#endif
  CHECK(wait_until([&] {
    return series(scrape(proxy.admin_port()),
                  "routemeter_request_bytes_total{route=\"all\",upstream=\"app\"}") >
           256.0 * 1024 * 1024;
  }));
}
