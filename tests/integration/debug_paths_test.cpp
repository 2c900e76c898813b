// GET /debug/paths through the real binary: the raw paths behind each route
// (normalized, without the query), with their counts and 5xx, over both
// workers; ?route= filters; [metrics] top_paths = 0 turns it off.
#include <catch2/catch.hpp>
#include <string>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

const std::string kRoutes = R"([[route]]
name = "api"
path_prefix = "/api/"
upstream = "app"
)";

Reply paths_backend(const ReceivedRequest& req) {
  if (req.target.find("fail=1") != std::string::npos) return Reply::with_status(500, "boom");
  return Reply::ok("ok");
}

int get_status(uint16_t port, const std::string& target) {
  HttpClient client(port);
  return client.request("GET", target, {{"Connection", "close"}}).status;
}

// The JSON line of `path` in a /debug/paths answer, up to p99_seconds.
std::string path_line(const std::string& path, int count, int count_5xx) {
  return "{\"path\": \"" + path + "\", \"count\": " + std::to_string(count) +
         ", \"count_error\": 0, \"count_5xx\": " + std::to_string(count_5xx) +
         ", \"p99_seconds\": ";
}

}  // namespace

TEST_CASE("/debug/paths names the raw paths behind a route's requests and errors",
          "[top_paths][admin]") {
  TestBackend backend(paths_backend);
  Routemeter proxy(proxy_config("\"" + backend.address() + "\"", kRoutes, "workers = 2"));
  REQUIRE(proxy.workers() == 2);
  const uint16_t port = proxy.proxy_port();
  for (int i = 0; i < 5; ++i) CHECK(get_status(port, "/api/a") == 200);
  CHECK(get_status(port, "/api/b") == 200);
  CHECK(get_status(port, "/api/b?fail=1") == 500);  // the query is not part of the path
  CHECK(get_status(port, "/api/b?fail=1&x=2") == 500);
  CHECK(get_status(port, "/api/./c") == 200);      // normalized: /api/c
  CHECK(get_status(port, "/api/%7Euser") == 200);  // normalized: /api/~user
  CHECK(get_status(port, "/nowhere") == 404);
  CHECK(get_status(port, "/nowhere") == 404);
  scrape_quiescent(proxy.admin_port());  // every request recorded

  Response all = http_get(proxy.admin_port(), "/debug/paths");
  INFO(all.body);
  REQUIRE(all.status == 200);
  CHECK(all.header("Content-Type") == "application/json");
  CHECK(all.body.find("\"top_paths\": 20,") != std::string::npos);
  CHECK(
      all.body.find("{\"route\": \"api\", \"upstream\": \"app\", \"requests\": 10, \"paths\": [") !=
      std::string::npos);
  const size_t a = all.body.find(path_line("/api/a", 5, 0));
  const size_t b = all.body.find(path_line("/api/b", 3, 2));
  const size_t c = all.body.find(path_line("/api/c", 1, 0));
  const size_t user = all.body.find(path_line("/api/~user", 1, 0));
  CHECK(a != std::string::npos);
  CHECK(b != std::string::npos);
  CHECK(c != std::string::npos);
  CHECK(user != std::string::npos);
  CHECK((a < b && b < c && c < user));  // most frequent first, then by path
  CHECK(all.body.find("fail=1") == std::string::npos);
  CHECK(all.body.find(
            "{\"route\": \"unmatched\", \"upstream\": \"none\", \"requests\": 2, \"paths\": [") !=
        std::string::npos);
  CHECK(all.body.find(path_line("/nowhere", 2, 0)) != std::string::npos);

  Response one = http_get(proxy.admin_port(), "/debug/paths?route=unmatched");
  CHECK(one.status == 200);
  CHECK(one.body.find("\"route\": \"unmatched\"") != std::string::npos);
  CHECK(one.body.find("\"route\": \"api\"") == std::string::npos);

  Response none = http_get(proxy.admin_port(), "/debug/paths?route=nope");
  CHECK(none.status == 404);
  CHECK(none.body == "{\"error\": \"no route \\\"nope\\\"\"}\n");
  CHECK(http_get(proxy.admin_port(), "/debug/paths?limit=3").status == 400);
}

TEST_CASE("/debug/paths is off with top_paths = 0", "[top_paths][admin]") {
  TestBackend backend;
  Routemeter proxy(proxy_config("\"" + backend.address() + "\"", "") +
                   "\n[metrics]\ntop_paths = 0\n");
  CHECK(get_status(proxy.proxy_port(), "/x") == 200);
  Response r = http_get(proxy.admin_port(), "/debug/paths");
  CHECK(r.status == 404);
  CHECK(r.body == "{\"error\": \"top paths are off ([metrics] top_paths = 0)\"}\n");
}
