// BodyRelay: each framing moves exactly its body and stops, chunked framing
// passes through or is dropped, errors and the payload limit, the window
// limit, and that any split of the input gives the same bytes out.
#include "routemeter/body_relay.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "http_test_support.hpp"
#include "routemeter/event_handles.hpp"

namespace routemeter {
namespace {

using Framing = BodyRelay::Framing;
using Status = BodyRelay::Status;

std::string contents(evbuffer* buf) {
  std::string s(evbuffer_get_length(buf), '\0');
  evbuffer_copyout(buf, s.data(), s.size());
  return s;
}

struct Run {
  Status status = Status::kMore;
  std::string out;
  std::string left;  // input not consumed (the next message)
  uint64_t payload = 0;
};

// Feeds `input` in pieces of `piece` bytes (0: all at once).
Run relay_all(BodyRelay& relay, std::string_view input, size_t piece = 0, bool eof = false) {
  EvbufferPtr in(evbuffer_new());
  EvbufferPtr out(evbuffer_new());
  Run run;
  size_t pos = 0;
  do {
    const size_t n = piece == 0 ? input.size() - pos : std::min(piece, input.size() - pos);
    evbuffer_add(in.get(), input.data() + pos, n);
    pos += n;
    run.status = relay.relay(in.get(), out.get());
  } while (pos < input.size() && run.status == Status::kMore);
  if (eof) run.status = relay.finish_at_eof();
  run.out = contents(out.get());
  run.left = contents(in.get());
  run.payload = relay.payload_bytes();
  return run;
}

}  // namespace

TEST_CASE("a length-framed body moves exactly its bytes and leaves the next message",
          "[body_relay]") {
  BodyRelay relay;
  relay.start(Framing::kLength, 5);
  Run r = relay_all(relay, "helloGET / HTTP/1.1");
  CHECK(r.status == Status::kDone);
  CHECK(r.out == "hello");
  CHECK(r.left == "GET / HTTP/1.1");
  CHECK(r.payload == 5);
}

TEST_CASE("no body and an empty length are done at once", "[body_relay]") {
  BodyRelay relay;
  relay.start(Framing::kNone, 0);
  CHECK(relay.done());
  relay.start(Framing::kLength, 0);
  CHECK(relay.done());
  CHECK(relay_all(relay, "next").left == "next");
}

TEST_CASE("a chunked body passes through with its framing, or de-chunked", "[body_relay]") {
  const std::string body = "5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: v\r\n\r\n";
  for (const size_t piece : {size_t{0}, size_t{1}, size_t{3}, size_t{7}}) {
    INFO("piece " << piece);
    BodyRelay through;
    through.start(Framing::kChunked, 0);
    Run a = relay_all(through, body + "NEXT", piece);
    CHECK(a.status == Status::kDone);
    CHECK(a.out == body);
    CHECK(a.payload == 11);
    CHECK(std::string("NEXT").compare(0, a.left.size(), a.left) == 0);  // what was fed of it
    BodyRelay dechunk;
    dechunk.start(Framing::kChunked, 0, true);
    Run b = relay_all(dechunk, body, piece);
    CHECK(b.status == Status::kDone);
    CHECK(b.out == "hello world");
  }
}

TEST_CASE("broken chunked framing stops the relay", "[body_relay]") {
  BodyRelay relay;
  relay.start(Framing::kChunked, 0);
  Run r = relay_all(relay, "5\r\nhello\r\nzz\r\n");
  CHECK(r.status == Status::kBadFraming);
  CHECK(r.out.substr(0, 10) == "5\r\nhello\r\n");               // what was valid went out
  CHECK(relay.relay(nullptr, nullptr) == Status::kBadFraming);  // and it stays stopped
}

TEST_CASE("a chunked body beyond the payload limit is too large before its data moves",
          "[body_relay]") {
  BodyRelay relay;
  relay.start(Framing::kChunked, 0, false, 8);
  Run r = relay_all(relay, "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n");
  CHECK(r.status == Status::kTooLarge);
  CHECK(r.payload == 5);
  CHECK(r.out.find("world") == std::string::npos);
}

TEST_CASE("the limit bounds what one call takes from the input", "[body_relay]") {
  EvbufferPtr in(evbuffer_new());
  EvbufferPtr out(evbuffer_new());
  const std::string data(1000, 'x');
  evbuffer_add(in.get(), data.data(), data.size());
  BodyRelay relay;
  relay.start(Framing::kLength, 1000);
  CHECK(relay.relay(in.get(), out.get(), 300) == Status::kMore);
  CHECK(evbuffer_get_length(out.get()) == 300);
  CHECK(relay.relay(in.get(), out.get(), 700) == Status::kDone);
  CHECK(evbuffer_get_length(out.get()) == 1000);
}

TEST_CASE("a null output drops the body", "[body_relay]") {
  EvbufferPtr in(evbuffer_new());
  evbuffer_add(in.get(), "3\r\nabc\r\n0\r\n\r\nrest", 17);
  BodyRelay relay;
  relay.start(Framing::kChunked, 0);
  CHECK(relay.relay(in.get(), nullptr) == Status::kDone);
  CHECK(contents(in.get()) == "rest");
  CHECK(relay.payload_bytes() == 3);
}

TEST_CASE("a body delimited by the close ends at EOF; any other is cut short there",
          "[body_relay]") {
  BodyRelay until_close;
  until_close.start(Framing::kUntilClose, 0);
  Run a = relay_all(until_close, "all of it", 4, true);
  CHECK(a.status == Status::kDone);
  CHECK(a.out == "all of it");
  BodyRelay length;
  length.start(Framing::kLength, 100);
  CHECK(relay_all(length, "short", 0, true).status == Status::kMore);
}

TEST_CASE("random splits of random chunked bodies give the same bytes out", "[body_relay]") {
  http::test::Rng rng(42);
  for (int round = 0; round < 200; ++round) {
    std::string body;
    std::string payload;
    const int chunks = static_cast<int>(rng.next() % 6);
    for (int c = 0; c < chunks; ++c) {
      const size_t n = 1 + rng.next() % 3000;
      const std::string data(n, static_cast<char>('a' + c));
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", n);
      body += size + data + "\r\n";
      payload += data;
    }
    body += "0\r\n\r\n";
    BodyRelay relay;
    relay.start(Framing::kChunked, 0, true);
    Run r = relay_all(relay, body, 1 + rng.next() % 500);
    REQUIRE(r.status == Status::kDone);
    REQUIRE(r.out == payload);
  }
}

}  // namespace routemeter
