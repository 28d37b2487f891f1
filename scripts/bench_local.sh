#!/usr/bin/env bash
# A local (Unix domain) socket against TCP over loopback, measured here.
#
# The same echo round trip through both: unix_client --count N --size BYTES
# to unix_server, and tcp_client --count N --size BYTES to epoll_server
# (both servers on epoll and the lab's echo module, so the transport is
# the difference). Each message goes out, comes back whole and is checked
# before the next one goes: one round trip per message. For each message
# size (64 B, 4 KiB, 64 KiB) and each round, the two take turns (who goes
# first alternates by round); the table shows the median, the spread (the
# lowest and highest round) and the ratio of the medians. The server and
# its client are pinned to one CPU, as in scripts/bench.sh, so that the
# scheduler's choice of cores does not decide the result.
#
# Every run is kept in $LAB_BUILD/bench/local_sockets.csv and the table in
# $LAB_BUILD/bench/local_sockets_summary.csv.
#
# Usage: scripts/bench_local.sh [--quick] [-h]
#   --quick   fewer messages and 3 rounds, to check that it works
# Settings (environment): BENCH_LOCAL_ROUNDS (rounds, default 7),
#   BENCH_CPU (the CPU to pin to with taskset; default the last one;
#   "none": not pinned).
#
# If tcp_client has no --count yet, only the Unix socket half runs, and it
# says so. Loopback only. Every process it starts is stopped by its PID on
# exit, also on Ctrl-C; every client has a deadline.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# wait_for_line, wait_until_gone, stop_pid
# shellcheck source=scripts/processes.sh
source "$root/scripts/processes.sh"
export LAB_BUILD="${LAB_BUILD:-$root/build}"

rounds=${BENCH_LOCAL_ROUNDS:-7}
# size:count - about the same time per measurement for each size.
plan="64:20000 4096:10000 65536:2000"
case ${1:-} in
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
--quick)
    rounds=3
    plan="64:2000 4096:1000 65536:200"
    ;;
'') ;;
*)
    echo "bench_local: unknown argument '$1' (try -h)" >&2
    exit 2
    ;;
esac

pin=()
cpu=${BENCH_CPU:-$(($(nproc) - 1))}
if [[ $cpu != none ]] && command -v taskset >/dev/null; then
    pin=(taskset -c "$cpu")
fi

out="$LAB_BUILD/bench"
mkdir -p "$out"
csv="$out/local_sockets.csv"
summary="$out/local_sockets_summary.csv"
# Not under $TMPDIR: the socket path must fit in sun_path (107 bytes).
work=$(mktemp -d /tmp/l3bench.XXXXXX)
socket_path="$work/bench.sock"

STARTED_PIDS=()
cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid" 3
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for program in unix_server unix_client epoll_server tcp_client; do
    [[ -x $LAB_BUILD/$program ]] || {
        echo "bench_local: $LAB_BUILD/$program is not built (run make)" >&2
        exit 1
    }
done

"${pin[@]}" "$LAB_BUILD/unix_server" -q -s "$socket_path" >"$work/unix_server.out" 2>&1 &
STARTED_PIDS+=("$!")
"${pin[@]}" "$LAB_BUILD/epoll_server" -q -p 0 >"$work/epoll_server.out" 2>&1 &
STARTED_PIDS+=("$!")
wait_for_line "$work/unix_server.out" '^listening on ' 10
wait_for_line "$work/epoll_server.out" '^listening on ' 10
port=$(sed -n '1s/.*:\([0-9]*\)$/\1/p' "$work/epoll_server.out")

transports=(unix)
tcp_probe=$(timeout 10 "$LAB_BUILD/tcp_client" -p "$port" --count 1 --size 1 2>&1) || true
if [[ $tcp_probe == throughput:* ]]; then
    transports+=(tcp)
else
    echo "bench_local: tcp_client has no --count/--size yet; measuring the Unix socket only"
fi

# measure TRANSPORT BYTES COUNT: one client run; prints "seconds mib rps".
measure() {
    local transport=$1 bytes=$2 count=$3 line
    local client=("$LAB_BUILD/unix_client" -s "$socket_path")
    [[ $transport == tcp ]] && client=("$LAB_BUILD/tcp_client" -p "$port")
    if ! line=$(timeout 120 "${pin[@]}" "${client[@]}" -q --count "$count" --size "$bytes"); then
        echo "bench_local: $transport with $count x $bytes bytes failed: $line" >&2
        return 1
    fi
    # throughput: N x BYTES bytes echoed and checked in S.SSS s: X.X MiB/s, Y round trips/s
    [[ $line =~ in\ ([0-9.]+)\ s:\ ([0-9.]+)\ MiB/s,\ ([0-9]+)\ round\ trips/s$ ]] || {
        echo "bench_local: unexpected line from $transport: $line" >&2
        return 1
    }
    echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]}"
}

echo "bench_local: $rounds rounds of ${plan// /, } (bytes:messages), ${transports[*]}" \
    "${pin[*]:+(pinned: ${pin[*]})}"
echo "round,transport,bytes,messages,seconds,mib_per_s,round_trips_per_s" >"$csv"
for round in $(seq "$rounds"); do
    order=("${transports[@]}")
    if ((round % 2 == 0)) && ((${#order[@]} == 2)); then
        order=("${order[1]}" "${order[0]}")
    fi
    for entry in $plan; do
        bytes=${entry%:*}
        count=${entry#*:}
        for transport in "${order[@]}"; do
            read -r seconds mib rps < <(measure "$transport" "$bytes" "$count")
            [[ -n ${rps:-} ]] || exit 1
            echo "$round,$transport,$bytes,$count,$seconds,$mib,$rps" >>"$csv"
        done
    done
    printf 'bench_local: round %d of %d done\n' "$round" "$rounds"
done

# Median and spread per size and transport, and the ratio of the medians.
awk -F, -v transports="${transports[*]}" '
    function median(list, n,    sorted, i, j, t) {
        for (i = 1; i <= n; i++) sorted[i] = list[i]
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && sorted[j - 1] > sorted[j]; j--) {
                t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t
            }
        lowest = sorted[1]; highest = sorted[n]
        return n % 2 ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
    }
    NR > 1 {
        key = $3 SUBSEP $2
        n[key]++
        mib[key, n[key]] = $6
        rps[key, n[key]] = $7
        if (!($3 in seen)) { seen[$3] = 1; sizes[++size_count] = $3 }
    }
    END {
        count = split(transports, names, " ")
        print "bytes,transport,rounds,mib_median,mib_low,mib_high,rps_median,rps_low,rps_high" > summary
        printf "%-8s %-9s %24s %28s\n", "message", "transport", "MiB/s median (low-high)",
               "round trips/s median (low-high)"
        for (s = 1; s <= size_count; s++) {
            size = sizes[s]
            for (t = 1; t <= count; t++) {
                key = size SUBSEP names[t]
                for (i = 1; i <= n[key]; i++) { m[i] = mib[key, i]; r[i] = rps[key, i] }
                mm = median(m, n[key]); ml = lowest; mh = highest
                rm = median(r, n[key]); rl = lowest; rh = highest
                medians[size, names[t]] = mm
                rt_medians[size, names[t]] = rm
                printf "%-8s %-9s %10.1f (%.1f-%.1f) %14d (%d-%d)\n", size " B", names[t],
                       mm, ml, mh, rm, rl, rh
                printf "%s,%s,%d,%.1f,%.1f,%.1f,%d,%d,%d\n", size, names[t], n[key],
                       mm, ml, mh, rm, rl, rh > summary
            }
            if (count == 2 && medians[size, "tcp"] > 0)
                printf "%-8s %-9s %10.2fx %27.2fx\n", size " B", "unix/tcp",
                       medians[size, "unix"] / medians[size, "tcp"],
                       rt_medians[size, "unix"] / rt_medians[size, "tcp"]
        }
    }' summary="$summary" "$csv"
echo "bench_local: every run in $csv; the table in $summary"
