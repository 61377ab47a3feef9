/* main.c - command line, start-up, signal handling and orderly shutdown. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "deadletter.h"
#include "delivery.h"
#include "jsonio.h"
#include "kafka.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "rules.h"
#include "spool.h"
#include "stats.h"
#include "status.h"
#include "testmode.h"
#include "tls.h"
#include "version.h"
#include "worker.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: hotdog [-c FILE] [--check] [--strict] [-t FILE [--format text|json]] [-v|-q]\n"
            "\n"
            "Receives syslog over TCP, TLS and UDP and forwards it to Kafka.\n"
            "\n"
            "  -c, --config FILE  configuration file (default: hotdog.yml)\n"
            "  -C, --check        validate the configuration and exit (0 if valid; warnings,\n"
            "                     such as unknown keys or an expired certificate, are listed)\n"
            "      --strict       configuration warnings are errors: --check exits 2, start-up\n"
            "                     and SIGHUP reloads refuse the configuration\n"
            "  -t, --test FILE    run each line of FILE (- for stdin) through parsing and the\n"
            "                     rules, print what matches, and exit; no Kafka needed\n"
            "      --format F     test mode output: text (default, as the original) or json\n"
            "  -v, --verbose      log debug messages (or HOTDOG_LOG=debug)\n"
            "  -q, --quiet        log only errors (or HOTDOG_LOG=error)\n"
            "  -V, --version      print the version and exit\n"
            "  -h, --help         this help, and the configuration keys\n"
            "\n"
            "Environment: KAFKA_BROKER overrides bootstrap.servers; SASL_SCRAM_USERNAME and\n"
            "SASL_SCRAM_PASSWORD set sasl.username and sasl.password.\n"
            "\n"
            "Configuration keys:\n");
    config_print_keys(out);
}

struct daemon {
    struct config *cfg; /* as started: listeners, producer and workers keep using it */
    /* Configurations loaded by SIGHUP, newest last: rules borrow them. An older one is
     * freed once every worker runs the rules of a newer one. */
    struct config **reloaded;
    size_t nreloaded;
    unsigned gen;
    struct rules *rules;
    struct kafka *kafka;
    struct delivery *delivery; /* the delivery policy between the workers, Kafka and the spool */
    struct listener *listeners;
    size_t nlisteners; /* opened so far */
    struct worker_shared shared;
    struct worker **workers;
    int nworkers;
    struct stats_sources sources;
    struct status *status;
    struct spool *spool;
    struct deadletter *dl;
    int strict; /* --strict: configuration warnings are errors */
};

/* Loads every listener's TLS material once, so that --check and start-up report a bad
 * certificate at once, before waiting for Kafka. A certificate outside its dates is a warning:
 * the original hotdog serves it, and refusing to start would lose every sender's logs. */
static int check_tls(struct config *c, char *err, size_t errlen) {
    for (size_t i = 0; i < c->nlisteners; i++) {
        if (!config_listen_tls(&c->listeners[i])) continue;
        char why[768];
        SSL_CTX *ctx = tls_ctx_new(&c->listeners[i].tls, why, sizeof why);
        if (!ctx) {
            snprintf(err, errlen, "%s:%d: 'global.listen': %s", c->path, c->listeners[i].tls.line, why);
            return -1;
        }
        int64_t not_after;
        if (tls_cert_dates(ctx, c->listeners[i].tls.cert, time(NULL), &not_after, why, sizeof why))
            config_warn(c, c->listeners[i].tls.line, "'global.listen.tls.cert': %s", why);
        SSL_CTX_free(ctx);
    }
    return 0;
}

/* Logs c's warnings. With strict, they are errors: returns -1 with err set, else 0. */
static int report_warnings(const struct config *c, int strict, const char *prefix, char *err,
                           size_t errlen) {
    for (size_t i = 0; i < c->nwarnings; i++)
        log_write(strict ? L_ERROR : L_WARN, "%s%s", prefix, c->warnings[i]);
    if (!strict || !c->nwarnings) return 0;
    snprintf(err, errlen, "%s: %zu configuration warning(s), and --strict makes them errors",
             c->path, c->nwarnings);
    return -1;
}

/* 10,000 connections need more descriptors than the usual soft limit of 1024. */
static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int start(struct daemon *d, char *err, size_t errlen) {
    long n = d->cfg->workers ? d->cfg->workers : sysconf(_SC_NPROCESSORS_ONLN);
    d->nworkers = n > 0 ? (int)n : 1;
    /* Shards: one per worker, one for the delivery-report thread. */
    if (metrics_init(d->nworkers + 1) < 0) abort();
    const struct config_kafka *kc = &d->cfg->kafka;
    if (kc->spool.line) {
        struct spool_opts so = {.path = kc->spool.path, .max_bytes = (uint64_t)kc->spool.max_bytes,
                                .segment_bytes = (uint64_t)kc->spool.segment_bytes,
                                .fsync = kc->spool.fsync == FSYNC_ALWAYS   ? SPOOL_FSYNC_ALWAYS
                                         : kc->spool.fsync == FSYNC_NEVER ? SPOOL_FSYNC_NEVER
                                                                          : SPOOL_FSYNC_INTERVAL,
                                .fsync_interval_ms = kc->spool.fsync_interval_ms,
                                .mode = kc->spool.mode == SPOOL_MODE_ALWAYS ? SPOOL_ALWAYS : SPOOL_OVERFLOW};
        char why[512];
        d->spool = spool_open(&so, why, sizeof why);
        if (!d->spool) {
            snprintf(err, errlen, "%s:%d: 'global.kafka.spool': %s", d->cfg->path, kc->spool.line, why);
            return 1;
        }
    }
    if (kc->dead_letter) {
        char why[512];
        d->dl = deadletter_open(kc->dead_letter, why, sizeof why);
        if (!d->dl) {
            snprintf(err, errlen, "%s:%d: 'global.kafka.dead_letter': %s", d->cfg->path, kc->line, why);
            return 1;
        }
    }
    d->delivery = delivery_new(&(struct delivery_opts){
        .spool = d->spool, .dl = d->dl, .spool_always = kc->spool.mode == SPOOL_MODE_ALWAYS});
    d->kafka = kafka_new(d->cfg, metrics_shard(d->nworkers), delivery_report, d->delivery, err, errlen);
    if (!d->kafka) return 2;
    struct delivery_producer producer;
    kafka_producer(d->kafka, &producer);
    delivery_attach(d->delivery, &producer);
    log_info("hotdog %s (librdkafka %s): waiting up to %ld ms for Kafka at %s", HOTDOG_VERSION,
             kafka_version(), d->cfg->kafka.timeout_ms, config_kafka_get(d->cfg, "bootstrap.servers"));
    if (kafka_wait_ready(d->kafka, (int)d->cfg->kafka.timeout_ms, err, errlen) < 0) {
        /* Refusing to start would lose the logs of everything that sends to us: with a spool,
         * start and let librdkafka keep trying; the spool takes what Kafka cannot. */
        if (!d->spool) return 1;
        log_warn("%s; starting anyway: messages wait in the producer queue and the spool until "
                 "Kafka is back", err);
    }
    int r = kafka_start(d->kafka);
    if (r < 0) {
        snprintf(err, errlen, "cannot start the delivery-report thread: %s", strerror(-r));
        return 1;
    }
    d->listeners = calloc(d->cfg->nlisteners, sizeof *d->listeners);
    if (!d->listeners) abort();
    for (size_t i = 0; i < d->cfg->nlisteners; i++) {
        if (listener_open(&d->listeners[i], &d->cfg->listeners[i], err, errlen) < 0) return 1;
        d->nlisteners = i + 1;
    }
    /* Creating the default topic's handle now fetches its metadata before traffic arrives. */
    kafka_topic(d->kafka, d->cfg->kafka.topic);
    if (d->spool && (r = spool_start(d->spool, delivery_replay, d->delivery)) < 0) {
        snprintf(err, errlen, "cannot start the spool replayer: %s", strerror(-r));
        return 1;
    }
    d->shared = (struct worker_shared){.cfg = d->cfg, .kafka = d->kafka,
                                       .listeners = d->listeners, .nlisteners = d->nlisteners,
                                       .delivery = d->delivery};
    d->workers = calloc((size_t)d->nworkers, sizeof *d->workers);
    if (!d->workers) abort();
    /* RELP answers: a record's fate goes to the mailbox of the worker that read it. */
    delivery_set_ack(d->delivery, worker_ack, d->workers);
    for (int i = 0; i < d->nworkers; i++) {
        char why[512];
        d->workers[i] = worker_new(i, &d->shared, metrics_shard(i), why, sizeof why);
        if (!d->workers[i]) {
            snprintf(err, errlen, "cannot create worker %d: %s", i, why);
            return 1;
        }
        if ((r = worker_start(d->workers[i])) < 0) {
            snprintf(err, errlen, "cannot start worker %d: %s", i, strerror(-r));
            return 1;
        }
    }
    d->sources = (struct stats_sources){.kafka = d->kafka, .workers = d->workers, .nworkers = d->nworkers,
                                        .listeners = d->listeners, .nlisteners = d->nlisteners,
                                        .spool = d->spool};
    d->status = status_start(d->cfg, &d->sources, err, errlen);
    if (!d->status) return 1;
    for (size_t i = 0; i < d->nlisteners; i++) log_info("listening on %s", d->listeners[i].name);
    log_info("%d worker(s), default topic '%s'", d->nworkers, d->cfg->kafka.topic);
    return 0;
}

/* Stops the workers, which forward what they already read and close their connections. */
static void stop_workers(struct daemon *d) {
    for (int i = 0; d->workers && i < d->nworkers; i++)
        if (d->workers[i]) worker_stop(d->workers[i]);
    for (int i = 0; d->workers && i < d->nworkers; i++)
        if (d->workers[i]) worker_join(d->workers[i]);
}

/* Stops the status thread, with its last statsd flush, before anything it reads goes (the
 * workers, listeners, producer and spool). Later calls do nothing. */
static void stop_status(struct daemon *d) {
    status_stop(d->status);
    d->status = NULL;
}

/* Stops the workers, then flushes Kafka within the shutdown bound. Returns the exit status: 0
 * only if nothing that was read got lost. */
static int stop(struct daemon *d) {
    /* One bound for the whole shutdown: the workers' drain (where RELP sessions wait for
     * Kafka's answers) and the flush below share it, they do not each get it. */
    int64_t deadline = clock_us() + d->cfg->kafka.shutdown_timeout_ms * 1000;
    status_stopping(d->status); /* /readyz fails from now on; the rest serves until stop_status */
    stop_workers(d);
    int undelivered = 0, purged = 0;
    unsigned long long lost = 0;
    if (d->spool) spool_stop(d->spool); /* no more replay: what is unread stays on disk */
    if (d->kafka) {
        kafka_stop(d->kafka);
        int64_t left_ms = (deadline - clock_us()) / 1000;
        undelivered = kafka_flush(d->kafka, left_ms > 0 ? (int)left_ms : 0);
        if (d->spool && undelivered) {
            /* Kafka did not take them in time: back into the spool for the next start. */
            purged = undelivered;
            undelivered = delivery_shutdown(d->delivery, 5000);
            purged -= undelivered;
            log_info("shutdown: %d undelivered message(s) purged from the producer into the spool",
                     purged);
        }
        unsigned long long received = metrics_get(M_RECEIVED), delivered = metrics_get(M_KAFKA_DELIVERED),
                           failed = metrics_get(M_KAFKA_FAILED) + metrics_get(M_KAFKA_PRODUCE_ERROR),
                           dead = metrics_get(M_DEAD_LETTERED);
        lost = metrics_get(M_SHUTDOWN_LOST) + metrics_get(M_LOST);
        log_info("shutdown: %llu message(s) received, %llu delivered, %llu failed, %llu dead-lettered, "
                 "%d purged into the spool, %d undelivered after %ld ms, %llu lost", received, delivered,
                 failed, dead, purged, undelivered, d->cfg->kafka.shutdown_timeout_ms, lost);
        /* Every non-zero counter, from the same snapshot the metrics exports use. */
        struct stats snap = {0};
        stats_collect(&d->sources, &snap);
        char line[4096];
        size_t n = 0;
        for (size_t i = 0; i < snap.n && n < sizeof line; i++)
            if (snap.v[i].kind == STAT_COUNTER && snap.v[i].value)
                n += (size_t)snprintf(line + n, sizeof line - n, " %s=%lld", snap.v[i].name,
                                      (long long)snap.v[i].value);
        stats_free(&snap);
        log_info("counters:%s", n ? line : " none");
    }
    /* Not before: statsd's last flush then counts what the drain and the flush delivered. */
    stop_status(d);
    if (d->spool) { /* says what it keeps for the next start */
        spool_close(d->spool);
        d->spool = d->sources.spool = NULL;
    }
    return lost || undelivered ? 1 : 0;
}

static void cleanup(struct daemon *d) {
    stop_status(d); /* unless stop() did: start-up failed */
    for (int i = 0; d->workers && i < d->nworkers; i++) worker_free(d->workers[i]);
    free(d->workers);
    for (size_t i = 0; i < d->nreloaded; i++) config_free(d->reloaded[i]);
    free(d->reloaded);
    for (size_t i = 0; i < d->nlisteners; i++) listener_close(&d->listeners[i]);
    free(d->listeners);
    if (d->spool) spool_close(d->spool); /* start-up failed after opening it */
    kafka_free(d->kafka);
    delivery_free(d->delivery);
    deadletter_close(d->dl);
    rules_free(d->rules);
    config_free(d->cfg);
    metrics_free();
}

/* A regex that runs without PCRE2's JIT still matches, several times slower: say so once per
 * configuration loaded, not silently. */
static void warn_no_jit(const struct config *c, const struct rules *r) {
    size_t first = 0;
    char why[256];
    size_t n = rules_jit_fallback(r, &first, why, sizeof why);
    if (!n) return;
    log_warn("%s:%d: 'rules[%zu].regex': %zu regex rule(s) run without PCRE2's JIT (%s), "
             "several times slower. Is executable memory denied (MemoryDenyWriteExecute=, "
             "seccomp)?", c->path, c->rules[first].matcher_line, first, n, why);
}

/* SIGHUP: new SASL credentials (sasl.username, sasl.password) go to the running producer, so
 * that a password rotation needs no restart; connections already authenticated stay. */
static void reload_credentials(struct daemon *d, const struct config *old, const struct config *nc) {
    const char *ou = config_kafka_get(old, "sasl.username"), *op = config_kafka_get(old, "sasl.password"),
               *nu = config_kafka_get(nc, "sasl.username"), *np = config_kafka_get(nc, "sasl.password");
    if (!nu && !np) return;
    if (ou && nu && op && np && !strcmp(ou, nu) && !strcmp(op, np)) return;
    char err[256];
    if (kafka_set_credentials(d->kafka, nu ? nu : "", np ? np : "", err, sizeof err) < 0)
        log_error("SIGHUP: keeping the running SASL credentials: %s", err);
    else
        log_info("SIGHUP: SASL credentials for user '%s' replaced: new connections to brokers use them",
                 nu ? nu : "");
}

/* SIGHUP: re-reads the configuration. If it is valid, every worker switches to the new rules
 * (templates, default topic) between two messages; no connection is closed and no message is
 * lost. What only a restart can change is named in the log. TLS material is re-read too. */
static void reload(struct daemon *d, const char *path) {
    char err[1024];
    log_info("SIGHUP: reloading %s", path);
    struct config *nc = config_load(path, err, sizeof err);
    if (nc && report_warnings(nc, d->strict, "SIGHUP: ", err, sizeof err) < 0) {
        config_free(nc);
        nc = NULL;
    }
    struct rules *check = nc ? rules_new(nc, NULL, err, sizeof err) : NULL;
    if (!check) {
        log_error("SIGHUP: keeping the running configuration: %s", err);
        config_free(nc);
        return;
    }
    warn_no_jit(nc, check);
    rules_free(check);
    if (config_needs_restart(d->cfg, nc, err, sizeof err))
        log_warn("SIGHUP: '%s' changed: restart hotdog to apply it (rules, templates and the "
                 "default topic are reloaded now)", err);
    unsigned gen = ++d->gen;
    for (int i = 0; i < d->nworkers; i++) {
        struct rules *r = rules_new(nc, metrics_shard(i), err, sizeof err);
        if (!r) abort(); /* the same config compiled a moment ago: only memory can fail */
        worker_set_rules(d->workers[i], r, gen);
    }
    reload_credentials(d, d->nreloaded ? d->reloaded[d->nreloaded - 1] : d->cfg, nc);
    struct config **list = realloc(d->reloaded, (d->nreloaded + 1) * sizeof *list);
    if (!list) abort();
    d->reloaded = list;
    d->reloaded[d->nreloaded++] = nc;
    /* Every worker switches at its next loop turn; say "reloaded" only once all have. */
    int all = 0;
    for (int waited = 0; waited < 5000 && !all; waited++) {
        all = 1;
        for (int i = 0; i < d->nworkers; i++) all &= worker_rules_gen(d->workers[i]) == gen;
        if (!all) usleep(1000);
    }
    if (all) { /* no rules of an older configuration remain: free those */
        for (size_t i = 0; i + 1 < d->nreloaded; i++) config_free(d->reloaded[i]);
        d->reloaded[0] = nc;
        d->nreloaded = 1;
    } else {
        log_warn("SIGHUP: a worker has not switched to the new rules within 5 s; older "
                 "configurations stay in memory until it has");
    }
    for (size_t i = 0; i < d->nlisteners; i++) {
        if (!config_listen_tls(d->listeners[i].cfg)) continue;
        if (listener_reload_tls(&d->listeners[i], err, sizeof err) < 0)
            log_error("SIGHUP: keeping the running TLS certificate: %s", err);
        else
            log_info("SIGHUP: %s: TLS certificate, key and CA re-read", d->listeners[i].name);
    }
    if (d->dl && deadletter_reopen(d->dl) == 0)
        log_info("SIGHUP: dead-letter file %s reopened", d->cfg->kafka.dead_letter);
    log_info("SIGHUP: configuration reloaded: %zu rule(s), default topic '%s' (%zu reloaded "
             "configuration(s) in memory)", nc->nrules, nc->kafka.topic, d->nreloaded);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},      {"quiet", no_argument, NULL, 'q'},
        {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
        {"test", required_argument, NULL, 't'},   {"format", required_argument, NULL, 'F'},
        {"strict", no_argument, NULL, 'S'},       {NULL, 0, NULL, 0}};
    jsonio_fast_alloc(); /* before anything allocates a jansson value */
    const char *path = "hotdog.yml", *test = NULL;
    enum testmode_format fmt = TESTMODE_TEXT;
    int check = 0, strict = 0, o;
    const char *env = getenv("HOTDOG_LOG");
    if (env && log_level_from_name(env) >= 0) log_set_level((enum log_level)log_level_from_name(env));
    while ((o = getopt_long(argc, argv, "c:CvqVht:", opts, NULL)) != -1) {
        switch (o) {
        case 'c': path = optarg; break;
        case 't': test = optarg; break;
        case 'F':
            if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
                fprintf(stderr, "hotdog: --format must be text or json\n");
                return 2;
            }
            fmt = strcmp(optarg, "json") ? TESTMODE_TEXT : TESTMODE_JSON;
            break;
        case 'C': check = 1; break;
        case 'S': strict = 1; break;
        case 'v': log_set_level(L_DEBUG); break;
        case 'q': log_set_level(L_ERROR); break;
        case 'V': printf("hotdog %s\n", HOTDOG_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hotdog: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }

    char err[1024];
    struct daemon d = {.strict = strict};
    d.cfg = config_load(path, err, sizeof err);
    if (d.cfg) d.rules = rules_new(d.cfg, NULL, err, sizeof err);
    if (d.rules) warn_no_jit(d.cfg, d.rules);
    if (!d.cfg || !d.rules || (!test && check_tls(d.cfg, err, sizeof err) < 0) ||
        report_warnings(d.cfg, strict, "", err, sizeof err) < 0) {
        fprintf(stderr, "hotdog: %s\n", err);
        cleanup(&d);
        return 2;
    }
    if (test) {
        int rc = testmode_run(d.cfg, test, fmt, stdout, err, sizeof err);
        if (rc < 0) fprintf(stderr, "hotdog: %s\n", err);
        cleanup(&d);
        return rc < 0 ? 1 : 0;
    }
    raise_fd_limit();
    if (check) {
        printf("%s: OK (%zu rule(s), %zu warning(s))\n", path, d.cfg->nrules, d.cfg->nwarnings);
        cleanup(&d);
        return 0;
    }

    /* Signals are taken synchronously by this thread only; every thread started below
     * inherits the blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = start(&d, err, sizeof err);
    if (rc) {
        log_error("cannot start: %s", err);
        stop_workers(&d);
        cleanup(&d);
        return rc;
    }
    /* systemd (Type=notify): READY once serving, RELOADING around a reload, STOPPING at the
     * end. Without systemd these calls do nothing. Every second (or every half watchdog
     * interval if shorter) each worker's event loop is pinged (worker_check); the watchdog
     * is fed only while every worker answered within one watchdog interval, so systemd
     * restarts a daemon whose worker is stuck, not only one whose main thread is. */
    uint64_t watchdog_us = 0;
    if (sd_watchdog_enabled(0, &watchdog_us) <= 0) watchdog_us = 0;
    int64_t tick_us = 1000000;
    if (watchdog_us && (int64_t)watchdog_us / 2 < tick_us) tick_us = (int64_t)watchdog_us / 2;
    int64_t next_tick = clock_us() + tick_us;
    int fatal = 0; /* the producer hit a fatal error: exit 1 so that it is restarted */
    sd_notifyf(0, "READY=1\nSTATUS=%zu listener(s), %d worker(s)", d.nlisteners, d.nworkers);
    for (;;) {
        int64_t wait = next_tick - clock_us();
        if (wait < 0) wait = 0;
        struct timespec ts = {(time_t)(wait / 1000000), (long)(wait % 1000000) * 1000};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig < 0) {
            if (errno != EAGAIN) continue;
            int64_t now = clock_us();
            next_tick = now + tick_us;
            int alive = 1;
            for (int i = 0; i < d.nworkers; i++) {
                int was_stalled = worker_stalled(d.workers[i]); /* the check below resets it */
                int64_t waited = worker_check(d.workers[i], now);
                if (watchdog_us && waited >= (int64_t)watchdog_us) alive = 0;
                if (waited >= WORKER_STALL_US) {
                    log_limited(L_WARN, "worker %d: its event loop has not turned for %.1f s%s", i,
                                (double)waited / 1e6, watchdog_us ? "" : " (no systemd watchdog to act on it)");
                } else if (was_stalled && !waited) {
                    log_info("worker %d: its event loop turns again", i);
                }
            }
            if (alive && watchdog_us) sd_notify(0, "WATCHDOG=1");
            else if (!alive) log_limited(L_ERROR, "a worker is stuck: watchdog pings withheld, systemd will restart hotdog");
            char why[256];
            if (kafka_fatal(d.kafka, why, sizeof why)) {
                sd_notifyf(0, "STOPPING=1\nSTATUS=%s", why);
                log_error("%s: shutting down, exit status 1", why);
                fatal = 1;
                break;
            }
            continue;
        }
        if (sig == SIGHUP) {
            sd_notify(0, "RELOADING=1");
            reload(&d, path);
            sd_notify(0, "READY=1");
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            sd_notify(0, "STOPPING=1");
            log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
    }
    rc = stop(&d);
    cleanup(&d);
    return rc ? rc : fatal;
}
