// Out of file descriptors (docs/operations.md, "Out of file descriptors"): a
// listener whose accepts fail pauses instead of spinning, counts each failure
// in routemeter_accept_errors_total, logs at most once a second, and serves
// again by itself once descriptors are free.
#include <catch2/catch.hpp>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

size_t count_lines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("out of descriptors, the proxy listener backs off, counts, and serves again",
          "[proxy][limits]") {
  TestBackend backend;
  Routemeter::Options options;
  options.max_open_files = 64;  // a few dozen client connections at most
  Routemeter proxy(proxy_config("\"" + backend.address() + "\""), options);
  const uint16_t port = proxy.proxy_port();
  REQUIRE(http_get(port, "/before").status == 200);

  // Idle client connections until accepting one fails; bounded: 64 more
  // than the limit leaves some in the listen backlog whatever else is open.
  std::vector<std::unique_ptr<HttpClient>> idle;
  for (int i = 0; i < 128; ++i) {
    idle.push_back(std::make_unique<HttpClient>(port));
    REQUIRE(idle.back()->connected());
  }
  const auto warned = proxy.process().wait_for_stderr("accept failed on the proxy listener");
  CHECK(warned);
  // The admin listener, out of descriptors too, backs off the same way.
  HttpClient admin_client(proxy.admin_port());
  CHECK(proxy.process().wait_for_stderr("accept failed on the admin listener"));
  admin_client.close();

  // Descriptors free up: serving resumes without any help.
  idle.clear();
  CHECK(wait_until([&] { return http_get(port, "/after").status == 200; }));
  const std::string m = scrape_settled(proxy.admin_port());
  INFO(m);
  CHECK(find_metric(m, "routemeter_accept_errors_total",
                    {{"listener", "proxy"}, {"reason", "emfile"}})
            .value_or(0) > 0);
  CHECK(find_metric(m, "routemeter_accept_errors_total",
                    {{"listener", "admin"}, {"reason", "emfile"}})
            .value_or(0) > 0);
  // At most one warning a second: the failures were many, the lines few.
  const std::string err = proxy.process().stderr_text();
  INFO(err);
  CHECK(count_lines(err, "accept failed") < 20);
  CHECK(proxy.process().running());
}
