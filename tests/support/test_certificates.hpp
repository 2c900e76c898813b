// Certificates made at test time with the OpenSSL API, so that nothing checked
// in ever expires: self-signed or signed by a test CA, with chosen DNS names
// and validity (already expired included), as PEM text; and a temporary
// directory to write them to. Shared by the unit and integration tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace routemeter::testing {

// Seconds since the Unix epoch, now.
int64_t unix_now();

// kRsa512: too small for any OpenSSL security level (a refused certificate).
enum class TestKeyType { kEcP256, kRsa2048, kRsa512 };

struct TestCertificate {
  std::string cert_pem;  // the certificate alone
  std::string key_pem;   // its private key, PKCS#8
  int64_t not_before = 0;
  int64_t not_after = 0;
};

struct CertificateSpec {
  std::vector<std::string> dns_names{"localhost"};  // subjectAltName; may be empty
  std::string common_name = "routemeter test";      // subject CN; "" = none
  int64_t not_before = 0;                           // 0 = an hour ago
  int64_t not_after = 0;                            // 0 = in 30 days
  TestKeyType key_type = TestKeyType::kEcP256;
  bool is_ca = false;                       // basicConstraints CA:TRUE, keyCertSign
  const TestCertificate* issuer = nullptr;  // signs it; nullptr = self-signed
};

// Makes a key and a certificate. Throws std::runtime_error when OpenSSL fails.
TestCertificate make_certificate(const CertificateSpec& spec);

// A fresh directory under $TMPDIR (or /tmp), removed with its files.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `contents` to path()/name (mode 0600) and returns the full path.
  std::string write(std::string_view name, std::string_view contents) const;

 private:
  std::string path_;
};

}  // namespace routemeter::testing
