# shellcheck shell=bash
# Waiting for and stopping the processes a script started. Sourced by
# scripts/lab3.sh, scripts/bench.sh and tests/helper.bash, so that all three
# mean the same by "ready", "gone" and "stopped". Every function is safe
# under set -e, and a process is only ever stopped by the PID its starter
# saved.

# wait_for_line FILE REGEX [SECONDS]: poll FILE until a line matches. After
# SECONDS (default 10) say so on stderr with the end of FILE, and return 1.
wait_for_line() {
    local file=$1 regex=$2 seconds=${3:-10}
    local deadline=$((SECONDS + seconds))
    until grep -qE -- "$regex" "$file" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "no line matching /$regex/ in $file after ${seconds}s; it ends with:" >&2
            tail -n 20 "$file" 2>/dev/null | sed 's/^/  | /' >&2
            return 1
        fi
        sleep 0.02
    done
}

# wait_until_gone PID SECONDS: poll until PID has exited (a zombie counts:
# it has, and only waits for its parent to reap it) or SECONDS have passed;
# 1 if it is still running.
wait_until_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) == Z ]] && return 0
        ((SECONDS >= deadline)) && return 1
        sleep 0.02
    done
    return 0
}

# stop_pid PID [SECONDS]: SIGTERM, up to SECONDS (default 5) for it to end,
# SIGKILL if it has not, then reap it. A process already gone is fine.
stop_pid() {
    local pid=$1
    if kill -s TERM "$pid" 2>/dev/null && ! wait_until_gone "$pid" "${2:-5}"; then
        kill -s KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# open_descriptors PID: how many descriptors PID has open.
open_descriptors() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}
