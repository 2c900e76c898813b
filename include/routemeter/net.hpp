// Socket helpers for the data path: listening sockets shared between workers
// with SO_REUSEPORT, non-blocking connects, and reads/writes between sockets
// and evbuffers that avoid libevent's per-read FIONREAD and its 4 KiB read cap.
// Stateless; any thread may call them on sockets it owns.
#pragma once

#include <event2/buffer.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>

#include "routemeter/config.hpp"
#include "routemeter/event_handles.hpp"

namespace routemeter {

// A resolved socket address.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  uint16_t port() const;
  std::string text() const;  // "127.0.0.1:80" / "[::1]:80"
};

// Resolves "host:port" (numeric or a name, first result). Empty on failure.
std::optional<SocketAddress> resolve(const HostPort& hp, std::string* error);

// A non-blocking listening socket with SO_REUSEADDR and SO_REUSEPORT, bound to
// `address`. Returns an invalid fd and sets `error` on failure.
UniqueFd listen_socket(const SocketAddress& address, int backlog, std::string* error);

// The address a socket is bound to (to learn the port after binding port 0).
std::optional<SocketAddress> local_address(int fd);

// Starts a non-blocking TCP connect. Returns the fd (connect may be in
// progress) or -1 with errno set.
int connect_nonblocking(const SocketAddress& address);

// TCP_NODELAY on, non-blocking: how every data-path socket is set up.
void tune_socket(int fd);

// The data path's read size: as much as fills one 64 KiB allocation. An
// evbuffer chain carries a small header and libevent rounds a chain's size up
// to a power of two, so reading a full 64 KiB would allocate 128 KiB chains
// (and a body held in them would cost twice its bytes).
constexpr size_t kReadChunk = 64 * 1024 - 256;

// Reads once from `fd` into `buf`, up to `max_bytes`, without a FIONREAD.
// Returns bytes read, 0 on EOF, -1 on error (errno; EAGAIN when nothing ready).
ssize_t read_into(evbuffer* buf, int fd, size_t max_bytes);

// Writes as much of `buf` as the socket takes (writev over the chains) and
// drains what was written. Returns bytes written or -1 (errno).
ssize_t write_from(evbuffer* buf, int fd);

// The peer IP of an accepted socket as text, without the port.
std::string peer_ip(const sockaddr_storage& addr);

}  // namespace routemeter
