// Per-route SLOs: the `slo` key, the good/slow/error classification, the
// routemeter_slo_requests_total series a binding counts through, and the
// objective and threshold gauges read from the current snapshot.
#include "routemeter/slo.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "routemeter/config.hpp"
#include "routemeter/metrics.hpp"
#include "routemeter/router.hpp"
#include "routemeter/snapshot.hpp"

using namespace routemeter;
using namespace std::chrono_literals;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

std::string all_errors(const ConfigLoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) out += e.to_string() + "\n";
  return out;
}

constexpr const char* kConfig = R"([[upstream]]
name = "car"
servers = ["127.0.0.1:9001"]

[[route]]
name = "car-api"
path_prefix = "/api/car/"
upstream = "car"
slo = { latency = "300ms", objective = 0.999 }

[[route]]
name = "plain"
path_prefix = "/"
upstream = "car"
)";

}  // namespace

TEST_CASE("slo: a 5xx is an error, anything else good within the latency, slow after it", "[slo]") {
  struct Case {
    int status;
    uint64_t duration_ns;
    SloResult expected;
  };
  constexpr uint64_t kLatency = 300'000'000;
  const Case cases[] = {
      {200, 0, SloResult::kGood},
      {200, kLatency, SloResult::kGood},  // "within": at the threshold is good
      {200, kLatency + 1, SloResult::kSlow},
      {204, 1, SloResult::kGood},
      {301, kLatency * 10, SloResult::kSlow},
      {404, 1, SloResult::kGood},  // the client's mistake, not the service's
      {499, 1, SloResult::kGood},  // the client left
      {499, kLatency + 1, SloResult::kSlow},
      {500, 1, SloResult::kError},
      {502, kLatency * 10, SloResult::kError},
      {504, kLatency + 1, SloResult::kError},
      {599, 1, SloResult::kError},
      {600, 1, SloResult::kGood},
      {101, 1, SloResult::kGood},
  };
  for (const Case& c : cases) {
    INFO("status " << c.status << ", " << c.duration_ns << " ns");
    CHECK(classify_slo(c.status, c.duration_ns, kLatency) == c.expected);
  }
  CHECK(slo_result_name(SloResult::kGood) == "good");
  CHECK(slo_result_name(SloResult::kSlow) == "slow");
  CHECK(slo_result_name(SloResult::kError) == "error");
}

TEST_CASE("slo: the key is read into the route, absent means no SLO", "[slo][config]") {
  ConfigLoadResult loaded = parse_config(kConfig, "t.toml");
  INFO(all_errors(loaded));
  REQUIRE(loaded.ok());
  const Config& c = *loaded.config;
  REQUIRE(c.routes[0].slo.has_value());
  CHECK(c.routes[0].slo->latency == 300ms);
  CHECK(c.routes[0].slo->objective == 0.999);
  CHECK_FALSE(c.routes[1].slo.has_value());
  // The effective config shows it as written.
  const std::string json = config_to_json(c);
  CHECK(json.find("\"slo\": {\n        \"latency\": \"300ms\",\n        \"objective\": 0.999\n"
                  "      }") != std::string::npos);
  CHECK(json.find("\"slo\": null") != std::string::npos);
  // The [route.slo] table spelling is the same TOML.
  ConfigLoadResult table = parse_config(
      "[[upstream]]\nname = \"u\"\nservers = [\"127.0.0.1:1\"]\n[[route]]\nname = \"r\"\n"
      "path = \"/\"\nupstream = \"u\"\n[route.slo]\nlatency = \"2s\"\nobjective = 0.99\n",
      "t.toml");
  INFO(all_errors(table));
  REQUIRE(table.ok());
  CHECK(table.config->routes[0].slo == SloConfig{2s, 0.99});
}

TEST_CASE("slo: mistakes are errors at the key's line and column", "[slo][config]") {
  struct Case {
    const char* slo;  // the value of `slo = ...` on line 8, column 7
    const char* at;
    const char* message;
  };
  const Case cases[] = {
      {"0.999", "8:7",
       "route \"r\": slo: expected a table like { latency = \"300ms\", objective = 0.999 }, got "
       "a float"},
      {"{ objective = 0.999 }", "8:7", "route \"r\": slo: missing required key \"latency\""},
      {"{ latency = \"300ms\" }", "8:7", "route \"r\": slo: missing required key \"objective\""},
      {"{ latency = \"300ms\", objective = 99.9 }", "8:40",
       "route \"r\": slo.objective: must be a ratio between 0 and 1 (exclusive), like 0.999, got "
       "99.9"},
      {"{ latency = \"300ms\", objective = 1 }", "8:40",
       "route \"r\": slo.objective: must be a ratio between 0 and 1 (exclusive), like 0.999, got "
       "1"},
      {"{ latency = \"300ms\", objective = 0 }", "8:40",
       "route \"r\": slo.objective: must be a ratio between 0 and 1 (exclusive), like 0.999, got "
       "0"},
      {"{ latency = \"300ms\", objective = \"0.999\" }", "8:40",
       "route \"r\": slo.objective: expected a number, got a string"},
      {"{ latency = \"0s\", objective = 0.9 }", "8:19",
       "route \"r\": slo.latency: must be greater than 0, got \"0s\""},
      {"{ latency = 300, objective = 0.9 }", "8:19",
       "route \"r\": slo.latency: expected a duration string like \"10s\", got an integer"},
      {"{ latency = \"0.3s\", objective = 0.9 }", "8:19",
       "route \"r\": slo.latency: expected a duration"},
      {"{ latency = \"300ms\", objective = 0.9, target = 1 }", "8:45",
       "route \"r\": slo.target: unknown key"},
      {"{ latncy = \"300ms\", objective = 0.9 }", "8:9",
       "route \"r\": slo.latncy: unknown key (did you mean \"latency\"?)"},
  };
  for (const Case& c : cases) {
    const std::string toml =
        "[[upstream]]\nname = \"u\"\nservers = [\"127.0.0.1:1\"]\n[[route]]\nname = \"r\"\n"
        "path = \"/\"\nupstream = \"u\"\nslo = " +
        std::string(c.slo) + "\n";
    ConfigLoadResult result = parse_config(toml, "conf/routemeter.toml");
    const std::string errors = all_errors(result);
    INFO(toml << "\n" << errors);
    CHECK_FALSE(result.ok());
    CHECK(errors.find(std::string("conf/routemeter.toml:") + c.at + ": " + c.message) !=
          std::string::npos);
  }
}

TEST_CASE("slo: requests are counted good, slow or error on the route's series", "[slo][metrics]") {
  ConfigLoadResult loaded = parse_config(kConfig, "t.toml");
  REQUIRE(loaded.ok());
  Metrics metrics(loaded.config->metrics, 2);
  MetricsBinding binding(metrics, *loaded.config);
  Router router(*loaded.config);

  // Every result is exposed from the start, at 0; the route without an slo has none.
  std::string text = metrics.render();
  INFO(text);
  for (const char* result : {"good", "slow", "error"}) {
    CHECK(has_line(text, std::string("routemeter_slo_requests_total{result=\"") + result +
                             "\",route=\"car-api\",upstream=\"car\"} 0"));
  }
  CHECK(text.find("slo_requests_total{result=\"good\",route=\"plain\"") == std::string::npos);

  auto send = [&](size_t worker, const Route* route, int status, uint64_t duration_ns) {
    RequestRecord rec;
    rec.route = route;
    rec.method = http::Method::kGet;
    rec.status = status;
    rec.start_ns = 1'000'000'000;
    rec.end_ns = rec.start_ns + duration_ns;
    binding.begin(worker, rec);
    binding.record(worker, rec);
  };
  const Route* car = &router.routes()[0];
  const Route* plain = &router.routes()[1];
  send(0, car, 200, 10'000'000);   // good
  send(1, car, 200, 300'000'000);  // good: at the threshold
  send(0, car, 404, 1'000'000);    // good
  send(1, car, 200, 300'000'001);  // slow
  send(0, car, 500, 1'000'000);    // error
  send(1, car, 503, 900'000'000);  // error
  send(0, plain, 500, 1'000'000);  // no slo: not counted
  send(0, nullptr, 404, 1'000);    // unmatched: no slo
  text = metrics.render();
  CHECK(has_line(text,
                 "routemeter_slo_requests_total{result=\"good\",route=\"car-api\","
                 "upstream=\"car\"} 3"));
  CHECK(has_line(text,
                 "routemeter_slo_requests_total{result=\"slow\",route=\"car-api\","
                 "upstream=\"car\"} 1"));
  CHECK(has_line(text,
                 "routemeter_slo_requests_total{result=\"error\",route=\"car-api\","
                 "upstream=\"car\"} 2"));
  CHECK(text.find("slo_requests_total{result=\"error\",route=\"plain\"") == std::string::npos);
  CHECK(text.find("slo_requests_total{result=\"good\",route=\"unmatched\"") == std::string::npos);
}

TEST_CASE("slo: the objective and threshold gauges follow the current snapshot", "[slo][metrics]") {
  ConfigLoadResult loaded = parse_config(kConfig, "t.toml");
  REQUIRE(loaded.ok());
  std::string error;
  std::shared_ptr<const Snapshot> current =
      Snapshot::build(loaded.config, nullptr, nullptr, &error);
  REQUIRE(current);
  Metrics metrics(loaded.config->metrics, 1);
  auto collector = std::make_shared<SloCollector>("routemeter", [&] { return current; });
  metrics.add_collectable(collector);
  std::string text = metrics.render();
  INFO(text);
  CHECK(has_line(text, "# TYPE routemeter_slo_objective_ratio gauge"));
  CHECK(has_line(text, "routemeter_slo_objective_ratio{route=\"car-api\"} 0.999"));
  CHECK(has_line(text, "# TYPE routemeter_slo_latency_threshold_seconds gauge"));
  CHECK(has_line(text, "routemeter_slo_latency_threshold_seconds{route=\"car-api\"} 0.3"));
  CHECK(text.find("route=\"plain\"") == std::string::npos);

  // A reload that changes one SLO and adds another shows at the next scrape.
  std::string changed = kConfig;
  changed.replace(changed.find("objective = 0.999"), 17, "objective = 0.99");
  changed += "slo = { latency = \"2m\", objective = 0.5 }\n";
  ConfigLoadResult reloaded = parse_config(changed, "t.toml");
  INFO(all_errors(reloaded));
  REQUIRE(reloaded.ok());
  current = Snapshot::build(reloaded.config, nullptr, nullptr, &error);
  REQUIRE(current);
  text = metrics.render();
  CHECK(has_line(text, "routemeter_slo_objective_ratio{route=\"car-api\"} 0.99"));
  CHECK(has_line(text, "routemeter_slo_objective_ratio{route=\"plain\"} 0.5"));
  CHECK(has_line(text, "routemeter_slo_latency_threshold_seconds{route=\"plain\"} 120"));

  // No route with an slo: no family at all (no HELP/TYPE lines without series).
  ConfigLoadResult none = parse_config("", "t.toml");
  current = Snapshot::build(none.config, nullptr, nullptr, &error);
  REQUIRE(current);
  text = metrics.render();
  CHECK(text.find("slo_objective_ratio") == std::string::npos);
  CHECK(text.find("slo_latency_threshold_seconds") == std::string::npos);
}
