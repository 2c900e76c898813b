// The admin listener (docs/operations.md) on the real binary: the endpoint
// table, health and readiness (also while draining), version and config
// JSON, the bearer token, gzip, and reloads by POST /-/reload and SIGHUP.
#include <zlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <csignal>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// One upstream "app" and a route "old" on /old/; `admin_extra` goes into
// [admin], `routes_extra` is appended after the route.
std::string admin_config(const TestBackend& backend, const std::string& admin_extra = "",
                         const std::string& routes_extra = "") {
  return fill(R"([server]
listen = ["127.0.0.1:0"]
workers = 1

[admin]
listen = "127.0.0.1:0"
{{admin_extra}}

[log]
access = "off"

[[upstream]]
name = "app"
servers = ["{{backend}}"]

[[route]]
name = "old"
path_prefix = "/old/"
upstream = "app"
{{routes_extra}})",
              {{"backend", backend.address()},
               {"admin_extra", admin_extra},
               {"routes_extra", routes_extra}});
}

const std::string kNewRoute = R"(
[[route]]
name = "new"
path = "/new"
upstream = "app"
)";

// A route naming an upstream that does not exist: the error is on the last
// line of the file, at the value (column 12).
const std::string kBrokenRoute = R"(
[[route]]
name = "broken"
path = "/broken"
upstream = "nope")";

size_t line_count(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

Response admin_post(uint16_t port, const std::string& path, const HeaderList& extra = {}) {
  HttpClient client(port);
  HeaderList headers = {{"Connection", "close"}, {"Content-Length", "0"}};
  headers.insert(headers.end(), extra.begin(), extra.end());
  return client.request("POST", path, headers);
}

std::string gunzip(const std::string& data) {
  z_stream zs{};
  // 15 + 32: a zlib or gzip header, detected automatically.
  REQUIRE(inflateInit2(&zs, 15 + 32) == Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  int rc = Z_OK;
  char buffer[16384];
  for (int rounds = 0; rc == Z_OK && rounds < 100000; ++rounds) {
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof buffer;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - zs.avail_out);
  }
  inflateEnd(&zs);
  CHECK(rc == Z_STREAM_END);
  return out;
}

// The exposition without the process_* lines (CPU time and memory move
// between two scrapes; nothing else does while no request runs).
std::string without_process_metrics(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.find("process_") != std::string::npos) continue;
    out += line + "\n";
  }
  return out;
}

double value(const std::string& text, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  return find_metric(text, name, labels).value_or(NAN);
}

}  // namespace

TEST_CASE("the admin index lists every endpoint", "[admin]") {
  TestBackend backend;
  Routemeter proxy(admin_config(backend));
  Response r = http_get(proxy.admin_port(), "/");
  CHECK(r.status == 200);
  for (const char* line : {"GET /metrics", "GET /healthz", "GET /readyz", "GET /version",
                           "GET /config", "POST /-/reload"}) {
    INFO(line << "\n" << r.body);
    CHECK(r.body.find(line) != std::string::npos);
  }
}

TEST_CASE("healthz and readyz answer 200 while serving; unknown paths 404", "[admin]") {
  TestBackend backend;
  Routemeter proxy(admin_config(backend));
  Response health = http_get(proxy.admin_port(), "/healthz");
  CHECK(health.status == 200);
  CHECK(health.body == "ok\n");
  CHECK(http_get(proxy.admin_port(), "/readyz").status == 200);
  Response missing = http_get(proxy.admin_port(), "/nope");
  CHECK(missing.status == 404);
  CHECK(http_get(proxy.admin_port(), "/metrics/extra").status == 404);
  // A known path with the wrong method is not silently served.
  CHECK(admin_post(proxy.admin_port(), "/metrics").status == 405);
  // The admin port is not a proxy port: nothing was forwarded.
  CHECK(backend.request_count() == 0);
}

TEST_CASE("version answers JSON with the version and revision of --version", "[admin]") {
  TestBackend backend;
  Routemeter proxy(admin_config(backend));
  Response r = http_get(proxy.admin_port(), "/version");
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  INFO(r.body);
  std::smatch version;
  std::smatch revision;
  REQUIRE(std::regex_search(r.body, version, std::regex(R"re("version"\s*:\s*"([^"]+)")re")));
  REQUIRE(std::regex_search(r.body, revision, std::regex(R"re("revision"\s*:\s*"([^"]+)")re")));
  CHECK(r.body.find("\"build_date\"") != std::string::npos);
  CHECK(r.body.find("\"libevent\"") != std::string::npos);
  CommandResult cli = run_command(ROUTEMETER_BINARY, {"--version"});
  REQUIRE(cli.status.ok());
  INFO(cli.out);
  CHECK(cli.out.find("routemeter " + version[1].str()) != std::string::npos);
  CHECK(cli.out.find(revision[1].str()) != std::string::npos);
  // And build_info carries the same labels.
  CHECK(value(scrape(proxy.admin_port()), "routemeter_build_info",
              {{"version", version[1].str()}, {"revision", revision[1].str()}}) == 1);
}

TEST_CASE("config answers the effective config as JSON, never the token", "[admin]") {
  TestBackend backend;
  Routemeter proxy(admin_config(backend, "token = \"s3cret\""));
  Response r = http_get(proxy.admin_port(), "/config", {{"Authorization", "Bearer s3cret"}});
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  INFO(r.body);
  CHECK(r.body.find("\"source_path\": \"" + proxy.config_path() + "\"") != std::string::npos);
  CHECK(r.body.find("\"name\": \"app\"") != std::string::npos);
  CHECK(r.body.find("\"" + backend.address() + "\"") != std::string::npos);
  CHECK(r.body.find("\"name\": \"old\"") != std::string::npos);
  CHECK(r.body.find("\"path_prefix\": \"/old/\"") != std::string::npos);
  CHECK(r.body.find("\"workers\": 1") != std::string::npos);
  CHECK(r.body.find("\"token_set\": true") != std::string::npos);
  CHECK(r.body.find("s3cret") == std::string::npos);
  CHECK(r.body.front() == '{');
  CHECK(r.body.find_last_not_of('\n') == r.body.rfind('}'));
}

TEST_CASE("with a token every admin endpoint but healthz requires it", "[admin]") {
  TestBackend backend;
  Routemeter proxy(admin_config(backend, "token = \"s3cret\""));
  const uint16_t admin = proxy.admin_port();
  Response no_token = http_get(admin, "/metrics");
  CHECK(no_token.status == 401);
  CHECK(no_token.header("www-authenticate") == "Bearer");
  CHECK(no_token.body.find("routemeter_") == std::string::npos);
  CHECK(http_get(admin, "/metrics", {{"Authorization", "Bearer wrong"}}).status == 401);
  CHECK(http_get(admin, "/metrics", {{"Authorization", "s3cret"}}).status == 401);
  CHECK(http_get(admin, "/metrics", {{"Authorization", "Basic czNjcmV0"}}).status == 401);
  Response ok = http_get(admin, "/metrics", {{"Authorization", "Bearer s3cret"}});
  CHECK(ok.status == 200);
  CHECK(ok.body.find("routemeter_requests_in_flight") != std::string::npos);
  CHECK(http_get(admin, "/healthz").status == 200);
  for (const char* path : {"/", "/readyz", "/version", "/config", "/nope"}) {
    INFO(path);
    CHECK(http_get(admin, path).status == 401);
    CHECK(http_get(admin, path, {{"Authorization", "Bearer s3cret"}}).status != 401);
  }
  // A reload without the token does nothing.
  CHECK(admin_post(admin, "/-/reload").status == 401);
  CHECK(value(http_get(admin, "/metrics", {{"Authorization", "Bearer s3cret"}}).body,
              "routemeter_config_reloads_total", {{"result", "success"}}) == 0);
  CHECK(admin_post(admin, "/-/reload", {{"Authorization", "Bearer s3cret"}}).status == 200);
}

TEST_CASE("metrics are gzip-compressed when the scraper asks for it", "[admin]") {
  TestBackend backend;
  Routemeter proxy(admin_config(backend));
  REQUIRE(http_get(proxy.proxy_port(), "/old/x").status == 200);
  const std::string plain_before = scrape_quiescent(proxy.admin_port());
  Response z = http_get(proxy.admin_port(), "/metrics", {{"Accept-Encoding", "gzip"}});
  Response plain = http_get(proxy.admin_port(), "/metrics");
  CHECK(z.status == 200);
  CHECK(z.header("content-encoding") == "gzip");
  CHECK(z.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  REQUIRE(z.body.size() >= 2);
  CHECK(static_cast<unsigned char>(z.body[0]) == 0x1f);  // the gzip magic
  CHECK(static_cast<unsigned char>(z.body[1]) == 0x8b);
  CHECK(z.body.size() < plain.body.size());
  const std::string unzipped = gunzip(z.body);
  CHECK(without_process_metrics(unzipped) == without_process_metrics(plain.body));
  CHECK(without_process_metrics(unzipped) == without_process_metrics(plain_before));
  // Without Accept-Encoding, or with gzip refused, the text comes as is.
  CHECK_FALSE(plain.headers.has("content-encoding"));
  Response refused = http_get(proxy.admin_port(), "/metrics", {{"Accept-Encoding", "gzip;q=0"}});
  CHECK_FALSE(refused.headers.has("content-encoding"));
  CHECK(refused.body.find("# TYPE routemeter_requests_total counter") != std::string::npos);
}

TEST_CASE("SIGTERM drains: readyz turns 503, the slow request finishes, exit 0", "[admin]") {
  Gate finish;  // the request stays in flight until the checks below are done
  TestBackend backend(
      [finish](const ReceivedRequest&) { return Reply::ok("finished").held_by(finish); });
  Routemeter proxy(admin_config(backend));
  const uint16_t admin = proxy.admin_port();
  REQUIRE(http_get(admin, "/readyz").status == 200);
  HttpClient slow(proxy.proxy_port());
  REQUIRE(slow.send_request("GET", "/old/slow"));
  REQUIRE(backend.wait_for_requests(1));
  REQUIRE(proxy.process().signal(SIGTERM));
  Response ready;
  CHECK(wait_until([&] {
    ready = http_get(admin, "/readyz");
    return ready.status == 503;
  }));
  CHECK(ready.body == "draining\n");
  // Still alive while the request is in flight, and still lively.
  CHECK(proxy.process().running());
  CHECK(http_get(admin, "/healthz").status == 200);
  CHECK(value(scrape(admin), "routemeter_requests_in_flight", {{"upstream", "app"}}) == 1);
  finish.open();
  Response r = slow.read_response();
  CHECK(r.status == 200);
  CHECK(r.complete);
  CHECK(r.body == "finished");
  auto status = proxy.process().wait_exit(5s);
  REQUIRE(status.has_value());
  CHECK(status->text() == "exit 0");
}

TEST_CASE("POST /-/reload applies a valid file, and keeps the old config on a broken one",
          "[admin]") {
  TestBackend backend([](const ReceivedRequest& req) { return Reply::ok(req.target); });
  const std::string original = admin_config(backend);
  Routemeter proxy(original);
  const uint16_t admin = proxy.admin_port();
  const uint16_t port = proxy.proxy_port();
  CHECK(http_get(port, "/new").status == 404);

  const std::string with_new = admin_config(backend, "", kNewRoute);
  proxy.write_config(with_new);
  Response ok = admin_post(admin, "/-/reload");
  CHECK(ok.status == 200);
  CHECK(ok.body == "reloaded\n");
  Response routed = http_get(port, "/new");
  CHECK(routed.status == 200);
  CHECK(routed.body == "/new");
  std::string m = scrape_quiescent(admin);
  CHECK(value(m, "routemeter_requests_total",
              {{"upstream", "app"}, {"route", "new"}, {"method", "GET"}, {"code", "200"}}) == 1);
  CHECK(value(m, "routemeter_config_last_reload_successful") == 1);
  CHECK(value(m, "routemeter_config_reloads_total", {{"result", "success"}}) == 1);
  const double success_time = value(m, "routemeter_config_last_reload_success_timestamp_seconds");

  const std::string broken = with_new + kBrokenRoute;
  proxy.write_config(broken);
  Response bad = admin_post(admin, "/-/reload");
  CHECK(bad.status == 400);
  INFO(bad.body);
  const std::string where =
      proxy.config_path() + ":" + std::to_string(line_count(broken)) + ":12: ";
  CHECK(bad.body.find("old config kept") != std::string::npos);
  CHECK(bad.body.find(where + "route \"broken\": upstream \"nope\" is not defined") !=
        std::string::npos);
  m = scrape(admin);
  CHECK(value(m, "routemeter_config_last_reload_successful") == 0);
  CHECK(value(m, "routemeter_config_reloads_total", {{"result", "failure"}}) == 1);
  CHECK(value(m, "routemeter_config_last_reload_success_timestamp_seconds") == success_time);
  // The last good config still serves, both routes; counters carried over.
  CHECK(http_get(port, "/old/a").body == "/old/a");
  CHECK(http_get(port, "/new").body == "/new");
  CHECK(http_get(port, "/broken").status == 404);
  m = scrape_quiescent(admin);
  CHECK(value(m, "routemeter_requests_total",
              {{"upstream", "app"}, {"route", "new"}, {"method", "GET"}, {"code", "200"}}) == 2);

  // Fixing the file recovers.
  proxy.write_config(original);
  CHECK(admin_post(admin, "/-/reload").status == 200);
  m = scrape(admin);
  CHECK(value(m, "routemeter_config_last_reload_successful") == 1);
  CHECK(value(m, "routemeter_config_reloads_total", {{"result", "success"}}) == 2);
  CHECK(http_get(port, "/new").status == 404);
}

TEST_CASE("SIGHUP reloads like POST /-/reload, and logs why a broken file is refused", "[admin]") {
  TestBackend backend([](const ReceivedRequest& req) { return Reply::ok(req.target); });
  Routemeter proxy(admin_config(backend));
  const uint16_t admin = proxy.admin_port();
  const uint16_t port = proxy.proxy_port();
  CHECK(http_get(port, "/new").status == 404);

  const std::string with_new = admin_config(backend, "", kNewRoute);
  proxy.write_config(with_new);
  REQUIRE(proxy.reload());
  CHECK(wait_until([&] {
    return value(scrape(admin), "routemeter_config_reloads_total", {{"result", "success"}}) == 1;
  }));
  CHECK(http_get(port, "/new").body == "/new");

  const std::string broken = with_new + kBrokenRoute;
  proxy.write_config(broken);
  REQUIRE(proxy.reload());
  std::string m;
  CHECK(wait_until([&] {
    m = scrape(admin);
    return value(m, "routemeter_config_last_reload_successful") == 0;
  }));
  CHECK(value(m, "routemeter_config_reloads_total", {{"result", "failure"}}) == 1);
  const std::string where =
      proxy.config_path() + ":" + std::to_string(line_count(broken)) + ":12: ";
  auto logged = proxy.process().wait_for_stderr(where + "route \"broken\"");
  INFO(proxy.process().stderr_text());
  CHECK(logged.has_value());
  CHECK(http_get(port, "/old/b").body == "/old/b");
  CHECK(http_get(port, "/new").body == "/new");
  CHECK(proxy.process().running());
}
