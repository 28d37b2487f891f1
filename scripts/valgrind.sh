#!/usr/bin/env bash
# make valgrind: memcheck over one scripted session of every server and a
# run of every one-shot program. Zero errors and zero definite or indirect
# leaks, or it fails: valgrind's exit status says so (--error-exitcode).
#
# A server's session: a handful of concurrent clients, a 1 MiB echo through
# tcp_client, a client that resets mid-stream, then SIGINT, which must end
# it cleanly (every descriptor closed, everything freed). Under valgrind a
# program runs 20 to 50 times slower, so deadlines here are generous.
# Loopback only; every process started is stopped by PID, also on Ctrl-C.
#
# Usage: scripts/valgrind.sh [PROGRAM...]   (default: every one that is built)
set -uo pipefail

case ${1:-} in
-h | --help)
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
# wait_for_line, wait_until_gone, stop_pid
# shellcheck source=scripts/processes.sh
source "$root/scripts/processes.sh"
build="${LAB_BUILD:-$root/build}"

if ! command -v valgrind >/dev/null; then
    echo "valgrind: not installed; install it with: sudo apt-get install valgrind" >&2
    exit 1
fi
if grep -q __asan_init "$build/poll_server" 2>/dev/null; then
    echo "valgrind: $build is a sanitizer build; valgrind needs the plain one" >&2
    exit 1
fi

leak_kinds=definite,indirect
memcheck=(valgrind -q --error-exitcode=99 --leak-check=full "--show-leak-kinds=$leak_kinds"
    "--errors-for-leak-kinds=$leak_kinds")
work=$(mktemp -d "${TMPDIR:-/tmp}/valgrind.XXXXXX")
started=()
cleanup() {
    local pid
    for pid in "${started[@]}"; do
        stop_pid "$pid" 5
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "valgrind: interrupted" >&2; exit 130' INT TERM

servers=(blocking_echo nonblock_timeout select_server poll_server epoll_server mini_http)
one_shots=(epoll_et_demo struct_pack_demo tcp_client)
failures=0
ran=0

# report NAME STATUS LOG: one line per run, the log shown on failure.
report() {
    ran=$((ran + 1))
    if (($2 == 0)); then
        printf '  %-40s ok\n' "$1"
    else
        printf '  %-40s FAIL (status %s)\n' "$1" "$2"
        sed 's/^/    | /' "$3"
        failures=$((failures + 1))
    fi
}

# session PORT_OR_PATH KIND: the scripted clients, each with a deadline.
session() {
    local target=$1 kind=$2
    head -c 1048576 /dev/urandom >"$work/sent"
    if [[ $kind == http ]]; then
        timeout 30 curl -s -o /dev/null -o /dev/null -o /dev/null \
            "http://127.0.0.1:$target/" "http://127.0.0.1:$target/" "http://127.0.0.1:$target/" || true
        timeout 30 curl -s -o /dev/null "http://127.0.0.1:$target/../../etc/passwd" || true
        printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n' |
            timeout 30 "$build/tcp_client" -q -p "$target" >/dev/null 2>&1 || true
        return 0
    fi
    local -a to=(-p "$target")
    [[ $kind == unix ]] && to=(-U "$target")
    local clients=5
    [[ $kind == serial ]] && clients=1
    timeout 120 "$build/tools/echo_load" -t 100 "${to[@]}" -n "$clients" -b 64K concurrent >/dev/null || true
    if [[ $kind == unix ]]; then
        timeout 120 "$build/unix_client" -q -s "$target" <"$work/sent" >"$work/received" || true
    else
        timeout 120 "$build/tcp_client" -q -p "$target" <"$work/sent" >"$work/received" || true
    fi
    cmp -s "$work/sent" "$work/received" || echo "    (the 1 MiB echo came back different)"
    timeout 60 "$build/tools/echo_load" -t 50 "${to[@]}" -b 1M reset >/dev/null || true
}

run_server() { # NAME KIND ARGS...
    local name=$1 kind=$2
    shift 2
    local out="$work/$name.out" log="$work/$name.log" pid status target
    "${memcheck[@]}" --log-file="$log" "$build/$name" "$@" >"$out" 2>&1 </dev/null &
    pid=$!
    started+=("$pid")
    if ! wait_for_line "$out" '^listening on ' 60; then
        stop_pid "$pid" 5
        cat "$out" >>"$log"
        report "$name $*" 1 "$log"
        return
    fi
    if [[ $kind == unix ]]; then
        target=$(sed -n '1s/^listening on //p' "$out")
    else
        target=$(sed -n '1s/.*:\([0-9]*\)$/\1/p' "$out")
    fi
    session "$target" "$kind"
    kill -s INT "$pid"
    if wait_until_gone "$pid" 60; then
        status=0
        wait "$pid" 2>/dev/null || status=$?
    else
        echo "still running 60 s after SIGINT" >>"$log"
        stop_pid "$pid" 5
        status=124
    fi
    [[ $(tail -n 1 "$out") == summary:* ]] || { echo "no summary line" >>"$log"; status=${status/#0/1}; }
    report "$name $*" "$status" "$log"
}

run_one_shot() { # NAME ARGS...
    local name=$1 log="$work/$1.$ran.log" status=0
    shift
    timeout 300 "${memcheck[@]}" --log-file="$log" "$build/$name" "$@" >/dev/null 2>&1 </dev/null ||
        status=$?
    report "$name $*" "$status" "$log"
}

wanted=("$@")
is_wanted() {
    ((${#wanted[@]} == 0)) && return 0
    [[ " ${wanted[*]} " == *" $1 "* ]]
}

echo "valgrind memcheck on $build"
for name in "${servers[@]}" epoll_et_demo unix_server; do
    if ! is_wanted "$name" || [[ ! -x $build/$name ]]; then continue; fi
    case $name in
    blocking_echo) run_server "$name" serial -p 0 ;;
    nonblock_timeout) run_server "$name" serial -p 0
        run_server "$name" serial --mode timeout -t 2 -p 0
        ;;
    mini_http) run_server "$name" http -p 0 ;;
    epoll_et_demo)
        run_server "$name" tcp --serve --mode lt -p 0
        run_server "$name" tcp --serve --mode et-drain -p 0
        ;;
    unix_server) run_server "$name" unix -s "$work/valgrind.sock" ;;
    *) run_server "$name" tcp -p 0 ;;
    esac
done
for name in "${one_shots[@]}"; do
    if ! is_wanted "$name" || [[ ! -x $build/$name ]]; then continue; fi
    case $name in
    epoll_et_demo)
        run_one_shot "$name" --mode lt
        run_one_shot "$name" --mode et
        run_one_shot "$name" --mode et-drain
        ;;
    struct_pack_demo)
        run_one_shot "$name"
        run_one_shot "$name" pack '!i5sf' 1 zhang 1.75
        run_one_shot "$name" unpack '<hq' 0500ffffffffffffff7f
        run_one_shot "$name" calcsize '@bhiqd'
        ;;
    tcp_client)
        # A server to talk to: the plain build of poll_server.
        local_out="$work/peer.out"
        "$build/poll_server" -p 0 -q >"$local_out" 2>&1 </dev/null &
        peer=$!
        started+=("$peer")
        if wait_for_line "$local_out" '^listening on ' 10; then
            port=$(sed -n '1s/.*:\([0-9]*\)$/\1/p' "$local_out")
            run_one_shot tcp_client -q -p "$port" -m "hello under valgrind"
        fi
        stop_pid "$peer" 5
        ;;
    esac
done

if ((ran == 0)); then
    echo "valgrind: nothing to run (build first: make)" >&2
    exit 1
fi
if ((failures > 0)); then
    echo "valgrind: $failures of $ran runs failed"
    exit 1
fi
echo "valgrind: $ran runs, no errors, no leaks"
