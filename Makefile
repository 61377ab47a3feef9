# hotdog - syslog to Kafka forwarder. `make`, `make test`, `make asan`, `make fuzz`, `make run`.

CC      ?= cc
# librdkafka: the 2.8.0 backport that scripts/build-librdkafka (run by scripts/install-deps) builds
# into build/deps/librdkafka, because Debian 12's 2.0.2 cannot do SCRAM with Kafka 4.x; else the
# system's. The backport is linked statically, so the binary does not depend on this checkout,
# and its headers are system headers: its rdkafka.h trips -Wignored-qualifiers.
RDKAFKA_DIR := build/deps/librdkafka
ifneq ($(wildcard $(RDKAFKA_DIR)/lib/pkgconfig/rdkafka.pc),)
RDKAFKA_CFLAGS := -isystem $(RDKAFKA_DIR)/include
RDKAFKA_LIBS   := $(RDKAFKA_DIR)/lib/librdkafka.a $(filter-out -L%/librdkafka/lib -lrdkafka,\
                    $(shell pkg-config --static --libs $(RDKAFKA_DIR)/lib/pkgconfig/rdkafka.pc 2>/dev/null))
RDKAFKA_H      := $(RDKAFKA_DIR)/include/librdkafka/rdkafka.h
# `make tsan` links the shared library instead (found through an rpath), as it did the system's:
# tests/tsan.supp ignores what TSan sees called from librdkafka.so.1, which a static link would
# fold into our own binaries.
ifeq ($(RDKAFKA_SHARED),1)
RDKAFKA_LIBS   := -L$(abspath $(RDKAFKA_DIR))/lib -Wl,-rpath,$(abspath $(RDKAFKA_DIR))/lib -lrdkafka
endif
else
RDKAFKA_CFLAGS := $(shell pkg-config --cflags rdkafka 2>/dev/null)
RDKAFKA_LIBS   := $(shell pkg-config --libs rdkafka 2>/dev/null)
endif
PKGS    := yaml-0.1 libpcre2-8 jansson openssl libsystemd
# Probed silently here (a bare machine has none of them yet: `make run` and `make test`
# install them first); MISSING_DEPS names what is missing when something is compiled.
PKG_CFLAGS := $(RDKAFKA_CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(RDKAFKA_LIBS) $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Each pkg-config module and the Debian package that has it.
PKG_DEBS := yaml-0.1:libyaml-dev libpcre2-8:libpcre2-dev jansson:libjansson-dev openssl:libssl-dev \
            libsystemd:libsystemd-dev $(if $(RDKAFKA_H),,rdkafka:librdkafka-dev)
# "module (package) ..." for what is missing; computed at most once, and only when a compile
# rule expands it (memoised: the first expansion replaces the variable by its value).
pc_mod = $(word 1,$(subst :, ,$1))
pc_deb = $(word 2,$(subst :, ,$1))
MISSING_DEPS = $(eval MISSING_DEPS := $(shell \
  command -v $(firstword $(CC)) >/dev/null 2>&1 || echo '$(firstword $(CC)) (build-essential)'; \
  if command -v pkg-config >/dev/null 2>&1; then \
    $(foreach m,$(PKG_DEBS),pkg-config --exists $(call pc_mod,$m) || echo '$(call pc_mod,$m) ($(call pc_deb,$m))';) \
  else echo 'pkg-config (pkg-config)'; fi))$(MISSING_DEPS)
# Stops the build before the compiler does, with one message: what is missing and how to get it.
define CHECK_DEPS
$(if $(strip $(MISSING_DEPS)),$(error cannot build hotdog: missing $(strip $(MISSING_DEPS)).
Install them with scripts/install-deps --run (make run and make test do it themselves)))
endef
WARN    := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) $(PKG_CFLAGS) -Isrc -Itests
LIBS    := $(PKG_LIBS) -lpthread

# Product modules, in pipeline order (main.c is separate so tests can link the rest).
MODULES := log metrics record delivery ackq config tls listener worker worker_udp worker_tls worker_relp pipeline frame relp syslog rules format jsonio jsonio_write jdoc template merge testmode \
           stats statsd status \
           jp_lex jp_parse jp_eval jp_func jp_value kafka spool deadletter
UNIT_TESTS := $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))
FUZZERS := frame relp syslog format jmespath config template merge spool jsonio tls

B       ?= build
OBJS    := $(MODULES:%=$(B)/obj/%.o)
UNIT_BINS := $(UNIT_TESTS:%=$(B)/test_%)
JMESPATH_SUITE ?= ../shared/testdata/jmespath

.PHONY: all test test-run compat unit asan tsan valgrind fuzz fuzz-long bench bench-engine bench-scale bench-levers run clean distclean install kafka-start kafka-stop abuse docs docs-check
all: $(B)/hotdog

$(B)/obj/%.o: src/%.c $(wildcard src/*.h) | $(B)/obj
	$(CHECK_DEPS)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/obj:
	mkdir -p $@

# A rebuilt librdkafka backport (a newer rdkafka.h) recompiles everything.
$(OBJS) $(B)/obj/main.o: $(RDKAFKA_H)

# The status page is linked into the binary (.incbin in status.c).
$(B)/obj/status.o: src/status.html

$(B)/libhotdog.a: $(OBJS)
	$(AR) rcs $@ $^

$(B)/hotdog: $(B)/obj/main.o $(B)/libhotdog.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(EXTRA_LINK) $(LIBS)

$(B)/test_%: tests/unit/test_%.c $(wildcard tests/*.h) $(B)/libhotdog.a
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libhotdog.a $(EXTRA_LINK) $(LIBS)

$(B)/jp_compliance: tests/jp_compliance.c $(B)/libhotdog.a
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libhotdog.a $(LIBS)

unit: $(UNIT_BINS) $(B)/jp_compliance

# Unit tests, the JMESPath compliance suite, and the end-to-end tests against a real Kafka
# broker (started by the tests if it is not running). TEST_ARGS go to pytest (e.g. -k NAME).
# tests/e2e/test_packaging.py runs docgen: the committed doc/*.md must be current.
# First installs what the tests need (scripts/install-deps: one line and well under a second
# when all is there; DEPS=0 skips it), then builds and runs them in a sub-make, which sees the
# librdkafka that install-deps may just have built. The broker's port is KAFKA_PORT if set,
# else 9092 if free, else a free pair from 29092 (scripts/kafka-port, as in .ci/run).
test:
ifneq ($(DEPS),0)
	@scripts/install-deps
endif
	@+$(MAKE) --no-print-directory test-run

test-run: all unit $(B)/docgen
	@KAFKA_PORT=$$(scripts/kafka-port) && export KAFKA_PORT && \
	  echo "make test: the tests' broker is on 127.0.0.1:$$KAFKA_PORT (KAFKA_PORT; scripts/kafka-port)" && \
	  python3 tests/run_all.py --build $(B) --jmespath-suite $(JMESPATH_SUITE) -- $(TEST_ARGS)

# The generated references: doc/configuration.md from the key table in src/config.c (the one
# that loads files and prints --help), doc/metrics.md from the metric definitions in
# src/metrics.h and src/stats.c (the ones every export is filled from). `make docs` rewrites
# the part of each between its GENERATED markers; the prose around it is edited by hand.
# `make docs-check` fails if a committed file is not what the tables give (make test checks
# the same, in tests/e2e/test_packaging.py).
DOCS := configuration metrics
$(B)/docgen: doc/docgen.c $(B)/libhotdog.a
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libhotdog.a $(EXTRA_LINK) $(LIBS)

docs: $(B)/docgen
	@set -e; for d in $(DOCS); do \
	  $(B)/docgen $$d doc/$$d.md > $(B)/$$d.md; \
	  cmp -s $(B)/$$d.md doc/$$d.md || { cp $(B)/$$d.md doc/$$d.md; echo "docs: doc/$$d.md updated"; }; \
	done

docs-check: $(B)/docgen
	@set -e; for d in $(DOCS); do \
	  $(B)/docgen $$d doc/$$d.md > $(B)/$$d.md; \
	  diff -u doc/$$d.md $(B)/$$d.md || { echo "docs-check: doc/$$d.md is not current: run make docs"; exit 1; }; \
	done

# Drop-in comparison with the original hotdog 0.5.1 (tests/compat): the reference binary and ours
# on the same configs and corpus against one broker, and the parser against the original's two
# parsing crates (a test-only Rust program). Skips where ../shared/reference is missing.
compat: all $(B)/compat/parse_dump
	python3 tests/run_all.py --build $(B) --compat -- $(COMPAT_ARGS)

$(B)/compat/parse_dump: tests/compat/parse_dump.c $(B)/libhotdog.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libhotdog.a $(LIBS)

# The same tests with AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	$(MAKE) B=build/asan CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" test

# The same tests with ThreadSanitizer (workers, delivery reports, spool, metrics, reload).
# librdkafka itself is not instrumented; tests/tsan.supp lists what is suppressed and why, and
# tests/tsan_c11threads.c makes its C11 threads visible to TSan.
tsan:
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  $(MAKE) B=build/tsan CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=thread" \
	    EXTRA_LINK=$(CURDIR)/tests/tsan_c11threads.c RDKAFKA_SHARED=1 test

# The unit tests under valgrind's memcheck: no leak, no invalid access.
valgrind: unit
	@for t in $(UNIT_BINS); do \
	  echo "== valgrind $$t"; \
	  valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
	    --error-exitcode=1 $$t > $(B)/valgrind-$$(basename $$t).log 2>&1 || { cat $(B)/valgrind-$$(basename $$t).log; exit 1; }; \
	  tail -1 $(B)/valgrind-$$(basename $$t).log; \
	done

# Black-box abuse suite (issue 7): hostile input while a good client streams; a real broker is
# started if none answers on KAFKA_PORT. HOTDOG=path tests another binary (e.g. the ASan build).
# Prints one line per case and a summary; per-case results in build/abuse-results.json.
abuse: all
	@rm -f build/abuse-results.json; \
	HOTDOG="$(or $(HOTDOG),$(B)/hotdog)" PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -p no:cacheprovider -q -rN --tb=short tests/abuse $(ABUSE_ARGS); rc=$$?; \
	python3 -c 'import json; d = json.load(open("build/abuse-results.json")); print("%d passed, %d failed" % (d["passed"], d["cases_tried"] - d["passed"]))' \
	  || echo "0 passed, 1 failed"; exit $$rc

# libFuzzer targets (fuzz/fuzz_NAME.c): one per parser, plus differential and property checks.
# `make fuzz`: each target FUZZ_SECONDS (CI: 15 s) from the corpus kept in fuzz/corpus/NAME,
# which it only reads; what it finds goes to build/fuzz/corpus_NAME (fuzz/run-target).
# `make fuzz-long`: each of FUZZ_TARGETS (default all) FUZZ_LONG_SECONDS, then what the scratch
# corpus grew minimised into fuzz/corpus/NAME (fuzz/keep-corpus: inputs that add coverage, at
# most FUZZ_KEEP_LEN bytes each, FUZZ_KEEP_FILES per target): commit that to keep the gains.
FUZZ_SECONDS ?= 30
FUZZ_LONG_SECONDS ?= 600
FUZZ_TARGETS ?= $(FUZZERS)
FUZZ_KEEP_LEN ?= 4096
FUZZ_KEEP_FILES ?= 300
FUZZ_SRCS = $(filter-out src/kafka.c src/deadletter.c src/delivery.c src/worker.c src/worker_udp.c src/worker_tls.c src/worker_relp.c \
              src/listener.c src/tls.c src/stats.c src/statsd.c src/status.c,$(MODULES:%=src/%.c))
FUZZ_OBJS = $(FUZZ_SRCS:src/%.c=build/fuzz/obj/%.o)
# Undefined behaviour stops a target as a crash does (as under make asan): recovered, UBSan
# only printed its report and the run still passed.
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fno-sanitize-recover=undefined $(PKG_CFLAGS) -Isrc

fuzz: $(FUZZERS:%=build/fuzz/fuzz_%)
	@: > build/fuzz/summary.txt; \
	for f in $(FUZZERS); do \
	  fuzz/run-target $$f $(FUZZ_SECONDS) || { echo "fuzz_$$f failed: see build/fuzz/$$f.log and build/fuzz/crash-$$f-*"; exit 1; }; \
	done

fuzz-long: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@: > build/fuzz/summary.txt; \
	for f in $(FUZZ_TARGETS); do \
	  fuzz/run-target $$f $(FUZZ_LONG_SECONDS) -max_len=$(FUZZ_KEEP_LEN) || { echo "fuzz_$$f failed: see build/fuzz/$$f.log and build/fuzz/crash-$$f-*"; exit 1; }; \
	  fuzz/keep-corpus $$f --max-len $(FUZZ_KEEP_LEN) --max-files $(FUZZ_KEEP_FILES) || exit 1; \
	done

# The modules are compiled once with coverage instrumentation and linked into every target.
build/fuzz/obj/%.o: src/%.c $(wildcard src/*.h) | build/fuzz/obj
	$(CHECK_DEPS)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

build/fuzz/obj:
	mkdir -p $@

build/fuzz/fuzz_%: fuzz/fuzz_%.c $(FUZZ_OBJS) $(wildcard src/*.h tests/*.h fuzz/*.h)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJS) $(LIBS)

# The TLS target also links the listener's context builder (tls.c).
build/fuzz/fuzz_tls: fuzz/fuzz_tls.c $(FUZZ_OBJS) build/fuzz/obj/tls.o $(wildcard src/*.h)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJS) build/fuzz/obj/tls.o $(LIBS)

# Benchmarks (bench/README.md). `make bench`: hotdog side by side with rsyslog,
# syslog-ng and the raw producer (kcat -P), end to end through a private broker on
# BENCH_KAFKA_PORT (wiped before and after; BENCH_KEEP_BROKER=1 keeps it running), ~6.5 min.
# `make bench-engine`: framing + parsing + rules on one core, and where the cycles go.
# Both write bench/results/ (results.json, summary.md, throughput*.png, engine-profile.md);
# `make bench-scale` (below) adds scale.md and scale-*.png.
# Quick run: make bench BENCH_LINES=200000 BENCH_RUNS=1.
BENCH_KAFKA_PORT ?= 19492
BENCH_KAFKA_CONTROLLER_PORT ?= $(shell echo $$(($(BENCH_KAFKA_PORT) + 1)))
BENCH_LINES ?= 1000000
BENCH_RUNS ?= 7
# The broker gets Kafka's own production JVM defaults (kafka-server-start.sh: G1, 1 GB heap)
# rather than kafka-local's start-up-time flags.
BENCH_KAFKA_JVM ?= -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15
BENCH_KAFKA = KAFKA_PORT=$(BENCH_KAFKA_PORT) KAFKA_CONTROLLER_PORT=$(BENCH_KAFKA_CONTROLLER_PORT) \
  KAFKA_HEAP=1g KAFKA_JVM_PERF_OPTS="$(BENCH_KAFKA_JVM)" scripts/kafka-local

$(B)/sender: bench/sender.c
	$(CC) -O2 $(WARN) -o $@ $< -lpthread

$(B)/bench/hwm: bench/hwm.c
	@mkdir -p $(@D)
	$(CC) -O2 $(WARN) $(RDKAFKA_CFLAGS) -o $@ $< $(RDKAFKA_LIBS)

$(B)/bench/probe: bench/probe.c bench/producer.h
	@mkdir -p $(@D)
	$(CC) -O2 $(WARN) $(RDKAFKA_CFLAGS) -o $@ $< $(RDKAFKA_LIBS)

$(B)/bench/levers: bench/levers.c bench/producer.h
	@mkdir -p $(@D)
	$(CC) -O2 $(WARN) $(RDKAFKA_CFLAGS) -o $@ $< $(RDKAFKA_LIBS) -lz -lpthread

# `make bench-levers`: what rd_kafka_produce() per message costs against rd_kafka_produce_batch(),
# keyless and keyed (bench/levers.py, bench/results/levers.md), on the same private broker; ~1.5 min.
bench-levers: $(B)/bench/levers $(B)/bench/hwm
	$(BENCH_KAFKA) reset
	$(BENCH_KAFKA) start
	python3 bench/levers.py --build $(B) --kafka-port $(BENCH_KAFKA_PORT); rc=$$?; \
	  [ "$(BENCH_KEEP_BROKER)" = 1 ] || $(BENCH_KAFKA) reset; exit $$rc

$(B)/bench/engine: bench/engine.c $(B)/libhotdog.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libhotdog.a $(LIBS)

bench: all $(B)/sender $(B)/bench/hwm $(B)/bench/probe
	bench/setup-peers.sh
	$(BENCH_KAFKA) reset
	$(BENCH_KAFKA) start
	BENCH_LINES=$(BENCH_LINES) BENCH_RUNS=$(BENCH_RUNS) python3 bench/bench.py --build $(B) \
	  --kafka-port $(BENCH_KAFKA_PORT); rc=$$?; \
	  [ "$(BENCH_KEEP_BROKER)" = 1 ] || $(BENCH_KAFKA) reset; exit $$rc

bench-engine: $(B)/bench/engine
	BENCH_LINES=$(BENCH_LINES) python3 bench/engine.py --build $(B)

# `make bench-scale`: hotdog's msgs/s and CPU per message against message size, connections
# and regex rules (bench/scale.py; bench/results/scale.md and scale-*.png), same private broker.
bench-scale: all $(B)/sender $(B)/bench/hwm
	bench/setup-peers.sh
	$(BENCH_KAFKA) reset
	$(BENCH_KAFKA) start
	BENCH_LINES=$(BENCH_LINES) python3 bench/scale.py --build $(B) --kafka-port $(BENCH_KAFKA_PORT); rc=$$?; \
	  [ "$(BENCH_KEEP_BROKER)" = 1 ] || $(BENCH_KAFKA) reset; exit $$rc

# Quickstart (scripts/run): install what building and running need (not the test tools),
# build in parallel, use or start a local Kafka (asks when a broker already holds 9092), and run
# hotdog on examples/hotdog.yml. Each step says what it does and where its log is.
run:
	+@B='$(B)' MAKE='$(MAKE)' scripts/run

kafka-start:
	scripts/kafka-local start
kafka-stop:
	scripts/kafka-local stop

PREFIX ?= /usr/local
# systemd searches /usr/local/lib/systemd/system for local installs; with PREFIX=/usr this is
# /usr/lib/systemd/system (the same directory as /lib/systemd/system on merged-/usr systems).
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR ?= $(PREFIX)/share/man
install: $(B)/hotdog
	install -D -m 0755 $(B)/hotdog $(DESTDIR)$(PREFIX)/bin/hotdog
	sed 's|^ExecStart=/usr/local/bin/hotdog |ExecStart=$(PREFIX)/bin/hotdog |' contrib/hotdog.service > $(B)/hotdog.service
	install -D -m 0644 $(B)/hotdog.service $(DESTDIR)$(SYSTEMDUNITDIR)/hotdog.service
	install -D -m 0644 doc/hotdog.1 $(DESTDIR)$(MANDIR)/man1/hotdog.1
	install -d -m 0755 $(DESTDIR)/etc/hotdog
	test -e $(DESTDIR)/etc/hotdog/hotdog.yml || install -m 0644 examples/hotdog.yml $(DESTDIR)/etc/hotdog/hotdog.yml

# The Debian package (debian/, debian/README.Debian), built with dpkg-buildpackage and debhelper:
# hotdog, the package, and its debug symbols (hotdog-dbgsym), with the .buildinfo and .changes,
# land in build/deb/ (not in the parent directory, where Debian's tools write by default); then
# lintian checks the package, and a warning fails as an error does. Needs the packages that
# scripts/install-deps installs. `tests/e2e/test_deb.py` installs, runs and purges the result.
DEB_OUT := build/deb
.PHONY: deb
deb:
	@set -e; rm -rf $(DEB_OUT); mkdir -p $(DEB_OUT); \
	name=hotdog_$$(dpkg-parsechangelog -S Version)_$$(dpkg-architecture -q DEB_HOST_ARCH); \
	HOTDOG_DEB_DESTDIR=$(DEB_OUT) dpkg-buildpackage -b -us -uc --jobs-try=auto \
	  --buildinfo-option=-u$(DEB_OUT) --buildinfo-file=$(DEB_OUT)/$$name.buildinfo \
	  --changes-option=-u$(DEB_OUT) --changes-file=$(DEB_OUT)/$$name.changes; \
	lintian --fail-on error,warning --display-info --info --tag-display-limit 0 $(DEB_OUT)/$$name.changes; \
	ls -l $(DEB_OUT)

# build/deps (the librdkafka backport, half a minute to rebuild) survives `make clean`;
# `make distclean` removes it too.
clean:
	rm -rf $(filter-out build/deps,$(wildcard build/* build/.??*))

distclean: clean
	rm -rf build
