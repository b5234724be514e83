# msgrelay - top-level build.
#   make            build build/msgrelay (installing Debian packages through scripts/deps)
#   make run        build and start `msgrelay serve` on port 36789 with the SQLite store
#   make test       build and run the C unit tests and the end-to-end tests (with
#                   make e2e-postgres: the store's end-to-end tests on PostgreSQL)
#   make test SAN=1 the same under AddressSanitizer and UBSan (in build-san/)
#   make bench-keyed  bench/run in submit mode with BENCH_KEYS (1,000) ordering keys
#   make bench-retention  bench/run with retention off and on, on a store holding
#                   BENCH_PREFILL (1,000,000) finished messages
#   make bench-large  bench/run on an empty store and on one holding BENCH_LARGE
#                   (10,000,000) messages, SQLite and MariaDB; a backlog of 100,000 and
#                   of BENCH_BACKLOG (1,000,000) due messages drained over HTTP
#   make fuzz       run the libFuzzer targets tests/fuzz/fuzz_parse.c, fuzz_url.c,
#                   fuzz_kafka_url.c, fuzz_result.c and fuzz_target.c with clang
#                   (make test replays their corpus)
#   make clean

PKGS    := libmicrohttpd libcurl jansson sqlite3 rdkafka mysqlclient libpq
ifeq ($(SAN),1)
BUILD   := build-san
OPT     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SANLD   := -fsanitize=address,undefined
else
BUILD   := build
OPT     := -O2 -g
SANLD   :=
endif

CC      ?= cc
CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(OPT) -I. -MMD -MP
PYTHON  := /usr/bin/python3

CORE_SRC := $(wildcard common/*.c store/*.c prepare/*.c query/*.c) \
            $(filter-out relay/main.c,$(wildcard relay/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/sql_sqlite.o $(BUILD)/gen/sql_mysql.o \
            $(BUILD)/gen/sql_postgres.o
MAIN_OBJ := $(BUILD)/relay/main.o
UNIT_SRC := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)

.PHONY: all deps build run test unit e2e e2e-postgres bench bench-keyed bench-large fuzz clean \
        FORCE
.SECONDARY:

all: deps
	@$(MAKE) --no-print-directory build

deps:
	@scripts/deps

build: $(BUILD)/msgrelay $(UNIT_BIN) $(HELPER_BIN)

# pkg-config is asked when a recipe runs, after scripts/deps has installed it.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -lpthread -lm

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/libmsgrelay_core.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

# `msgrelay barrier-prune` calls libmsgrelay's mr_barrier_prune (include/msgrelay/barrier.h)
$(MAIN_OBJ): PKG_CFLAGS += -Iinclude -I$(BUILD)/gen

# `msgrelay version` names the tree built (git describe); the header is rewritten only when
# that changes, so main.o is rebuilt only then
$(MAIN_OBJ): $(BUILD)/gen/build_info.h
$(BUILD)/gen/build_info.h: FORCE
	@mkdir -p $(dir $@)
	@d=$$(git describe --always --dirty 2>/dev/null) || d=unknown; \
	  echo "#define MR_BUILD_DESCRIBE \"git $$d\"" > $@.tmp; \
	  if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(BUILD)/msgrelay: $(MAIN_OBJ) $(BUILD)/libmsgrelay_core.a $(BUILD)/libmsgrelay.a
	$(CC) $(SANLD) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libmsgrelay_core.a
	$(CC) $(SANLD) -o $@ $^ $(PKG_LIBS) -lcmocka

$(BUILD)/tests/helpers/%: $(BUILD)/tests/helpers/%.o $(BUILD)/libmsgrelay_core.a
	$(CC) $(SANLD) -o $@ $^ $(PKG_LIBS)

run: all
	$(BUILD)/msgrelay serve --store sqlite:msgrelay.db

test: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory unit e2e e2e-postgres

# The store contract tests run once more on a private mariadbd (tests/e2e/mariadb.py),
# and again with interleaved auto-increment (innodb_autoinc_lock_mode=2, as Galera
# needs), where a multi-row INSERT's ids may have gaps and are read back; and once on a
# private PostgreSQL server (tests/e2e/postgres.py).
unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done
	@echo "== $(BUILD)/tests/unit/store/test_store mysql (private mariadbd)"
	@$(PYTHON) tests/e2e/mariadb.py run -- $(BUILD)/tests/unit/store/test_store mysql
	@echo "== $(BUILD)/tests/unit/store/test_store mysql (innodb_autoinc_lock_mode=2)"
	@$(PYTHON) tests/e2e/mariadb.py run --innodb-autoinc-lock-mode=2 -- \
	    $(BUILD)/tests/unit/store/test_store mysql
	@echo "== $(BUILD)/tests/unit/store/test_store postgres (private postgres)"
	@$(PYTHON) tests/e2e/postgres.py run -- $(BUILD)/tests/unit/store/test_store postgres

# The end-to-end tests run in E2E_JOBS pytest-xdist workers (most of a test's time is
# waiting on a relay, a server or a deadline; every test takes free ports and private
# servers, so each worker starts its own mariadbd or postgres). E2E_JOBS=0: one process.
E2E_JOBS ?= 3
E2E_XDIST := $(if $(filter-out 0,$(E2E_JOBS)),-n $(E2E_JOBS))
e2e: $(BUILD)/msgrelay
	MSGRELAY_BIN=$(CURDIR)/$(BUILD)/msgrelay MSGRELAY_BUILD=$(CURDIR)/$(BUILD) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider $(E2E_XDIST) tests/e2e

# The cluster suite: a private 3-node MariaDB Galera cluster on loopback (tests/e2e/galera.py),
# three relays with multi-host store URIs, a node killed under load; slow, so not in `make test`.
.PHONY: test-cluster
test-cluster: deps
	@$(MAKE) --no-print-directory build
	MSGRELAY_BIN=$(CURDIR)/$(BUILD)/msgrelay MSGRELAY_BUILD=$(CURDIR)/$(BUILD) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/cluster

# The end-to-end tests that cover the store, once more with every relay's store on a
# private PostgreSQL server (MSGRELAY_E2E_STORE=postgres: a fresh migrated database per
# relay), but for their tests of another engine's own store; MSGRELAY_E2E_STORE=postgres
# with `pytest tests/e2e` runs the whole suite so.
# (about 100 s; the parked-message SQL is covered by the contract tests of make unit; of
# test_ordering, the tests of the store's ordering: three relays sharing the database, the
# holds of a stuck or parked head, a back-check's place)
E2E_POSTGRES := test_delivery test_lifecycle test_retention test_query test_topics \
                test_crash test_postgres
E2E_POSTGRES_ORDERING := test_three_relays_on_postgres_with_one_killed_keep_each_keys_order \
                test_a_stuck_key_holds_up_neither_other_keys_nor_unkeyed_messages \
                test_a_parked_head_holds_its_key_until_redriven \
                test_a_forcestop_of_a_parked_head_releases_its_key \
                test_a_prepared_message_takes_its_place_when_its_back_check_commits_it
e2e-postgres: $(BUILD)/msgrelay
	MSGRELAY_E2E_STORE=postgres MSGRELAY_BIN=$(CURDIR)/$(BUILD)/msgrelay \
	    MSGRELAY_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q -p no:cacheprovider $(E2E_XDIST) \
	    -k "not mysql and not mariadb and not sqlite" $(E2E_POSTGRES:%=tests/e2e/%.py) \
	    $(E2E_POSTGRES_ORDERING:%=tests/e2e/test_ordering.py::%)

# The benchmark: a fast C sink, a C load generator, msgrelay in between (bench/run).
BENCH_COUNT ?= 100000
BENCH_CONC  ?= 64
# the sustained overload: a closed loop for this many seconds (BENCH_CAP messages at most)
BENCH_DURATION ?= 15
BENCH_CAP      ?= 5000000
BENCH_BIN   := $(BUILD)/bench/sink $(BUILD)/bench/loadgen $(BUILD)/bench/backlog \
               $(BUILD)/bench/prefill

$(BUILD)/bench/backlog $(BUILD)/bench/prefill: $(BUILD)/bench/%: $(BUILD)/bench/%.o \
                                               $(BUILD)/libmsgrelay_core.a
	$(CC) $(SANLD) -o $@ $^ $(PKG_LIBS)

# sink and loadgen share their HTTP/1.1 header parsing (bench/http1.c).
BENCH_HTTP_OBJ := $(BUILD)/bench/sink.o $(BUILD)/bench/loadgen.o $(BUILD)/bench/http1.o

$(BUILD)/bench/sink $(BUILD)/bench/loadgen: $(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/bench/http1.o
	$(CC) $(SANLD) -o $@ $^ $(PKG_LIBS)

-include $(BENCH_HTTP_OBJ:.o=.d) $(BUILD)/bench/backlog.d $(BUILD)/bench/prefill.d

bench: all
	@$(MAKE) --no-print-directory $(BENCH_BIN)
	bench/run $(BUILD) sqlite submit $(BENCH_COUNT) $(BENCH_CONC)
	bench/run $(BUILD) sqlite prepare $(BENCH_COUNT) $(BENCH_CONC)
	@# the same on a private MariaDB (durable: innodb_flush_log_at_trx_commit=1); bench/run
	@# migrates the fresh database it is given
	$(PYTHON) tests/e2e/mariadb.py run -- sh -c 'bench/run "$$0" "$$MSGRELAY_TEST_MYSQL" submit "$$1" "$$2"' \
	    $(BUILD) $(BENCH_COUNT) $(BENCH_CONC)
	$(PYTHON) tests/e2e/mariadb.py run -- sh -c 'bench/run "$$0" "$$MSGRELAY_TEST_MYSQL" prepare "$$1" "$$2"' \
	    $(BUILD) $(BENCH_COUNT) $(BENCH_CONC)
	@# and on a private PostgreSQL server, durable (fsync=on; the tests' server runs without)
	$(PYTHON) tests/e2e/postgres.py run -c fsync=on -- sh -c \
	    'bench/run "$$0" "$$MSGRELAY_TEST_POSTGRES" submit "$$1" "$$2"' $(BUILD) $(BENCH_COUNT) $(BENCH_CONC)
	$(PYTHON) tests/e2e/postgres.py run -c fsync=on -- sh -c \
	    'bench/run "$$0" "$$MSGRELAY_TEST_POSTGRES" prepare "$$1" "$$2"' $(BUILD) $(BENCH_COUNT) $(BENCH_CONC)
	bench/drain $(BUILD) $(BENCH_COUNT)
	@# the sustained overload on both engines: delivered/s during the load vs accepted/s
	bench/run $(BUILD) sqlite submit $(BENCH_CAP) $(BENCH_CONC) --duration $(BENCH_DURATION)
	$(PYTHON) tests/e2e/mariadb.py run -- sh -c 'bench/run "$$0" "$$MSGRELAY_TEST_MYSQL" submit "$$1" "$$2" --duration "$$3"' \
	    $(BUILD) $(BENCH_CAP) $(BENCH_CONC) $(BENCH_DURATION)

# Ordered delivery per key (docs/PERFORMANCE.md "Ordered delivery per key"): submit mode
# with BENCH_KEYS ordering keys spread over the messages.
BENCH_KEYS ?= 1000
bench-keyed: all
	@$(MAKE) --no-print-directory $(BENCH_BIN)
	MSGRELAY_BENCH_KEYS=$(BENCH_KEYS) bench/run $(BUILD) sqlite submit $(BENCH_COUNT) $(BENCH_CONC)

# The cost of retention (docs/PERFORMANCE.md "Retention"): bench/run on a SQLite store
# already holding BENCH_PREFILL finished messages, retention off and on, interleaved.
BENCH_PREFILL ?= 1000000
BENCH_RUNS    ?= 3

.PHONY: bench-retention
bench-retention: all
	@$(MAKE) --no-print-directory $(BENCH_BIN)
	bench/retention $(BUILD) $(BENCH_PREFILL) $(BENCH_COUNT) $(BENCH_CONC) $(BENCH_RUNS)

# Cost that grows with work only where it must (docs/PERFORMANCE.md "A large store"):
# bench/run on an empty store and on one already holding BENCH_LARGE messages
# (BENCH_LARGE_WAITING of them unfinished but not due), interleaved, SQLite then MariaDB;
# then a backlog of BENCH_COUNT and of BENCH_BACKLOG due messages drained over HTTP.
BENCH_LARGE         ?= 10000000
BENCH_LARGE_WAITING ?= $(shell echo $$(( $(BENCH_LARGE) / 20 )))
BENCH_BACKLOG       ?= 1000000

bench-large: all
	@$(MAKE) --no-print-directory $(BENCH_BIN)
	bench/large $(BUILD) $(BENCH_LARGE) $(BENCH_LARGE_WAITING) $(BENCH_COUNT) $(BENCH_CONC) \
	    $(BENCH_RUNS)
	$(PYTHON) bench/large_mysql.py $(BUILD) $(BENCH_LARGE) $(BENCH_LARGE_WAITING) $(BENCH_COUNT) \
	    $(BENCH_CONC) $(BENCH_RUNS)
	bench/drain_large $(BUILD) http $(BENCH_COUNT) $(BENCH_BACKLOG) $(BENCH_RUNS)

clean:
	rm -rf build build-san

-include $(CORE_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_BIN:=.d) $(HELPER_BIN:=.d)

# The store schemas, compiled in (the binary never reads sql/ at run time):
# $(call schema_c,ENGINE,FILES) writes sql/ENGINE/NNN_*.sql (FILES, in version
# order) to $(BUILD)/gen/sql_ENGINE.c as mr_store_ENGINE_schema[], an array of
# {NNN, text, name} (see store/store_int.h). Bytes go through od, so no quoting of
# the SQL text is needed.
define schema_c
	@mkdir -p $(dir $@)
	@set -e; { \
	  echo '/* generated from sql/$(1)/NNN_*.sql by the Makefile; do not edit */'; \
	  echo '#include "store/store_int.h"'; \
	  for f in $(2); do \
	    v=$$(basename "$$f" | sed 's/_.*//'); \
	    echo "static const unsigned char sql_$$v[] = {"; \
	    od -An -v -tu1 "$$f" | awk '{ for (i = 1; i <= NF; i++) printf "%s,", $$i; print "" }'; \
	    echo '0};'; \
	  done; \
	  echo 'const struct mr_store_schema mr_store_$(1)_schema[] = {'; \
	  for f in $(2); do \
	    v=$$(basename "$$f" | sed 's/_.*//'); \
	    n=$$(basename "$$f" .sql | sed 's/^[0-9]*_//'); \
	    echo "    {$$(expr "$$v" + 0), (const char *)sql_$$v, \"$$n\"},"; \
	  done; \
	  echo '};'; \
	  echo 'const size_t mr_store_$(1)_schema_count ='; \
	  echo '    sizeof(mr_store_$(1)_schema) / sizeof(mr_store_$(1)_schema[0]);'; \
	} > $@.tmp && mv $@.tmp $@
endef

SQLITE_SQL := $(sort $(wildcard sql/sqlite/*.sql))
MYSQL_SQL  := $(sort $(wildcard sql/mysql/*.sql))
POSTGRES_SQL := $(sort $(wildcard sql/postgres/*.sql))

$(BUILD)/gen/sql_sqlite.c: $(SQLITE_SQL) Makefile
	$(call schema_c,sqlite,$(SQLITE_SQL))

$(BUILD)/gen/sql_mysql.c: $(MYSQL_SQL) Makefile
	$(call schema_c,mysql,$(MYSQL_SQL))

$(BUILD)/gen/sql_postgres.c: $(POSTGRES_SQL) Makefile
	$(call schema_c,postgres,$(POSTGRES_SQL))

$(BUILD)/gen/sql_%.o: $(BUILD)/gen/sql_%.c
	$(CC) $(CFLAGS) -c $< -o $@

# libmsgrelay, the C SDK: client/ (producer) and consumers/ (barrier) with the
# common/ pieces they use, as $(BUILD)/libmsgrelay.a for the programs of this
# tree. The bank-transfer example (examples/transfer) links it; `make transfer`
# runs it on a private MariaDB. What `make install` installs is built apart
# (the install block below): three libraries, split by what they need.
SDK_PKGS    := libcurl jansson mysqlclient libpq rdkafka libmicrohttpd
SDK_CFLAGS   = $(shell pkg-config --cflags $(SDK_PKGS)) -Iinclude
SDK_LIBS     = $(shell pkg-config --libs $(SDK_PKGS)) -lpthread
SDK_OWN_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard client/*.c consumers/*.c))
SDK_OBJ     := $(SDK_OWN_OBJ) $(addprefix $(BUILD)/common/,buf.o err.o mem.o result.o sdk.o url.o \
                                                     trace.o clock.o)
TRANSFER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard examples/transfer/*.c))
TRANSFER_BIN := $(BUILD)/examples/transfer/transfer
CONSUMER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard examples/consumer/*.c))
CONSUMER_BIN := $(BUILD)/examples/consumer/consumer
PREFIX      ?= /usr/local

.PHONY: libmsgrelay examples install-sdk transfer

build: $(BUILD)/libmsgrelay.a $(TRANSFER_BIN) $(CONSUMER_BIN)

libmsgrelay: $(BUILD)/libmsgrelay.a

examples: $(TRANSFER_BIN) $(CONSUMER_BIN)

$(BUILD)/client/%.o $(BUILD)/consumers/%.o $(BUILD)/examples/%.o: PKG_CFLAGS += $(SDK_CFLAGS)
$(BUILD)/tests/unit/client/%.o $(BUILD)/tests/unit/consumers/%.o: PKG_CFLAGS += $(SDK_CFLAGS)

$(BUILD)/libmsgrelay.a: $(SDK_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(TRANSFER_BIN): $(TRANSFER_OBJ) $(BUILD)/libmsgrelay.a
	$(CC) $(SANLD) -o $@ $^ $(SDK_LIBS) $(shell pkg-config --libs libmicrohttpd)

$(CONSUMER_BIN): $(CONSUMER_OBJ) $(BUILD)/libmsgrelay.a
	$(CC) $(SANLD) -o $@ $^ $(SDK_LIBS)

$(BUILD)/tests/unit/client/%: $(BUILD)/tests/unit/client/%.o $(BUILD)/libmsgrelay.a
	$(CC) $(SANLD) -o $@ $^ $(SDK_LIBS) $(shell pkg-config --libs libmicrohttpd) -lcmocka

$(BUILD)/tests/unit/consumers/%: $(BUILD)/tests/unit/consumers/%.o $(BUILD)/libmsgrelay.a
	$(CC) $(SANLD) -o $@ $^ $(SDK_LIBS) -lcmocka

# terminal 2 of the README's bank transfer: a private MariaDB and the service on
# :8082 (TRANSFER_ARGS="--port N --relay URL" to change where it listens and calls)
TRANSFER_ARGS ?=
transfer: all
	$(PYTHON) tests/e2e/mariadb.py run -- sh -c 'exec $(TRANSFER_BIN) \
	    --db "$$MSGRELAY_TEST_MYSQL" --schema sql/barrier/mysql.sql \
	    --schema examples/transfer/schema.sql $(TRANSFER_ARGS)'

-include $(SDK_OWN_OBJ:.o=.d) $(TRANSFER_OBJ:.o=.d) $(CONSUMER_OBJ:.o=.d)

# `msgrelay barrier-prune --db postgres://` calls mr_barrier_prune_pg (msgrelay/barrier_pg.h)
$(MAIN_OBJ): PKG_CFLAGS += $(shell pkg-config --cflags libpq)
$(BUILD)/msgrelay: PKG_LIBS += $(shell pkg-config --libs libpq)

# ---- make install PREFIX=/usr/local [DESTDIR=] / make uninstall ----
# The binary, the public headers, the SDK as three static and three shared
# libraries with their pkg-config files, the man page msgrelay(1), the systemd
# unit and the licence. The SDK is split by what each part needs, so a
# producer-only program links neither libmysqlclient nor librdkafka:
#   libmsgrelay          (msgrelay.pc)          client.h: libcurl, jansson
#   libmsgrelay-barrier  (msgrelay-barrier.pc)  barrier.h, client_db.h, backcheck.h,
#                                               barrier_pg.h, client_db_pg.h:
#                                               + mysqlclient, libpq, libmicrohttpd
#   libmsgrelay-consumer (msgrelay-consumer.pc) consumer.h, consumer_pg.h: + librdkafka
# Their objects are built apart in $(BUILD)/pic/ (-fPIC -fvisibility=hidden): only
# what the public headers declare is exported (they mark it visible); each shared
# library carries its own hidden copy of the common/ pieces it uses (common/url.o
# needs libcurl, which libmsgrelay.so brings along anyway). The static
# libraries hold each object once (the barrier's and the consumer's use
# libmsgrelay.a's common/ objects: pkg-config --static lists them in order).
SDK_VERSION := $(shell sed -n 's/^\#define MR_SDK_VERSION "\(.*\)"/\1/p' include/msgrelay/msgrelay.h)
SDK_MAJOR   := $(firstword $(subst ., ,$(SDK_VERSION)))
PIC         := $(BUILD)/pic
LIBDIR      := $(BUILD)/lib
BINDIR_I     = $(PREFIX)/bin
LIBDIR_I     = $(PREFIX)/lib
INCDIR_I     = $(PREFIX)/include/msgrelay
PCDIR_I      = $(PREFIX)/lib/pkgconfig
MANDIR_I     = $(PREFIX)/share/man/man1
DOCDIR_I     = $(PREFIX)/share/doc/msgrelay
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR  ?= /etc

PIC_COMMON   := $(addprefix $(PIC)/common/,buf.o err.o mem.o result.o sdk.o url.o trace.o clock.o)
PIC_PRODUCER := $(PIC)/client/client_http.o $(PIC)/client/client_msg.o
PIC_BARRIER  := $(addprefix $(PIC)/,client/client_db.o consumers/barrier.o \
                consumers/barrier_prune.o consumers/backcheck_server.o consumers/consumer_uri.o \
                client/client_db_pg.o consumers/barrier_pg.o)
PIC_CONSUMER := $(PIC)/consumers/consumer_kafka.o $(PIC)/consumers/consumer_uri.o \
                $(PIC)/consumers/consumer_pg.o
SDK_NAMES    := msgrelay msgrelay-barrier msgrelay-consumer
SDK_STATIC   := $(SDK_NAMES:%=$(LIBDIR)/lib%.a)
SDK_SHARED   := $(SDK_NAMES:%=$(LIBDIR)/lib%.so.$(SDK_VERSION))
SDK_HEADERS  := $(wildcard include/msgrelay/*.h)
SHLINK       = $(CC) $(SANLD) -shared -Wl,-soname,$(basename $(basename $(notdir $@))) -Wl,--no-undefined

.PHONY: install install-sdk uninstall sdk-libs

build: sdk-libs

sdk-libs: $(SDK_STATIC) $(SDK_SHARED)

$(PIC)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden $(SDK_CFLAGS) -c $< -o $@

$(LIBDIR)/libmsgrelay.a: $(PIC_PRODUCER) $(PIC_COMMON)
$(LIBDIR)/libmsgrelay-barrier.a: $(PIC_BARRIER)
$(LIBDIR)/libmsgrelay-consumer.a: $(PIC)/consumers/consumer_kafka.o $(PIC)/consumers/consumer_pg.o
$(SDK_STATIC):
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(LIBDIR)/libmsgrelay.so.$(SDK_VERSION): $(PIC_PRODUCER) $(PIC_COMMON)
	@mkdir -p $(dir $@)
	$(SHLINK) -o $@ $^ $(shell pkg-config --libs libcurl jansson)

$(LIBDIR)/libmsgrelay-barrier.so.$(SDK_VERSION): $(PIC_BARRIER) $(PIC_COMMON) \
                                                 $(LIBDIR)/libmsgrelay.so.$(SDK_VERSION)
	$(SHLINK) -o $@ $^ $(shell pkg-config --libs mysqlclient libpq libmicrohttpd libcurl) -lpthread

$(LIBDIR)/libmsgrelay-consumer.so.$(SDK_VERSION): $(PIC_CONSUMER) $(PIC_COMMON) \
                                                  $(LIBDIR)/libmsgrelay-barrier.so.$(SDK_VERSION)
	$(SHLINK) -o $@ $^ $(shell pkg-config --libs rdkafka mysqlclient libpq libcurl) -lpthread

install-sdk: sdk-libs
	install -d $(DESTDIR)$(LIBDIR_I) $(DESTDIR)$(INCDIR_I) $(DESTDIR)$(PCDIR_I)
	install -m 644 $(SDK_HEADERS) $(DESTDIR)$(INCDIR_I)/
	install -m 644 $(SDK_STATIC) $(DESTDIR)$(LIBDIR_I)/
	install -m 755 $(SDK_SHARED) $(DESTDIR)$(LIBDIR_I)/
	@set -e; for n in $(SDK_NAMES); do \
	    ln -sf lib$$n.so.$(SDK_VERSION) $(DESTDIR)$(LIBDIR_I)/lib$$n.so.$(SDK_MAJOR); \
	    ln -sf lib$$n.so.$(SDK_MAJOR) $(DESTDIR)$(LIBDIR_I)/lib$$n.so; \
	done
	@# the .pc files name the final PREFIX (packaging/*.pc.in)
	@set -e; for n in $(SDK_NAMES); do \
	    sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(SDK_VERSION)|g' packaging/$$n.pc.in \
	        > $(DESTDIR)$(PCDIR_I)/$$n.pc; \
	    chmod 644 $(DESTDIR)$(PCDIR_I)/$$n.pc; \
	done

install: $(BUILD)/msgrelay install-sdk
	install -d $(DESTDIR)$(BINDIR_I) $(DESTDIR)$(MANDIR_I) $(DESTDIR)$(DOCDIR_I) \
	    $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 755 $(BUILD)/msgrelay $(DESTDIR)$(BINDIR_I)/msgrelay
	install -m 644 man/msgrelay.1 $(DESTDIR)$(MANDIR_I)/msgrelay.1
	sed -e 's|@BINDIR@|$(BINDIR_I)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' packaging/msgrelay.service.in \
	    > $(DESTDIR)$(SYSTEMDUNITDIR)/msgrelay.service
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/msgrelay.service
	install -m 644 packaging/msgrelay.env LICENSE $(DESTDIR)$(DOCDIR_I)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR_I)/msgrelay $(DESTDIR)$(MANDIR_I)/msgrelay.1 \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/msgrelay.service
	rm -f $(addprefix $(DESTDIR)$(INCDIR_I)/,$(notdir $(SDK_HEADERS)))
	rm -f $(addprefix $(DESTDIR)$(PCDIR_I)/,$(SDK_NAMES:=.pc))
	@set -e; for n in $(SDK_NAMES); do \
	    rm -f $(DESTDIR)$(LIBDIR_I)/lib$$n.a $(DESTDIR)$(LIBDIR_I)/lib$$n.so \
	        $(DESTDIR)$(LIBDIR_I)/lib$$n.so.$(SDK_MAJOR) $(DESTDIR)$(LIBDIR_I)/lib$$n.so.$(SDK_VERSION); \
	done
	rm -f $(DESTDIR)$(DOCDIR_I)/msgrelay.env $(DESTDIR)$(DOCDIR_I)/LICENSE
	-rmdir $(DESTDIR)$(INCDIR_I) $(DESTDIR)$(DOCDIR_I) 2>/dev/null

# The producer-only example: links the installable libmsgrelay.a alone, with
# libcurl and jansson, so it proves the producer needs no MySQL and no Kafka.
PRODUCER_BIN := $(BUILD)/examples/producer/producer

build: $(PRODUCER_BIN)

examples: $(PRODUCER_BIN)

$(PRODUCER_BIN): $(BUILD)/examples/producer/producer.o $(LIBDIR)/libmsgrelay.a
	$(CC) $(SANLD) -o $@ $^ $(shell pkg-config --libs libcurl jansson)

-include $(PIC_PRODUCER:.o=.d) $(PIC_BARRIER:.o=.d) $(PIC_CONSUMER:.o=.d) $(PIC_COMMON:.o=.d) \
         $(BUILD)/examples/producer/producer.d

# Fuzz targets (tests/fuzz/): fuzz_parse.c (prepare/submit and gid bodies),
# fuzz_url.c (step, back-check and subscriber URLs and the URL builder),
# fuzz_kafka_url.c (kafka://TOPIC?key=K), fuzz_result.c (the result
# classifier) and fuzz_target.c (the target policy and URL masking), each
# an LLVMFuzzerTestOneInput that checks invariants.
#   make build  also links each with tests/fuzz/replay.c (the normal CC, so
#               SAN=1 builds them under ASan/UBSan);
#   make unit   (so make test) replays the committed corpus tests/fuzz/corpus/<target>/;
#   make fuzz   builds them with clang and libFuzzer in build-fuzz/ and runs each for
#               FUZZ_SECONDS (60), growing a scratch corpus in FUZZ_DIR, never the repo's.
#               FUZZ_TARGETS="fuzz_url" picks some; a crash is saved as FUZZ_DIR/<target>-crash-*;
#               tests/fuzz/<target>.dict, when there is one, is its libFuzzer dictionary.
FUZZ_NAMES   := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY  := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/%_replay)
FUZZ_SECONDS ?= 60
FUZZ_DIR     ?= /tmp/msgrelay-fuzz
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_OPT     := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined

.PHONY: fuzz fuzz-replay fuzz-bin fuzz-clean

build: $(FUZZ_REPLAY)

unit: fuzz-replay

fuzz-replay: $(FUZZ_REPLAY)
	@set -e; for t in $(FUZZ_NAMES); do \
	    $(BUILD)/tests/fuzz/$${t}_replay tests/fuzz/corpus/$$t; done

$(BUILD)/tests/fuzz/%_replay: $(BUILD)/tests/fuzz/%.o $(BUILD)/tests/fuzz/replay.o \
                              $(BUILD)/libmsgrelay_core.a
	$(CC) $(SANLD) -o $@ $^ $(PKG_LIBS)

# make fuzz runs this part in a second make with BUILD=build-fuzz CC=clang
fuzz-bin: $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/%_fuzzer)

$(BUILD)/tests/fuzz/%_fuzzer: $(BUILD)/tests/fuzz/%.o $(BUILD)/libmsgrelay_core.a
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)

fuzz:
	@scripts/deps clang libclang-rt-dev
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang OPT="$(FUZZ_OPT)" \
	    SANLD="-fsanitize=address,undefined" fuzz-bin
	@set -e; for t in $(FUZZ_TARGETS); do \
	    echo "== fuzz $$t for $(FUZZ_SECONDS) s (corpus $(FUZZ_DIR)/$$t)"; \
	    mkdir -p $(FUZZ_DIR)/$$t; \
	    dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	    build-fuzz/tests/fuzz/$${t}_fuzzer -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	        -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/$$t- $$dict \
	        $(FUZZ_DIR)/$$t tests/fuzz/corpus/$$t; \
	done

clean: fuzz-clean

fuzz-clean:
	rm -rf build-fuzz

-include $(FUZZ_REPLAY:_replay=.d) $(BUILD)/tests/fuzz/replay.d

# The admin page (admin/: HTML, CSS and JavaScript, no build step), compiled
# into the binary as $(BUILD)/gen/admin_assets.c (scripts/admin-assets) and
# served under /admin/ by prepare/prepare_admin.c.
ADMIN_FILES := $(sort $(wildcard admin/*))

$(BUILD)/gen/admin_assets.c: $(ADMIN_FILES) scripts/admin-assets
	@mkdir -p $(dir $@)
	scripts/admin-assets $(ADMIN_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/admin_assets.o: $(BUILD)/gen/admin_assets.c
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/libmsgrelay_core.a: $(BUILD)/gen/admin_assets.o
