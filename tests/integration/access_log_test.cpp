// The access log as a user sees it: one JSON line per request to a file,
// reopened on SIGUSR1 after logrotate moved it.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count_lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("the access log writes one JSON line per request and reopens on SIGUSR1",
          "[access_log]") {
  TempDir dir;
  const std::string log = dir.path() + "/access.log";
  TestBackend backend([](const ReceivedRequest&) { return Reply::ok("abc"); });
  std::string cfg = proxy_config("\"" + backend.address() + "\"");
  const std::string off = "[log]\naccess = \"off\"\n";
  cfg.replace(cfg.find(off), off.size(), "[log]\naccess = \"" + log + "\"\nformat = \"json\"\n");
  Routemeter proxy(cfg);
  CHECK(http_get(proxy.proxy_port(), "/one?x=1").status == 200);
  CHECK(http_get(proxy.proxy_port(), "/two").status == 200);
  REQUIRE(wait_until([&] { return count_lines(read_file(log)) == 2; }));
  const std::string text = read_file(log);
  CHECK(text.find("\"method\":\"GET\",\"path\":\"/one?x=1\",\"route\":\"all\",\"upstream\":\"app\","
                  "\"server\":\"" +
                  backend.address() + "\",\"status\":200,\"bytes\":3") != std::string::npos);

  // logrotate: move the file away, signal, and new lines go to a new file.
  REQUIRE(::rename(log.c_str(), (log + ".1").c_str()) == 0);
  REQUIRE(proxy.process().signal(SIGUSR1));
  REQUIRE(proxy.process().wait_for_stderr("access log reopened").has_value());
  CHECK(http_get(proxy.proxy_port(), "/three").status == 200);
  REQUIRE(wait_until([&] { return count_lines(read_file(log)) == 1; }));
  CHECK(read_file(log).find("\"path\":\"/three\"") != std::string::npos);
  CHECK(count_lines(read_file(log + ".1")) == 2);
}

TEST_CASE("the combined format goes to stdout", "[access_log]") {
  TestBackend backend;
  std::string cfg = proxy_config("\"" + backend.address() + "\"");
  const std::string off = "[log]\naccess = \"off\"\n";
  cfg.replace(cfg.find(off), off.size(), "[log]\naccess = \"stdout\"\nformat = \"combined\"\n");
  Routemeter proxy(cfg);
  CHECK(http_get(proxy.proxy_port(), "/c", {{"User-Agent", "ua/1"}}).status == 200);
  auto line =
      proxy.process().wait_for_stdout_line(std::regex("GET /c HTTP/1.1\" 200 2 \"-\" \"ua/1\""));
  CHECK(line.has_value());
}
