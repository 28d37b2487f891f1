# shellcheck shell=bash
# SERVER_PORT, EXIT_STATUS... are set here for the test files to read.
# shellcheck disable=SC2034
# Shared helpers for the Lab 3 bats tests. Load with:  load helper
#
#   start_server NAME [ARGS...]   start build/NAME -p 0 ARGS; wait for its
#                                 "listening on" line; sets SERVER_PID,
#                                 SERVER_PORT, SERVER_OUT, SERVER_ERR
#   start_program NAME [ARGS...]  start any program in the background (stdout
#                                 to $BATS_TEST_TMPDIR/NAME.N.out); sets
#                                 PROGRAM_PID, PROGRAM_OUT, PROGRAM_ERR
#   wait_for_line FILE REGEX [SECONDS]   poll FILE until a line matches
#   wait_for_exit PID [SECONDS]   wait for a background child; its status in
#                                 EXIT_STATUS (124 if it did not end in time)
#   stop_server [SIGNAL]          signal the server (TERM), wait, EXIT_STATUS
#   open_descriptors PID          how many descriptors PID has open
#
# Every process started here is stopped by PID in teardown, and its stderr
# is checked for sanitizer reports.

bats_require_minimum_version 1.5.0

BUILD_DIR="${LAB_BUILD:-$BATS_TEST_DIRNAME/../build}"
STARTED_PIDS=()
STARTED_ERRS=()

# The program under test, as a path (tests call "$(bin NAME)").
bin() {
    echo "$BUILD_DIR/$1"
}

wait_for_line() {
    local file=$1 regex=$2 seconds=${3:-10}
    local deadline=$((SECONDS + seconds))
    until grep -qE -- "$regex" "$file" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "no line matching /$regex/ in $file after ${seconds}s; it has:" >&2
            sed 's/^/  | /' "$file" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.02
    done
}

start_program() {
    local name=$1
    shift
    local count=${#STARTED_PIDS[@]}
    PROGRAM_OUT="$BATS_TEST_TMPDIR/$name.$count.out"
    PROGRAM_ERR="$BATS_TEST_TMPDIR/$name.$count.err"
    # 3>&-: bats waits for every holder of descriptor 3 before it finishes.
    "$BUILD_DIR/$name" "$@" >"$PROGRAM_OUT" 2>"$PROGRAM_ERR" 3>&- &
    PROGRAM_PID=$!
    STARTED_PIDS+=("$PROGRAM_PID")
    STARTED_ERRS+=("$PROGRAM_ERR")
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
    local pid=$1 seconds=${2:-10}
    local deadline=$((SECONDS + seconds))
    while kill -0 "$pid" 2>/dev/null; do
        # A zombie has exited; wait reaps it below.
        [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
        if ((SECONDS >= deadline)); then
            EXIT_STATUS=124
            return 0
        fi
        sleep 0.02
    done
    EXIT_STATUS=0
    wait "$pid" || EXIT_STATUS=$?
}

stop_server() {
    local signal=${1:-TERM}
    kill -s "$signal" "$SERVER_PID"
    wait_for_exit "$SERVER_PID" 10
}

open_descriptors() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
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
        kill -s TERM "$pid" 2>/dev/null || continue
        wait_for_exit "$pid" 5
        if ((EXIT_STATUS == 124)); then
            kill -s KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
}

teardown() {
    stop_started_processes
    check_sanitizer_reports
}
