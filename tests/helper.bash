# shellcheck shell=bash
# SERVER_PORT, EXIT_STATUS... are set here for the test files to read.
# shellcheck disable=SC2034
# Shared helpers for the Lab 3 bats tests. Load with:  load helper
#
#   start_server NAME [ARGS...]   start build/NAME -p 0 ARGS; wait for its
#                                 "listening on" line; sets SERVER_PID,
#                                 SERVER_PORT, SERVER_OUT, SERVER_ERR
#   start_program NAME [ARGS...]  start any program in the background (stdout
#                                 to $BATS_TEST_TMPDIR/NAME.N.out, stdin from
#                                 /dev/null); sets PROGRAM_PID, PROGRAM_OUT,
#                                 PROGRAM_ERR
#   start_program_holding_stdin NAME [ARGS...]   the same, with a stdin that
#                                 never ends (for tcp_client --idle, flood)
#   wait_for_line FILE REGEX [SECONDS]   poll FILE until a line matches
#   wait_for_exit PID [SECONDS]   wait for a background child; its status in
#                                 EXIT_STATUS (124 if it did not end in time)
#   stop_server [SIGNAL]          signal the server (TERM), wait, EXIT_STATUS
#   open_descriptors PID          how many descriptors PID has open
#   lowest_free_descriptor PID    the number its next descriptor gets
#   wait_for_descriptors PID -eq|-ge COUNT [SECONDS]
#   resident_kib PID, cpu_ticks PID, now_ms, is_sanitizer_build NAME
#   remember_pid PID [STDERR_FILE]   stop it in teardown too
#
# Every process started here is stopped by PID in teardown, and its stderr
# is checked for sanitizer reports.

bats_require_minimum_version 1.5.0

# wait_for_line, wait_until_gone, stop_pid, open_descriptors
# shellcheck source=scripts/processes.sh
source "$BATS_TEST_DIRNAME/../scripts/processes.sh"

BUILD_DIR="${LAB_BUILD:-$BATS_TEST_DIRNAME/../build}"
STARTED_PIDS=()
STARTED_ERRS=()

# The program under test, as a path (tests call "$(bin NAME)").
bin() {
    echo "$BUILD_DIR/$1"
}

start_program() {
    start_with_stdin /dev/null "$@"
}

# Like start_program, but stdin is a FIFO that the program itself holds open
# for reading and writing: it never sees end of input, so a client that lets
# go at EOF (tcp_client --idle, echo_load flood) holds until it is signalled.
# (A background job in a script gets /dev/null as stdin unless the command
# itself redirects it.) PROGRAM_STDIN is the FIFO, to write into later.
start_program_holding_stdin() {
    PROGRAM_STDIN="$BATS_TEST_TMPDIR/${1##*/}.${#STARTED_PIDS[@]}.stdin"
    mkfifo "$PROGRAM_STDIN"
    start_with_stdin "$PROGRAM_STDIN" "$@"
}

start_with_stdin() {
    local input=$1 name=$2
    shift 2
    local base="$BATS_TEST_TMPDIR/${name##*/}.${#STARTED_PIDS[@]}"
    PROGRAM_OUT="$base.out"
    PROGRAM_ERR="$base.err"
    # 3>&-: bats waits for every holder of descriptor 3 before it finishes.
    "$BUILD_DIR/$name" "$@" 0<>"$input" >"$PROGRAM_OUT" 2>"$PROGRAM_ERR" 3>&- &
    PROGRAM_PID=$!
    remember_pid "$PROGRAM_PID" "$PROGRAM_ERR"
}

# remember_pid PID [STDERR_FILE]: a process this test started some other
# way, to be stopped in teardown (and its stderr checked for sanitizer reports).
remember_pid() {
    STARTED_PIDS+=("$1")
    [[ -n ${2:-} ]] && STARTED_ERRS+=("$2")
    return 0
}

start_server() {
    local name=$1
    shift
    start_program "$name" -p 0 "$@"
    SERVER_PID=$PROGRAM_PID
    SERVER_OUT=$PROGRAM_OUT
    SERVER_ERR=$PROGRAM_ERR
    if ! wait_for_line "$SERVER_OUT" '^listening on ' 10; then
        sed 's/^/  stderr| /' "$SERVER_ERR" >&2
        return 1
    fi
    # The contract: the first line is exactly "listening on ADDR:PORT".
    local first
    first=$(head -n 1 "$SERVER_OUT")
    [[ $first =~ ^listening\ on\ .*:([0-9]+)$ ]] || {
        echo "first line is not 'listening on ADDR:PORT': $first" >&2
        return 1
    }
    SERVER_PORT=${BASH_REMATCH[1]}
}

wait_for_exit() {
    if ! wait_until_gone "$1" "${2:-10}"; then
        EXIT_STATUS=124
        return 0
    fi
    EXIT_STATUS=0
    wait "$1" || EXIT_STATUS=$?
}

stop_server() {
    local signal=${1:-TERM}
    kill -s "$signal" "$SERVER_PID"
    wait_for_exit "$SERVER_PID" 10
}

# wait_for_descriptors PID COMPARISON COUNT [SECONDS]: poll until the number
# of open descriptors of PID is -eq (exactly) or -ge (at least) COUNT.
wait_for_descriptors() {
    local pid=$1 comparison=$2 count=$3 seconds=${4:-10}
    local deadline=$((SECONDS + seconds)) now
    while now=$(open_descriptors "$pid"); do
        case $comparison in
        -eq) ((now == count)) && return 0 ;;
        -ge) ((now >= count)) && return 0 ;;
        *) echo "wait_for_descriptors: unknown comparison $comparison" >&2; return 1 ;;
        esac
        if ((SECONDS >= deadline)); then
            echo "process $pid has $now descriptors open, expected $comparison $count" >&2
            return 1
        fi
        sleep 0.05
    done
}

# Resident memory of a process, in KiB.
resident_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# lowest_free_descriptor PID: the number PID's next accept() or open() gets
# (inherited descriptors can leave gaps, so a count of open ones is not it).
lowest_free_descriptor() {
    local fd=0
    while [ -e "/proc/$1/fd/$fd" ]; do
        fd=$((fd + 1))
    done
    echo "$fd"
}

# User + system CPU time of a process, in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the ")" that ends the command name).
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# Milliseconds since the epoch, for timing a command.
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# The sanitizer build keeps freed memory on purpose: no RSS bounds there.
is_sanitizer_build() {
    grep -q __asan_init "$(bin "$1")"
}

# Fails the test if any program started here printed a sanitizer report.
check_sanitizer_reports() {
    local err
    for err in "${STARTED_ERRS[@]}"; do
        if grep -qE 'Sanitizer|runtime error:' "$err" 2>/dev/null; then
            echo "sanitizer report in $err:" >&2
            cat "$err" >&2
            return 1
        fi
    done
}

stop_started_processes() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid" 5
    done
}

teardown() {
    stop_started_processes
    check_sanitizer_reports
}

# ---- A stop must never wait for the load ------------------------------------

# expect_prompt_stop SIGNAL SECONDS: signal the server and require it to end
# within SECONDS, with status 0 and a summary line last. Measured in
# milliseconds: SECONDS is the promise of DESIGN.md ("at once"), generous
# enough for a busy machine, far below "when the load stops".
expect_prompt_stop() {
    local signal=$1 limit_ms=$(($2 * 1000)) started elapsed
    started=$(now_ms)
    kill -s "$signal" "$SERVER_PID"
    while kill -0 "$SERVER_PID" 2>/dev/null \
        && [[ $(awk '{ print $3 }' "/proc/$SERVER_PID/stat" 2>/dev/null) != Z ]]; do
        elapsed=$(($(now_ms) - started))
        if ((elapsed > limit_ms)); then
            echo "still running ${elapsed} ms after SIG$signal; it ends with:" >&2
            tail -n 5 "$SERVER_OUT" | sed 's/^/  | /' >&2
            return 1
        fi
        sleep 0.02
    done
    elapsed=$(($(now_ms) - started))
    EXIT_STATUS=0
    wait "$SERVER_PID" || EXIT_STATUS=$?
    echo "ended ${elapsed} ms after SIG$signal, status $EXIT_STATUS"
    [ "$EXIT_STATUS" -eq 0 ]
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\  ]]
}

# wait_until_busy PID TICKS [SECONDS]: poll until PID has used TICKS more
# clock ticks of CPU: proof that the load is really flowing through it.
wait_until_busy() {
    local pid=$1 wanted=$2 seconds=${3:-20} start now
    start=$(cpu_ticks "$pid")
    local deadline=$((SECONDS + seconds))
    while now=$(cpu_ticks "$pid"); ((now - start < wanted)); do
        if ((SECONDS >= deadline)); then
            echo "process $pid used only $((now - start)) ticks in ${seconds}s" >&2
            return 1
        fi
        sleep 0.05
    done
}

# check_stop_under_load NAME [ARGS...]: start_server NAME ARGS; four clients
# stream /dev/zero through it as fast as they can, reading their echo as
# they go, so its receive queues are never empty; once it is busy, SIGINT.
# It must stop within 2 s. (A wait that returns ready descriptors without
# delivering a pending signal - pselect, ppoll, epoll_pwait - kept such a
# server running for as long as the load lasted.)
check_stop_under_load() {
    start_server "$@" -q
    local streamer
    for streamer in 1 2 3 4; do
        # The echo goes to /dev/null: gigabytes of zeros.
        timeout 60 "$(bin tcp_client)" -q -p "$SERVER_PORT" </dev/zero >/dev/null \
            2>"$BATS_TEST_TMPDIR/streamer.$streamer.err" 3>&- &
        remember_pid $! "$BATS_TEST_TMPDIR/streamer.$streamer.err"
    done
    wait_until_busy "$SERVER_PID" 100
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill -0 "$pid" # all still streaming when the signal lands
    done
    expect_prompt_stop INT 2
}

# check_blocking_accept_shortage NAME [ARGS...]: a blocking accept() loop
# with no descriptor free. Linux fails accept() at once then, client or
# not, so a server that only logs and retries fills its log ten lines a
# second. Ours says it once, sleeps between tries (no busy loop), and
# takes the waiting client as soon as the limit allows.
check_blocking_accept_shortage() {
    command -v prlimit >/dev/null || skip "prlimit (util-linux) is not installed"
    start_server "$@"
    local limit
    limit=$(lowest_free_descriptor "$SERVER_PID")
    prlimit --pid "$SERVER_PID" --nofile="$limit:" # the soft limit, so it can go up again
    # The accept() already waiting took its descriptor before the limit.
    run --separate-stderr timeout 10 "$(bin tcp_client)" -q -p "$SERVER_PORT" -m 'the last one in'
    # shellcheck disable=SC2154 # output comes from bats' run
    [ "$output" = 'the last one in' ]
    wait_for_line "$SERVER_OUT" '^accept\(\) failed.*\(EMFILE\)$'
    start_program tcp_client -q -p "$SERVER_PORT" -m 'queued through the shortage'
    local client=$PROGRAM_PID
    local before after
    before=$(cpu_ticks "$SERVER_PID")
    sleep 0.6 # six tries
    after=$(cpu_ticks "$SERVER_PID")
    [ "$(grep -c 'EMFILE' "$SERVER_OUT")" -eq 1 ]
    grep -qx 'accept() failed; trying again every 100 ms until a descriptor is free: Too many open files (EMFILE)' "$SERVER_OUT"
    echo "CPU over 0.6 s: $((after - before)) ticks"
    ((after - before <= 10))
    kill -0 "$client" # still waiting for its echo

    prlimit --pid "$SERVER_PID" --nofile="$((limit + 8)):"
    wait_for_exit "$client" 5
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(cat "$PROGRAM_OUT")" = 'queued through the shortage' ]
    grep -q 'the descriptor shortage is over' "$SERVER_OUT"
    [ "$(grep -c 'EMFILE' "$SERVER_OUT")" -eq 1 ]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
}

# check_stop_while_writing NAME [ARGS...]: a client sends 8 MiB and never
# reads, so the server's echo to it backs up (a blocking server sits inside
# send()); SIGINT must end it within 2 s anyway. Then the same with SIGTERM.
check_stop_while_writing() {
    local signal
    for signal in INT TERM; do
        start_server "$@" -q
        start_program_holding_stdin tools/echo_load -t 60 -p "$SERVER_PORT" -b 8M flood
        wait_for_line "$PROGRAM_OUT" '^flood: (stalled after|sent all) ' 30
        expect_prompt_stop "$signal" 2
    done
}
