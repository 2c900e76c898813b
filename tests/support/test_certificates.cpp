#include "test_certificates.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>

namespace routemeter::testing {
namespace {

template <auto Fn>
struct Free {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) Fn(p);
  }
};
using X509Ptr = std::unique_ptr<X509, Free<&X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Free<&EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Free<&BIO_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Free<&X509_EXTENSION_free>>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificate: ") + what + " failed");
}

KeyPtr make_key(TestKeyType type) {
  KeyPtr key;
  switch (type) {
    case TestKeyType::kEcP256:
      key.reset(EVP_EC_gen("P-256"));
      break;
    case TestKeyType::kRsa2048:
      key.reset(EVP_RSA_gen(2048));
      break;
    case TestKeyType::kRsa512:
      key.reset(EVP_RSA_gen(512));
      break;
  }
  check(key != nullptr, "key generation");
  return key;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  check(ext != nullptr, "extension");
  check(X509_add_ext(cert, ext.get(), -1) == 1, "X509_add_ext");
}

}  // namespace

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TestCertificate make_certificate(const CertificateSpec& spec) {
  const int64_t now = unix_now();
  TestCertificate out;
  out.not_before = spec.not_before != 0 ? spec.not_before : now - 3600;
  out.not_after = spec.not_after != 0 ? spec.not_after : now + (30 * 24 * 3600);

  KeyPtr key = make_key(spec.key_type);
  X509Ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), 2) == 1, "X509_set_version");
  unsigned char serial[16];
  check(RAND_bytes(serial, sizeof serial) == 1, "RAND_bytes");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  check(bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get())) != nullptr,
        "serial");
  BN_free(bn);
  check(ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(out.not_before)) !=
            nullptr,
        "notBefore");
  check(
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(out.not_after)) != nullptr,
      "notAfter");
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (!spec.common_name.empty()) {
    check(X509_NAME_add_entry_by_txt(
              subject, "CN", MBSTRING_UTF8,
              reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1, 0) == 1,
          "CN");
  }
  check(X509_set_pubkey(cert.get(), key.get()) == 1, "X509_set_pubkey");

  X509Ptr issuer_cert;
  KeyPtr issuer_key;
  if (spec.issuer != nullptr) {
    BioPtr cert_bio(BIO_new_mem_buf(spec.issuer->cert_pem.data(),
                                    static_cast<int>(spec.issuer->cert_pem.size())));
    issuer_cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    BioPtr key_bio(BIO_new_mem_buf(spec.issuer->key_pem.data(),
                                   static_cast<int>(spec.issuer->key_pem.size())));
    issuer_key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    check(issuer_cert != nullptr && issuer_key != nullptr, "reading the issuer");
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert.get())) == 1,
          "issuer name");
  } else {
    check(X509_set_issuer_name(cert.get(), subject) == 1, "issuer name");
  }
  X509* signer = issuer_cert ? issuer_cert.get() : cert.get();
  add_extension(cert.get(), signer, NID_basic_constraints,
                spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_extension(cert.get(), signer, NID_key_usage,
                spec.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (!spec.is_ca) add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
  if (!spec.dns_names.empty()) {
    std::string sans;
    for (const std::string& name : spec.dns_names) sans += (sans.empty() ? "DNS:" : ",DNS:") + name;
    add_extension(cert.get(), signer, NID_subject_alt_name, sans);
  }
  check(X509_sign(cert.get(), issuer_key ? issuer_key.get() : key.get(), EVP_sha256()) > 0,
        "X509_sign");

  BioPtr cert_out(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(cert_out.get(), cert.get()) == 1, "PEM_write_bio_X509");
  out.cert_pem = bio_text(cert_out.get());
  BioPtr key_out(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(key_out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) ==
            1,
        "PEM_write_bio_PrivateKey");
  out.key_pem = bio_text(key_out.get());
  return out;
}

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/routemeter-test-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::write(std::string_view name, std::string_view contents) const {
  std::string full = path_ + "/" + std::string(name);
  const int fd = ::open(full.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + full);
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("cannot write " + full);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return full;
}

}  // namespace routemeter::testing
