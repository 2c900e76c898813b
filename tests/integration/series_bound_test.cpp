// The series bound through the real binary: --check-config prints it per
// family and refuses a config over max_series (so do start and reload);
// traffic with every method and odd status codes creates no series outside
// it, and an unregistered code is counted as its class.
#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <string>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

const std::string kRoutes = R"([[route]]
name = "listed"
path_prefix = "/listed/"
methods = ["GET", "POST", "PURGE"]
upstream = "app"

[[route]]
name = "open"
path_prefix = "/"
upstream = "app"
slo = { latency = "1s", objective = 0.99 }
)";

// The backend answers /.../code/NNN with status NNN.
Reply code_backend(const ReceivedRequest& req) {
  const size_t at = req.target.rfind("/code/");
  if (at == std::string::npos) return Reply::ok("ok");
  return Reply::with_status(std::stoi(req.target.substr(at + 6)), "x");
}

// family -> bound, from --check-config's table ("  name  N  why").
std::map<std::string, uint64_t> parse_bound(const std::string& out, uint64_t& total) {
  std::map<std::string, uint64_t> bound;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("  ", 0) != 0) continue;
    std::istringstream fields(line);
    std::string name;
    uint64_t n = 0;
    fields >> name >> n;
    if (name == "total") {
      total = n;
    } else {
      bound[name] = n;
    }
  }
  return bound;
}

std::map<std::string, uint64_t> series_per_family(const std::string& text) {
  std::map<std::string, uint64_t> out;
  std::istringstream in(text);
  std::string line;
  std::string family;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      out[family] += 0;
    } else if (!line.empty() && line[0] != '#') {
      ++out[family];
    }
  }
  return out;
}

}  // namespace

TEST_CASE("series bound: --check-config prints it and no traffic exceeds it", "[cardinality]") {
  TestBackend backend(code_backend);
  Routemeter proxy(proxy_config("\"" + backend.address() + "\"", kRoutes, "workers = 2"));
  CommandResult check =
      run_command(ROUTEMETER_BINARY, {"--check-config", "--config", proxy.config_path()});
  INFO(check.out << check.err);
  REQUIRE(check.status.ok());
  CHECK(check.out.rfind(proxy.config_path() + ": ok\nseries bound (", 0) == 0);
  uint64_t total = 0;
  const std::map<std::string, uint64_t> bound = parse_bound(check.out, total);
  // 3 + 9 + 10 (route, method) pairs x 69 codes.
  CHECK(bound.at("routemeter_requests_total") == 22 * 69);
  CHECK(check.out.find("of max_series = 100000\n") != std::string::npos);

  const uint16_t port = proxy.proxy_port();
  const char* methods[] = {"GET",     "HEAD",  "POST",  "PUT",   "DELETE",
                           "OPTIONS", "TRACE", "PATCH", "PURGE", "PROPFIND"};
  const int codes[] = {200, 204, 299, 404, 418, 420, 451, 503, 520, 599};
  for (const char* m : methods) {
    for (int code : codes) {
      for (const char* prefix : {"/listed", "", "/x"}) {
        HttpClient c(port);
        c.request(m, std::string(prefix) + "/code/" + std::to_string(code),
                  {{"Connection", "close"}});
      }
    }
  }
  {  // CONNECT never reaches a route (501), nor does a malformed head (400)
    HttpClient c(port);
    CHECK(c.request("CONNECT", "127.0.0.1:1", {{"Connection", "close"}}).status == 501);
    HttpClient bad(port);
    REQUIRE(bad.send_raw("GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK(bad.read_response().status == 400);
  }
  const std::string m = scrape_quiescent(proxy.admin_port());
  INFO(m);
  uint64_t exposed = 0;
  for (const auto& [family, n] : series_per_family(m)) {
    INFO(family << ": " << n);
    REQUIRE(bound.count(family) == 1);  // a family missing from the bound fails here
    CHECK(n <= bound.at(family));
    exposed += n;
  }
  CHECK(exposed <= total);
  // 299, 420, 520 and 599 are not registered: counted as their class
  // (GET on "open": from "/code/..." and "/x/code/...").
  auto count = [&m](const char* route, const char* method, const char* code) {
    return find_metric(m, "routemeter_requests_total",
                       {{"upstream", "app"}, {"route", route}, {"method", method}, {"code", code}})
        .value_or(NAN);
  };
  CHECK(count("open", "GET", "2xx") == 2);
  CHECK(count("open", "GET", "4xx") == 2);
  CHECK(count("open", "GET", "5xx") == 4);
  CHECK(m.find("code=\"299\"") == std::string::npos);
  CHECK(m.find("code=\"599\"") == std::string::npos);
  // PURGE and PROPFIND are both OTHER; "listed" takes PURGE only, the rest
  // goes on to "open".
  CHECK(count("listed", "OTHER", "200") == 1);
  CHECK(count("open", "OTHER", "200") == 5);
  const CommandResult lint = promtool_check_metrics(m);
  INFO(lint.out << lint.err);
  CHECK(lint.status.ok());
}

TEST_CASE("series bound: a config over max_series is refused by check, start and reload",
          "[cardinality]") {
  TestBackend backend;
  const std::string small =
      proxy_config("\"" + backend.address() + "\"", kRoutes) +
      "\n[metrics]\nmax_series = 2400\n";  // about 2,000 series; with "more" about 2,800
  TempDir dir;
  const std::string path =
      dir.write("r.toml", small +
                              "\n[[route]]\nname = \"more\"\n"
                              "path_prefix = \"/more/\"\nupstream = \"app\"\n");
  CommandResult check = run_command(ROUTEMETER_BINARY, {"--check-config", "--config", path});
  INFO(check.out << check.err);
  CHECK(check.status.code == 1);
  CHECK(check.out.empty());
  CHECK(check.err.find(path + ":") == 0);
  CHECK(check.err.find(": metrics.max_series: this config can expose up to ") != std::string::npos);
  CHECK(check.err.find("series bound (") != std::string::npos);  // the table, to see why

  CommandResult start = run_command(ROUTEMETER_BINARY, {"--config", path});
  CHECK(start.status.code == 1);
  CHECK(start.err.find("metrics.max_series: this config can expose up to ") != std::string::npos);

  // Within the limit it runs; a reload adding the route is refused.
  Routemeter proxy(small);
  proxy.write_config(small +
                     "\n[[route]]\nname = \"more\"\npath_prefix = \"/more/\"\n"
                     "upstream = \"app\"\n");
  HttpClient admin(proxy.admin_port());
  const Response r = admin.request("POST", "/-/reload", {{"Connection", "close"}});
  CHECK(r.status == 400);
  CHECK(r.body.find("metrics.max_series: this config can expose up to ") != std::string::npos);
}
