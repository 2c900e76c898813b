// GET /status in a real browser: headless Chromium (Debian's `chromium`)
// loads the page from routemeter in front of the demo car and shop services
// while traffic runs, and the test reads the rendered DOM (--dump-dom after
// --virtual-time-budget has let the script fetch and draw): rows for
// car-api and shop-api with non-zero rates and error ratios near the
// services' 30% and 20%, no console message at all (errors, CSP
// violations), and a screenshot kept in <build>/test-artifacts/. With a
// token the page shows the token form and no data.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "proxy_support.hpp"
#include "routemeter/json_value.hpp"

using namespace routemeter::test;
using routemeter::JsonValue;

namespace {

std::string chromium_binary() {
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  return "";
}

uint16_t start_demo(Process& p) {
  static const std::regex kListening(
      R"(^routemeter-demo-backend: listening service=\w+ addr=127\.0\.0\.1:(\d+)$)");
  auto line = p.wait_for_stderr_line(kListening, 10s);
  INFO("stderr: " << p.stderr_text());
  REQUIRE(line.has_value());
  std::smatch m;
  REQUIRE(std::regex_search(*line, m, kListening));
  return static_cast<uint16_t>(std::stoul(m[1].str()));
}

std::string demo_config(uint16_t car, uint16_t shop, const std::string& admin_extra) {
  return fill(
      R"([server]
listen = ["127.0.0.1:0"]
workers = 2

[admin]
listen = "127.0.0.1:0"
status_interval = "1s"
{{admin_extra}}

[log]
access = "off"

[[upstream]]
name = "car"
servers = ["127.0.0.1:{{car}}"]

[[upstream]]
name = "shop"
servers = ["127.0.0.1:{{shop}}"]

[[route]]
name = "car-api"
path_prefix = "/api/car/"
upstream = "car"

[[route]]
name = "shop-api"
path_prefix = "/api/shop/"
upstream = "shop"
)",
      {{"car", std::to_string(car)}, {"shop", std::to_string(shop)}, {"admin_extra", admin_extra}});
}

struct Browser {
  ExitStatus status;
  std::string out;
  std::string err;
};

// One headless Chromium run with a fresh profile and HOME, bounded in time.
Browser run_chromium(const std::vector<std::string>& extra_args, const std::string& url) {
  const std::string chromium = chromium_binary();
  INFO("chromium is needed: apt-get install chromium (scripts/bootstrap-deps.sh)");
  REQUIRE(!chromium.empty());
  TempDir profile;
  std::vector<std::string> args = {"--headless",
                                   "--disable-gpu",
                                   "--no-sandbox",
                                   "--no-first-run",
                                   "--disable-extensions",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--disable-dev-shm-usage",
                                   "--user-data-dir=" + profile.path() + "/profile",
                                   "--enable-logging=stderr",
                                   "--v=0",
                                   "--virtual-time-budget=6000"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  args.push_back(url);
  Process p(chromium, args, {"HOME=" + profile.path(), "XDG_CONFIG_HOME=" + profile.path()});
  std::optional<ExitStatus> done = p.wait_exit(90s);
  if (!done) done = p.stop(2s);
  REQUIRE(p.wait_output_closed(10s));
  return {*done, p.stdout_text(), p.stderr_text()};
}

// The console lines of a Chromium log ("INFO:CONSOLE(...)] "message", source: ...").
std::vector<std::string> console_lines(const std::string& log) {
  std::vector<std::string> lines;
  size_t at = 0;
  while (at < log.size()) {
    const size_t nl = log.find('\n', at);
    const std::string line = log.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    if (line.find(":CONSOLE") != std::string::npos) lines.push_back(line);
    at = nl == std::string::npos ? log.size() : nl + 1;
  }
  return lines;
}

// The value of `attribute` in the <tr> whose data-route is `route`.
std::string row_attribute(const std::string& dom, const std::string& route,
                          const std::string& attribute) {
  const size_t at = dom.find("data-route=\"" + route + "\"");
  if (at == std::string::npos) return "";
  const size_t start = dom.rfind("<tr", at);
  const size_t end = dom.find('>', at);
  const std::string tag = dom.substr(start, end - start);
  const std::string key = attribute + "=\"";
  const size_t v = tag.find(key);
  if (v == std::string::npos) return "";
  return tag.substr(v + key.size(), tag.find('"', v + key.size()) - v - key.size());
}

double number(const std::string& text) {
  return text.empty() ? -1 : std::strtod(text.c_str(), nullptr);
}

// Clients sending GET /api/<service>/random through the proxy, each on its
// own keep-alive connection, until destroyed.
class Traffic {
 public:
  Traffic(uint16_t port, int clients_per_service) {
    for (const char* service : {"car", "shop"}) {
      for (int i = 0; i < clients_per_service; ++i) {
        threads_.emplace_back([this, port, path = std::string("/api/") + service + "/random"] {
          while (!stop_.load()) {
            HttpClient client(port, 10s);
            while (!stop_.load()) {
              Response r = client.request("GET", path);
              if (r.status == 0 || !r.complete) break;
            }
          }
        });
      }
    }
  }
  ~Traffic() {
    stop_.store(true);
    for (auto& t : threads_) t.join();
  }
  Traffic(const Traffic&) = delete;
  Traffic& operator=(const Traffic&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

double route_total(const JsonValue& status, const std::string& route, const char* field) {
  for (const JsonValue& r : status["routes"].items()) {
    if (r["route"].string() == route) return r["totals"][field].number_or(-1);
  }
  return -1;
}

}  // namespace

TEST_CASE("/status in headless Chromium shows car-api and shop-api live from the demo services",
          "[status][browser]") {
  Process car(ROUTEMETER_DEMO_BACKEND,
              {"--service", "car", "--listen", "127.0.0.1:0", "--seed", "13"});
  Process shop(ROUTEMETER_DEMO_BACKEND,
               {"--service", "shop", "--listen", "127.0.0.1:0", "--seed", "13"});
  const uint16_t car_port = start_demo(car);
  const uint16_t shop_port = start_demo(shop);
  Routemeter proxy(demo_config(car_port, shop_port, ""));
  Traffic traffic(proxy.proxy_port(), 8);

  // Enough answers for the error ratios to mean something, and a few points.
  REQUIRE(wait_until(
      [&] {
        Response r = http_get(proxy.admin_port(), "/status.json");
        std::optional<JsonValue> s = JsonValue::parse(r.body);
        return s && route_total(*s, "car-api", "requests") >= 150 &&
               route_total(*s, "shop-api", "requests") >= 150 &&
               (*s)["timestamps"].items().size() >= 3;
      },
      60s, 200ms));

  const std::string url = "http://127.0.0.1:" + std::to_string(proxy.admin_port()) + "/status";
  Browser dom = run_chromium({"--dump-dom"}, url);
  INFO("chromium stderr:\n" << dom.err);
  INFO("DOM:\n" << dom.out);
  REQUIRE(dom.status.ok());
  CHECK(console_lines(dom.err).empty());
  CHECK(dom.out.find("id=\"state\" data-state=\"ok\"") != std::string::npos);
  CHECK(dom.out.find("<form id=\"login\" hidden=\"\"") != std::string::npos);
  for (const auto& [route, ratio] : {std::pair<std::string, double>{"car-api", 0.3},
                                     std::pair<std::string, double>{"shop-api", 0.2}}) {
    INFO(route);
    CHECK(row_attribute(dom.out, route, "data-upstream") == (route == "car-api" ? "car" : "shop"));
    CHECK(number(row_attribute(dom.out, route, "data-rate")) > 0);
    CHECK(number(row_attribute(dom.out, route, "data-requests")) >= 150);
    const double total_ratio = number(row_attribute(dom.out, route, "data-total-error-ratio"));
    CHECK(total_ratio == Approx(ratio).margin(0.07));
    // The last interval's own ratio: about 20 answers, so only a loose check.
    const double last_ratio = number(row_attribute(dom.out, route, "data-error-ratio"));
    CHECK(last_ratio >= 0);
    CHECK(last_ratio <= 1);
  }
  CHECK(dom.out.find("id=\"chart-car-api\"") != std::string::npos);
  CHECK(dom.out.find("id=\"chart-shop-api\"") != std::string::npos);

  // The screenshots: a laptop and a phone.
  const std::string artifacts = std::string(ROUTEMETER_BUILD_DIR) + "/test-artifacts";
  ::mkdir(artifacts.c_str(), 0755);
  for (const auto& [name, size] :
       {std::pair<std::string, std::string>{"status.png", "1280,900"},
        std::pair<std::string, std::string>{"status-phone.png", "390,844"}}) {
    const std::string png = artifacts + "/" + name;
    std::remove(png.c_str());
    Browser shot =
        run_chromium({"--hide-scrollbars", "--screenshot=" + png, "--window-size=" + size}, url);
    INFO(shot.err);
    CHECK(shot.status.ok());
    CHECK(console_lines(shot.err).empty());
    std::ifstream in(png, std::ios::binary);
    std::string magic(8, '\0');
    in.read(magic.data(), 8);
    CHECK(magic == "\x89PNG\r\n\x1a\n");
  }
}

TEST_CASE("/status in headless Chromium asks for the admin token and shows no data",
          "[status][browser]") {
  TestBackend backend;
  Routemeter proxy(demo_config(backend.port(), backend.port(), "token = \"s3cret\""));
  CHECK(http_get(proxy.proxy_port(), "/api/car/x").status == 200);
  const std::string url = "http://127.0.0.1:" + std::to_string(proxy.admin_port()) + "/status";
  Browser dom = run_chromium({"--dump-dom"}, url);
  INFO("chromium stderr:\n" << dom.err);
  INFO("DOM:\n" << dom.out);
  REQUIRE(dom.status.ok());
  CHECK(console_lines(dom.err).empty());  // it did not even try /status.json without the token
  CHECK(dom.out.find("id=\"state\" data-state=\"token\"") != std::string::npos);
  CHECK(dom.out.find("<form id=\"login\" autocomplete=\"off\">") != std::string::npos);
  CHECK(dom.out.find("<main id=\"data\" hidden=\"\">") != std::string::npos);
  CHECK(dom.out.find("car-api") == std::string::npos);
  CHECK(dom.out.find("data-route=") == std::string::npos);
}
