#include "routemeter/access_log.hpp"

#include <catch2/catch.hpp>

#include "routemeter/config.hpp"
#include "routemeter/snapshot.hpp"

using namespace routemeter;

namespace {

std::shared_ptr<const Snapshot> snapshot() {
  ConfigLoadResult res = parse_config(R"(
[[upstream]]
name = "car"
servers = ["127.0.0.1:9001"]
[[route]]
name = "car-api"
path_prefix = "/api/car/"
upstream = "car"
)",
                                      "t.toml");
  REQUIRE(res.ok());
  std::string error;
  auto snap = Snapshot::build(res.config, nullptr, nullptr, &error);
  REQUIRE(snap);
  return snap;
}

constexpr int64_t kTime = 1795318989123;  // 2026-11-22T03:43:09.123Z

}  // namespace

TEST_CASE("JSON access lines carry every field, escaped", "[access_log]") {
  auto snap = snapshot();
  RequestRecord rec;
  rec.route = &snap->router().routes()[0];
  rec.method = http::Method::kGet;
  rec.status = 502;
  rec.server = 0;
  rec.response_body_bytes = 16;
  rec.request_body_bytes = 3;
  rec.start_ns = 1'000'000'000;
  rec.end_ns = 1'001'500'000;
  rec.error = UpstreamError::kConnectRefused;
  AccessLogFields fields{"127.0.0.1", "/api/car/\"x\"?q=1", "HTTP/1.1", "", ""};
  std::string out;
  AccessLogWriter::format_json(out, *snap, rec, fields, kTime);
  CHECK(out ==
        "{\"time\":\"2026-11-22T03:43:09.123Z\",\"client\":\"127.0.0.1\",\"method\":\"GET\","
        "\"path\":\"/api/car/\\\"x\\\"?q=1\",\"route\":\"car-api\",\"upstream\":\"car\","
        "\"server\":\"127.0.0.1:9001\",\"status\":502,\"bytes\":16,\"request_bytes\":3,"
        "\"duration\":0.001500,\"upstream_error\":\"connect_refused\"}\n");
}

TEST_CASE("unmatched requests log route unmatched and upstream none", "[access_log]") {
  auto snap = snapshot();
  RequestRecord rec;
  rec.method = http::Method::kOther;
  rec.status = 404;
  AccessLogFields fields{"::1", "/x", "HTTP/1.1", "", ""};
  std::string out;
  AccessLogWriter::format_json(out, *snap, rec, fields, kTime);
  CHECK(out.find("\"route\":\"unmatched\",\"upstream\":\"none\",\"server\":\"\"") !=
        std::string::npos);
  CHECK(out.find("\"method\":\"OTHER\"") != std::string::npos);
}

TEST_CASE("combined access lines follow the Apache/nginx layout", "[access_log]") {
  RequestRecord rec;
  rec.method = http::Method::kPost;
  rec.status = 201;
  rec.response_body_bytes = 42;
  AccessLogFields fields{"10.0.0.1", "/api/shop/cart", "HTTP/1.0", "http://r/", "curl/8"};
  std::string out;
  AccessLogWriter::format_combined(out, rec, fields, kTime);
  CHECK(out ==
        "10.0.0.1 - - [22/Nov/2026:03:43:09 +0000] \"POST /api/shop/cart HTTP/1.0\" 201 42 "
        "\"http://r/\" \"curl/8\"\n");
}
