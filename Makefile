# msgrelay - top-level build.
#   make            build build/msgrelay (installing Debian packages through scripts/deps)
#   make run        build and start `msgrelay serve` on port 36789 with the SQLite store
#   make test       build and run the C unit tests and the end-to-end tests
#   make test SAN=1 the same under AddressSanitizer and UBSan (in build-san/)
#   make clean

PKGS    := libmicrohttpd libcurl jansson sqlite3
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
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/sql_sqlite.o
MAIN_OBJ := $(BUILD)/relay/main.o
UNIT_SRC := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)

.PHONY: all deps build run test unit e2e bench clean
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

$(BUILD)/msgrelay: $(MAIN_OBJ) $(BUILD)/libmsgrelay_core.a
	$(CC) $(SANLD) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libmsgrelay_core.a
	$(CC) $(SANLD) -o $@ $^ $(PKG_LIBS) -lcmocka

$(BUILD)/tests/helpers/%: $(BUILD)/tests/helpers/%.o $(BUILD)/libmsgrelay_core.a
	$(CC) $(SANLD) -o $@ $^ $(PKG_LIBS)

run: all
	$(BUILD)/msgrelay serve --store sqlite:msgrelay.db

test: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory unit e2e

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

e2e: $(BUILD)/msgrelay
	MSGRELAY_BIN=$(CURDIR)/$(BUILD)/msgrelay MSGRELAY_BUILD=$(CURDIR)/$(BUILD) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

# The benchmark: a fast C sink, a C load generator, msgrelay in between (bench/run).
BENCH_COUNT ?= 100000
BENCH_CONC  ?= 64
BENCH_BIN   := $(BUILD)/bench/sink $(BUILD)/bench/loadgen

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(SANLD) -o $@ $< $(PKG_LIBS)

bench: all
	@$(MAKE) --no-print-directory $(BENCH_BIN)
	bench/run $(BUILD) sqlite submit $(BENCH_COUNT) $(BENCH_CONC)
	bench/run $(BUILD) sqlite prepare $(BENCH_COUNT) $(BENCH_CONC)

clean:
	rm -rf build build-san

-include $(CORE_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_BIN:=.d) $(HELPER_BIN:=.d)

# The SQLite schema, compiled in (the binary never reads sql/ at run time):
# sql/sqlite/NNN_*.sql -> $(BUILD)/gen/sql_sqlite.c, an array of {NNN, text}
# in version order (see store/store_int.h). Bytes go through od, so no quoting
# of the SQL text is needed.
SQLITE_SQL := $(sort $(wildcard sql/sqlite/*.sql))

$(BUILD)/gen/sql_sqlite.c: $(SQLITE_SQL) Makefile
	@mkdir -p $(dir $@)
	@set -e; { \
	  echo '/* generated from sql/sqlite/NNN_*.sql by the Makefile; do not edit */'; \
	  echo '#include "store/store_int.h"'; \
	  for f in $(SQLITE_SQL); do \
	    v=$$(basename "$$f" | sed 's/_.*//'); \
	    echo "static const unsigned char sql_$$v[] = {"; \
	    od -An -v -tu1 "$$f" | awk '{ for (i = 1; i <= NF; i++) printf "%s,", $$i; print "" }'; \
	    echo '0};'; \
	  done; \
	  echo 'const struct mr_store_schema mr_store_sqlite_schema[] = {'; \
	  for f in $(SQLITE_SQL); do \
	    v=$$(basename "$$f" | sed 's/_.*//'); \
	    echo "    {$$(expr "$$v" + 0), (const char *)sql_$$v},"; \
	  done; \
	  echo '};'; \
	  echo 'const size_t mr_store_sqlite_schema_count ='; \
	  echo '    sizeof(mr_store_sqlite_schema) / sizeof(mr_store_sqlite_schema[0]);'; \
	} > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/sql_sqlite.o: $(BUILD)/gen/sql_sqlite.c
	$(CC) $(CFLAGS) -c $< -o $@
