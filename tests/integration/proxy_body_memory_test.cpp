// Request bodies stream to the upstream a window at a time: what the proxy
// holds of a body is bounded per request and per process, never the whole
// body (docs/http.md, "Request bodies"). The bound is checked on the
// process's resident memory, as a user would see it.
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr size_t kClients = 150;
constexpr uint64_t kAnnounced = 8 * kMiB;

// The sanitizers' allocators pad every allocation and keep freed memory in
// quarantine, so resident memory says nothing about the proxy there: the
// RSS bounds are checked in the plain build only (the traffic runs in all).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kRssMeaningful = false;
#else
constexpr bool kRssMeaningful = true;
#endif

uint64_t rss_kib(Routemeter& proxy) {
  const std::optional<MemoryStatus> m = proxy.process().memory();
  REQUIRE(m.has_value());
  return m->vm_rss_kib;
}

// Sends as much of each client's body as the proxy takes without blocking,
// up to one byte short of the announced length; returns the total sent.
uint64_t push_bodies(std::vector<std::unique_ptr<HttpClient>>& clients, std::vector<uint64_t>& sent,
                     const std::string& chunk) {
  uint64_t total = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    for (int round = 0; round < 4 && sent[i] < kAnnounced - 1; ++round) {
      const size_t want =
          static_cast<size_t>(std::min<uint64_t>(chunk.size(), kAnnounced - 1 - sent[i]));
      const ssize_t n = ::send(clients[i]->fd(), chunk.data(), want, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n <= 0) break;
      sent[i] += static_cast<uint64_t>(n);
    }
    total += sent[i];
  }
  return total;
}

}  // namespace

TEST_CASE("150 clients holding 8 MiB bodies each grow the proxy's memory by less than 64 MiB",
          "[proxy][upload][memory]") {
  // The backend reads request heads but never a body byte: everything the
  // clients manage to send stays between them and the backend. Before bodies
  // streamed, the proxy read each whole body into memory first (1.2 GB here).
  ReadPace pace;
  pace.stop_after = 0;
  pace.receive_buffer = 64 * 1024;
  ProxyFixture f(nullptr, "", "max_body_bytes = \"16MiB\"\nclient_body_timeout = \"60s\"",
                 "response_timeout = \"60s\"");
  f.backend.set_read_pace(pace);
  const uint64_t before = rss_kib(f.proxy);

  std::vector<std::unique_ptr<HttpClient>> clients;
  for (size_t i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<HttpClient>(f.port()));
    REQUIRE(clients.back()->connected());
    REQUIRE(clients.back()->send_raw("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                                     std::to_string(kAnnounced) + "\r\n\r\n"));
  }
  std::vector<uint64_t> sent(kClients, 0);
  const std::string chunk = pattern_bytes(0, 256 * 1024);
  // Until no client can send more: the proxy stopped reading every one of them.
  const uint64_t total = wait_until_steady([&] { return push_bodies(clients, sent, chunk); });
  const uint64_t held = rss_kib(f.proxy);
  INFO("clients sent " << total / kMiB << " MiB; RSS " << before / 1024 << " MiB before, "
                       << held / 1024 << " MiB while held");
  if (kRssMeaningful) CHECK(held - before < 64 * 1024);

  // The clients give up (a reset: a plain close would wait behind the bytes
  // still queued in their kernels): the memory goes back.
  for (auto& c : clients) {
    const linger reset{1, 0};
    setsockopt(c->fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }
  clients.clear();
  uint64_t after = 0;
  const bool came_down = wait_until(
      [&] {
        after = rss_kib(f.proxy);
        return after < before + 8 * 1024;
      },
      10s);
  INFO("RSS after " << after / 1024 << " MiB");
  if (kRssMeaningful) CHECK(came_down);
  // And the proxy still serves.
  f.backend.set_read_pace(ReadPace{});
  CHECK(http_get(f.port(), "/after").status == 200);
}
