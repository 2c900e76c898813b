// The [tls] table: its keys and defaults, the certificate files read and
// checked at load time (every mistake one error at its key's line:column),
// an expired certificate loading with a warning. Certificates are made by the
// test (tests/support/test_certificates.hpp).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "routemeter/config.hpp"
#include "routemeter/tls_certificate.hpp"
#include "test_certificates.hpp"

using namespace routemeter;
using namespace std::chrono_literals;
using routemeter::testing::CertificateSpec;
using routemeter::testing::make_certificate;
using routemeter::testing::TempDir;
using routemeter::testing::TestCertificate;

namespace {

std::string all(const std::vector<ConfigError>& list) {
  std::string out;
  for (const ConfigError& e : list) out += e.to_string() + "\n";
  return out;
}

std::string q(const std::string& text) { return "\"" + text + "\""; }

// A directory holding a valid certificate and key for shop.example.test.
struct Files {
  TempDir dir;
  TestCertificate shop =
      make_certificate({.dns_names = {"shop.example.test", "*.Shop.Example.Test"}});
  std::string cert = dir.write("shop.pem", shop.cert_pem);
  std::string key = dir.write("shop.key", shop.key_pem);

  // A [tls] table on lines 1-3 and one certificate on lines 4-6.
  std::string toml(const std::string& cert_path, const std::string& key_path,
                   const std::string& extra = "") const {
    return "[tls]\nlisten = [\"127.0.0.1:0\"]\nmin_version = \"1.2\"\n"
           "[[tls.certificate]]\ncert = " +
           q(cert_path) + "\nkey = " + q(key_path) + "\n" + extra;
  }
};

// The one error of `toml`, which must start with "t.toml:<at>: " and hold `fragment`.
void check_one_error(const std::string& toml, const std::string& at, const std::string& fragment) {
  INFO("TOML:\n" << toml);
  ConfigLoadResult result = parse_config(toml, "t.toml");
  INFO("errors:\n" << all(result.errors));
  CHECK_FALSE(result.ok());
  REQUIRE(result.errors.size() == 1);
  const std::string text = result.errors[0].to_string();
  CHECK(text.rfind("t.toml:" + at + ": ", 0) == 0);
  CHECK(text.find(fragment) != std::string::npos);
}

}  // namespace

TEST_CASE("no [tls] table: no TLS", "[config][tls]") {
  ConfigLoadResult result = parse_config("", "t.toml");
  REQUIRE(result.ok());
  CHECK_FALSE(result.config->tls.has_value());
  CHECK(result.warnings.empty());
}

TEST_CASE("[tls] keys, defaults and the certificate's DNS names as server names", "[config][tls]") {
  Files f;
  ConfigLoadResult result =
      parse_config("[tls]\nlisten = \"127.0.0.1:8443\"\n[[tls.certificate]]\ncert = " + q(f.cert) +
                       "\nkey = " + q(f.key) + "\n",
                   "t.toml");
  INFO(all(result.errors));
  REQUIRE(result.ok());
  CHECK(result.warnings.empty());
  const TlsConfig& tls = *result.config->tls;
  CHECK(tls.listen == std::vector<HostPort>{{"127.0.0.1", 8443}});
  CHECK(tls.min_version == TlsVersion::kTls12);
  CHECK(tls.handshake_timeout == 10s);
  REQUIRE(tls.certificates.size() == 1);
  const TlsCertificateConfig& c = tls.certificates[0];
  CHECK(c.cert_path == f.cert);
  CHECK(c.key_path == f.key);
  CHECK(c.cert_pem == f.shop.cert_pem);
  CHECK(c.key_pem == f.shop.key_pem);
  // Lower-cased, in certificate order.
  CHECK(c.server_names == std::vector<std::string>{"shop.example.test", "*.shop.example.test"});
  CHECK_FALSE(c.server_names_configured);
  CHECK(c.position.line == 3);
}

TEST_CASE("[tls] every key is read; server_names replaces the certificate's names",
          "[config][tls]") {
  Files f;
  TestCertificate car = make_certificate({.dns_names = {"car.example.test"}});
  const std::string car_cert = f.dir.write("car.pem", car.cert_pem + car.key_pem);  // combined
  ConfigLoadResult result = parse_config(
      "[server]\nlisten = [\"127.0.0.1:8080\"]\n"
      "[tls]\nlisten = [\"127.0.0.1:8443\", \"[::1]:8443\"]\nmin_version = \"1.3\"\n"
      "handshake_timeout = \"2500ms\"\n"
      "[[tls.certificate]]\ncert = " +
          q(f.cert) + "\nkey = " + q(f.key) + "\n[[tls.certificate]]\ncert = " + q(car_cert) +
          "\nkey = " + q(car_cert) +
          "\nserver_names = [\"Car.Example.Test\", \"*.cars.example.test\"]\n",
      "t.toml");
  INFO(all(result.errors));
  REQUIRE(result.ok());
  const TlsConfig& tls = *result.config->tls;
  CHECK(tls.listen == std::vector<HostPort>{{"127.0.0.1", 8443}, {"::1", 8443}});
  CHECK(tls.min_version == TlsVersion::kTls13);
  CHECK(tls.handshake_timeout == 2500ms);
  REQUIRE(tls.certificates.size() == 2);
  CHECK(tls.certificates[1].server_names ==
        std::vector<std::string>{"car.example.test", "*.cars.example.test"});
  CHECK(tls.certificates[1].server_names_configured);
  CHECK(tls.certificates[1].key_pem == car.cert_pem + car.key_pem);

  const std::string json = config_to_json(*result.config);
  CHECK(json.find("PRIVATE KEY") == std::string::npos);
  CHECK(json.find("\"min_version\": \"1.3\"") != std::string::npos);
  CHECK(json.find("\"handshake_timeout\": \"2500ms\"") != std::string::npos);
  CHECK(json.find("\"cert\": " + q(f.cert)) != std::string::npos);
  CHECK(json.find("\"server_names\": [\"car.example.test\", \"*.cars.example.test\"]") !=
        std::string::npos);
}

TEST_CASE("[tls] relative certificate paths are read from the config file's directory",
          "[config][tls]") {
  Files f;
  ConfigLoadResult result =
      parse_config(f.toml("shop.pem", "./shop.key"), f.dir.path() + "/routemeter.toml");
  INFO(all(result.errors));
  REQUIRE(result.ok());
  CHECK(result.config->tls->certificates[0].cert_path == f.dir.path() + "/shop.pem");
  CHECK(result.config->tls->certificates[0].key_path == f.dir.path() + "/./shop.key");
}

TEST_CASE("[tls] a missing or unreadable file is an error at its key", "[config][tls]") {
  Files f;
  const std::string missing = f.dir.path() + "/nope.pem";
  check_one_error(
      f.toml(missing, f.key), "5:8",
      "tls.certificate[0].cert: cannot read " + q(missing) + ": No such file or directory");
  check_one_error(
      f.toml(f.cert, missing), "6:7",
      "tls.certificate[0].key: cannot read " + q(missing) + ": No such file or directory");
  check_one_error(f.toml(f.cert, f.dir.path()), "6:7",
                  "tls.certificate[0].key: cannot read " + q(f.dir.path()) + ": is a directory");
  const std::string fifo = f.dir.path() + "/fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);  // would block an ordinary open()
  check_one_error(f.toml(f.cert, fifo), "6:7",
                  "tls.certificate[0].key: cannot read " + q(fifo) + ": is not a regular file");
  if (geteuid() != 0) {  // root reads a mode-0000 file anyway
    const std::string locked = f.dir.write("locked.key", f.shop.key_pem);
    chmod(locked.c_str(), 0);
    check_one_error(f.toml(f.cert, locked), "6:7", ": Permission denied");
  }
  check_one_error(f.toml(f.cert, ""), "6:7", "tls.certificate[0].key: must be a file path");
}

TEST_CASE("[tls] a file without a certificate, or a broken one, is an error at cert",
          "[config][tls]") {
  Files f;
  check_one_error(f.toml(f.key, f.key), "5:8",
                  "tls.certificate[0].cert: " + q(f.key) + ": no certificate in the file");
  const std::string empty = f.dir.write("empty.pem", "");
  check_one_error(f.toml(empty, f.key), "5:8", ": no certificate in the file");
  const std::string broken = f.dir.write("broken.pem",
                                         "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
                                         "-----END CERTIFICATE-----\n");
  check_one_error(f.toml(broken, f.key), "5:8",
                  "tls.certificate[0].cert: " + q(broken) + ": malformed certificate");
}

TEST_CASE("[tls] a key that is not the certificate's is an error at key", "[config][tls]") {
  Files f;
  TestCertificate other = make_certificate({});
  const std::string other_key = f.dir.write("other.key", other.key_pem);
  check_one_error(f.toml(f.cert, other_key), "6:7",
                  "tls.certificate[0].key: " + q(other_key) +
                      " is not the private key of the certificate in " + q(f.cert));
  // An RSA key for an EC certificate.
  TestCertificate rsa = make_certificate({.key_type = routemeter::testing::TestKeyType::kRsa2048});
  const std::string rsa_key = f.dir.write("rsa.key", rsa.key_pem);
  check_one_error(f.toml(f.cert, rsa_key), "6:7", " is not the private key of the certificate");
  // No key at all in the key file.
  check_one_error(f.toml(f.cert, f.cert), "6:7",
                  "tls.certificate[0].key: " + q(f.cert) + ": no private key in the file");
}

TEST_CASE("[tls] a certificate OpenSSL refuses to serve is an error at cert", "[config][tls]") {
  Files f;
  TestCertificate weak = make_certificate({.key_type = routemeter::testing::TestKeyType::kRsa512});
  const std::string cert = f.dir.write("weak.pem", weak.cert_pem);
  const std::string key = f.dir.write("weak.key", weak.key_pem);
  check_one_error(f.toml(cert, key), "5:8",
                  "tls.certificate[0].cert: " + q(cert) +
                      ": cannot be served: the certificate is refused: ee key too small");
}

TEST_CASE("[tls] an encrypted key is refused without asking for a passphrase", "[config][tls]") {
  Files f;
  EvpPkeyPtr key;
  {
    std::string error;
    key = parse_private_key(f.shop.key_pem, &error);
    REQUIRE(key);
  }
  BIO* bio = BIO_new(BIO_s_mem());
  static char pass[] = "secret";
  REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio, key.get(), EVP_aes_256_cbc(), pass, sizeof pass - 1,
                                        nullptr, nullptr) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  const std::string encrypted = f.dir.write("enc.key", std::string(data, static_cast<size_t>(n)));
  BIO_free(bio);
  check_one_error(f.toml(f.cert, encrypted), "6:7",
                  "tls.certificate[0].key: " + q(encrypted) + ": the private key is encrypted");
}

TEST_CASE("[tls] min_version is 1.2 or 1.3", "[config][tls]") {
  Files f;
  auto with_version = [&](const std::string& value) {
    return "[tls]\nlisten = [\"127.0.0.1:0\"]\nmin_version = " + value +
           "\n[[tls.certificate]]\ncert = " + q(f.cert) + "\nkey = " + q(f.key) + "\n";
  };
  check_one_error(with_version("\"1.1\""), "3:15",
                  "tls.min_version: TLS 1.1 is never offered (insecure, RFC 8996); must be \"1.2\" "
                  "or \"1.3\", got \"1.1\"");
  check_one_error(with_version("\"1.0\""), "3:15", "TLS 1.0 is never offered");
  check_one_error(with_version("\"TLSv1.3\""), "3:15",
                  "tls.min_version: must be \"1.2\" or \"1.3\", got \"TLSv1.3\"");
  check_one_error(with_version("1.3"), "3:15",
                  "tls.min_version: expected a string, \"1.2\" or \"1.3\", got a float");
}

TEST_CASE("[tls] listeners, timeout, tables and keys", "[config][tls]") {
  Files f;
  const std::string cert =
      "[[tls.certificate]]\ncert = " + q(f.cert) + "\nkey = " + q(f.key) + "\n";
  check_one_error("[tls]\n" + cert, "1:1", "tls: missing required key \"listen\"");
  check_one_error("[tls]\nlisten = []\n" + cert, "2:10", "tls.listen: needs at least one address");
  check_one_error("[tls]\nlisten = [\"127.0.0.1:8443\", \"127.0.0.1:8443\"]\n" + cert, "2:29",
                  "tls.listen[1]: \"127.0.0.1:8443\" is listed twice");
  check_one_error("[tls]\nlisten = \"localhost\"\n" + cert, "2:10",
                  "tls.listen: expected \"host:port\"");
  // A port serves plain HTTP or TLS, not both (SO_REUSEPORT would split it).
  check_one_error(
      "[server]\nlisten = [\"0.0.0.0:8080\"]\n[tls]\nlisten = [\"127.0.0.1:8080\"]\n" + cert,
      "4:11",
      "tls.listen[0]: \"127.0.0.1:8080\" is also server.listen \"0.0.0.0:8080\" (a "
      "port serves either plain HTTP or TLS)");
  check_one_error("[tls]\nlisten = \"127.0.0.1:9901\"\n" + cert, "2:10",
                  "tls.listen: \"127.0.0.1:9901\" is also admin.listen \"127.0.0.1:9901\"");
  check_one_error("[tls]\nlisten = [\"127.0.0.1:0\"]\nhandshake_timeout = \"0s\"\n" + cert, "3:21",
                  "tls.handshake_timeout: must be greater than 0");
  check_one_error("[tls]\nlisten = [\"127.0.0.1:0\"]\nmin_versoin = \"1.2\"\n" + cert, "3:1",
                  "tls.min_versoin: unknown key (did you mean \"min_version\"?)");
  check_one_error("[tls]\nlisten = [\"127.0.0.1:0\"]\n", "1:1",
                  "tls: needs at least one [[tls.certificate]] (cert and key)");
  check_one_error("[tls]\nlisten = [\"127.0.0.1:0\"]\ncertificate = []\n", "3:15",
                  "tls.certificate: needs at least one certificate");
  check_one_error(
      "[tls]\nlisten = [\"127.0.0.1:0\"]\n[tls.certificate]\ncert = " + q(f.cert) +
          "\nkey = " + q(f.key) + "\n",
      "3:1", "tls.certificate: expected an array of tables ([[tls.certificate]]), got a table");
  check_one_error("tls = true\n", "1:7", "tls: expected a table, got a boolean");
  check_one_error(f.toml(f.cert, f.key, "chain = \"x\"\n"), "7:1",
                  "tls.certificate[0].chain: unknown key");
  check_one_error(
      "[tls]\nlisten = [\"127.0.0.1:0\"]\n[[tls.certificate]]\nkey = " + q(f.key) + "\n", "3:1",
      "tls.certificate[0]: missing required key \"cert\"");
  check_one_error(
      "[tls]\nlisten = [\"127.0.0.1:0\"]\n[[tls.certificate]]\ncert = " + q(f.cert) + "\n", "3:1",
      "missing required key \"key\"");
}

TEST_CASE("[tls] server_names: host names, none twice, each chosen by one certificate",
          "[config][tls]") {
  Files f;
  check_one_error(f.toml(f.cert, f.key, "server_names = []\n"), "7:16",
                  "tls.certificate[0].server_names: must not be empty");
  check_one_error(f.toml(f.cert, f.key, "server_names = [\"a.test\", \"a.test:443\"]\n"), "7:27",
                  "tls.certificate[0].server_names[1]: expected a host name like "
                  "\"shop.example.com\" or \"*.example.com\" (no port), got \"a.test:443\"");
  check_one_error(f.toml(f.cert, f.key, "server_names = [\"a.test\", \"A.test\"]\n"), "7:27",
                  "tls.certificate[0].server_names[1]: \"a.test\" is listed twice");
  check_one_error(f.toml(f.cert, f.key, "server_names = \"a.test\"\n"), "7:16",
                  "tls.certificate[0].server_names: expected an array, got a string");

  // A second certificate naming a name the first already serves.
  TestCertificate car = make_certificate({.dns_names = {"car.example.test"}});
  const std::string car_cert = f.dir.write("car.pem", car.cert_pem);
  const std::string car_key = f.dir.write("car.key", car.key_pem);
  const std::string second =
      "[[tls.certificate]]\ncert = " + q(car_cert) + "\nkey = " + q(car_key) + "\n";
  check_one_error(
      f.toml(f.cert, f.key, second + "server_names = [\"x.test\", \"shop.example.test\"]\n"),
      "10:27",
      "tls.certificate[1].server_names[1]: \"shop.example.test\" is already served by "
      "tls.certificate[0]");

  // A second certificate whose DNS names are all the first's would never be chosen.
  TestCertificate shop2 = make_certificate({.dns_names = {"shop.example.test"}});
  const std::string shop2_cert = f.dir.write("shop2.pem", shop2.cert_pem);
  const std::string shop2_key = f.dir.write("shop2.key", shop2.key_pem);
  check_one_error(
      f.toml(f.cert, f.key,
             "[[tls.certificate]]\ncert = " + q(shop2_cert) + "\nkey = " + q(shop2_key) + "\n"),
      "7:1",
      "tls.certificate[1]: would never be chosen: every DNS name of the certificate is "
      "served by an earlier one");
  // A server_names of the wrong type is that one error, not also "never chosen".
  check_one_error(f.toml(f.cert, f.key,
                         "[[tls.certificate]]\ncert = " + q(shop2_cert) +
                             "\nkey = " + q(shop2_key) + "\nserver_names = 1\n"),
                  "10:16", "tls.certificate[1].server_names: expected an array, got an integer");
  // ... unless server_names says what it is for (and overlaps are fine).
  ConfigLoadResult ok = parse_config(
      f.toml(f.cert, f.key,
             "[[tls.certificate]]\ncert = " + q(shop2_cert) + "\nkey = " + q(shop2_key) +
                 "\nserver_names = [\"www.example.test\"]\n" + second),
      "t.toml");
  INFO(all(ok.errors));
  CHECK(ok.ok());

  // A certificate without DNS names only as the first (the default).
  TestCertificate bare = make_certificate({.dns_names = {}});
  const std::string bare_cert = f.dir.write("bare.pem", bare.cert_pem);
  const std::string bare_key = f.dir.write("bare.key", bare.key_pem);
  check_one_error(
      f.toml(f.cert, f.key,
             "[[tls.certificate]]\ncert = " + q(bare_cert) + "\nkey = " + q(bare_key) + "\n"),
      "7:1",
      "tls.certificate[1]: the certificate has no DNS names (subjectAltName): set "
      "server_names, or list it first to make it the default");
  ConfigLoadResult first = parse_config(f.toml(bare_cert, bare_key), "t.toml");
  INFO(all(first.errors));
  REQUIRE(first.ok());
  CHECK(first.config->tls->certificates[0].server_names.empty());
}

TEST_CASE("[tls] an expired certificate loads with a warning at cert", "[config][tls]") {
  Files f;
  const int64_t now = routemeter::testing::unix_now();
  TestCertificate old = make_certificate({.not_before = 1700000000, .not_after = 1704067200});
  const std::string cert = f.dir.write("old.pem", old.cert_pem);
  const std::string key = f.dir.write("old.key", old.key_pem);
  ConfigLoadResult result = parse_config(f.toml(cert, key), "t.toml");
  INFO(all(result.errors));
  REQUIRE(result.ok());
  CHECK(all(result.warnings) == "t.toml:5:8: tls.certificate[0].cert: " + q(cert) +
                                    " expired on 2024-01-01T00:00:00Z; loaded anyway, but "
                                    "clients will refuse it\n");

  TestCertificate future = make_certificate({.not_before = now + 86400, .not_after = now + 90000});
  const std::string future_cert = f.dir.write("future.pem", future.cert_pem);
  const std::string future_key = f.dir.write("future.key", future.key_pem);
  ConfigLoadResult later = parse_config(f.toml(future_cert, future_key), "t.toml");
  REQUIRE(later.ok());
  REQUIRE(later.warnings.size() == 1);
  CHECK(later.warnings[0].to_string().find(" is not valid before ") != std::string::npos);

  // Warnings come with errors too, when the file has both.
  ConfigLoadResult both = parse_config(f.toml(cert, key) + "[log]\nlevel = \"loud\"\n", "t.toml");
  CHECK_FALSE(both.ok());
  CHECK(both.errors.size() == 1);
  CHECK(both.warnings.size() == 1);
}

TEST_CASE("[tls] every error of every certificate is reported at once", "[config][tls]") {
  Files f;
  TestCertificate other = make_certificate({.dns_names = {"other.test"}});
  const std::string other_key = f.dir.write("other.key", other.key_pem);
  const std::string missing = f.dir.path() + "/missing.pem";
  ConfigLoadResult result = parse_config(
      "[tls]\n"                       // 1
      "listen = [\"127.0.0.1:0\"]\n"  // 2
      "min_version = \"1.1\"\n"       // 3
      "[[tls.certificate]]\n"         // 4
      "cert = " +
          q(f.cert) +
          "\n"  // 5
          "key = " +
          q(other_key) +
          "\n"                     // 6
          "[[tls.certificate]]\n"  // 7
          "cert = " +
          q(missing) +
          "\n"  // 8
          "key = " +
          q(f.key) +
          "\n"                                  // 9
          "server_names = [\"other.test\"]\n",  // 10
      "t.toml");
  CHECK(result.errors.size() == 3);
  CHECK(all(result.errors).find("t.toml:3:15: tls.min_version") == 0);
  CHECK(all(result.errors).find("\nt.toml:6:7: tls.certificate[0].key: ") != std::string::npos);
  CHECK(all(result.errors).find("\nt.toml:8:8: tls.certificate[1].cert: cannot read") !=
        std::string::npos);
}
