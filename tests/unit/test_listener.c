/* test_listener.c - unit tests for listener_open's failures: each returns a negative errno (the
 * system call's, or -EINVAL) with a message naming the listener, as STYLE.md's idiom asks. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"
#include "test.h"

/* The port the kernel gave l (opened on port 0). */
static long bound_port(const struct listener *l) {
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    ASSERT_EQ_INT(getsockname(l->fd, (struct sockaddr *)&sa, &sl), 0);
    return ntohs(sa.sin_port);
}

TEST(a_port_in_use_returns_eaddrinuse) {
    struct config_listen c = {.address = "127.0.0.1", .port = 0, .protocol = PROTO_TCP};
    struct listener a, b;
    char err[512];
    ASSERT_EQ_INT(listener_open(&a, &c, err, sizeof err), 0);
    struct config_listen c2 = c;
    c2.port = bound_port(&a);
    ASSERT_EQ_INT(listener_open(&b, &c2, err, sizeof err), -EADDRINUSE);
    ASSERT(strstr(err, "cannot listen") != NULL);
    ASSERT(strstr(err, strerror(EADDRINUSE)) != NULL);
    ASSERT_EQ_INT(b.fd, -1);
    listener_close(&b);
    listener_close(&a);
}

TEST(an_address_that_does_not_resolve_returns_einval) {
    struct config_listen c = {.address = "not an address", .port = 0, .protocol = PROTO_UDP};
    struct listener l;
    char err[512];
    int r = listener_open(&l, &c, err, sizeof err);
    /* -EINVAL, or the resolver's own errno when it failed as a system call (EAI_SYSTEM). */
    ASSERT(r < 0);
    ASSERT(strstr(err, "cannot resolve 'not an address'") != NULL);
    listener_close(&l);
}

TEST(tls_material_that_does_not_load_returns_einval) {
    struct config_listen c = {.address = "127.0.0.1", .port = 0, .protocol = PROTO_TLS,
                              .tls = {.cert = "/nonexistent/cert.pem", .key = "/nonexistent/key.pem"}};
    struct listener l;
    char err[512];
    ASSERT_EQ_INT(listener_open(&l, &c, err, sizeof err), -EINVAL);
    ASSERT(strstr(err, "/nonexistent/cert.pem") != NULL);
    listener_close(&l);
}

/* The name in logs and metric labels says the protocol; RELP was read past a 3-name table. */
TEST(a_listener_is_named_by_its_protocol_and_address) {
    static const struct { enum config_protocol p; const char *name; } cases[] = {
        {PROTO_TCP, "tcp 127.0.0.1:0"}, {PROTO_UDP, "udp 127.0.0.1:0"}, {PROTO_RELP, "relp 127.0.0.1:0"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct config_listen c = {.address = "127.0.0.1", .port = 0, .protocol = cases[i].p};
        struct listener l;
        char err[512];
        ASSERT_EQ_INT(listener_open(&l, &c, err, sizeof err), 0);
        ASSERT_EQ_STR(l.name, cases[i].name);
        listener_close(&l);
    }
}

TEST_MAIN("test_listener", TEST_ENTRY(a_listener_is_named_by_its_protocol_and_address),
          TEST_ENTRY(a_port_in_use_returns_eaddrinuse),
          TEST_ENTRY(an_address_that_does_not_resolve_returns_einval),
          TEST_ENTRY(tls_material_that_does_not_load_returns_einval))
