// The reference Prometheus setup in conf/: prometheus.yml and rules.yml pass
// promtool's checks, and the rules do what tests/integration/rules_test.yml
// says (promtool's rule unit tests).
#include <catch2/catch.hpp>
#include <string>

#include "harness.hpp"

using namespace routemeter::test;

namespace {

const std::string kPromtool = "/usr/bin/promtool";
const std::string kSourceDir = ROUTEMETER_SOURCE_DIR;

void require_success(const CommandResult& r) {
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.status.ok());
}

}  // namespace

TEST_CASE("conf/prometheus.yml passes promtool check config", "[promtool]") {
  CommandResult r =
      run_command(kPromtool, {"check", "config", kSourceDir + "/conf/prometheus.yml"});
  require_success(r);
  // It found and checked the rule file it references.
  CHECK(r.out.find("1 rule files found") != std::string::npos);
}

TEST_CASE("conf/rules.yml passes promtool check rules", "[promtool]") {
  CommandResult r = run_command(kPromtool, {"check", "rules", kSourceDir + "/conf/rules.yml"});
  require_success(r);
  // 4 recording rules and 4 alerts, and the SLO set: 9 recording rules and 2 alerts.
  CHECK(r.out.find("SUCCESS: 19 rules found") != std::string::npos);
}

TEST_CASE("the recording and alerting rules pass their promtool unit tests", "[promtool]") {
  CommandResult r =
      run_command(kPromtool, {"test", "rules", kSourceDir + "/tests/integration/rules_test.yml"});
  require_success(r);
  CHECK(r.out.find("SUCCESS") != std::string::npos);
}
