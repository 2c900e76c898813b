#include "routemeter/demo_backend.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

using routemeter::demo::DemoAnswer;
using routemeter::demo::DemoDecider;
using routemeter::demo::parse_demo_args;

TEST_CASE("demo backend arguments are parsed or rejected with a reason", "[demo]") {
  struct Case {
    std::vector<std::string_view> args;
    std::string error;  // empty: accepted
    std::string service;
    std::string host;
    uint16_t port;
    bool has_seed;
    uint64_t seed;
  };
  const std::vector<Case> cases = {
      {{"--service", "car", "--listen", "127.0.0.1:9001"}, "", "car", "127.0.0.1", 9001, false, 0},
      {{"--listen", "127.0.0.1:0", "--service", "shop", "--seed", "42"},
       "",
       "shop",
       "127.0.0.1",
       0,
       true,
       42},
      {{"--service", "car", "--listen", "[::1]:9001"}, "", "car", "::1", 9001, false, 0},
      {{"--service", "bus", "--listen", "127.0.0.1:1"},
       "unknown service \"bus\" (expected car or shop)",
       "",
       "",
       0,
       false,
       0},
      {{"--service", "car"}, "--listen is required", "", "", 0, false, 0},
      {{"--listen", "127.0.0.1:1"}, "--service is required", "", "", 0, false, 0},
      {{"--service", "car", "--listen", "127.0.0.1:70000"},
       "--listen: expected HOST:PORT, got \"127.0.0.1:70000\"",
       "",
       "",
       0,
       false,
       0},
      {{"--service", "car", "--listen", "9001"},
       "--listen: expected HOST:PORT, got \"9001\"",
       "",
       "",
       0,
       false,
       0},
      {{"--service", "car", "--listen", "::1:9001"},
       "--listen: expected HOST:PORT, got \"::1:9001\"",
       "",
       "",
       0,
       false,
       0},
      {{"--service", "car", "--listen", "127.0.0.1:1", "--seed", "-1"},
       "--seed: expected an unsigned integer, got \"-1\"",
       "",
       "",
       0,
       false,
       0},
      {{"--service"}, "--service needs a value", "", "", 0, false, 0},
      {{"--verbose"}, "unknown argument \"--verbose\"", "", "", 0, false, 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args);
    auto result = parse_demo_args(c.args);
    CHECK(result.error == c.error);
    CHECK_FALSE(result.help);
    if (c.error.empty()) {
      REQUIRE(result.options.has_value());
      CHECK(result.options->service == c.service);
      CHECK(result.options->host == c.host);
      CHECK(result.options->port == c.port);
      CHECK(result.options->seed.has_value() == c.has_seed);
      if (c.has_seed) CHECK(*result.options->seed == c.seed);
    } else {
      CHECK_FALSE(result.options.has_value());
    }
  }
  CHECK(parse_demo_args({"--help"}).help);
}

TEST_CASE("demo services have their documented success probabilities", "[demo]") {
  CHECK(routemeter::demo::success_probability("car") == 0.7);
  CHECK(routemeter::demo::success_probability("shop") == 0.8);
  CHECK_FALSE(routemeter::demo::success_probability("bus").has_value());
}

TEST_CASE("the same seed gives the same answers", "[demo]") {
  DemoDecider a(0.7, 1);
  DemoDecider b(0.7, 1);
  DemoDecider c(0.7, 2);
  int differences_to_other_seed = 0;
  for (int i = 0; i < 100; ++i) {
    DemoAnswer x = a.next();
    DemoAnswer y = b.next();
    DemoAnswer z = c.next();
    REQUIRE(x.delay == y.delay);
    REQUIRE(x.status == y.status);
    if (x.delay != z.delay) ++differences_to_other_seed;
  }
  CHECK(differences_to_other_seed > 90);
}

TEST_CASE("answers are 200 or 500 at the configured rate with delays of 100-600 ms", "[demo]") {
  for (double p : {0.7, 0.8}) {
    DemoDecider decider(p, 12345);
    constexpr int kN = 20000;
    int ok = 0;
    int below_350ms = 0;
    for (int i = 0; i < kN; ++i) {
      DemoAnswer answer = decider.next();
      REQUIRE((answer.status == 200 || answer.status == 500));
      REQUIRE(answer.delay >= DemoDecider::kMinDelay);
      REQUIRE(answer.delay <= DemoDecider::kMaxDelay);
      if (answer.status == 200) ++ok;
      if (answer.delay < std::chrono::microseconds(350'000)) ++below_350ms;
    }
    // Binomial standard deviation at n=20000 is about 0.003: 0.01 is over 3 sigma.
    CHECK(static_cast<double>(ok) / kN == Approx(p).margin(0.01));
    CHECK(static_cast<double>(below_350ms) / kN == Approx(0.5).margin(0.015));
  }
}

TEST_CASE("demo bodies are JSON with service, message and delay", "[demo]") {
  CHECK(routemeter::demo::format_delay(std::chrono::microseconds(312'400)) == "0.312s");
  CHECK(routemeter::demo::format_delay(std::chrono::microseconds(600'000)) == "0.600s");
  DemoAnswer ok{std::chrono::microseconds(100'000), 200};
  DemoAnswer failed{std::chrono::microseconds(250'000), 500};
  CHECK(routemeter::demo::demo_body("car", ok, 7) ==
        "{\"service\":\"car\",\"message\":\"car #7 served\",\"delay\":\"0.100s\"}\n");
  CHECK(routemeter::demo::demo_body("shop", failed, 8) ==
        "{\"service\":\"shop\",\"message\":\"shop #8 failed (simulated)\",\"delay\":\"0.250s\"}\n");
}
