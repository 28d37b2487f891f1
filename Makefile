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
COMMON := $(BUILD)/common/lab.o $(BUILD)/common/echo.o

# The folder the tests and scripts run the programs from.
export LAB_BUILD := $(abspath $(BUILD))

.PHONY: all test test-sanitize lab3 bench clean help
# The common objects are made by a pattern rule; keep them between builds.
.SECONDARY: $(COMMON)
all: $(DEMOS) $(TOOLS) $(BENCH)

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

test: all            ## run every test (T=tests/NAME.bats for one file)
	@scripts/run-tests.sh $(T)

test-sanitize:       ## the same tests against the sanitizer build
	@$(MAKE) --no-print-directory test SANITIZE=1

lab3: all            ## walk the whole lab: every demo, narrated, with a scoreboard
	@scripts/lab3.sh

bench: all           ## select vs poll vs epoll, mini_http vs nginx (slow; results in build/bench/)
	@scripts/bench.sh
	@scripts/bench_http.sh

clean:               ## remove build/
	rm -rf build

help:                ## this list
	@echo "make              build every demo into $(BUILD)/"
	@echo "make SANITIZE=1   build with AddressSanitizer + UBSan into build/sanitize/"
	@grep -E '^[a-z0-9-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | \
	    sed -E 's/^([a-z0-9-]+):[^#]*## /make \1|/' | awk -F'|' '{ printf "%-19s %s\n", $$1, $$2 }'
