// The admin endpoint table, without sockets.
#include "routemeter/admin.hpp"

#include <event2/event.h>
#include <zlib.h>

#include <catch2/catch.hpp>

#include "routemeter/versions.hpp"

using namespace routemeter;

namespace {

struct AdminFixture {
  AdminFixture() : base(event_base_new()), admin(base.get()) {
    admin.add({"/metrics", "GET", "metrics", true, [](const AdminRequest&) {
                 return AdminResponse{200, "text/plain", "m 1\n"};
               }});
    admin.add({"/healthz", "GET", "health", false,
               [](const AdminRequest&) {
                 return AdminResponse{200, "text/plain", "ok\n"};
               },
               false});
    admin.add({"/open", "GET", "a page without data", false,
               [](const AdminRequest& req) {
                 return AdminResponse{200, "text/plain", req.token_required ? "ask\n" : "none\n"};
               },
               false});
    admin.add({"/-/reload", "POST", "reload", false, [](const AdminRequest&) {
                 return AdminResponse{200, "text/plain", "reloaded\n"};
               }});
  }
  AdminResponse get(std::string_view path, std::string_view method = "GET",
                    std::string_view auth = "", std::string_view accept_encoding = "") {
    return admin.handle(AdminRequest{method, path, accept_encoding, "", ""}, auth);
  }
  EventBasePtr base;
  AdminServer admin;
};

std::string gunzip(const std::string& z) {
  z_stream zs{};
  inflateInit2(&zs, 15 + 32);
  std::string out(1 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(z.data()));
  zs.avail_in = static_cast<uInt>(z.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  out.resize(rc == Z_STREAM_END ? zs.total_out : 0);
  inflateEnd(&zs);
  return out;
}

// A process for routemeter's own table: answers from fields the test sets.
struct FakeDelegate final : AdminDelegate {
  std::string render_metrics(Exposition format) const override {
    return format == Exposition::kOpenMetrics ? "om 1\n# EOF\n" : metrics;
  }
  bool draining() const override { return is_draining; }
  std::string config_json() const override { return "{}"; }
  ReloadResult reload() override {
    ++reloads;
    return reload_result;
  }
  AdminResponse debug_paths(std::string_view route) const override {
    last_paths_route = std::string(route);
    return {200, "application/json", "{\"route\": \"" + std::string(route) + "\"}\n"};
  }
  std::string status_json() const override { return "{\"routes\": []}\n"; }
  mutable std::string last_paths_route;
  std::string metrics = "m 1\n";
  bool is_draining = false;
  ReloadResult reload_result{true, ""};
  int reloads = 0;
};

}  // namespace

TEST_CASE("admin routes by path and method and lists its table at /", "[admin]") {
  AdminFixture f;
  CHECK(f.get("/metrics").body == "m 1\n");
  CHECK(f.get("/metrics", "HEAD").status == 200);
  CHECK(f.get("/metrics", "POST").status == 405);
  CHECK(f.get("/-/reload").status == 405);
  CHECK(f.get("/-/reload", "POST").body == "reloaded\n");
  CHECK(f.get("/nope").status == 404);
  AdminResponse index = f.get("/");
  CHECK(index.status == 200);
  CHECK(index.body.find("GET /metrics") != std::string::npos);
  CHECK(index.body.find("POST /-/reload") != std::string::npos);
}

TEST_CASE("with a token every endpoint but those marked needs_token false needs the bearer header",
          "[admin]") {
  AdminFixture f;
  CHECK(f.get("/open").body == "none\n");
  f.admin.set_token("s3cret");
  CHECK(f.get("/metrics").status == 401);
  CHECK(f.get("/metrics", "GET", "Bearer wrong").status == 401);
  CHECK(f.get("/metrics", "GET", "Bearer s3cret").status == 200);
  CHECK(f.get("/").status == 401);
  CHECK(f.get("/nope").status == 401);  // unknown paths too: nothing to learn without it
  CHECK(f.get("/nope", "GET", "Bearer s3cret").status == 404);
  CHECK(f.get("/healthz").status == 200);
  // An open endpoint is told that a token is set (the /status page asks for it).
  CHECK(f.get("/open").body == "ask\n");
}

TEST_CASE("the token comparison is exact whatever the lengths", "[admin]") {
  CHECK(constant_time_equal("Bearer s3cret", "Bearer s3cret"));
  CHECK(constant_time_equal("", ""));
  CHECK_FALSE(constant_time_equal("Bearer s3cre", "Bearer s3cret"));    // a prefix
  CHECK_FALSE(constant_time_equal("Bearer s3cretX", "Bearer s3cret"));  // longer
  CHECK_FALSE(constant_time_equal("Bearer s3creT", "Bearer s3cret"));   // last byte
  CHECK_FALSE(constant_time_equal("", "Bearer s3cret"));
  // A NUL where `expected` ends does not make a longer value equal.
  CHECK_FALSE(constant_time_equal(std::string_view("Bearer s3cret\0", 14), "Bearer s3cret"));
}

TEST_CASE("Accept picks OpenMetrics only when it is preferred", "[admin]") {
  CHECK(wants_openmetrics("application/openmetrics-text"));
  CHECK(wants_openmetrics(
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
      "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));  // Prometheus 2.x
  CHECK(wants_openmetrics("text/plain;q=0.5, Application/OpenMetrics-Text; version=1.0.0"));
  CHECK_FALSE(wants_openmetrics(""));
  CHECK_FALSE(wants_openmetrics("*/*"));
  CHECK_FALSE(wants_openmetrics("text/plain"));
  CHECK_FALSE(wants_openmetrics("application/openmetrics-text;q=0"));
  CHECK_FALSE(wants_openmetrics("application/openmetrics-text;q=0.4, text/plain;q=0.5"));
  CHECK(wants_openmetrics("text/plain, application/openmetrics-text"));  // a tie: the richer
}

TEST_CASE("Accept-Encoding parsing honours q=0", "[admin]") {
  CHECK(accepts_gzip("gzip"));
  CHECK(accepts_gzip("deflate, GZIP;q=0.5"));
  CHECK(accepts_gzip("*"));
  CHECK_FALSE(accepts_gzip(""));
  CHECK_FALSE(accepts_gzip("identity"));
  CHECK_FALSE(accepts_gzip("gzip;q=0"));
  CHECK_FALSE(accepts_gzip("gzip;q=0.000, br"));
  CHECK(accepts_gzip("gzip;q=0.001"));
}

TEST_CASE("gzip_compress produces a gzip stream that inflates back", "[admin]") {
  std::string text;
  for (int i = 0; i < 2000; ++i)
    text += "routemeter_requests_total{code=\"200\"} " + std::to_string(i) + "\n";
  std::string z = gzip_compress(text);
  REQUIRE(z.size() > 2);
  CHECK(static_cast<unsigned char>(z[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(z[1]) == 0x8b);
  CHECK(z.size() < text.size() / 4);
  z_stream zs{};
  inflateInit2(&zs, 15 + 32);
  std::string back(text.size() + 16, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(z.data());
  zs.avail_in = static_cast<uInt>(z.size());
  zs.next_out = reinterpret_cast<Bytef*>(back.data());
  zs.avail_out = static_cast<uInt>(back.size());
  CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END);
  back.resize(zs.total_out);
  inflateEnd(&zs);
  CHECK(back == text);
}

TEST_CASE("admin gzips only endpoints marked gzip, only when asked, only a 200", "[admin]") {
  AdminFixture f;
  AdminResponse z = f.get("/metrics", "GET", "", "gzip");
  CHECK(z.content_encoding == "gzip");
  CHECK(gunzip(z.body) == "m 1\n");
  CHECK(f.get("/metrics", "GET", "", "gzip;q=0").content_encoding.empty());
  CHECK(f.get("/metrics").body == "m 1\n");
  // /healthz is not marked gzip.
  AdminResponse health = f.get("/healthz", "GET", "", "gzip");
  CHECK(health.content_encoding.empty());
  CHECK(health.body == "ok\n");
  // An error answer of a gzip endpoint stays plain.
  f.admin.set_token("s3cret");
  AdminResponse refused = f.get("/metrics", "GET", "", "gzip");
  CHECK(refused.status == 401);
  CHECK(refused.content_encoding.empty());
}

TEST_CASE("routemeter's admin table: every endpoint in order with gzip and token flags",
          "[admin]") {
  FakeDelegate d;
  const std::vector<AdminEndpoint> table = admin_endpoints(d);
  struct Row {
    const char* path;
    const char* method;
    bool gzip;
    bool needs_token;
  };
  const Row expected[] = {{"/metrics", "GET", true, true},     {"/healthz", "GET", false, false},
                          {"/readyz", "GET", false, true},     {"/version", "GET", false, true},
                          {"/config", "GET", false, true},     {"/-/reload", "POST", false, true},
                          {"/debug/paths", "GET", true, true}, {"/status", "GET", true, false},
                          {"/status.json", "GET", true, true}};
  REQUIRE(table.size() == std::size(expected));
  for (size_t i = 0; i < table.size(); ++i) {
    INFO(table[i].path);
    CHECK(table[i].path == expected[i].path);
    CHECK(table[i].method == expected[i].method);
    CHECK(table[i].gzip == expected[i].gzip);
    CHECK(table[i].needs_token == expected[i].needs_token);
    CHECK_FALSE(table[i].help.empty());
  }
}

TEST_CASE("routemeter's admin table answers from its delegate", "[admin]") {
  FakeDelegate d;
  EventBasePtr base(event_base_new());
  AdminServer admin(base.get());
  for (AdminEndpoint& e : admin_endpoints(d)) admin.add(std::move(e));
  auto get = [&admin](std::string_view path, std::string_view method = "GET") {
    return admin.handle(AdminRequest{method, path, "", "", ""}, "");
  };
  AdminResponse metrics = get("/metrics");
  CHECK(metrics.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(metrics.body == "m 1\n");
  // Prometheus's Accept header asks for OpenMetrics first.
  AdminResponse om = admin.handle(
      AdminRequest{
          "GET", "/metrics", "", "",
          "application/openmetrics-text;version=1.0.0,application/"
          "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"},
      "");
  CHECK(om.content_type == "application/openmetrics-text; version=1.0.0; charset=utf-8");
  CHECK(om.body == "om 1\n# EOF\n");
  CHECK(get("/healthz").body == "ok\n");
  CHECK(get("/readyz").status == 200);
  d.is_draining = true;
  AdminResponse draining = get("/readyz");
  CHECK(draining.status == 503);
  CHECK(draining.body == "draining\n");
  CHECK(get("/config").body == "{}\n");
  CHECK(get("/-/reload", "POST").body == "reloaded\n");
  d.reload_result = {false, "f.toml:1:1: bad"};
  AdminResponse failed = get("/-/reload", "POST");
  CHECK(failed.status == 400);
  CHECK(failed.body == "reload failed; old config kept\nf.toml:1:1: bad\n");
  CHECK(d.reloads == 2);
  AdminResponse index = get("/");
  CHECK(index.body.find("GET /version") != std::string::npos);
  CHECK(index.body.find("GET /debug/paths") != std::string::npos);
}

TEST_CASE("/debug/paths takes route=NAME and nothing else", "[admin]") {
  FakeDelegate d;
  EventBasePtr base(event_base_new());
  AdminServer admin(base.get());
  for (AdminEndpoint& e : admin_endpoints(d)) admin.add(std::move(e));
  auto get = [&admin](std::string_view query) {
    return admin.handle(AdminRequest{"GET", "/debug/paths", "", query, ""}, "");
  };
  AdminResponse all = get("");
  CHECK(all.status == 200);
  CHECK(all.content_type == "application/json");
  CHECK(d.last_paths_route.empty());
  CHECK(get("route=car-api").status == 200);
  CHECK(d.last_paths_route == "car-api");
  CHECK(get("route=a%2Eb").status == 200);  // percent-decoded
  CHECK(d.last_paths_route == "a.b");
  AdminResponse unknown = get("route=x&limit=5");
  CHECK(unknown.status == 400);
  CHECK(unknown.body == "unknown parameter \"limit\"; only route=NAME\n");
  CHECK(get("route=%zz").status == 400);
}

TEST_CASE("query strings are split into decoded name=value pairs", "[admin]") {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  struct Case {
    const char* query;
    bool ok;
    Pairs pairs;
  };
  const Case cases[] = {
      {"", true, {}},
      {"route=car", true, {{"route", "car"}}},
      {"a=1&b=2", true, {{"a", "1"}, {"b", "2"}}},
      {"a=1&&b", true, {{"a", "1"}, {"b", ""}}},
      {"a=x%20y+z", true, {{"a", "x y z"}}},
      {"%72oute=%2F", true, {{"route", "/"}}},
      {"a=b=c", true, {{"a", "b=c"}}},
      {"a=%", false, {}},
      {"a=%4", false, {}},
      {"a=%G1", false, {}},
  };
  for (const Case& c : cases) {
    INFO(c.query);
    Pairs out;
    CHECK(parse_query(c.query, out) == c.ok);
    if (c.ok) CHECK(out == c.pairs);
  }
}

TEST_CASE("version JSON names the build and every library's version", "[admin]") {
  const std::string v = version_json();
  CHECK(v.rfind("{\"version\":\"", 0) == 0);
  CHECK(v.find("\"revision\":\"") != std::string::npos);
  CHECK(v.find("\"build_date\":\"") != std::string::npos);
  for (const LibraryVersion& lib : library_versions()) {
    INFO(lib.name);
    CHECK(v.find("\"" + std::string(lib.name) + "\":\"" + lib.version + "\"") != std::string::npos);
  }
  CHECK(v.back() == '\n');
}
