#!/usr/bin/env bash
# make bench: how select, poll and epoll scale, measured on this machine.
#
#  1. The microbenchmark, bench/wait_bench: N socket pairs, one made ready
#     per round; microseconds to wait for it and find it (see its header).
#     One process doing both ends: nothing to gain from pinning it.
#  2. The servers: the echo round trip of one active client (echo_load rtt,
#     64 bytes) while N idle clients (tcp_client --idle N) are connected to
#     select_server, poll_server and epoll_server. Every measurement gets a
#     fresh server; within each round the servers take turns at each N, and
#     the table shows the median over the rounds. The server and the active
#     client share one CPU: on 2 cores a round trip takes about 22 us when
#     both run on the same core and 32 us across cores, and the scheduler
#     picks at random; pinned, the noise no longer hides the trend.
#  3. A table on screen and a plot: gnuplot to SVG when it is installed,
#     otherwise a text chart. Everything is kept in $LAB_BUILD/bench/.
#
# Usage: scripts/bench.sh [--quick] [-h]
#   --quick   a small run (N up to 1000, one round) to check that it works
# Settings (environment): BENCH_SIZES (wait_bench pairs, comma-separated),
#   BENCH_IDLE (idle clients, space-separated), BENCH_ROUNDS (server rounds),
#   BENCH_RTT_ROUNDS (round trips per measurement), BENCH_CPU (the CPU the
#   server and its active client are pinned to with taskset; default the
#   last one; "none": not pinned).
#
# Loopback only. Every process it starts is stopped by its PID on exit,
# also on Ctrl-C; every wait has a deadline.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# wait_for_line, wait_until_gone, stop_pid, open_descriptors
# shellcheck source=scripts/processes.sh
source "$root/scripts/processes.sh"
export LAB_BUILD="${LAB_BUILD:-$root/build}"

sizes=${BENCH_SIZES:-10,100,1000,5000,10000}
idle_counts=${BENCH_IDLE:-0 100 1000 5000 10000}
server_rounds=${BENCH_ROUNDS:-5}
rtt_rounds=${BENCH_RTT_ROUNDS:-1000}
rtt_bytes=64
servers=(select_server poll_server epoll_server)
# select_server refuses clients whose descriptor is >= FD_SETSIZE; it needs
# stdio, the listening socket, the active client and the idle ones below it.
fd_setsize=1024
select_spare=8

case ${1:-} in
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
--quick)
    sizes=10,100,1000
    idle_counts="0 100 1000"
    server_rounds=1
    rtt_rounds=500
    ;;
'') ;;
*)
    echo "bench: unknown argument '$1' (try -h)" >&2
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
work=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
notes="$out/notes.txt"
: >"$notes"

# ---- Processes: remembered, stopped by PID ------------------------------

STARTED_PIDS=()
# Every process gets its own log file: a background job opens its redirect
# only after the fork, so a reused name could show us the previous run's
# "listening on" line.
log_count=0

# forget PID: drop a process that has ended from the cleanup list.
forget() {
    local pid kept=()
    for pid in "${STARTED_PIDS[@]}"; do
        [[ $pid == "$1" ]] || kept+=("$pid")
    done
    STARTED_PIDS=("${kept[@]}")
}

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid" 10 # 10,000 connections take a moment to close
    done
    STARTED_PIDS=()
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'echo "bench: terminated" >&2; exit 143' TERM

# run_tracked OUTPUT COMMAND...: run COMMAND with stdout to OUTPUT, in the
# background so that a signal reaches our traps at once (bash runs a trap
# only after the foreground command ends); returns its exit status.
run_tracked() {
    local output=$1 pid status=0
    shift
    "$@" >"$output" &
    pid=$!
    STARTED_PIDS+=("$pid")
    wait "$pid" || status=$?
    forget "$pid"
    return "$status"
}

note() { # note TEXT: shown now and repeated under the tables
    printf '%s\n' "$*" | tee -a "$notes"
}

median() { # median < numbers, one a line
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "NA"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- 1. The microbenchmark -----------------------------------------------

wait_bench="$LAB_BUILD/bench/wait_bench"
echo_load="$LAB_BUILD/tools/echo_load"
tcp_client="$LAB_BUILD/tcp_client"
for program in "$wait_bench" "$echo_load" "$tcp_client"; do
    if [[ ! -x $program ]]; then
        echo "bench: $program is not built (run: make BUILD=${LAB_BUILD#"$root"/})" >&2
        exit 1
    fi
done

echo "bench: results go to $out/"
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: descriptor limit $(ulimit -Sn) (hard $(ulimit -Hn)); $(nproc) cores; $(uname -sr)"
echo
echo "== 1. microbenchmark: wait_bench -n $sizes"
run_tracked "$out/wait_bench.txt" "$wait_bench" -q -n "$sizes" -o "$out/wait_bench.tsv"
cat "$out/wait_bench.txt"
grep -E '^(select: not run|N=[0-9]+ was not run)' "$out/wait_bench.txt" >>"$notes" || true

# ---- 2. The servers ------------------------------------------------------

# start_server NAME: start it on a free port. Sets SERVER_PID, SERVER_PORT.
start_server() {
    local name=$1 log="$work/$1.$((++log_count)).out"
    "${pin[@]}" "$LAB_BUILD/$name" -p 0 -q >"$log" 2>&1 &
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    if ! wait_for_line "$log" '^listening on ' 10; then
        echo "bench: $name did not start" >&2
        return 1
    fi
    SERVER_PORT=$(sed -n '1s/.*:\([0-9]*\)$/\1/p' "$log")
}

# start_idle COUNT: COUNT idle clients on SERVER_PORT, all accepted by the
# server (its descriptor count has grown by COUNT). Sets IDLE_PID.
start_idle() {
    local count=$1 before log="$work/idle.$((++log_count)).out"
    before=$(open_descriptors "$SERVER_PID")
    # A fifo opened read-write as stdin: it never reports end-of-file, so
    # the client holds its connections until we stop it.
    rm -f "$work/hold" && mkfifo "$work/hold"
    "$tcp_client" -q --idle "$count" -p "$SERVER_PORT" 0<>"$work/hold" >"$log" 2>&1 &
    IDLE_PID=$!
    STARTED_PIDS+=("$IDLE_PID")
    if ! wait_for_line "$log" "^holding $count connections" 120; then
        echo "bench: tcp_client --idle $count did not get all its connections" >&2
        return 1
    fi
    local deadline=$((SECONDS + 60))
    until (($(open_descriptors "$SERVER_PID") >= before + count)); do
        if ((SECONDS >= deadline)); then
            echo "bench: the server accepted only $(($(open_descriptors "$SERVER_PID") - before)) of $count" >&2
            return 1
        fi
        sleep 0.05
    done
}

# measure NAME IDLE ROUND: one fresh server, IDLE idle clients, one rtt run.
# Appends a line to server_rtt.tsv.
measure() {
    local name=$1 idle=$2 round=$3 line median_us=NA p90_us=NA
    IDLE_PID=''
    if start_server "$name" && { ((idle == 0)) || start_idle "$idle"; }; then
        if run_tracked "$work/rtt.out" "${pin[@]}" \
            "$echo_load" -p "$SERVER_PORT" -t 120 -n "$rtt_rounds" -b "$rtt_bytes" rtt; then
            line=$(cat "$work/rtt.out")
            median_us=$(sed -n 's/.*median_us=\([0-9.]*\).*/\1/p' <<<"$line")
            p90_us=$(sed -n 's/.*p90_us=\([0-9.]*\).*/\1/p' <<<"$line")
        else
            echo "bench: $name with $idle idle: $(cat "$work/rtt.out")" >&2
        fi
    fi
    # The server first: closing 10,000 connections is quicker for it than
    # handling 10,000 end-of-file events one wakeup at a time.
    stop_pid "$SERVER_PID" 10 && forget "$SERVER_PID"
    if [[ -n $IDLE_PID ]]; then
        stop_pid "$IDLE_PID" 10 && forget "$IDLE_PID"
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$idle" "$median_us" "$p90_us" >>"$out/server_rtt.tsv"
    printf '  round %s  %-14s idle=%-6s median_us=%-8s p90_us=%s\n' "$round" "$name" "$idle" \
        "$median_us" "$p90_us"
}

echo
echo "== 2. servers: echo round trip ($rtt_bytes bytes, $rtt_rounds round trips) with N idle clients"
if ((${#pin[@]} > 0)); then
    pinning="server and active client pinned to CPU $cpu with taskset"
else
    pinning="server and active client not pinned to a CPU"
fi
echo "$pinning"
read -r -a idle_list <<<"$idle_counts"
available=()
for name in "${servers[@]}"; do
    if [[ -x $LAB_BUILD/$name ]]; then
        available+=("$name")
    else
        note "$name: not built, left out"
    fi
done

# Descriptor limits, said once: select_server's FD_SETSIZE wall, and each
# process's own limit (the idle client and the server both need N + a few).
hard_limit=$(ulimit -Hn)
runnable=()
for idle in "${idle_list[@]}"; do
    if [[ $hard_limit != unlimited ]] && ((idle + 32 > hard_limit)); then
        note "servers: N=$idle not run: it needs $((idle + 32)) descriptors per process, the hard limit (ulimit -Hn) is $hard_limit"
        continue
    fi
    runnable+=("$idle")
done
select_skipped=()
for idle in "${runnable[@]}"; do
    ((idle + select_spare > fd_setsize)) && select_skipped+=("$idle")
done
if ((${#select_skipped[@]} > 0)) && [[ " ${available[*]} " == *" select_server "* ]]; then
    note "select_server: N=${select_skipped[*]} not run: its clients would get descriptors >= FD_SETSIZE ($fd_setsize), which select() cannot watch (the server refuses them)"
fi

printf 'round\tserver\tidle\tmedian_us\tp90_us\n' >"$out/server_rtt.tsv"
for ((round = 1; round <= server_rounds; round++)); do
    for idle in "${runnable[@]}"; do
        for name in "${available[@]}"; do
            if [[ $name == select_server ]] && ((idle + select_spare > fd_setsize)); then
                continue
            fi
            measure "$name" "$idle" "$round"
        done
    done
done

# ---- 3. Tables, plot ------------------------------------------------------

# The median over the rounds, one line per server and N.
printf 'server\tidle\tmedian_us\n' >"$out/server_rtt_summary.tsv"
for name in "${available[@]}"; do
    for idle in "${runnable[@]}"; do
        value=$(awk -F'\t' -v s="$name" -v n="$idle" \
            'NR > 1 && $2 == s && $3 == n && $4 != "NA" { print $4 }' "$out/server_rtt.tsv" | median)
        [[ $value == NA ]] && continue
        printf '%s\t%s\t%s\n' "$name" "$idle" "$value" >>"$out/server_rtt_summary.tsv"
    done
done

server_table() {
    awk -F'\t' -v rounds="$server_rounds" -v trips="$rtt_rounds" -v pinning="$pinning" '
        NR == 1 { next }
        { value[$1, $2] = $3; if (!($2 in seen)) { seen[$2] = 1; order[++count] = $2 } }
        END {
            printf "echo round trip in microseconds, one active client beside N idle ones\n"
            printf "(%s);\n", pinning
            printf "median over %d rounds of the median of %d round trips\n\n", rounds, trips
            printf "%7s %14s %14s %14s\n", "idle N", "select_server", "poll_server", "epoll_server"
            split("select_server poll_server epoll_server", names, " ")
            for (i = 1; i <= count; i++) {
                n = order[i]; printf "%7s", n
                for (j = 1; j <= 3; j++) {
                    if ((names[j], n) in value) printf " %14.1f", value[names[j], n]
                    else printf " %14s", "-"
                }
                printf "\n"
            }
            first = order[1]; last = order[count]
            printf "\nslowdown from %s to %s idle clients:", first, last
            for (j = 1; j <= 3; j++) {
                s = names[j]; top = ""
                for (i = count; i >= 1; i--) if ((s, order[i]) in value) { top = order[i]; break }
                if (((s, first) in value) && top != "" && top != first)
                    printf "  %s %.2fx (at %s)", s, value[s, top] / value[s, first], top
            }
            printf "\n"
        }' "$out/server_rtt_summary.tsv"
}

# bar_chart TSV: "label<TAB>group<TAB>value" lines as bars on a log scale,
# for terminals and for machines without gnuplot.
bar_chart() {
    awk -F'\t' '
        function bar(v,   n, s) { n = int((log(v) / log(10) + 1) * 12 + 0.5); s = ""
                                  while (n-- > 0) s = s "#"; return s }
        { if ($1 != last) { printf "%s\n", $1; last = $1 }
          printf "  %-14s |%-60s %9.1f\n", $2, bar($3), $3 }' "$1"
    echo "  (log scale: 12 marks per factor of ten, starting at 0.1 us)"
}

{
    echo "make bench on $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) cores"
    echo "descriptor limit $(ulimit -Sn) (hard $(ulimit -Hn)), FD_SETSIZE $fd_setsize"
    echo "load average (1, 5, 15 min) at the start: $load_at_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "== 1. microbenchmark (bench/wait_bench)"
    sed -n '/^microseconds per round/,$p' "$out/wait_bench.txt"
    echo
    echo "== 2. servers"
    echo
    server_table
    echo
    if [[ -s $notes ]]; then
        echo "== where N stopped, and what was left out"
        sort -u "$notes"
        echo
    fi
} >"$out/results.txt"

# The text chart is always written; the SVG only where gnuplot is.
{
    echo "== chart: microbenchmark, microseconds per round"
    awk -F'\t' 'NR > 1 && $2 != "floor" { printf "N=%s\t%s\t%s\n", $1, $2, $3 }' \
        "$out/wait_bench.tsv" >"$work/micro.chart"
    bar_chart "$work/micro.chart"
    echo
    echo "== chart: servers, echo round trip in microseconds"
    awk -F'\t' 'NR > 1 { printf "idle N=%s\t%s\t%s\n", $2, $1, $3 }' \
        "$out/server_rtt_summary.tsv" | sort -t= -k2,2n -s >"$work/server.chart"
    bar_chart "$work/server.chart"
} >"$out/chart.txt"

plot_with_gnuplot() {
    # One column per mechanism for gnuplot: N, then the value or "NaN".
    awk -F'\t' 'NR > 1 { v[$1, $2] = $3; if (!($1 in seen)) { seen[$1] = 1; n[++c] = $1 } }
        END { for (i = 1; i <= c; i++) { printf "%s", n[i]
              split("floor select poll epoll", m, " ")
              for (j = 1; j <= 4; j++) printf " %s", ((n[i], m[j]) in v) ? v[n[i], m[j]] : "NaN"
              printf "\n" } }' "$out/wait_bench.tsv" >"$work/micro.dat"
    awk -F'\t' 'NR > 1 { v[$2, $1] = $3; if (!($2 in seen)) { seen[$2] = 1; n[++c] = $2 } }
        END { for (i = 1; i <= c; i++) { printf "%s", n[i]
              split("select_server poll_server epoll_server", m, " ")
              for (j = 1; j <= 3; j++) printf " %s", ((n[i], m[j]) in v) ? v[n[i], m[j]] : "NaN"
              printf "\n" } }' "$out/server_rtt_summary.tsv" | sort -n >"$work/server.dat"
    # Log scales cannot show 0 idle clients: it is drawn at x = 10.
    awk '{ if ($1 == 0) $1 = 10; print }' "$work/server.dat" >"$work/server_log.dat"
    gnuplot 2>"$work/gnuplot.err" <<EOF
set terminal svg size 960,420 dynamic font "sans,12" background "white"
set termoption noenhanced
set output "$out/bench.svg"
set datafile missing "NaN"
set multiplot layout 1,2
set logscale xy
set grid
set key top left
set xrange [7:15000]
set xtics ("10" 10, "100" 100, "1000" 1000, "10000" 10000)
set xlabel "N watched descriptors (socket pairs)"
set ylabel "microseconds per round"
set title "one ready of N: wait + find + 1-byte read/write"
plot "$work/micro.dat" using 1:3 with linespoints title "select", \
     "" using 1:4 with linespoints title "poll", \
     "" using 1:5 with linespoints title "epoll", \
     "" using 1:2 with lines dashtype 2 title "floor (no wait)"
set xtics ("0" 10, "100" 100, "1000" 1000, "10000" 10000)
set xlabel "N idle clients (0 is drawn where 10 would be)"
set ylabel "echo round trip, microseconds"
set title "server: one active client beside N idle ones"
plot "$work/server_log.dat" using 1:2 with linespoints title "select_server", \
     "" using 1:3 with linespoints title "poll_server", \
     "" using 1:4 with linespoints title "epoll_server"
unset multiplot
EOF
}

echo
cat "$out/results.txt"
if command -v gnuplot >/dev/null && { plot_with_gnuplot || { cat "$work/gnuplot.err" >&2; false; }; }; then
    echo "plot: $out/bench.svg (gnuplot); text chart: $out/chart.txt"
else
    cat "$out/chart.txt"
    echo "plot: gnuplot is not installed, so the text chart above is the plot ($out/chart.txt);"
    echo "      apt-get install gnuplot-nox for an SVG"
fi
echo "results: $out/results.txt, $out/wait_bench.tsv, $out/server_rtt.tsv, $out/server_rtt_summary.tsv"
