// The [tls] table of the config (docs/tls.md): HTTPS listeners, the minimum
// protocol version, the handshake timeout and the certificates. Each
// certificate's files are read and checked here, so that a missing file, a
// key of another certificate or a file without a certificate is an error at
// its key's file:line:col; a reload reads them again.
#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config_reader.hpp"
#include "routemeter/config.hpp"
#include "routemeter/event_handles.hpp"
#include "routemeter/tls_certificate.hpp"

namespace routemeter::config_detail {
namespace {

// A certificate chain or key is a few KiB; this only keeps a wrong path
// (/dev/zero, a log file) from eating memory.
constexpr size_t kMaxPemBytes = 1024 * 1024;

// `path` as the process opens it: relative to the config file's directory.
std::string resolve_path(const std::string& config_file, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  const size_t slash = config_file.rfind('/');
  if (slash == std::string::npos) return path;
  return config_file.substr(0, slash + 1) + path;
}

// Reads a whole small file; on failure returns false with the reason.
bool read_small_file(const std::string& path, std::string& out, std::string& error) {
  // O_NONBLOCK: a FIFO given by mistake must not hang the load (it is then
  // refused as not a regular file); regular files ignore the flag.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) {
    error = std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && !S_ISREG(st.st_mode)) {
    error = S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file";
    return false;
  }
  out.clear();
  char buffer[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::strerror(errno);
      return false;
    }
    if (n == 0) return true;
    out.append(buffer, static_cast<size_t>(n));
    if (out.size() > kMaxPemBytes) {
      error = "larger than 1 MiB: not a PEM certificate or key";
      return false;
    }
  }
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool is_wildcard_host(std::string_view host) { return host == "0.0.0.0" || host == "::"; }

// Whether two listeners would bind the same port: the same host, or one of
// them the wildcard address of the other's family. Host names are compared
// as written ("localhost" and "127.0.0.1" are not caught).
bool overlaps(const HostPort& a, const HostPort& b) {
  if (a.port != b.port || a.port == 0) return false;
  if (a.host == b.host) return true;
  const bool a_v6 = a.host.find(':') != std::string::npos;
  const bool b_v6 = b.host.find(':') != std::string::npos;
  return a_v6 == b_v6 && (is_wildcard_host(a.host) || is_wildcard_host(b.host));
}

void read_listen(ConfigReader& r, const toml::table& t, const Config& config, TlsConfig& tls) {
  const toml::node* node = t.get("listen");
  if (node == nullptr) {
    r.error(t.source(), "tls: missing required key \"listen\" (the HTTPS listeners)");
    return;
  }
  if (!r.node_listen_list(*node, "tls.listen", tls.listen)) return;
  for (size_t i = 0; i < tls.listen.size(); ++i) {
    const toml::node& element = node->is_array() ? *node->as_array()->get(i) : *node;
    const std::string what =
        node->is_array() ? "tls.listen[" + std::to_string(i) + "]" : std::string("tls.listen");
    auto clash = [&](const HostPort& other, std::string_view key) {
      if (!overlaps(tls.listen[i], other)) return;
      r.error(element.source(), what + ": " + quoted(tls.listen[i].text()) + " is also " +
                                    std::string(key) + " " + quoted(other.text()) +
                                    " (a port serves either plain HTTP or TLS)");
    };
    for (const HostPort& plain : config.server.listen) clash(plain, "server.listen");
    clash(config.admin.listen, "admin.listen");
  }
}

void read_min_version(ConfigReader& r, const toml::table& t, TlsConfig& tls) {
  const toml::node* node = t.get("min_version");
  if (node == nullptr) return;
  const auto* text = node->as_string();
  if (text == nullptr) {
    r.type_error(*node, "tls.min_version", "a string, \"1.2\" or \"1.3\"");
    return;
  }
  const std::string& v = text->get();
  if (v == "1.2") {
    tls.min_version = TlsVersion::kTls12;
  } else if (v == "1.3") {
    tls.min_version = TlsVersion::kTls13;
  } else if (v == "1.0" || v == "1.1") {
    r.error(node->source(), "tls.min_version: TLS " + v +
                                " is never offered (insecure, RFC 8996); must be \"1.2\" or "
                                "\"1.3\", got " +
                                quoted(v));
  } else {
    r.error(node->source(), "tls.min_version: must be \"1.2\" or \"1.3\", got " + quoted(v));
  }
}

// Reads the file named by `key` (a string): its resolved path and contents.
bool read_file_key(ConfigReader& r, const toml::table& t, std::string_view key,
                   const std::string& what, std::string& path, std::string& contents) {
  const toml::node* node = t.get(key);
  if (node == nullptr) {
    r.error(t.source(), what.substr(0, what.size() - 1) + ": missing required key " + quoted(key));
    return false;
  }
  std::string written;
  if (!r.node_string(*node, what + std::string(key), written)) return false;
  if (written.empty()) {
    r.error(node->source(), what + std::string(key) + ": must be a file path, got \"\"");
    return false;
  }
  path = resolve_path(r.file(), written);
  std::string error;
  if (!read_small_file(path, contents, error)) {
    r.error(node->source(),
            what + std::string(key) + ": cannot read " + quoted(path) + ": " + error);
    return false;
  }
  return true;
}

// The first certificate that serves each name, to find names served twice.
struct NameOwners {
  std::map<std::string, size_t, std::less<>> first;  // name -> certificate index
};

void read_server_names(ConfigReader& r, const toml::table& t, const std::string& what,
                       TlsCertificateConfig& cert) {
  // Set even when the value is not an array (an error): the certificate's
  // own names must not stand in for what the file meant to say.
  cert.server_names_configured = t.contains("server_names");
  const toml::array* array = r.read_array(t, "server_names", what);
  if (array == nullptr) return;
  if (array->empty()) {
    r.error(t.get("server_names")->source(),
            what +
                "server_names: must not be empty (remove the key to use the certificate's "
                "DNS names)");
    return;
  }
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const std::string name_what = what + "server_names[" + std::to_string(i) + "]";
    std::string text;
    if (!r.node_string(element, name_what, text)) continue;
    std::string name = normalize_host(text);
    if (name.empty()) {
      r.error(element.source(), name_what +
                                    ": expected a host name like \"shop.example.com\" or "
                                    "\"*.example.com\" (no port), got " +
                                    quoted(text));
      continue;
    }
    bool seen = false;
    for (const std::string& s : cert.server_names) seen = seen || s == name;
    if (seen) {
      r.error(element.source(), name_what + ": " + quoted(name) + " is listed twice");
      continue;
    }
    cert.server_names.push_back(std::move(name));
  }
}

void read_certificate(ConfigReader& r, const toml::table& t, size_t index, NameOwners& owners,
                      TlsConfig& tls) {
  const std::string what = "tls.certificate[" + std::to_string(index) + "].";
  TlsCertificateConfig cert;
  cert.position = position_of(t.source());
  r.check_keys(t, {"cert", "key", "server_names"}, what);

  CertificateChain chain;
  if (read_file_key(r, t, "cert", what, cert.cert_path, cert.cert_pem)) {
    std::string error;
    chain = parse_certificate_chain(cert.cert_pem, &error);
    if (!chain.leaf) {
      r.error(t.get("cert")->source(), what + "cert: " + quoted(cert.cert_path) + ": " + error);
    }
  }
  EvpPkeyPtr key;
  if (read_file_key(r, t, "key", what, cert.key_path, cert.key_pem)) {
    std::string error;
    key = parse_private_key(cert.key_pem, &error);
    if (!key) {
      r.error(t.get("key")->source(), what + "key: " + quoted(cert.key_path) + ": " + error);
    }
  }
  if (chain.leaf && key) {
    if (!key_matches(chain.leaf.get(), key.get())) {
      r.error(t.get("key")->source(), what + "key: " + quoted(cert.key_path) +
                                          " is not the private key of the certificate in " +
                                          quoted(cert.cert_path));
    } else {
      // What OpenSSL itself refuses to serve (the system's security level).
      SslCtxPtr scratch(SSL_CTX_new(TLS_server_method()));
      std::string error = "out of memory";
      if (!scratch || !use_certificate(scratch.get(), chain, key.get(), &error)) {
        r.error(t.get("cert")->source(),
                what + "cert: " + quoted(cert.cert_path) + ": cannot be served: " + error);
      }
    }
  }
  if (chain.leaf) {
    const toml::node& at = *t.get("cert");
    const int64_t now = unix_now();
    const int64_t not_after = certificate_not_after(chain.leaf.get());
    const int64_t not_before = certificate_not_before(chain.leaf.get());
    if (not_after < now) {
      r.warning(position_of(at.source()), what + "cert: " + quoted(cert.cert_path) +
                                              " expired on " + format_utc(not_after) +
                                              "; loaded anyway, but clients will refuse it");
    } else if (not_before > now) {
      r.warning(position_of(at.source()), what + "cert: " + quoted(cert.cert_path) +
                                              " is not valid before " + format_utc(not_before) +
                                              "; loaded anyway, but clients will refuse it");
    }
  }

  read_server_names(r, t, what, cert);
  if (!cert.server_names_configured && chain.leaf) {
    cert.server_names = certificate_dns_names(chain.leaf.get());
  }
  // First certificate wins a name. A name listed explicitly must be its
  // certificate's own; a certificate that wins no name would never be chosen.
  bool wins_a_name = false;
  for (size_t i = 0; i < cert.server_names.size(); ++i) {
    const std::string& name = cert.server_names[i];
    auto [it, inserted] = owners.first.emplace(name, index);
    if (inserted) {
      wins_a_name = true;
    } else if (cert.server_names_configured) {
      r.error(t.get("server_names")->as_array()->get(i)->source(),
              what + "server_names[" + std::to_string(i) + "]: " + quoted(name) +
                  " is already served by tls.certificate[" + std::to_string(it->second) + "]");
    }
  }
  if (index > 0 && !wins_a_name && !cert.server_names_configured && chain.leaf) {
    const std::string table = what.substr(0, what.size() - 1);
    if (cert.server_names.empty()) {
      r.error(t.source(), table +
                              ": the certificate has no DNS names (subjectAltName): set "
                              "server_names, or list it first to make it the default");
    } else {
      r.error(t.source(), table +
                              ": would never be chosen: every DNS name of the certificate is "
                              "served by an earlier one (set server_names on one of them)");
    }
  }
  tls.certificates.push_back(std::move(cert));
}

}  // namespace

void read_tls(ConfigReader& r, const toml::table& t, const Config& config, TlsConfig& tls) {
  constexpr std::string_view kPrefix = "tls.";
  tls.position = position_of(t.source());
  r.check_keys(t, {"listen", "min_version", "handshake_timeout", "certificate"}, kPrefix);
  read_listen(r, t, config, tls);
  read_min_version(r, t, tls);
  r.read_duration(t, "handshake_timeout", kPrefix, false, tls.handshake_timeout);

  const toml::node* node = t.get("certificate");
  if (node == nullptr) {
    r.error(t.source(), "tls: needs at least one [[tls.certificate]] (cert and key)");
    return;
  }
  const auto* array = node->as_array();
  if (array != nullptr && array->empty()) {
    r.error(node->source(), "tls.certificate: needs at least one certificate");
    return;
  }
  if (array == nullptr || !array->is_array_of_tables()) {
    r.type_error(*node, "tls.certificate", "an array of tables ([[tls.certificate]])");
    return;
  }
  NameOwners owners;
  for (size_t i = 0; i < array->size(); ++i) {
    read_certificate(r, *array->get(i)->as_table(), i, owners, tls);
  }
}

}  // namespace routemeter::config_detail
