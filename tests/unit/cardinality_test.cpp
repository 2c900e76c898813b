// The series bound: status codes outside the registry fold into their
// class, and no traffic, however odd, makes a binding expose more series
// than series_bound() says (driven exhaustively: every method a route can
// see, every status 100-599). A config over max_series is refused.
#include "routemeter/cardinality.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <string>

#include "routemeter/config.hpp"
#include "routemeter/http.hpp"
#include "routemeter/metrics.hpp"
#include "routemeter/router.hpp"

using namespace routemeter;

namespace {

std::string all_errors(const ConfigLoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) out += e.to_string() + "\n";
  return out;
}

// Series per family in a text exposition: families from the TYPE lines;
// a histogram's _bucket/_sum/_count and a summary's _sum/_count are its own.
std::map<std::string, uint64_t> series_per_family(const std::string& text) {
  std::map<std::string, uint64_t> out;
  std::istringstream in(text);
  std::string line;
  std::string family;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      out[family] += 0;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const std::string sample = line.substr(0, line.find_first_of("{ "));
    INFO(line);
    REQUIRE(sample.rfind(family, 0) == 0);  // samples follow their TYPE line
    ++out[family];
  }
  return out;
}

constexpr const char* kConfig = R"([[upstream]]
name = "u"
servers = ["127.0.0.1:1", "127.0.0.1:2"]

[[upstream]]
name = "idle"
servers = ["127.0.0.1:3"]

[[route]]
name = "listed"
path_prefix = "/a/"
methods = ["GET", "post", "PURGE", "PROPFIND"]
upstream = "u"

[[route]]
name = "open"
path_prefix = "/"
upstream = "u"
slo = { latency = "1s", objective = 0.99 }
)";

}  // namespace

TEST_CASE("series bound: codes outside the registry count as their class", "[cardinality]") {
  for (int s : {100, 101, 103, 200, 204, 226, 301, 308, 404, 418, 429, 451, 499, 500, 511}) {
    INFO(s);
    CHECK(is_registered_status(s));
    CHECK(status_code_key(s) == s);
    CHECK(code_label(status_code_key(s)) == std::to_string(s));
  }
  struct Fold {
    int status;
    const char* label;
  };
  for (const Fold f : {Fold{104, "1xx"}, Fold{199, "1xx"}, Fold{209, "2xx"}, Fold{299, "2xx"},
                       Fold{309, "3xx"}, Fold{419, "4xx"}, Fold{420, "4xx"}, Fold{498, "4xx"},
                       Fold{509, "5xx"}, Fold{599, "5xx"}, Fold{0, "5xx"}, Fold{600, "5xx"}}) {
    INFO(f.status);
    CHECK_FALSE(is_registered_status(f.status));
    CHECK(code_label(status_code_key(f.status)) == f.label);
  }
  int labels = 0;
  std::map<std::string, int> seen;
  for (int s = 100; s <= 599; ++s) ++seen[code_label(status_code_key(s))];
  labels = static_cast<int>(seen.size());
  CHECK(labels == static_cast<int>(kCodeLabelValues));
}

TEST_CASE("series bound: no traffic makes a binding expose more than the bound",
          "[cardinality][metrics]") {
  ConfigLoadResult loaded = parse_config(kConfig, "t.toml");
  INFO(all_errors(loaded));
  REQUIRE(loaded.ok());
  const Config& config = *loaded.config;
  Metrics metrics(config.metrics, 2);
  MetricsBinding binding(metrics, config);
  Router router(config);

  // Every method each route can see (what the router lets through to it),
  // every status, on both workers.
  const http::Method all[] = {http::Method::kGet,     http::Method::kHead,   http::Method::kPost,
                              http::Method::kPut,     http::Method::kDelete, http::Method::kConnect,
                              http::Method::kOptions, http::Method::kTrace,  http::Method::kPatch,
                              http::Method::kOther};
  auto drive = [&](const Route* route, http::Method method) {
    for (int status = 100; status <= 599; ++status) {
      RequestRecord rec;
      rec.route = route;
      rec.method = method;
      rec.status = status;
      rec.start_ns = 1'000'000'000;
      rec.end_ns = rec.start_ns + (static_cast<uint64_t>(status) * 7'000'000);
      rec.path.assign("/p/" + std::to_string(status));
      const size_t worker = static_cast<size_t>(status) % 2;
      binding.begin(worker, rec);
      binding.record(worker, rec);
    }
  };
  for (http::Method m : {http::Method::kGet, http::Method::kPost, http::Method::kOther}) {
    drive(&router.routes()[0], m);
  }
  for (http::Method m : all) {
    if (m != http::Method::kConnect) drive(&router.routes()[1], m);
    drive(nullptr, m);
  }

  const std::map<std::string, uint64_t> seen = series_per_family(metrics.render());
  const std::vector<FamilyBound> bound = series_bound(config);
  std::map<std::string, uint64_t> limit;
  for (const FamilyBound& f : bound) limit[f.name] = f.series;
  uint64_t total = 0;
  for (const auto& [family, n] : seen) {
    INFO(family << ": " << n << " series");
    REQUIRE(limit.count(family) == 1);  // every family is in the bound
    CHECK(n <= limit[family]);
    total += n;
  }
  CHECK(total <= total_series(bound));
  // The traffic reached the worst case of the route families exactly: the
  // bound is what this config can do, not a loose guess. 3 + 9 + 10 pairs.
  CHECK(seen.at("routemeter_requests_total") == 22 * kCodeLabelValues);
  CHECK(limit["routemeter_requests_total"] == 22 * kCodeLabelValues);
  CHECK(seen.at("routemeter_request_duration_seconds") == 22 * (12 + 2));
  CHECK(seen.at("routemeter_request_latency_seconds") == 22 * (3 + 2));
  CHECK(seen.at("routemeter_slo_requests_total") == 3);
  CHECK(seen.at("routemeter_upstream_errors_total") == limit["routemeter_upstream_errors_total"]);
}

TEST_CASE("series bound: a config over max_series is refused at the key", "[cardinality]") {
  const std::string toml = std::string(kConfig) + "[metrics]\nmax_series = 1000\n";
  ConfigLoadResult loaded = parse_config(toml, "t.toml");
  INFO(all_errors(loaded));
  REQUIRE(loaded.ok());  // valid TOML and keys; the bound is checked on its own
  const uint64_t total = total_series(series_bound(*loaded.config));
  CHECK(total > 1000);
  std::optional<ConfigError> error = check_series_bound(*loaded.config);
  REQUIRE(error.has_value());
  CHECK(error->to_string() ==
        "t.toml:21:14: metrics.max_series: this config can expose up to " + std::to_string(total) +
            " series, more than max_series = 1000 (routemeter --check-config lists them per "
            "metric family; list the methods of busy routes, or raise max_series)");
  // Within the limit: no error.
  ConfigLoadResult roomy = parse_config(
      std::string(kConfig) + "[metrics]\nmax_series = " + std::to_string(total) + "\n", "t.toml");
  REQUIRE(roomy.ok());
  CHECK_FALSE(check_series_bound(*roomy.config).has_value());
  // The default is 100,000.
  ConfigLoadResult plain = parse_config(kConfig, "t.toml");
  CHECK(plain.config->metrics.max_series == 100000);
  CHECK(format_series_bound(series_bound(*plain.config), 100000)
            .find("    1518  22 (route, method) pairs x 69 codes (63 IANA, 499, 5 folded "
                  "classes)\n") != std::string::npos);
}
