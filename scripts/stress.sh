#!/usr/bin/env bash
# make stress: every echo server against a hostile crowd, then Ctrl-C in the
# middle of a second one. Loopback only, bounded in count and time; every
# process it starts is stopped by its PID, also on Ctrl-C.
#
# For each server (a fresh one each time):
#   1. a storm (tests/tools/echo_load storm): CLIENTS connections at once in
#      random chunks, one in ten resetting (RST) mid-stream, one in ten
#      vanishing mid-stream without reading, one in ten reading slowly;
#      every surviving client's echo is checked byte for byte;
#   2. afterwards its descriptor count must come back to what it was before,
#      and its peak resident memory (VmHWM) stay within a bound: what the
#      crowd may have pending (64 KiB each) plus 8 MiB (plain build only;
#      sanitizers keep freed memory on purpose);
#   3. a second storm, and SIGINT in the middle of it: the server must end
#      within 2 s, status 0, with its summary line.
# It prints one table row per server and exits 1 if any row failed.
# (mini_http's own storms live in scripts/stress_http.sh.)
#
# Usage: scripts/stress.sh [--quick] [SERVER...]
#   --quick   200 clients of 16 KiB instead of 1,000 of 64 KiB (CI's budget)
# Servers: blocking_echo nonblock_timeout select_server poll_server
#   epoll_server epoll_et_demo unix_server (default: all that are built).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# wait_for_line, wait_until_gone, stop_pid, open_descriptors
# shellcheck source=scripts/processes.sh
source "$root/scripts/processes.sh"
export LAB_BUILD="${LAB_BUILD:-$root/build}"
load="$LAB_BUILD/tools/echo_load"

clients=1000
bytes=64K
all_servers=(blocking_echo nonblock_timeout select_server poll_server epoll_server
    epoll_et_demo unix_server)
servers=()
while (($# > 0)); do
    case $1 in
    -h | --help)
        sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    --quick) clients=200 bytes=16K ;;
    -*) echo "stress: unknown option '$1' (try -h)" >&2; exit 2 ;;
    *)
        if [[ " ${all_servers[*]} " != *" $1 "* ]]; then
            echo "stress: unknown server '$1'; known: ${all_servers[*]}" >&2
            exit 2
        fi
        servers+=("$1")
        ;;
    esac
    shift
done
((${#servers[@]} > 0)) || servers=("${all_servers[@]}")

work=$(mktemp -d "${TMPDIR:-/tmp}/stress.XXXXXX")
started=()
cleanup() {
    local pid
    for pid in "${started[@]}"; do
        stop_pid "$pid" 2
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "stress: interrupted" >&2; exit 130' INT TERM

sanitizer_build=0
grep -q __asan_init "$load" 2>/dev/null && sanitizer_build=1

# How each server is started, and its storm's size. blocking_echo and
# nonblock_timeout serve one client at a time: the crowd waits in the
# listen queue, so their storms are smaller and get more time.
server_command() { # SERVER SOCKET_PATH -> the command line, one word a line
    case $1 in
    # -c 4096: its default reads 4 bytes at a time, which is its lesson, not a load.
    epoll_et_demo) printf '%s\n' "$LAB_BUILD/epoll_et_demo" --serve --mode et-drain -c 4096 -p 0 -q ;;
    unix_server) printf '%s\n' "$LAB_BUILD/unix_server" -s "$2" -q ;;
    *) printf '%s\n' "$LAB_BUILD/$1" -p 0 -q ;;
    esac
}
storm_size() { # SERVER -> "CLIENTS BYTES SECONDS EXTRA_OPTION"
    case $1 in
    # Their listen queue is 16: the kernel may reset some of the overflow.
    blocking_echo | nonblock_timeout) echo "$((clients / 5)) 4K 120 --allow-refused" ;;
    select_server) echo "$((clients + 100)) $bytes 120 --allow-refused" ;;
    *) echo "$clients $bytes 120 -" ;;
    esac
}

failures=0
printf '%-17s %-7s %-9s %-7s %-8s %-8s %-12s %-10s %-8s %s\n' server clients survivors resets \
    vanished refused "fds before/after" "peak RSS" "stop" result
for server in "${servers[@]}"; do
    if [[ ! -x $LAB_BUILD/$server ]]; then
        printf '%-17s (not built: skipped)\n' "$server"
        continue
    fi
    socket_path="$work/$server.sock"
    mapfile -t command < <(server_command "$server" "$socket_path")
    out="$work/$server.out"
    "${command[@]}" >"$out" 2>"$work/$server.err" </dev/null &
    pid=$!
    started+=("$pid")
    if ! wait_for_line "$out" '^listening on ' 10; then
        printf '%-17s FAIL: did not start\n' "$server"
        failures=$((failures + 1))
        continue
    fi
    if [[ $server == unix_server ]]; then
        target=(-U "$socket_path")
    else
        target=(-p "$(sed -n '1s/.*:\([0-9]*\)$/\1/p' "$out")")
    fi
    read -r count size seconds extra <<<"$(storm_size "$server")"
    options=()
    [[ $extra != - ]] && options+=("$extra")
    reasons=()
    sleep 0.2 # let the server finish its setup narration (descriptors settle)
    baseline=$(open_descriptors "$pid")
    baseline_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")

    # 1. The storm.
    result=$(timeout $((seconds + 10)) "$load" -t "$seconds" "${target[@]}" -n "$count" \
        -b "$size" -s "$RANDOM" "${options[@]}" storm)
    if [[ $result =~ ^ok\ clients=([0-9]+)\ survivors=([0-9]+)\ resets=([0-9]+)\ vanished=([0-9]+)\ refused=([0-9]+) ]]; then
        tally=("${BASH_REMATCH[@]:1}")
    else
        tally=("$count" - - - -)
        reasons+=("storm: ${result:-no result}")
    fi

    # 2. Nothing left behind, memory bounded.
    after=$baseline
    for _ in $(seq 100); do
        after=$(open_descriptors "$pid")
        ((after <= baseline)) && break
        sleep 0.1
    done
    ((after > baseline)) && reasons+=("$((after - baseline)) descriptors not given back")
    peak_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
    bound_kib=$((baseline_kib + count * 65 + 8192))
    if ((sanitizer_build == 0 && peak_kib > bound_kib)); then
        reasons+=("peak RSS ${peak_kib} KiB over the bound ${bound_kib} KiB")
    fi
    kill -0 "$pid" 2>/dev/null || reasons+=("the server died in the storm")

    # 3. A second storm, and SIGINT in the middle of it.
    timeout $((seconds + 10)) "$load" -t "$seconds" "${target[@]}" -n "$count" -b "$size" \
        -s "$RANDOM" "${options[@]}" storm >/dev/null 2>&1 &
    second=$!
    started+=("$second")
    for _ in $(seq 100); do
        (($(open_descriptors "$pid") >= baseline + count / 4)) && break
        sleep 0.02
    done
    signalled=$(date +%s%N)
    kill -s INT "$pid" 2>/dev/null
    stop_ms=-
    if wait_until_gone "$pid" 5; then
        stop_ms=$((($(date +%s%N) - signalled) / 1000000))
        status=0
        wait "$pid" 2>/dev/null || status=$?
        ((stop_ms > 2000)) && reasons+=("stopped ${stop_ms} ms after SIGINT")
        ((status != 0)) && reasons+=("exit status $status after SIGINT")
        [[ $(tail -n 1 "$out") == summary:* ]] || reasons+=("no summary line")
    else
        reasons+=("still running 5 s after SIGINT")
        stop_pid "$pid" 1
    fi
    stop_pid "$second" 2
    if [[ $server == unix_server && -e $socket_path ]]; then
        reasons+=("socket file left behind")
    fi
    if grep -qE 'Sanitizer|runtime error:' "$work/$server.err"; then
        reasons+=("sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error:' "$work/$server.err")")
    fi

    if ((${#reasons[@]} == 0)); then
        verdict=ok
    else
        verdict="FAIL: $(IFS=';'; echo "${reasons[*]}")"
        failures=$((failures + 1))
    fi
    printf '%-17s %-7s %-9s %-7s %-8s %-8s %-12s %-10s %-8s %s\n' "$server" "${tally[0]}" \
        "${tally[1]}" "${tally[2]}" "${tally[3]}" "${tally[4]}" "$baseline/$after" \
        "${peak_kib} KiB" "${stop_ms} ms" "$verdict"
done
if ((failures > 0)); then
    echo "stress: $failures server(s) failed"
    exit 1
fi
echo "stress: every server survived"
