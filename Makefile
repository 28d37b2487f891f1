# Lab 3 - build every demo into build/, run the tests, walk the lab.
#
#   make              build every demo (build/NAME)
#   make SANITIZE=1   the same with AddressSanitizer + UBSan, into build/sanitize/
#   make help         every target on one screen

CC      ?= cc
CFLAGS  ?= -std=c11 -Wall -Wextra -Werror -O2 -g
LDLIBS  ?= -lm

ifeq ($(SANITIZE),1)
BUILD   ?= build/sanitize
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else
BUILD   ?= build
endif

DEMOS  := $(patsubst demos/%.c,$(BUILD)/%,$(wildcard demos/*.c))
TOOLS  := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(wildcard tests/tools/*.c))
BENCH  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
# Fuzz targets: tests/fuzz/NAME_fuzz.c, each with tests/fuzz/NAME_corpus/.
# `make` builds NAME_replay (every input run once, any compiler) for make
# test; `make fuzz` builds them with clang's libFuzzer and runs them.
FUZZ_NAMES := $(patsubst tests/fuzz/%_fuzz.c,%,$(wildcard tests/fuzz/*_fuzz.c))
REPLAYS := $(patsubst %,$(BUILD)/fuzz/%_replay,$(FUZZ_NAMES))
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
COMMON := $(BUILD)/common/lab.o $(BUILD)/common/echo.o

# The folder the tests and scripts run the programs from.
export LAB_BUILD := $(abspath $(BUILD))

.PHONY: all test test-sanitize lab3 bench stress valgrind fuzz lint clean help
# The common objects are made by a pattern rule; keep them between builds.
.SECONDARY: $(COMMON)
all: $(DEMOS) $(TOOLS) $(BENCH) $(REPLAYS)

$(BUILD)/common/%.o: common/%.c common/lab.h common/echo.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/%: demos/%.c $(COMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Icommon -o $@ $< $(COMMON) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c $(COMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Icommon -o $@ $< $(COMMON) $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(COMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Icommon -o $@ $< $(COMMON) $(LDFLAGS) $(LDLIBS)

# A fuzz target includes the demo it tests (main renamed), so it depends on it.
$(BUILD)/fuzz/%_replay: tests/fuzz/%_fuzz.c tests/fuzz/replay.c $(wildcard demos/*.c) $(COMMON)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Icommon -o $@ $< tests/fuzz/replay.c $(COMMON) $(LDFLAGS) $(LDLIBS)

build/fuzz/%: tests/fuzz/%_fuzz.c $(wildcard demos/*.c) common/lab.c common/echo.c common/lab.h common/echo.h
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=c11 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -Icommon -o $@ $< common/lab.c common/echo.c -lm

test: all            ## run every test (T=tests/NAME.bats for one file)
	@scripts/run-tests.sh $(T)

test-sanitize:       ## the same tests against the sanitizer build
	@$(MAKE) --no-print-directory test SANITIZE=1

lab3: all            ## walk the whole lab, narrated, with a scoreboard (ONLY="NAME..." for some)
	@scripts/lab3.sh $(if $(ONLY),--only $(ONLY))

bench: all           ## every benchmark, one summary table (QUICK=1: about a minute; results in build/bench/)
	@scripts/bench_all.sh $(if $(QUICK),--quick)

stress: all          ## every echo server and mini_http against hostile crowds, then SIGINT (QUICK=1)
	@scripts/stress.sh $(if $(QUICK),--quick)
	@scripts/stress_http.sh $(if $(QUICK),--quick)

valgrind: all        ## memcheck over a session of every server and one-shot program
	@scripts/valgrind.sh

fuzz: $(patsubst %,build/fuzz/%,$(FUZZ_NAMES)) ## libFuzzer on every target, FUZZ_SECONDS each (default 60)
	@scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)

lint:                ## cppcheck, clang-tidy (.clang-tidy) and shellcheck: zero findings
	@scripts/lint.sh

clean:               ## remove build/
	rm -rf build

help:                ## this list
	@echo "make              build every demo into $(BUILD)/"
	@echo "make SANITIZE=1   build with AddressSanitizer + UBSan into build/sanitize/"
	@grep -E '^[a-z0-9-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | \
	    sed -E 's/^([a-z0-9-]+):[^#]*## /make \1|/' | awk -F'|' '{ printf "%-19s %s\n", $$1, $$2 }'
