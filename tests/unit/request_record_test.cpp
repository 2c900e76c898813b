// What a request leaves for metrics: RawPath, the copy of its path the top
// paths count, cut at a fixed size without allocating.
#include "routemeter/request_record.hpp"

#include <catch2/catch.hpp>
#include <string>

using routemeter::RawPath;
using routemeter::RequestRecord;

TEST_CASE("a recorded path is copied, and cut and marked when too long", "[top_paths]") {
  RequestRecord rec;
  CHECK(rec.path.size == 0);
  CHECK(rec.path.view().empty());
  rec.path.assign("/api/car/random");
  CHECK(rec.path.view() == "/api/car/random");
  CHECK_FALSE(rec.path.truncated);

  const std::string exact(RawPath::kMaxBytes, 'a');
  rec.path.assign(exact);
  CHECK(rec.path.view() == exact);
  CHECK_FALSE(rec.path.truncated);

  const std::string longer = exact + "/tail";
  rec.path.assign(longer);
  CHECK(rec.path.view() == exact);
  CHECK(rec.path.truncated);

  rec.path.assign("/");
  CHECK(rec.path.view() == "/");
  CHECK_FALSE(rec.path.truncated);

  rec.clear();
  CHECK(rec.path.size == 0);
  CHECK_FALSE(rec.path.truncated);
}

TEST_CASE("traceparent: the W3C Trace Context header gives the trace id, or nothing",
          "[exemplars]") {
  using routemeter::parse_traceparent;
  using routemeter::TraceId;
  struct Case {
    const char* value;
    bool ok;
  };
  const Case cases[] = {
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
      {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next", true},
      {"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", true},   // a future version
      {"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},  // forbidden version
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false},  // 00: 55 exactly
      {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false},
      {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},  // upper case
      {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},  // zero trace id
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},  // zero parent id
      {"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false},   // short
      {"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", false},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", false},
      {"00-4bf92f3577b34da6a3ce929d0e0e473:-00f067aa0ba902b7-01", false},  // between 9 and a
      {"00-4bf92f3577b34da6a3ce929d0e0e473`-00f067aa0ba902b7-01", false},  // before a
      {"00-4bf92f3577b34da6a3ce929d0e0e473/-00f067aa0ba902b7-01", false},  // before 0
      {"00-4bf92f3577b34da6a3ce929d0e0e473\xe9-00f067aa0ba902b7-01", false},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bg-01", false},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A", false},
      {"", false},
  };
  for (const Case& c : cases) {
    INFO(c.value);
    TraceId id;
    CHECK(parse_traceparent(c.value, id) == c.ok);
    if (c.ok) CHECK(trace_id_hex(id) == "4bf92f3577b34da6a3ce929d0e0e4736");
  }
  // Every digit in every position reads back (the 8-bytes-at-a-time decoding).
  const std::string digits = "0123456789abcdef";
  for (size_t shift = 0; shift < 16; ++shift) {
    std::string trace;
    for (size_t i = 0; i < 32; ++i) trace += digits[(i + shift) % 16];
    TraceId id;
    INFO(trace);
    REQUIRE(parse_traceparent("00-" + trace + "-00f067aa0ba902b7-01", id));
    CHECK(trace_id_hex(id) == trace);
  }

  using routemeter::http::Header;
  const std::string good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const std::string other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  CHECK(trace_id_hex(routemeter::find_trace_id(
            {{"Host", "x"}, {"TraceParent", good}, {"tracestate", "a=b"}})) ==
        "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK_FALSE(routemeter::find_trace_id({{"Host", "x"}}).valid());
  CHECK_FALSE(routemeter::find_trace_id({{"traceparent", "junk"}}).valid());
  // Two traceparent headers: neither is trusted.
  CHECK_FALSE(routemeter::find_trace_id({{"traceparent", good}, {"traceparent", other}}).valid());

  RequestRecord rec;
  rec.trace_id = routemeter::find_trace_id({{"traceparent", other}});
  CHECK(rec.trace_id.valid());
  rec.clear();
  CHECK_FALSE(rec.trace_id.valid());
}
