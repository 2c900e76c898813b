// The admin endpoint table, without sockets.
#include "routemeter/admin.hpp"

#include <event2/event.h>
#include <zlib.h>

#include <catch2/catch.hpp>

using namespace routemeter;

namespace {

struct AdminFixture {
  AdminFixture() : base(event_base_new()), admin(base.get()) {
    admin.add({"/metrics", "GET", "metrics", [](const AdminRequest&) {
                 return AdminResponse{200, "text/plain", "m 1\n"};
               }});
    admin.add({"/healthz", "GET", "health", [](const AdminRequest&) {
                 return AdminResponse{200, "text/plain", "ok\n"};
               }});
    admin.add({"/-/reload", "POST", "reload", [](const AdminRequest&) {
                 return AdminResponse{200, "text/plain", "reloaded\n"};
               }});
  }
  AdminResponse get(std::string_view path, std::string_view method = "GET",
                    std::string_view auth = "") {
    return admin.handle(AdminRequest{method, path, ""}, auth);
  }
  EventBasePtr base;
  AdminServer admin;
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

TEST_CASE("with a token every endpoint but /healthz needs the bearer header", "[admin]") {
  AdminFixture f;
  f.admin.set_token("s3cret");
  CHECK(f.get("/metrics").status == 401);
  CHECK(f.get("/metrics", "GET", "Bearer wrong").status == 401);
  CHECK(f.get("/metrics", "GET", "Bearer s3cret").status == 200);
  CHECK(f.get("/").status == 401);
  CHECK(f.get("/healthz").status == 200);
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
