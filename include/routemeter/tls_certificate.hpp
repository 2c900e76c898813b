// TLS certificates and private keys as PEM text: parsing them, checking that a
// key belongs to a certificate, and reading the names and dates that the
// config checks, the SNI table and the expiry metric use. Also the owner
// types of the OpenSSL objects routemeter holds.
//
// Shared by the config loader (which validates [[tls.certificate]] files)
// and TlsContext (which serves them). Pure functions; any thread.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/event_handles.hpp"

namespace routemeter {

using X509Ptr = std::unique_ptr<X509, CDeleter<&X509_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, CDeleter<&EVP_PKEY_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, CDeleter<&SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, CDeleter<&SSL_free>>;

// The certificates of one PEM file, in file order: the leaf first, then the
// chain the server sends with it (intermediates; the root may be left out).
struct CertificateChain {
  X509Ptr leaf;  // null when the text holds no certificate
  std::vector<X509Ptr> chain;
};

// Parses every CERTIFICATE block of `pem`; other blocks (a private key in a
// combined file) are skipped. On a malformed block, or when there is no
// certificate at all, returns an empty chain and sets `error`.
CertificateChain parse_certificate_chain(std::string_view pem, std::string* error);

// Parses the first private key of `pem` (PKCS#8 or traditional RSA/EC; any
// certificate blocks are skipped). An encrypted key is refused (the process
// cannot ask for a passphrase). Null and `error` set on failure.
EvpPkeyPtr parse_private_key(std::string_view pem, std::string* error);

// Whether `key` is the private half of `cert`'s public key.
bool key_matches(X509* cert, EVP_PKEY* key);

// Installs `chain` (leaf and chain) and `key` in `ctx`. False and `error`
// when OpenSSL refuses them: a key of another certificate, or one the
// system's security level refuses ("ee key too small", "ca md too weak").
bool use_certificate(SSL_CTX* ctx, const CertificateChain& chain, EVP_PKEY* key,
                     std::string* error);

// The subjectAltName DNS names of `cert`, lower-cased, in certificate order.
std::vector<std::string> certificate_dns_names(X509* cert);
// The subject's commonName, or "" when it has none.
std::string certificate_common_name(X509* cert);

// notBefore / notAfter in seconds since the Unix epoch.
int64_t certificate_not_before(X509* cert);
int64_t certificate_not_after(X509* cert);

// "2026-01-31T12:00:00Z" for a Unix time.
std::string format_utc(int64_t unix_seconds);

// The oldest error on this thread's OpenSSL error queue as text ("" when
// none); clears the queue.
std::string take_openssl_error();

// Empties this thread's OpenSSL error queue, as SSL_get_error() needs before
// every SSL call; when the queue is already empty, as it almost always is,
// that is one check instead of ERR_clear_error()'s walk over the whole queue.
void clear_openssl_errors();

}  // namespace routemeter
