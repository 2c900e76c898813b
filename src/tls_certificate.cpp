#include "routemeter/tls_certificate.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <ctime>

namespace routemeter {
namespace {

using BioPtr = std::unique_ptr<BIO, CDeleter<&BIO_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, CDeleter<&GENERAL_NAMES_free>>;

BioPtr memory_bio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// OpenSSL's PEM readers ask this for the passphrase of an encrypted key.
// Without one they would prompt on the terminal; a daemon has none.
int refuse_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

// Whether the error queue's last entry is the PEM reader's "no more blocks".
bool at_end_of_pem() {
  const unsigned long err = ERR_peek_last_error();
  return ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
}

// Whether `pem` has a "-----BEGIN ... PRIVATE KEY-----" line.
bool has_private_key_block(std::string_view pem) {
  for (size_t at = pem.find("-----BEGIN "); at != std::string_view::npos;
       at = pem.find("-----BEGIN ", at + 1)) {
    const size_t end = pem.find("-----", at + 11);
    if (end == std::string_view::npos) return false;
    if (pem.substr(at, end - at).ends_with("PRIVATE KEY")) return true;
  }
  return false;
}

int64_t to_unix(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string take_openssl_error() {
  const unsigned long err = ERR_get_error();
  ERR_clear_error();
  if (err == 0) return {};
  const char* reason = ERR_reason_error_string(err);
  if (reason != nullptr) return reason;
  char buf[256];
  ERR_error_string_n(err, buf, sizeof buf);
  return buf;
}

// ERR_clear_error() resets all 16 slots of the queue, with two free() calls
// each, even when it is empty: 0.4-0.5 us on a loaded 2-core machine, against
// under 0.1 us for the peek. A keep-alive HTTPS request used to pay two of
// them (before its read and before its write), about 2% of the proxy's CPU
// in a profile (docs/performance.md, "2026-12-01, TLS").
void clear_openssl_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

CertificateChain parse_certificate_chain(std::string_view pem, std::string* error) {
  ERR_clear_error();
  CertificateChain out;
  BioPtr bio = memory_bio(pem);
  if (!bio) {
    *error = "out of memory";
    return {};
  }
  bool asked = false;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, refuse_passphrase, &asked)) {
    if (!out.leaf) {
      out.leaf.reset(cert);
    } else {
      out.chain.emplace_back(cert);
    }
  }
  if (!at_end_of_pem()) {
    *error = "malformed certificate: " + take_openssl_error();
    return {};
  }
  ERR_clear_error();
  if (!out.leaf) {
    *error = "no certificate in the file (expected a PEM \"BEGIN CERTIFICATE\" block)";
    return {};
  }
  return out;
}

EvpPkeyPtr parse_private_key(std::string_view pem, std::string* error) {
  ERR_clear_error();
  BioPtr bio = memory_bio(pem);
  if (!bio) {
    *error = "out of memory";
    return nullptr;
  }
  bool asked = false;
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, &asked));
  if (key) {
    ERR_clear_error();
    return key;
  }
  // OpenSSL 3's decoders report a file without any key block as
  // "unsupported", like a malformed one; the block names tell them apart.
  if (asked) {
    *error =
        "the private key is encrypted (routemeter cannot ask for a passphrase; store it "
        "unencrypted and readable only by the service)";
  } else if (!has_private_key_block(pem)) {
    *error = "no private key in the file (expected a PEM \"BEGIN PRIVATE KEY\" block)";
  } else {
    *error = "malformed private key: " + take_openssl_error();
  }
  ERR_clear_error();
  return nullptr;
}

bool key_matches(X509* cert, EVP_PKEY* key) {
  const bool match = X509_check_private_key(cert, key) == 1;
  ERR_clear_error();
  return match;
}

bool use_certificate(SSL_CTX* ctx, const CertificateChain& chain, EVP_PKEY* key,
                     std::string* error) {
  ERR_clear_error();
  if (SSL_CTX_use_certificate(ctx, chain.leaf.get()) != 1) {
    *error = "the certificate is refused: " + take_openssl_error();
    return false;
  }
  for (const X509Ptr& cert : chain.chain) {
    if (SSL_CTX_add1_chain_cert(ctx, cert.get()) != 1) {
      *error = "a chain certificate is refused: " + take_openssl_error();
      return false;
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    *error = "the private key is refused: " + take_openssl_error();
    return false;
  }
  return true;
}

std::vector<std::string> certificate_dns_names(X509* cert) {
  std::vector<std::string> names;
  GeneralNamesPtr sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!sans) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    if (name->type != GEN_DNS) continue;
    const ASN1_IA5STRING* dns = name->d.dNSName;
    names.push_back(
        lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                               static_cast<size_t>(ASN1_STRING_length(dns)))));
  }
  return names;
}

std::string certificate_common_name(X509* cert) {
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return {};
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return out;
}

int64_t certificate_not_before(X509* cert) { return to_unix(X509_get0_notBefore(cert)); }

int64_t certificate_not_after(X509* cert) { return to_unix(X509_get0_notAfter(cert)); }

std::string format_utc(int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace routemeter
