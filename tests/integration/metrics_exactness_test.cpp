// The metrics of docs/metrics.md, exact: a known mix of requests goes
// through the real binary (2 workers, three upstreams, four routes) and every
// series it touches is checked against the figures the mix implies; the same
// scrape passes `promtool check metrics`.
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

using Labels = std::map<std::string, std::string>;

constexpr milliseconds kSlowDelay = 700ms;   // /api/slow: above the 0.5 s bucket
constexpr milliseconds kWaitDelay = 1500ms;  // /wait/: at least this, above the 1 s bucket
constexpr double kSlowSeconds = 0.7;

// The backend of upstreams "app" and "stuck": the answer depends on the target.
// /wait/ answers once `wait_gate` is open and kWaitDelay has passed.
Reply backend_reply(const ReceivedRequest& req, const Gate& wait_gate) {
  if (req.target == "/hang") return Reply::never_answer();
  if (req.target.rfind("/wait/", 0) == 0) {
    return Reply::ok("waited").after(kWaitDelay).held_by(wait_gate);
  }
  if (req.target == "/api/slow") return Reply::ok("slow").after(kSlowDelay);
  if (req.target == "/api/fail") return Reply::with_status(500, "boom!");
  if (req.method == "POST") return Reply::with_status(201, "created");
  if (req.method == "DELETE") return Reply::ok("deleted");
  if (req.method == "PURGE") return Reply::ok("purged");
  return Reply::ok("hello");
}

// Three upstreams: "app" (the backend), "stuck" (the same backend with a short
// response_timeout: /hang answers 504) and "dead" (a closed port: 502).
std::string mix_config(const std::string& backend, uint16_t dead_port) {
  return fill(R"([server]
listen = ["127.0.0.1:0"]
workers = 2

[admin]
listen = "127.0.0.1:0"

[log]
access = "off"

[[upstream]]
name = "app"
servers = ["{{backend}}"]

[[upstream]]
name = "stuck"
servers = ["{{backend}}"]
response_timeout = "500ms"

[[upstream]]
name = "dead"
servers = ["127.0.0.1:{{dead}}"]

[[route]]
name = "api"
path_prefix = "/api/"
upstream = "app"

[[route]]
name = "wait"
path_prefix = "/wait/"
upstream = "app"

[[route]]
name = "hang"
path = "/hang"
upstream = "stuck"

[[route]]
name = "dead"
path_prefix = "/dead/"
upstream = "dead"
)",
              {{"backend", backend}, {"dead", std::to_string(dead_port)}});
}

// One request on its own connection ("Connection: close").
Response send(uint16_t port, const std::string& method, const std::string& target,
              const std::string& body = "") {
  HttpClient client(port);
  return client.request(method, target, {{"Connection", "close"}}, body);
}

double requests(const std::string& text, const std::string& upstream, const std::string& route,
                const std::string& method, int code) {
  return find_metric(text, "routemeter_requests_total",
                     {{"upstream", upstream},
                      {"route", route},
                      {"method", method},
                      {"code", std::to_string(code)}})
      .value_or(NAN);
}

double bucket(const std::string& text, const Labels& series, const std::string& le) {
  Labels labels = series;
  labels["le"] = le;
  return find_metric(text, "routemeter_request_duration_seconds_bucket", labels).value_or(NAN);
}

double value(const std::string& text, const std::string& name, const Labels& labels) {
  return find_metric(text, name, labels).value_or(NAN);
}

// utime + stime of `pid` from /proc/PID/stat, in seconds (NAN if unreadable).
double proc_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t comm_end = stat.rfind(')');  // the command name may hold spaces
  if (comm_end == std::string::npos) return NAN;
  std::istringstream fields(stat.substr(comm_end + 2));
  std::string field;
  double ticks = 0;
  // After the name: state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

TEST_CASE("a known mix of requests gives exact counters, histograms, summaries and gauges",
          "[metrics]") {
  Gate wait_gate;
  TestBackend backend(
      [wait_gate](const ReceivedRequest& r) { return backend_reply(r, wait_gate); });
  const RefusingPort dead;  // held for the whole test: always refused
  const uint16_t dead_port = dead.port();
  const std::string dead_server = "127.0.0.1:" + std::to_string(dead_port);
  Routemeter proxy(mix_config(backend.address(), dead_port));
  REQUIRE(proxy.workers() == 2);
  const uint16_t port = proxy.proxy_port();
  const uint16_t admin = proxy.admin_port();
  std::map<std::string, double> body_bytes_out;  // route -> response body bytes seen
  uint64_t connections = 0;
  auto expect = [&](const std::string& route, const Response& r, int status,
                    const std::string& body) {
    ++connections;
    INFO(route << " " << r.status << " " << r.error);
    CHECK(r.status == status);
    CHECK(r.complete);
    if (!body.empty()) CHECK(r.body == body);
    body_bytes_out[route] += static_cast<double>(r.body.size());
  };

  // Fast answers on route "api": 7 x 200, 3 x 500, 2 POST 201, 1 DELETE, 1 PURGE.
  for (int i = 0; i < 7; ++i) expect("api", send(port, "GET", "/api/ok"), 200, "hello");
  for (int i = 0; i < 3; ++i) expect("api", send(port, "GET", "/api/fail"), 500, "boom!");
  const std::string post_a(10, 'a');
  const std::string post_b(20, 'b');
  expect("api", send(port, "POST", "/api/items", post_a), 201, "created");
  expect("api", send(port, "POST", "/api/items", post_b), 201, "created");
  expect("api", send(port, "DELETE", "/api/items/1"), 200, "deleted");
  expect("api", send(port, "PURGE", "/api/cache"), 200, "purged");
  // Two requests no route matches.
  for (int i = 0; i < 2; ++i) expect("unmatched", send(port, "GET", "/nowhere"), 404, "");

  // Four slow answers on "api", concurrently (one connection each).
  {
    std::vector<std::unique_ptr<HttpClient>> clients;
    for (int i = 0; i < 4; ++i) {
      clients.push_back(std::make_unique<HttpClient>(port));
      REQUIRE(clients.back()->send_request("GET", "/api/slow", {{"Connection", "close"}}));
    }
    for (auto& c : clients) expect("api", c->read_response(), 200, "slow");
  }

  // The backend never answers /hang: 504 after stuck's response_timeout.
  expect("hang", send(port, "GET", "/hang"), 504, "");

  // "dead": each refused connect is a failure; the third marks the server down.
  std::string m = scrape_quiescent(admin);
  CHECK(value(m, "routemeter_upstream_server_up",
              {{"upstream", "dead"}, {"server", dead_server}}) == 1);
  expect("dead", send(port, "GET", "/dead/1"), 502, "");
  m = scrape_quiescent(admin);
  CHECK(value(m, "routemeter_upstream_errors_total",
              {{"upstream", "dead"}, {"kind", "connect_refused"}}) == 1);
  CHECK(value(m, "routemeter_upstream_server_up",
              {{"upstream", "dead"}, {"server", dead_server}}) == 1);
  expect("dead", send(port, "GET", "/dead/2"), 502, "");
  expect("dead", send(port, "GET", "/dead/3"), 502, "");
  m = scrape_quiescent(admin);
  CHECK(value(m, "routemeter_upstream_server_up",
              {{"upstream", "dead"}, {"server", dead_server}}) == 0);
  // A fourth request finds every server down: the proxy tries anyway (a
  // restarted server would answer), is refused again and counts it.
  expect("dead", send(port, "GET", "/dead/4"), 502, "");

  // Three requests held by the backend: in flight while they wait, then not.
  {
    std::vector<std::unique_ptr<HttpClient>> clients;
    for (int i = 0; i < 3; ++i) {
      clients.push_back(std::make_unique<HttpClient>(port));
      REQUIRE(clients.back()->send_request("GET", "/wait/" + std::to_string(i),
                                           {{"Connection", "close"}}));
    }
    std::string during;
    const bool seen = wait_until([&] {
      during = scrape(admin);
      return value(during, "routemeter_requests_in_flight", {{"upstream", "app"}}) == 3;
    });
    wait_gate.open();
    INFO(during);
    CHECK(seen);
    CHECK(value(during, "routemeter_requests_in_flight", {{"upstream", "stuck"}}) == 0);
    CHECK(value(during, "routemeter_requests_in_flight", {{"upstream", "none"}}) == 0);
    CHECK(value(during, "routemeter_connections_active", {}) == 3);
    for (auto& c : clients) expect("wait", c->read_response(), 200, "waited");
  }

  // Every client connection is closed; the scrape sees every request recorded.
  m = scrape_quiescent(admin);
  INFO(m);
  // Plain blocks, not SECTIONs: a SECTION would re-run the whole mix.

  {  // requests_total per full label set
    CHECK(requests(m, "app", "api", "GET", 200) == 11);
    CHECK(requests(m, "app", "api", "GET", 500) == 3);
    CHECK(requests(m, "app", "api", "POST", 201) == 2);
    CHECK(requests(m, "app", "api", "DELETE", 200) == 1);
    CHECK(requests(m, "app", "api", "OTHER", 200) == 1);
    CHECK(requests(m, "app", "wait", "GET", 200) == 3);
    CHECK(requests(m, "stuck", "hang", "GET", 504) == 1);
    CHECK(requests(m, "dead", "dead", "GET", 502) == 4);
    CHECK(requests(m, "none", "unmatched", "GET", 404) == 2);
    // Nothing else: the series above add up to every request sent.
    CHECK(sum_metric(m, "routemeter_requests_total") == 28);
  }

  {  // body bytes per upstream and route
    CHECK(value(m, "routemeter_request_bytes_total", {{"upstream", "app"}, {"route", "api"}}) ==
          static_cast<double>(post_a.size() + post_b.size()));
    CHECK(sum_metric(m, "routemeter_request_bytes_total") == 30);
    // What the clients received, bodies only (heads excluded).
    CHECK(body_bytes_out["api"] == 7 * 5 + 3 * 5 + 2 * 7 + 7 + 6 + 4 * 4);
    const std::vector<std::pair<Labels, std::string>> routes = {
        {{{"upstream", "app"}, {"route", "api"}}, "api"},
        {{{"upstream", "app"}, {"route", "wait"}}, "wait"},
        {{{"upstream", "stuck"}, {"route", "hang"}}, "hang"},
        {{{"upstream", "dead"}, {"route", "dead"}}, "dead"},
        {{{"upstream", "none"}, {"route", "unmatched"}}, "unmatched"},
    };
    for (const auto& [labels, route] : routes) {
      INFO(route);
      CHECK(value(m, "routemeter_response_bytes_total", labels) == body_bytes_out[route]);
    }
  }

  {  // the histogram splits fast and slow answers at the right bucket
    const Labels api = {{"upstream", "app"}, {"route", "api"}, {"method", "GET"}};
    // 10 immediate answers (7 x 200, 3 x 500) and 4 after 700 ms.
    CHECK(value(m, "routemeter_request_duration_seconds_count", api) == 14);
    CHECK(bucket(m, api, "0.5") == 10);
    CHECK(bucket(m, api, "2.5") == 14);
    CHECK(bucket(m, api, "+Inf") == 14);
    const double sum = value(m, "routemeter_request_duration_seconds_sum", api);
    CHECK(sum >= 4 * kSlowSeconds);
    CHECK(sum <= 4 * kSlowSeconds + 3.0);

    const Labels wait = {{"upstream", "app"}, {"route", "wait"}, {"method", "GET"}};
    CHECK(value(m, "routemeter_request_duration_seconds_count", wait) == 3);
    CHECK(bucket(m, wait, "1") == 0);
    CHECK(bucket(m, wait, "+Inf") == 3);

    // The 504 took at least response_timeout.
    const Labels hang = {{"upstream", "stuck"}, {"route", "hang"}, {"method", "GET"}};
    CHECK(value(m, "routemeter_request_duration_seconds_count", hang) == 1);
    CHECK(bucket(m, hang, "0.25") == 0);
    CHECK(bucket(m, hang, "+Inf") == 1);
    CHECK(value(m, "routemeter_request_duration_seconds_sum", hang) >= 0.5);

    // One POST, one DELETE, one OTHER series each.
    CHECK(value(m, "routemeter_request_duration_seconds_count",
                {{"upstream", "app"}, {"route", "api"}, {"method", "POST"}}) == 2);
    CHECK(value(m, "routemeter_request_duration_seconds_count",
                {{"upstream", "app"}, {"route", "api"}, {"method", "OTHER"}}) == 1);
    CHECK(value(m, "routemeter_request_duration_seconds_count",
                {{"upstream", "none"}, {"route", "unmatched"}, {"method", "GET"}}) == 2);
  }

  {  // the summary counts the same requests and its quantiles match the delays
    const Labels api = {{"upstream", "app"}, {"route", "api"}, {"method", "GET"}};
    CHECK(value(m, "routemeter_request_latency_seconds_count", api) == 14);
    CHECK(value(m, "routemeter_request_latency_seconds_sum", api) ==
          Approx(value(m, "routemeter_request_duration_seconds_sum", api)).epsilon(1e-6));
    auto quantile = [&](const char* q) {
      Labels l = api;
      l["quantile"] = q;
      return value(m, "routemeter_request_latency_seconds", l);
    };
    // Rank 7 of 14 is a fast answer; ranks 13 and 14 are slow ones (1% error).
    CHECK(quantile("0.5") < 0.5);
    CHECK(quantile("0.9") >= kSlowSeconds * 0.99);
    CHECK(quantile("0.9") <= 2.5);
    CHECK(quantile("0.99") >= kSlowSeconds * 0.99);
    CHECK(quantile("0.99") <= 2.5);
  }

  {  // upstream_errors_total by kind
    struct Row {
      const char* upstream;
      const char* kind;
      double count;
    };
    const std::vector<Row> rows = {
        {"app", "connect_refused", 0},
        {"app", "connect_timeout", 0},
        {"app", "response_timeout", 0},
        {"app", "reset", 0},
        {"app", "bad_response", 0},
        {"stuck", "connect_refused", 0},
        {"stuck", "connect_timeout", 0},
        {"stuck", "response_timeout", 1},
        {"stuck", "reset", 0},
        {"stuck", "bad_response", 0},
        {"dead", "connect_refused", 4},
        {"dead", "connect_timeout", 0},
        {"dead", "response_timeout", 0},
        {"dead", "reset", 0},
        {"dead", "bad_response", 0},
        {"app", "no_healthy_server", 0},
        {"stuck", "no_healthy_server", 0},
        {"dead", "no_healthy_server", 0},
    };
    for (const Row& row : rows) {
      INFO(row.upstream << " " << row.kind);
      CHECK(value(m, "routemeter_upstream_errors_total",
                  {{"upstream", row.upstream}, {"kind", row.kind}}) == row.count);
    }
  }

  {  // gauges and connection counters
    for (const char* up : {"app", "stuck", "dead", "none"}) {
      INFO(up);
      CHECK(value(m, "routemeter_requests_in_flight", {{"upstream", up}}) == 0);
    }
    CHECK(value(m, "routemeter_connections_total", {}) == static_cast<double>(connections));
    CHECK(connections == 28);
    CHECK(value(m, "routemeter_connections_active", {}) == 0);
    CHECK(value(m, "routemeter_upstream_server_up",
                {{"upstream", "app"}, {"server", backend.address()}}) == 1);
    CHECK(value(m, "routemeter_upstream_server_up",
                {{"upstream", "stuck"}, {"server", backend.address()}}) == 1);
    CHECK(value(m, "routemeter_upstream_server_up",
                {{"upstream", "dead"}, {"server", dead_server}}) == 0);
    CHECK(value(m, "routemeter_config_last_reload_successful", {}) == 1);
    CHECK(sum_metric(m, "routemeter_build_info") == 1);
    for (const char* name : {"process_resident_memory_bytes", "process_virtual_memory_bytes",
                             "process_open_fds", "process_max_fds", "process_start_time_seconds"}) {
      INFO(name);
      CHECK(value(m, name, {}) > 0);
    }
  }

  {  // process CPU: what /proc/PID/stat says, never going down. A fast machine
     // may have used less than one clock tick, so 0 is a valid answer.
    const double tick = 1.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double before = value(m, "process_cpu_seconds_total", {});
    const double from_proc = proc_cpu_seconds(proxy.process().pid());
    const double after = value(scrape(admin), "process_cpu_seconds_total", {});
    INFO("scrape " << before << " s, /proc " << from_proc << " s, scrape again " << after << " s");
    CHECK(before >= 0);
    CHECK(after >= before);
    CHECK(from_proc >= before - tick);
    CHECK(from_proc <= after + tick);
  }

  {  // the same exposition passes promtool check metrics
    CommandResult lint = promtool_check_metrics(m);
    INFO(lint.out << lint.err);
    CHECK(lint.status.ok());
  }
}

TEST_CASE("a client that resets its connection before the answer is counted as 499", "[metrics]") {
  Gate answer;  // the backend answers only after the client is gone
  ProxyFixture f([answer](const ReceivedRequest&) { return Reply::ok("late").held_by(answer); });
  {
    HttpClient client(f.port());
    REQUIRE(client.send_request("GET", "/gone"));
    REQUIRE(f.backend.wait_for_requests(1));
    REQUIRE(wait_until([&] {
      return value(scrape(f.proxy.admin_port()), "routemeter_requests_in_flight",
                   {{"upstream", "app"}}) == 1;
    }));
    // SO_LINGER 0: close() sends a RST, the client is gone for good (a plain
    // FIN is a half-close, after which a client may still read the answer).
    const linger reset{1, 0};
    REQUIRE(::setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == 0);
  }
  // The answer comes only once the proxy has seen the reset and closed the
  // client's connection: the reset and the answer never race.
  CHECK(wait_until([&] {
    return value(scrape(f.proxy.admin_port()), "routemeter_connections_active", {}) == 0;
  }));
  answer.open();
  const std::string m = scrape_quiescent(f.proxy.admin_port());
  INFO(m);
  CHECK(requests(m, "app", "all", "GET", 499) == 1);
  CHECK(value(m, "routemeter_requests_in_flight", {{"upstream", "app"}}) == 0);
  CHECK(value(m, "routemeter_response_bytes_total", {{"upstream", "app"}, {"route", "all"}}) == 0);
  CHECK(value(m, "routemeter_request_duration_seconds_count",
              {{"upstream", "app"}, {"route", "all"}, {"method", "GET"}}) == 1);
  // The proxy keeps serving.
  CHECK(http_get(f.port(), "/after").body == "late");
}
