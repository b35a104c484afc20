# Tailor: one entry point. See README.md and docs/architecture.md.
#   make            build build/tailor
#   make run        install deps, build, import the demo store, serve :8080
#   make test       install deps, build, run unit + API (+ browser) tests
#   make eval       offline quality on ../shared/data (skipped if absent)
#   make bench      performance; method and numbers in BENCHMARKS.md
#   make asan       the tests under AddressSanitizer + UBSan
#   make valgrind   unit tests under valgrind
#   make tsan       the concurrency tests of the profile cache, the thread pool and the start-up feeds, then imports and a
#                   loaded server of the whole tailor, under ThreadSanitizer
#   make lint       clang-format check + cppcheck

BUILD   ?= build
CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 libsodium libxxhash zlib libzstd openblas lapacke
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wformat=2 -Wundef -Wcast-align -Wwrite-strings -Wvla \
           -Wno-unused-parameter
OPT     ?= -O2 -g
SAN     ?=
CFLAGS  := -std=c17 -D_GNU_SOURCE $(OPT) $(SAN) $(WARN) -fopenmp-simd -Iinclude -Isrc \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -pthread
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstemmer -pthread -lm
LDFLAGS := $(SAN)

PORT    ?= 8080
DB      ?= tailor.db

LIB_SRC  := $(sort $(wildcard src/*/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/*/*.c))
BENCH_SRC:= $(sort $(wildcard bench/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)

.PHONY: all deps run test unit api browser eval bench asan tsan valgrind lint clean fuzz web

all: $(BUILD)/tailor web

# The dashboard's chart library (npm uplot, pinned in web/package.json),
# copied into web/dashboard/vendor/ at build time (never a CDN at run time).
web:
	@scripts/build-web

deps:
	@scripts/install-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libtailor.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/tailor: $(CLI_OBJ) $(BUILD)/libtailor.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libtailor.a $(LDLIBS)

$(BUILD)/unit_tests: $(UNIT_OBJ) $(BUILD)/libtailor.a
	$(CC) $(LDFLAGS) -o $@ $(UNIT_OBJ) $(BUILD)/libtailor.a $(LDLIBS) -lcriterion

# bench/bench_X.c -> build/bench_X (microbenchmarks, run by scripts/bench);
# bench/X.c -> build/bench_X (tools such as the rate-limited load generator).
BENCH_BIN := $(patsubst bench/bench_%.c,$(BUILD)/bench_%,$(filter bench/bench_%.c,$(BENCH_SRC))) \
             $(patsubst bench/%.c,$(BUILD)/bench_%,$(filter-out bench/bench_%.c,$(BENCH_SRC)))

$(BUILD)/bench_%: bench/bench_%.c $(BUILD)/libtailor.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libtailor.a $(LDLIBS)

$(BUILD)/bench_%: bench/%.c $(BUILD)/libtailor.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libtailor.a $(LDLIBS)

# Targets that install dependencies build in a sub-make: this make's flags
# come from pkg-config, which on a fresh machine only works after deps.
run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-demo --port $(PORT) --db $(DB) --bin $(BUILD)/tailor

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests --jobs 2

api: all
	python3 tests/api/run.py --bin $(BUILD)/tailor

browser: all
	@if [ -d tests/browser ] && ls tests/browser/*.mjs >/dev/null 2>&1; then \
	  scripts/browser-tests --bin $(BUILD)/tailor; fi

test: deps
	@$(MAKE) --no-print-directory all $(BUILD)/unit_tests
	@$(MAKE) --no-print-directory unit api browser

eval: deps
	@$(MAKE) --no-print-directory all
	@scripts/eval --bin $(BUILD)/tailor

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BIN)
	@scripts/bench --bin $(BUILD)/tailor --build $(BUILD)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  all build-asan/unit_tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build-asan/unit_tests --jobs 1
	ASAN_OPTIONS=detect_leaks=1 python3 tests/api/run.py --bin build-asan/tailor --slow

# ThreadSanitizer: Criterion cannot start under TSan here, so the concurrency
# tests of the profile cache, the thread pool and the start-up feeds (orders'
# baskets, scanned events) also build as plain programs.
tsan:
	@mkdir -p $(BUILD)
	$(CC) -std=c17 -D_GNU_SOURCE -O1 -g -fsanitize=thread -Iinclude -Isrc -DTL_PCACHE_STANDALONE \
	  -o $(BUILD)/tsan_pcache tests/unit/profile/test_cache.c src/core/*.c src/store/types.c src/profile/*.c \
	  $(shell pkg-config --cflags --libs libxxhash) -pthread -lm
	$(BUILD)/tsan_pcache
	$(CC) -std=c17 -D_GNU_SOURCE -O1 -g -fsanitize=thread -Iinclude -Isrc -DTL_POOL_STANDALONE \
	  -o $(BUILD)/tsan_pool tests/unit/core/test_pool.c src/core/*.c \
	  $(shell pkg-config --cflags --libs libxxhash) -pthread -lm
	$(BUILD)/tsan_pool
	$(CC) -std=c17 -D_GNU_SOURCE -O1 -g -fsanitize=thread -Iinclude -Isrc -DTL_TSAN_STANDALONE \
	  -o $(BUILD)/tsan_feed tests/unit/engine/test_basket_feed.c src/engine/basket_feed.c src/engine/itemsets.c \
	  src/model/cooc.c src/core/*.c $(shell pkg-config --cflags --libs libxxhash) -pthread -lm
	$(BUILD)/tsan_feed
	$(CC) -std=c17 -D_GNU_SOURCE -O1 -g -fsanitize=thread -Iinclude -Isrc -DTL_TSAN_STANDALONE \
	  -o $(BUILD)/tsan_scan_relay tests/unit/engine/test_scan_relay.c src/engine/scan_relay.c src/core/*.c \
	  $(shell pkg-config --cflags --libs libxxhash) -pthread -lm
	$(BUILD)/tsan_scan_relay
	$(MAKE) BUILD=$(BUILD)/tsan OPT="-O1 -g" SAN="-fsanitize=thread" $(BUILD)/tsan/tailor
	scripts/tsan-run $(BUILD)/tsan/tailor

valgrind: $(BUILD)/unit_tests
	valgrind --error-exitcode=1 --leak-check=full --trace-children=no $(BUILD)/unit_tests --jobs 1 --no-early-exit

lint:
	clang-format --dry-run --Werror $(LIB_SRC) $(CLI_SRC) $(wildcard src/*/*.h include/tailor/*.h)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance -Iinclude -Isrc src cli

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(UNIT_OBJ:.o=.d)
