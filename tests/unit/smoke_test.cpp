#include <catch2/catch.hpp>
TEST_CASE("the test harness runs") { REQUIRE(1 + 1 == 2); }
