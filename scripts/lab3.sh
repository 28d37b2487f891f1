#!/usr/bin/env bash
# make lab3: walk the whole lab, one scenario per demo, in the order of the
# course notes. Each scenario starts its demo on a free port, drives it with
# scripted clients, shows the demo's own narration, and checks that the
# lesson really happened. A scoreboard ends the run; the exit status is 1 if
# any scenario failed.
#
# Scenarios live in scripts/scenarios/NN-DEMO.sh, one per demo, each
# defining run_scenario (see 20-blocking_echo.sh for the pattern). A demo
# that is not built is skipped. Loopback only, no root; every process
# started here is stopped by its PID and the scratch folder is removed, also
# on Ctrl-C.
#
# Usage: scripts/lab3.sh [DEMO...]   (default: every scenario)
# DEMO_PORT, DEMO_STATUS... are set here for the scenario files to read.
# shellcheck disable=SC2034
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# wait_for_line, wait_until_gone, stop_pid, open_descriptors
# shellcheck source=scripts/processes.sh
source "$root/scripts/processes.sh"
export LAB_BUILD="${LAB_BUILD:-$root/build}"
work=$(mktemp -d "${TMPDIR:-/tmp}/lab3.XXXXXX")
results="$work/results"
: >"$results"
interrupted=0

if [[ -t 1 ]]; then
    bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' dim=$'\e[2m' plain=$'\e[0m'
else
    bold='' green='' red='' dim='' plain=''
fi

# ---- What a scenario may call ------------------------------------------

STARTED_PIDS=()
FAILED_CHECKS=0

# heading TITLE: the course-notes topic this scenario teaches.
heading() {
    printf '\n%s== %s ==%s\n' "$bold" "$1" "$plain"
}

# say TEXT: a line of explanation for the student.
say() {
    printf '%s\n' "$*"
}

# start_demo NAME [ARGS...]: start build/NAME -p 0 ARGS; wait for its
# "listening on" line. Sets DEMO_PID, DEMO_PORT, DEMO_OUT.
start_demo() {
    local name=$1
    shift
    DEMO_OUT="$work/$name.${#STARTED_PIDS[@]}.out"
    "$LAB_BUILD/$name" -p 0 "$@" >"$DEMO_OUT" 2>&1 &
    DEMO_PID=$!
    STARTED_PIDS+=("$DEMO_PID")
    if ! wait_for_line "$DEMO_OUT" '^listening on ' 10; then
        say "$name did not start"
        return 1
    fi
    DEMO_PORT=$(sed -n '1s/.*:\([0-9]*\)$/\1/p' "$DEMO_OUT")
}

# start_background COMMAND...: run a client in the background, remembered
# for cleanup. Sets BACKGROUND_PID.
start_background() {
    "$@" &
    BACKGROUND_PID=$!
    STARTED_PIDS+=("$BACKGROUND_PID")
}

# wait_for_demo_exit SECONDS: wait for the demo to end; one that is still
# running then is killed (status 137). Sets DEMO_STATUS.
wait_for_demo_exit() {
    wait_until_gone "$DEMO_PID" "$1" || kill -s KILL "$DEMO_PID" 2>/dev/null
    DEMO_STATUS=0
    wait "$DEMO_PID" 2>/dev/null || DEMO_STATUS=$?
}

# stop_demo [SIGNAL]: send SIGINT (the student's Ctrl-C) and wait for the
# demo to exit. Sets DEMO_STATUS.
stop_demo() {
    kill -s "${1:-INT}" "$DEMO_PID" 2>/dev/null
    wait_for_demo_exit 10
}

# show_transcript [FILE]: the demo's narration, indented (default DEMO_OUT).
show_transcript() {
    local file=${1:-$DEMO_OUT}
    printf '%s--- what the demo said ---%s\n' "$dim" "$plain"
    sed 's/^/  | /' "$file"
    printf '%s--------------------------%s\n' "$dim" "$plain"
}

# check DESCRIPTION COMMAND...: run the check, print PASS/FAIL beside it.
check() {
    local description=$1
    shift
    if "$@"; then
        printf '  %scheck: %s: ok%s\n' "$green" "$description" "$plain"
    else
        printf '  %scheck: %s: FAILED%s\n' "$red" "$description" "$plain"
        FAILED_CHECKS=$((FAILED_CHECKS + 1))
    fi
}

stop_started() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid" 3
    done
    STARTED_PIDS=()
}

# ---- The runner ----------------------------------------------------------

# run_one FILE: one scenario. Always run as `run_one FILE &`: that
# background subshell is the scenario's own, so scenarios cannot collide,
# and it is the process the runner signals; whatever way it ends, it stops
# what it started.
run_one() {
    trap stop_started EXIT
    trap 'exit 130' TERM
    # shellcheck source=/dev/null
    source "$1"
    run_scenario && ((FAILED_CHECKS == 0))
}

on_interrupt() {
    interrupted=1
}
trap on_interrupt INT TERM
trap 'rm -rf "$work"' EXIT

printf '%sLab 3: I/O models and local IPC%s (programs from %s)\n' "$bold" "$plain" "$LAB_BUILD"
for file in "$root"/scripts/scenarios/[0-9]*.sh; do
    base=$(basename "$file" .sh)
    name=${base#*-}
    if (($# > 0)) && [[ " $* " != *" $name "* ]]; then
        continue
    fi
    if [[ ! -x $LAB_BUILD/$name ]]; then
        printf '%s - not built, skipped\n' "$name"
        continue
    fi
    started=$SECONDS
    # In the background, with wait: a signal interrupts wait at once, and
    # on_interrupt runs. (Run in the foreground, bash would drop a Ctrl-C
    # whenever the command the scenario was running - a demo, a client -
    # handled SIGINT and exited normally, as every program here does.) The
    # scenario is then told with SIGTERM, and waited for while it cleans up.
    run_one "$file" &
    scenario_pid=$!
    status=0
    wait "$scenario_pid" || status=$?
    if ((interrupted)); then
        kill -s TERM "$scenario_pid" 2>/dev/null
        wait "$scenario_pid" 2>/dev/null
    fi
    if ((status == 0)); then verdict=PASS; else verdict=FAIL; fi
    ((interrupted)) && verdict=STOPPED
    printf '%s %s %d\n' "$name" "$verdict" $((SECONDS - started)) >>"$results"
    ((interrupted)) && break
done

printf '\n%sScoreboard%s\n' "$bold" "$plain"
printf '  %-20s %-8s %s\n' scenario result seconds
failures=0
while read -r name verdict seconds; do
    colour=$green
    if [[ $verdict != PASS ]]; then
        colour=$red
        failures=$((failures + 1))
    fi
    printf '  %-20s %s%-8s%s %s\n' "$name" "$colour" "$verdict" "$plain" "$seconds"
done <"$results"
passed=$(grep -c ' PASS ' "$results")
echo "lab3: $passed passed, $failures failed"
((interrupted)) && exit 130
((failures == 0 && passed > 0))
