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
