#include "routemeter/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace routemeter {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

uint16_t SocketAddress::port() const {
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
}

std::string peer_ip(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, buf, sizeof buf);
  } else if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, buf, sizeof buf);
  }
  return buf;
}

std::string SocketAddress::text() const {
  std::string ip = peer_ip(storage);
  if (storage.ss_family == AF_INET6) return "[" + ip + "]:" + std::to_string(port());
  return ip + ":" + std::to_string(port());
}

std::optional<SocketAddress> resolve(const HostPort& hp, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp.port);
  const char* host = hp.host.empty() ? nullptr : hp.host.c_str();
  if (host == nullptr) hints.ai_flags |= AI_PASSIVE;
  int rc = getaddrinfo(host, port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    if (error) *error = "cannot resolve " + hp.text() + ": " + gai_strerror(rc);
    return std::nullopt;
  }
  SocketAddress out;
  std::memcpy(&out.storage, res->ai_addr, res->ai_addrlen);
  out.length = res->ai_addrlen;
  freeaddrinfo(res);
  return out;
}

void tune_socket(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

UniqueFd listen_socket(const SocketAddress& address, int backlog, std::string* error) {
  UniqueFd fd(::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    if (error) *error = std::string("socket: ") + std::strerror(errno);
    return {};
  }
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (address.storage.ss_family == AF_INET6) {
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd.get(), address.get(), address.length) != 0) {
    if (error) *error = "bind " + address.text() + ": " + std::strerror(errno);
    return {};
  }
  if (::listen(fd.get(), backlog) != 0) {
    if (error) *error = "listen " + address.text() + ": " + std::strerror(errno);
    return {};
  }
  return fd;
}

std::optional<SocketAddress> local_address(int fd) {
  SocketAddress out;
  out.length = sizeof out.storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&out.storage), &out.length) != 0) {
    return std::nullopt;
  }
  return out;
}

int connect_nonblocking(const SocketAddress& address) {
  int fd = ::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  tune_socket(fd);
  if (::connect(fd, address.get(), address.length) != 0 && errno != EINPROGRESS) {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

ssize_t read_into(evbuffer* buf, int fd, size_t max_bytes) {
  evbuffer_iovec vec[2];
  int n = evbuffer_reserve_space(buf, static_cast<ev_ssize_t>(max_bytes), vec, 2);
  if (n <= 0) {
    errno = ENOMEM;
    return -1;
  }
  // libevent may reserve more than asked (the rest of a chain): read no more
  // than max_bytes, which is what bounds a connection's input buffer.
  iovec iov[2];
  size_t room = max_bytes;
  for (int i = 0; i < n; ++i) {
    iov[i].iov_base = vec[i].iov_base;
    iov[i].iov_len = std::min(vec[i].iov_len, room);
    room -= iov[i].iov_len;
  }
  ssize_t got;
  do {
    got = ::readv(fd, iov, n);
  } while (got < 0 && errno == EINTR);
  if (got <= 0) {
    int saved = errno;
    evbuffer_commit_space(buf, vec, 0);
    errno = saved;
    return got;
  }
  auto left = static_cast<size_t>(got);
  for (int i = 0; i < n; ++i) {
    size_t take = iov[i].iov_len < left ? iov[i].iov_len : left;
    vec[i].iov_len = take;
    left -= take;
  }
  evbuffer_commit_space(buf, vec, n);
  return got;
}

ssize_t write_from(evbuffer* buf, int fd) {
  int rc;
  do {
    rc = evbuffer_write(buf, fd);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

}  // namespace routemeter
