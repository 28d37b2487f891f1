#!/usr/bin/env bash
# make stress (second part): mini_http against hostile and heavy clients.
#   slowloris   500 connections sending a head one byte every 2 s, while
#               normal clients keep asking: each must be answered within 1 s
#   keepalive   1,000 keep-alive connections at once, 5 requests each
#   resets      200 clients that reset (RST) after the first bytes of a 20 MiB
#               answer
#   pipeline    1,000 requests in one write on one connection, answered in order
# Then: the descriptors it holds back to what it held before (its open-file
# cache aside: files it keeps open for a second), peak memory bounded, and
# SIGINT during a second keep-alive storm ends it within 2 s with its summary.
# The clients are tests/tools/http_storm.py (python3, standard library).
# Loopback only, bounded in count and time; every process stopped by PID.
#
# Usage: scripts/stress_http.sh [--quick]   (--quick: a tenth of the counts)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# wait_for_line, wait_until_gone, stop_pid, open_descriptors
# shellcheck source=scripts/processes.sh
source "$root/scripts/processes.sh"
export LAB_BUILD="${LAB_BUILD:-$root/build}"
storm=(python3 "$root/tests/tools/http_storm.py")
scale=1
case ${1:-} in
-h | --help)
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
--quick) scale=10 ;;
'') ;;
*) echo "stress_http: unknown argument '$1' (try -h)" >&2; exit 2 ;;
esac
if [[ ! -x $LAB_BUILD/mini_http ]]; then
    echo "stress_http: $LAB_BUILD/mini_http is not built (make)"
    exit 1
fi
if ! command -v python3 >/dev/null; then
    echo "stress_http: skipped: python3 is not installed (sudo apt-get install python3)"
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/stress_http.XXXXXX")
started=()
cleanup() {
    local pid
    for pid in "${started[@]}"; do stop_pid "$pid" 2; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "stress_http: interrupted" >&2; exit 130' INT TERM

mkdir "$work/root"
cp -r "$root/demos/www/." "$work/root/"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$work/root/big"
"$LAB_BUILD/mini_http" -p 0 -q -r "$work/root" -t 5 >"$work/out" 2>"$work/err" </dev/null &
pid=$!
started+=("$pid")
wait_for_line "$work/out" '^listening on ' 10 || { echo "stress_http: did not start"; exit 1; }
port=$(sed -n '1s/.*:\([0-9]*\)$/\1/p' "$work/out")
sleep 0.2
baseline=$(open_descriptors "$pid")
failures=0

printf '%-10s %-8s %s\n' storm result detail
run_storm() { # NAME ARGS...
    local name=$1 result
    shift
    result=$(timeout 180 "${storm[@]}" "$name" -p "$port" "$@" 2>&1 | tail -n 1)
    if [[ $result == "ok $name"* ]]; then
        printf '%-10s %-8s %s\n' "$name" ok "${result#ok "$name" }"
    else
        printf '%-10s %-8s %s\n' "$name" FAIL "${result:-no result}"
        failures=$((failures + 1))
    fi
}
run_storm slowloris -n $((500 / scale)) -s $((10 / scale + 4))
run_storm keepalive -n $((1000 / scale)) -r 5
run_storm resets -n $((200 / scale)) --path /big
run_storm pipeline -n $((1000 / scale))

# Descriptors: the cache may keep a couple of files open for a second.
after=0
for _ in $(seq 50); do
    after=$(open_descriptors "$pid")
    ((after <= baseline + 2)) && break
    sleep 0.1
done
peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
detail="descriptors $baseline before, $after after; peak RSS $peak KiB"
if ((after > baseline + 2)); then
    printf '%-10s %-8s %s\n' leftovers FAIL "$detail"
    failures=$((failures + 1))
else
    printf '%-10s %-8s %s\n' leftovers ok "$detail"
fi

# SIGINT in the middle of a second storm.
timeout 60 "${storm[@]}" keepalive -p "$port" -n $((1000 / scale)) -r 50 >/dev/null 2>&1 &
started+=("$!")
sleep 0.5
signalled=$(date +%s%N)
kill -s INT "$pid"
if wait_until_gone "$pid" 5; then
    stop_ms=$((($(date +%s%N) - signalled) / 1000000))
    status=0
    wait "$pid" || status=$?
    if ((stop_ms <= 2000 && status == 0)) && [[ $(tail -n 1 "$work/out") == summary:* ]]; then
        printf '%-10s %-8s %s\n' sigint ok "ended ${stop_ms} ms after SIGINT; $(tail -n 1 "$work/out")"
    else
        printf '%-10s %-8s %s\n' sigint FAIL "${stop_ms} ms, status $status, last line: $(tail -n 1 "$work/out")"
        failures=$((failures + 1))
    fi
else
    printf '%-10s %-8s %s\n' sigint FAIL "still running 5 s after SIGINT"
    failures=$((failures + 1))
fi
if grep -qE 'Sanitizer|runtime error:' "$work/err"; then
    echo "stress_http: sanitizer report:"
    cat "$work/err"
    failures=$((failures + 1))
fi
((failures == 0)) || { echo "stress_http: $failures check(s) failed"; exit 1; }
echo "stress_http: mini_http survived every storm"
