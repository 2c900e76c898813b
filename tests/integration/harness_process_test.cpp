// The harness checks itself without the proxy: Process with the demo backend,
// commands, the listening-line contract and metric text parsing.
#include <catch2/catch.hpp>
#include <cmath>

#include "harness.hpp"

using namespace routemeter::test;

namespace {

// Starts the demo backend on port 0 and reads its port from the start line.
uint16_t start_demo(Process& p, const std::string& service) {
  static const std::regex kListening(
      R"(^routemeter-demo-backend: listening service=(\w+) addr=127\.0\.0\.1:(\d+)$)");
  auto line = p.wait_for_stderr_line(kListening);
  INFO("stderr: " << p.stderr_text());
  REQUIRE(line.has_value());
  std::smatch m;
  REQUIRE(std::regex_search(*line, m, kListening));
  CHECK(m[1].str() == service);
  return static_cast<uint16_t>(std::stoul(m[2].str()));
}

}  // namespace

TEST_CASE("demo backend serves health, random answers and 404, and stops on SIGTERM",
          "[harness][demo]") {
  Process demo(ROUTEMETER_DEMO_BACKEND,
               {"--service", "car", "--listen", "127.0.0.1:0", "--seed", "1"});
  uint16_t port = start_demo(demo, "car");
  CHECK(port != 0);

  Response health = http_get(port, "/healthz");
  CHECK(health.status == 200);
  CHECK(health.body == "ok");

  static const std::regex kBody(
      R"re(^\{"service":"car","message":"car #\d+ (served|failed \(simulated\))","delay":"0\.[1-6]\d\ds"\}\n$)re");
  HttpClient client(port, 2s);
  for (int i = 0; i < 3; ++i) {
    Response r = client.request("GET", "/api/car/random");
    CAPTURE(r.body);
    CHECK((r.status == 200 || r.status == 500));
    CHECK(r.header("Content-Type") == "application/json");
    CHECK(std::regex_match(r.body, kBody));
    CHECK(r.body.find(r.status == 200 ? "served" : "failed") != std::string::npos);
  }
  Response missing = client.request("GET", "/api/shop/random");
  CHECK(missing.status == 404);
  CHECK(missing.body == "{\"service\":\"car\",\"error\":\"not found\"}\n");
  CHECK(client.request("DELETE", "/api/car/random").status == 405);

  auto memory = demo.memory();
  REQUIRE(memory.has_value());
  CHECK(memory->vm_rss_kib > 0);
  CHECK(memory->vm_hwm_kib >= memory->vm_rss_kib);

  REQUIRE(demo.signal(SIGTERM));
  auto status = demo.wait_exit(5s);
  REQUIRE(status.has_value());
  CHECK(status->text() == "exit 0");
  CHECK(demo.wait_output_closed(2s));
  CHECK(demo.stderr_text().find("routemeter-demo-backend: stopped service=car\n") !=
        std::string::npos);
  CHECK_FALSE(demo.memory().has_value());
}

TEST_CASE("demo backend answers concurrent requests without blocking on the delay",
          "[harness][demo]") {
  Process demo(ROUTEMETER_DEMO_BACKEND,
               {"--service", "shop", "--listen", "127.0.0.1:0", "--seed", "3"});
  uint16_t port = start_demo(demo, "shop");
  constexpr int kClients = 10;
  std::vector<std::unique_ptr<HttpClient>> clients;
  auto start = Clock::now();
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<HttpClient>(port, 5s));
    REQUIRE(clients.back()->send_request("GET", "/api/shop/random"));
  }
  static const std::regex kDelay(R"re("delay":"(0\.\d{3})s")re");
  milliseconds sum{0};
  milliseconds longest{0};
  for (auto& c : clients) {
    Response r = c->read_response();
    CHECK((r.status == 200 || r.status == 500));
    CHECK(r.body.find("\"service\":\"shop\"") != std::string::npos);
    std::smatch m;
    REQUIRE(std::regex_search(r.body, m, kDelay));
    milliseconds d(static_cast<int64_t>(std::stod(m[1].str()) * 1000 + 0.5));
    sum += d;
    longest = std::max(longest, d);
  }
  milliseconds elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  INFO("elapsed " << elapsed.count() << " ms, delays sum " << sum.count() << " ms, longest "
                  << longest.count() << " ms");
  // The answers overlapped: far less than the sum of the delays (about 3.5 s).
  CHECK(sum >= 2000ms);
  CHECK(elapsed < sum - 1000ms);
  CHECK(elapsed >= longest - 10ms);
  CHECK(demo.stop().ok());
}

TEST_CASE("demo backends with the same seed give the same answers", "[harness][demo]") {
  Process a(ROUTEMETER_DEMO_BACKEND,
            {"--service", "car", "--listen", "127.0.0.1:0", "--seed", "7"});
  Process b(ROUTEMETER_DEMO_BACKEND,
            {"--service", "car", "--listen", "127.0.0.1:0", "--seed", "7"});
  HttpClient ca(start_demo(a, "car"), 2s);
  HttpClient cb(start_demo(b, "car"), 2s);
  for (int i = 0; i < 4; ++i) {
    REQUIRE(ca.send_request("GET", "/api/car/random"));
    REQUIRE(cb.send_request("GET", "/api/car/random"));
    Response ra = ca.read_response();
    Response rb = cb.read_response();
    CHECK(ra.status == rb.status);
    CHECK(ra.body == rb.body);
    CHECK(ra.body != "");
  }
}

TEST_CASE("demo backend rejects unknown services with a usage error", "[harness][demo]") {
  CommandResult r =
      run_command(ROUTEMETER_DEMO_BACKEND, {"--service", "bus", "--listen", "127.0.0.1:0"});
  CHECK(r.status.text() == "exit 2");
  CHECK(r.out == "");
  CHECK(r.err.rfind("routemeter-demo-backend: unknown service \"bus\" (expected car or shop)\n"
                    "usage: routemeter-demo-backend --service car|shop",
                    0) == 0);
}

TEST_CASE("Process captures output and reports exit codes and signals", "[harness]") {
  CommandResult r = run_command("/bin/sh", {"-c", "echo out; echo err >&2; exit 3"});
  CHECK(r.status.exited);
  CHECK(r.status.code == 3);
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");

  Process sleeper("/bin/sleep", {"30"});
  CHECK(sleeper.running());
  CHECK_FALSE(sleeper.wait_exit(50ms).has_value());
  ExitStatus s = sleeper.stop(2s);
  CHECK_FALSE(s.exited);
  CHECK(s.signal == SIGTERM);
  CHECK(s.text() == "signal 15");

  Process ignores("/bin/sh", {"-c", "trap '' TERM; echo ready >&2; sleep 30"});
  REQUIRE(ignores.wait_for_stderr("ready"));
  CHECK(ignores.stop(200ms).signal == SIGKILL);

  Process missing("/nonexistent/binary", {});
  auto gone = missing.wait_exit(2s);
  REQUIRE(gone.has_value());
  CHECK(gone->code == 127);
  CHECK_FALSE(missing.wait_for_stderr("never", 100ms).has_value());
}

TEST_CASE("the listening line of routemeter is parsed into ports", "[harness]") {
  std::vector<uint16_t> proxy;
  uint16_t admin = 0;
  int workers = 0;
  REQUIRE(parse_listening_line(
      "routemeter: info: listening proxy=127.0.0.1:41234 admin=127.0.0.1:41235 workers=2", proxy,
      admin, workers));
  CHECK(proxy == std::vector<uint16_t>{41234});
  CHECK(admin == 41235);
  CHECK(workers == 2);
  REQUIRE(parse_listening_line(
      "routemeter: info: listening proxy=127.0.0.1:1,[::1]:2 admin=127.0.0.1:3 workers=1", proxy,
      admin, workers));
  CHECK(proxy == std::vector<uint16_t>{1, 2});
  CHECK(admin == 3);
  CHECK_FALSE(parse_listening_line("routemeter: info: starting", proxy, admin, workers));
}

TEST_CASE("metrics are found by exact series, by label set and summed", "[harness]") {
  const std::string text =
      "# HELP rm_requests_total Requests.\n"
      "# TYPE rm_requests_total counter\n"
      "rm_requests_total{code=\"200\",method=\"GET\",upstream=\"car\"} 7\n"
      "rm_requests_total{code=\"500\",method=\"GET\",upstream=\"car\"} 3\n"
      "rm_requests_total{code=\"200\",method=\"GET\",upstream=\"shop\"} 5 1700000000000\n"
      "rm_bucket{le=\"+Inf\",path=\"a b,\\\"c\\\"}\"} 1e3\n"
      "rm_up 1\n"
      "rm_inf +Inf\n";
  CHECK(metric_value(text, "rm_requests_total{code=\"200\",method=\"GET\",upstream=\"car\"}") == 7);
  CHECK(metric_value(text, "rm_requests_total{code=\"200\",method=\"GET\",upstream=\"shop\"}") ==
        5);
  CHECK(metric_value(text, "rm_up") == 1);
  CHECK(std::isinf(metric_value(text, "rm_inf")));
  CHECK(std::isnan(metric_value(text, "rm_requests_total{code=\"404\"}")));
  CHECK_FALSE(find_metric(text, "rm_requests").has_value());
  CHECK(find_metric(text, "rm_requests_total",
                    {{"upstream", "car"}, {"method", "GET"}, {"code", "500"}}) == 3.0);
  CHECK_FALSE(find_metric(text, "rm_requests_total", {{"upstream", "car"}}).has_value());
  CHECK(find_metric(text, "rm_bucket", {{"le", "+Inf"}, {"path", "a b,\"c\"}"}}) == 1000.0);
  CHECK(sum_metric(text, "rm_requests_total") == 15);
  CHECK(sum_metric(text, "rm_requests_total", {{"upstream", "car"}}) == 10);
  CHECK(sum_metric(text, "rm_requests_total", {{"code", "200"}}) == 12);
  CHECK(sum_metric(text, "rm_absent") == 0);
}

TEST_CASE("promtool accepts valid exposition text and rejects invalid", "[harness]") {
  CHECK(
      promtool_check_metrics("# HELP a_total A.\n# TYPE a_total counter\na_total 1\n").status.ok());
  CommandResult bad = promtool_check_metrics("a_total{ 1\n");
  CHECK_FALSE(bad.status.ok());
  CHECK(bad.err + bad.out != "");
}

TEST_CASE("harness helpers: hashing, pattern, templates, temp files", "[harness]") {
  CHECK(fnv1a("") == kFnvOffset);
  CHECK(fnv1a("a") == 0xaf63dc4c8601ec8cull);
  CHECK(fnv1a("bc", fnv1a("a")) == fnv1a("abc"));
  CHECK(pattern_bytes(249, 3) == std::string("\xf9\xfa\x00", 3));
  CHECK(pattern_byte(251 * 1000 + 5) == 5);
  const std::string big = pattern_bytes(0, 300'000);
  for (uint64_t i : {0ull, 250ull, 251ull, 65535ull, 65536ull, 299'999ull}) {
    CHECK(static_cast<uint8_t>(big[i]) == pattern_byte(i));
  }
  CHECK(pattern_fnv1a(300'000) == fnv1a(big));
  CHECK(fill("a={{x}} b={{y}} {{x}}", {{"x", "1"}, {"y", "{{x}}"}}) == "a=1 b={{x}} 1");
  std::string dir;
  {
    TempDir tmp;
    dir = tmp.path();
    std::string file = tmp.write("f.toml", "k = 1\n");
    CHECK(file == dir + "/f.toml");
    CHECK(run_command("/bin/cat", {file}).out == "k = 1\n");
  }
  CHECK(run_command("/bin/test", {"-e", dir}).status.code == 1);
}
