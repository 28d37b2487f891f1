#!/usr/bin/env bash
# make bench: every benchmark of the lab in one run, then one summary table.
#
#   1. scripts/bench.sh        select vs poll vs epoll: the wait itself
#                              (bench/wait_bench) and the servers' echo round
#                              trip beside N idle clients
#   2. scripts/bench_local.sh  a Unix socket vs TCP over loopback
#   3. scripts/bench_http.sh   mini_http vs nginx, lighttpd, python3 -m http.server
#
# Each keeps its own CSV/TSV files (and plots, where gnuplot is installed)
# in $LAB_BUILD/bench/; this script reads them and prints each headline
# figure as a median with its spread (lowest-highest round) and its ratio
# to the figure it is compared with, and writes the same table to
# $LAB_BUILD/bench/summary.csv. A benchmark that cannot run (a tool
# missing) says so in one line, with how to install what it needs, and
# the others go on. Figures from a shared 2-core machine vary by several
# times between runs: compare ratios from one run, not numbers across runs.
#
# Usage: scripts/bench_all.sh [--quick] [-h]
#   --quick   each benchmark's small run (about a minute in all)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
export LAB_BUILD="${LAB_BUILD:-$root/build}"
out="$LAB_BUILD/bench"
quick=()
case ${1:-} in
-h | --help)
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
--quick) quick=(--quick) ;;
'') ;;
*)
    echo "bench: unknown argument '$1' (try -h)" >&2
    exit 2
    ;;
esac
mkdir -p "$out"

status=0
run_part() { # TITLE SCRIPT: run one benchmark with a bound, its output to a log
    local title=$1 script=$2 log="$out/${2%.sh}.log"
    if [[ ! -x $root/scripts/$script ]]; then
        echo "== $title: skipped (scripts/$script is not there)"
        return
    fi
    echo "== $title (scripts/$script ${quick[*]}; log in ${log#"$root"/})"
    local started=$SECONDS part_status=0
    timeout 3600 "$root/scripts/$script" "${quick[@]}" >"$log" 2>&1 || part_status=$?
    # The lines a missing tool or an error leaves are worth seeing here.
    grep -iE 'skipp|not installed|install|error|failed' "$log" | head -n 8 | sed 's/^/   /'
    if ((part_status != 0)); then
        echo "   FAILED (status $part_status); the end of its log:"
        tail -n 5 "$log" | sed 's/^/   | /'
        status=1
    fi
    echo "   done in $((SECONDS - started)) s"
}

run_part "select, poll, epoll" bench.sh
run_part "Unix socket vs TCP" bench_local.sh
run_part "HTTP servers" bench_http.sh

# ---- The summary ------------------------------------------------------------

summary="$out/summary.csv"
echo "benchmark,figure,median,low,high,unit,compared_with,ratio" >"$summary"

# 1. The largest idle count both poll_server and epoll_server ran at, and
#    the spread of the per-round medians there.
if [[ -s $out/server_rtt.tsv ]]; then
    awk -F'\t' '
        NR > 1 && $4 != "NA" { v[$2, $3, ++n[$2, $3]] = $4; if ($3 > top[$2]) top[$2] = $3 }
        function stats(s, i,    k, c, t, j, a) {
            c = n[s, i]
            for (k = 1; k <= c; k++) a[k] = v[s, i, k]
            for (k = 2; k <= c; k++) for (j = k; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
            low = a[1]; high = a[c]
            return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
        }
        END {
            idle = top["poll_server"] < top["epoll_server"] ? top["poll_server"] : top["epoll_server"]
            if (idle == "") exit
            e = stats("epoll_server", idle); el = low; eh = high
            p = stats("poll_server", idle); pl = low; ph = high
            printf "multiplexing,epoll_server round trip with %d idle clients,%.1f,%.1f,%.1f,us,poll_server,%.3f\n", idle, e, el, eh, e / p
            printf "multiplexing,poll_server round trip with %d idle clients,%.1f,%.1f,%.1f,us,-,-\n", idle, p, pl, ph
            if (n["select_server", top["select_server"]] > 0) {
                s = stats("select_server", top["select_server"]); sl = low; sh = high
                z = stats("select_server", 0)
                printf "multiplexing,select_server round trip with %d idle clients,%.1f,%.1f,%.1f,us,select_server with 0,%.2f\n", top["select_server"], s, sl, sh, s / z
            }
        }' "$out/server_rtt.tsv" >>"$summary"
fi
if [[ -s $out/wait_bench.tsv ]]; then
    awk -F'\t' 'NR > 1 { m[$1, $2] = $3; lo[$1, $2] = $4; hi[$1, $2] = $5; if ($1 > top) top = $1 }
        END { if (m[top, "epoll"] != "" && m[top, "poll"] > 0)
            printf "multiplexing,epoll_wait for 1 ready of %d descriptors,%s,%s,%s,us,poll,%.3f\n", top, m[top, "epoll"], lo[top, "epoll"], hi[top, "epoll"], m[top, "epoll"] / m[top, "poll"] }' \
        "$out/wait_bench.tsv" >>"$summary"
fi

# 2. Per message size: the Unix socket's throughput against TCP's.
if [[ -s $out/local_sockets_summary.csv ]]; then
    awk -F, 'NR > 1 { k = $1; if ($2 == "unix") { u[k] = $4; ul[k] = $5; uh[k] = $6; o[++c] = k } else t[k] = $4 }
        END { for (i = 1; i <= c; i++) { k = o[i]
            printf "local sockets,unix_client %s-byte echo,%s,%s,%s,MiB/s,tcp_client to epoll_server,%s\n", k, u[k], ul[k], uh[k], (t[k] > 0 ? sprintf("%.2f", u[k] / t[k]) : "-") } }' \
        "$out/local_sockets_summary.csv" >>"$summary"
fi

# 3. The HTTP servers: bench_http.sh writes its own rows in this format.
if [[ -s $out/http_summary.csv ]]; then
    tail -n +2 "$out/http_summary.csv" >>"$summary"
fi

echo
echo "Summary ($summary): medians over the rounds, spread = lowest-highest round"
awk -F, 'NR == 1 { next }
    { printf "  %-14s %-48s %10s %-7s (%s-%s)  %s %s\n", $1, $2, $3, $6, $4, $5,
             ($7 == "-" ? "" : "vs " $7 ":"), ($8 == "-" ? "(not measured)" : $8 "x") }' "$summary"
(($(wc -l <"$summary") > 1)) || echo "  (no figures: every benchmark was skipped or failed)"
exit "$status"
