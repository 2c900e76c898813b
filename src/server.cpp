#include "routemeter/server.hpp"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <signal.h>

#include <thread>

#include "routemeter/log.hpp"
#include "routemeter/net.hpp"

namespace routemeter {
namespace {

constexpr int kBacklog = 4096;

void free_http(evhttp* http) {
  if (http != nullptr) evhttp_free(http);
}

}  // namespace

Server::Server(std::string config_path) : config_path_(std::move(config_path)) {}

Server::~Server() {
  workers_.clear();
  free_http(admin_);
}

bool Server::bind_listeners(const Config& config, size_t workers, std::string* error) {
  worker_fds_.clear();
  worker_fds_.resize(workers);
  for (const HostPort& hp : config.server.listen) {
    auto addr = resolve(hp, error);
    if (!addr) return false;
    // The first bind fixes the port (it may be 0: ephemeral); every other
    // worker binds the same port with SO_REUSEPORT and gets its own queue.
    for (size_t w = 0; w < workers; ++w) {
      UniqueFd fd = listen_socket(*addr, kBacklog, error);
      if (!fd) return false;
      if (w == 0) {
        auto bound = local_address(fd.get());
        if (!bound) return false;
        addr = bound;
        proxy_addresses_.push_back(bound->text());
      }
      worker_fds_[w].push_back(std::move(fd));
    }
  }
  return true;
}

bool Server::bind_admin(const Config& config, std::string* error) {
  admin_ = evhttp_new(base_.get());
  evhttp_set_gencb(
      admin_, [](evhttp_request* req, void* arg) { static_cast<Server*>(arg)->handle_admin(req); },
      this);
  auto addr = resolve(config.admin.listen, error);
  if (!addr) return false;
  UniqueFd fd = listen_socket(*addr, 128, error);
  if (!fd) return false;
  auto bound = local_address(fd.get());
  if (!bound || evhttp_accept_socket(admin_, fd.get()) != 0) {
    if (error) *error = "admin listener: cannot accept on " + config.admin.listen.text();
    return false;
  }
  admin_address_ = bound->text();
  fd.release();  // evhttp owns it now
  return true;
}

void Server::handle_admin(evhttp_request* req) {
  const char* uri = evhttp_request_get_uri(req);
  std::string_view path = uri != nullptr ? uri : "/";
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  evbuffer* body = evbuffer_new();
  int code = 200;
  if (path == "/healthz") {
    evbuffer_add_printf(body, "ok\n");
  } else if (path == "/readyz") {
    code = draining_ ? 503 : 200;
    evbuffer_add_printf(body, draining_ ? "draining\n" : "ready\n");
  } else {
    code = 404;
    evbuffer_add_printf(body, "not found\n");
  }
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                    "text/plain; charset=utf-8");
  evhttp_send_reply(req, code, nullptr, body);
  evbuffer_free(body);
}

int Server::run() {
  ConfigLoadResult loaded = load_config_file(config_path_);
  if (!loaded.ok()) {
    for (const ConfigError& e : loaded.errors) log_error(e.to_string());
    return 1;
  }
  set_log_level(loaded.config->log.level);
  std::string error;
  snapshot_ = Snapshot::build(loaded.config, &error);
  if (!snapshot_) {
    log_error(config_path_ + ": " + error);
    return 1;
  }
  const Config& config = snapshot_->config();
  size_t workers = config.server.workers;
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());

  base_.reset(event_base_new());
  if (!bind_listeners(config, workers, &error) || !bind_admin(config, &error)) {
    log_error(error);
    return 1;
  }
  for (int signo : {SIGTERM, SIGINT}) {
    signal_events_.emplace_back(evsignal_new(
        base_.get(), signo,
        [](evutil_socket_t sig, short, void* arg) {
          static_cast<Server*>(arg)->on_signal(static_cast<int>(sig));
        },
        this));
    event_add(signal_events_.back().get(), nullptr);
  }
  for (size_t w = 0; w < workers; ++w) {
    workers_.push_back(std::make_unique<Worker>(w, std::move(worker_fds_[w]), snapshot_,
                                                nullptr));
  }
  for (auto& w : workers_) w->start();

  std::string proxies;
  for (const std::string& a : proxy_addresses_) proxies += (proxies.empty() ? "" : ",") + a;
  log_info("listening proxy=" + proxies + " admin=" + admin_address_ +
           " workers=" + std::to_string(workers));
  event_base_dispatch(base_.get());
  for (auto& w : workers_) w->join();
  log_info("stopped");
  return 0;
}

void Server::on_signal(int signo) {
  if (signo == SIGTERM || signo == SIGINT) begin_drain();
}

void Server::begin_drain() {
  if (draining_) return;
  draining_ = true;
  log_info("draining: no new connections, finishing in-flight requests");
  for (auto& w : workers_) w->request_drain();
  // The admin listener stays up while draining (/readyz answers 503); the
  // workers are joined once their loops return.
  poll_ev_.reset(event_new(
      base_.get(), -1, EV_PERSIST,
      [](evutil_socket_t, short, void* arg) { static_cast<Server*>(arg)->poll_workers(); }, this));
  timeval tv{0, 20 * 1000};
  event_add(poll_ev_.get(), &tv);
}

void Server::poll_workers() {
  for (auto& w : workers_) {
    if (!w->stopped()) return;
  }
  event_base_loopexit(base_.get(), nullptr);
}

}  // namespace routemeter
