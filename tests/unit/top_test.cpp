// `routemeter top` without sockets: its arguments and the table it prints.
#include "routemeter/top.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace routemeter;

TEST_CASE("routemeter top parses its arguments", "[top]") {
  TopArgsResult d = parse_top_args({});
  REQUIRE(d.options.has_value());
  CHECK(d.options->host == "127.0.0.1");
  CHECK(d.options->port == 9901);
  CHECK(d.options->sort == TopSort::kRate);
  CHECK_FALSE(d.options->once);
  CHECK(d.options->interval == std::chrono::milliseconds(2000));

  TopArgsResult all = parse_top_args({"--admin", "[::1]:9100", "--token-file=/t", "--sort",
                                      "errors", "--once", "--interval", "0.5"});
  REQUIRE(all.options.has_value());
  CHECK(all.options->host == "::1");
  CHECK(all.options->port == 9100);
  CHECK(all.options->token_file == "/t");
  CHECK(all.options->sort == TopSort::kErrors);
  CHECK(all.options->once);
  CHECK(all.options->interval == std::chrono::milliseconds(500));

  CHECK(parse_top_args({"--help"}).help);
  CHECK(parse_top_args({"--admin", "x"}).error == "--admin: expected HOST:PORT, got \"x\"");
  CHECK(parse_top_args({"--admin", "h:0"}).error == "--admin: expected HOST:PORT, got \"h:0\"");
  CHECK(parse_top_args({"--sort", "p99"}).error == "--sort: expected rate or errors, got \"p99\"");
  CHECK(parse_top_args({"--interval", "0"}).error.starts_with("--interval:"));
  CHECK(parse_top_args({"--token-file"}).error == "--token-file needs a value");
  CHECK(parse_top_args({"extra"}).error == "unknown argument \"extra\"");
}

TEST_CASE("routemeter top formats routes and upstreams sorted by rate or errors", "[top]") {
  auto status = JsonValue::parse(R"({"interval_seconds": 10, "routes": [
    {"route": "slow", "upstream": "u", "totals": {"requests": 40, "errors": 20, "error_ratio": 0.5,
     "in_flight": null}, "last": {"rate": 0.5, "error_ratio": 0.6, "p50": 1.5, "p99": 2.25,
     "in_flight": null}},
    {"route": "fast", "upstream": "u", "totals": {"requests": 1000, "errors": 0, "error_ratio": 0,
     "in_flight": null}, "last": {"rate": 12.25, "error_ratio": 0, "p50": 0.0042, "p99": 0.031,
     "in_flight": null}},
    {"route": "unmatched", "upstream": "none", "totals": {"requests": 0, "errors": 0,
     "error_ratio": null, "in_flight": null}, "last": null}],
    "upstreams": [{"upstream": "u", "totals": {"requests": 1040, "errors": 20,
     "error_ratio": 0.0192308, "in_flight": 3}, "last": null}]})");
  REQUIRE(status.has_value());
  const std::string by_rate = format_top_table(*status, TopSort::kRate, "title");
  CHECK(by_rate ==
        "title\n\n"
        "ROUTE  UPSTREAM  REQ/S  ERRORS    P50    P99  IN-FLIGHT  REQUESTS  ERR(ALL)\n"
        "fast   u          12.2    0.0%  4.2ms   31ms          -      1000      0.0%\n"
        "slow   u          0.50   60.0%  1.50s  2.25s          -        40     50.0%\n"
        "\n"
        "UPSTREAM  REQ/S  ERRORS  P50  P99  IN-FLIGHT  REQUESTS  ERR(ALL)\n"
        "u             -       -    -    -          3      1040      1.9%\n");
  const std::string by_errors = format_top_table(*status, TopSort::kErrors, "title");
  CHECK(by_errors.find("slow") < by_errors.find("fast"));
}
