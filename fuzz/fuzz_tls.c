/* fuzz_tls.c - libFuzzer target: the TLS record path of a hotdog listener, without a socket.
 * The server side is the SSL_CTX that tls_ctx_new builds for a TLS listener (a self-signed
 * P-256 certificate made at start-up), driven through memory BIOs the way a worker drives its
 * socket: SSL_accept, then SSL_read until WANT_READ.
 *
 * Input byte 0 chooses the mode:
 *   even: the rest is what a hostile client sends from its first byte (ClientHello and on):
 *         it must be refused or accepted without a crash, a leak or a stuck error queue;
 *   odd:  a real client completes the handshake, then sends the rest as application data in
 *         SSL_write calls of w bytes (byte 1), delivered to the server in pieces of t bytes
 *         (byte 2: records cut anywhere) and read in SSL_read calls of at most r bytes (byte
 *         3). The server must read back exactly the bytes sent, then a clean close_notify. */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tls.h"

static SSL_CTX *server_ctx, *client_ctx;

static void die(const char *what) {
    char buf[256];
    fprintf(stderr, "fuzz_tls: %s: %s\n", what, tls_reason(buf, sizeof buf));
    abort();
}

/* A self-signed P-256 certificate valid from yesterday to next year, as PEM files in dir. */
static void make_cert(const char *cert_path, const char *key_path) {
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!pk || !x) die("key generation");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
    X509_set_pubkey(x, pk);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, n);
    if (!X509_sign(x, pk, EVP_sha256())) die("signing");
    FILE *f = fopen(cert_path, "w");
    if (!f || !PEM_write_X509(f, x)) die("writing the certificate");
    fclose(f);
    f = fopen(key_path, "w");
    if (!f || !PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL)) die("writing the key");
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/fuzz_tls.XXXXXX";
    if (!mkdtemp(dir)) abort();
    char cert[64], key[64], err[1024];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    make_cert(cert, key);
    struct config_tls t = {.cert = cert, .key = key, .verify = VERIFY_NONE, .line = 1};
    server_ctx = tls_ctx_new(&t, err, sizeof err);
    if (!server_ctx) {
        fprintf(stderr, "fuzz_tls: %s\n", err);
        abort();
    }
    unlink(cert); /* loaded: the files are not needed any more */
    unlink(key);
    rmdir(dir);
    client_ctx = SSL_CTX_new(TLS_client_method());
    if (!client_ctx) die("client context");
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
    return 0;
}

/* A server SSL reading from rb, writing to wb; at the end of rb it sees "would block", as a
 * worker does on a socket with nothing more to read. */
static SSL *server_new(BIO **rb, BIO **wb) {
    SSL *s = SSL_new(server_ctx);
    *rb = BIO_new(BIO_s_mem());
    *wb = BIO_new(BIO_s_mem());
    if (!s || !*rb || !*wb) abort();
    BIO_set_mem_eof_return(*rb, -1);
    BIO_set_mem_eof_return(*wb, -1);
    SSL_set_bio(s, *rb, *wb); /* s owns both */
    SSL_set_accept_state(s);
    return s;
}

/* Moves what `from` wrote to `to`'s input, t bytes per BIO_write. */
static void shuttle(BIO *from_w, BIO *to_r, size_t t) {
    char buf[4096];
    if (t > sizeof buf) t = sizeof buf;
    int n;
    while ((n = BIO_read(from_w, buf, (int)t)) > 0)
        if (BIO_write(to_r, buf, n) != n) abort();
}

/* SSL_read until it would block, appending to out (as a worker's read loop). Returns the last
 * SSL_get_error. */
static int drain(SSL *s, unsigned char *out, size_t cap, size_t *len, size_t r) {
    for (;;) {
        size_t want = r < cap - *len ? r : cap - *len;
        if (!want) want = 1; /* more than was sent: keep reading to find out */
        unsigned char scratch[1];
        unsigned char *dst = *len < cap ? out + *len : scratch;
        int n = SSL_read(s, dst, (int)want);
        if (n <= 0) return SSL_get_error(s, n);
        if (*len + (size_t)n > cap) abort(); /* the server made up plaintext */
        *len += (size_t)n;
    }
}

static void hostile_client(const uint8_t *data, size_t size) {
    BIO *rb, *wb;
    SSL *s = server_new(&rb, &wb);
    if (size && BIO_write(rb, data, (int)size) != (int)size) abort();
    if (SSL_accept(s) == 1) { /* only if the input holds a whole valid handshake */
        unsigned char out[4096];
        size_t len = 0;
        drain(s, out, sizeof out, &len, sizeof out);
    }
    SSL_free(s);
    ERR_clear_error();
}

static void real_client(const uint8_t *data, size_t size) {
    if (size < 3) return;
    size_t w = 1 + (size_t)data[0] * 64, t = 1 + (size_t)data[1] * 16, r = 1 + (size_t)data[2] * 64;
    data += 3;
    size -= 3;
    BIO *rb, *wb;
    SSL *s = server_new(&rb, &wb);
    SSL *c = SSL_new(client_ctx);
    BIO *crb = BIO_new(BIO_s_mem()), *cwb = BIO_new(BIO_s_mem());
    if (!c || !crb || !cwb) abort();
    BIO_set_mem_eof_return(crb, -1);
    BIO_set_mem_eof_return(cwb, -1);
    SSL_set_bio(c, crb, cwb);
    SSL_set_connect_state(c);
    int done_c = 0, done_s = 0;
    for (int turn = 0; turn < 32 && !(done_c && done_s); turn++) {
        if (!done_c) done_c = SSL_do_handshake(c) == 1;
        shuttle(cwb, rb, t);
        if (!done_s) done_s = SSL_accept(s) == 1;
        shuttle(wb, crb, t);
    }
    if (!done_c || !done_s) die("in-memory handshake did not complete");
    unsigned char *out = malloc(size + 1);
    if (!out) abort();
    size_t len = 0;
    for (size_t off = 0; off < size; off += w) {
        size_t k = w < size - off ? w : size - off;
        if (SSL_write(c, data + off, (int)k) != (int)k) die("client write");
        /* t bytes at a time, the server reading after each: records arrive cut anywhere. */
        while (BIO_ctrl_pending(cwb)) {
            char buf[4096];
            int n = BIO_read(cwb, buf, (int)(t < sizeof buf ? t : sizeof buf));
            if (n <= 0 || BIO_write(rb, buf, n) != n) abort();
            if (drain(s, out, size, &len, r) != SSL_ERROR_WANT_READ) die("server read of application data");
        }
    }
    if (len != size || (size && memcmp(out, data, size))) abort(); /* not what was sent */
    SSL_shutdown(c); /* close_notify */
    shuttle(cwb, rb, t);
    if (drain(s, out, size, &len, r) != SSL_ERROR_ZERO_RETURN || len != size) abort();
    free(out);
    SSL_free(c);
    SSL_free(s);
    ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1) real_client(data + 1, size - 1);
    else hostile_client(data + 1, size - 1);
    return 0;
}
