#!/usr/bin/env bash
# make bench (second part): mini_http against real web servers, measured.
#
# Every server serves the same 1 KiB file from the same folder:
#   mini_http -q                  (this lab)
#   nginx                         1 worker, access_log off, sendfile on
#   lighttpd                      one process, no access log, sendfile
#   python3 -m http.server        the Python standard library's server
# The load is wrk (or ab when wrk is missing), one client thread, 50
# connections, first with keep-alive, then with "Connection: close" (a new
# TCP connection per request). The servers take turns within each round and
# the rounds are repeated, so that whatever else the machine is doing falls
# on all of them alike; the table shows medians over the rounds: requests
# per second, the 99th percentile of latency, and the server's CPU time per
# request (user + system, from /proc: the figure least moved by other load
# on the machine). On a machine with two CPUs or more the server runs on the
# last one and the client on the first (taskset), so they do not compete.
#
# Usage: scripts/bench_http.sh [--quick] [--install] [-h]
#   --quick     one round of 2 seconds, to check that it works
#   --install   apt-get install wrk, nginx-light, lighttpd, apache2-utils (root)
# Settings (environment): BENCH_HTTP_ROUNDS (default 5), BENCH_HTTP_SECONDS
#   (per measurement, default 5), BENCH_HTTP_CONNECTIONS (default 50).
#
# A missing server is skipped with one line saying how to install it.
# Loopback only. Every process it starts is stopped by its PID on exit, also
# on Ctrl-C; every wait has a deadline. Results: $LAB_BUILD/bench/http.txt.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# wait_for_line, wait_until_gone, stop_pid
# shellcheck source=scripts/processes.sh
source "$root/scripts/processes.sh"
export LAB_BUILD="${LAB_BUILD:-$root/build}"

rounds=${BENCH_HTTP_ROUNDS:-5}
seconds=${BENCH_HTTP_SECONDS:-5}
connections=${BENCH_HTTP_CONNECTIONS:-50}
packages=(wrk nginx-light lighttpd apache2-utils)

case ${1:-} in
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
--install)
    if ((EUID != 0)); then
        echo "bench_http: --install needs root: sudo $0 --install" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}"
    exit 0
    ;;
--quick)
    rounds=1
    seconds=2
    ;;
'') ;;
*)
    echo "bench_http: unknown argument '$1' (try -h)" >&2
    exit 2
    ;;
esac

if [[ ! -x $LAB_BUILD/mini_http ]]; then
    echo "bench_http: $LAB_BUILD/mini_http is not built (run make)" >&2
    exit 1
fi

server_pin=() client_pin=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
    server_pin=(taskset -c "$(($(nproc) - 1))")
    client_pin=(taskset -c 0)
fi

out="$LAB_BUILD/bench"
mkdir -p "$out"
results="$out/http.txt"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_http.XXXXXX")
chmod 755 "$work" # nginx's worker reads the files as an unprivileged user
mkdir -p "$work/www"
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/www/bench.txt"
chmod -R a+rX "$work/www"

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

# A port nobody listens on: try random ones until a connect is refused.
# Below the kernel's range of ephemeral ports, which wrk's own connections
# use by the thousand (a listener cannot bind a port a client socket holds).
ephemeral_low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
    local port
    while :; do
        port=$((10000 + RANDOM % (ephemeral_low - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# wait_for_port PORT: until something accepts there (10 s at most).
wait_for_port() {
    local deadline=$((SECONDS + 10))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

# ---- The servers: start_NAME sets PORT and remembers the PID -------------

start_mini_http() {
    "${server_pin[@]}" "$LAB_BUILD/mini_http" -q -p 0 -r "$work/www" >"$work/mini_http.out" 2>&1 &
    STARTED_PIDS+=($!)
    wait_for_line "$work/mini_http.out" '^listening on ' 10
    PORT=$(sed -n '1s/.*:\([0-9]*\)$/\1/p' "$work/mini_http.out")
}

start_nginx() {
    PORT=$(free_port)
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 100000000;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$PORT;
        root $work/www;
    }
}
EOF
    "${server_pin[@]}" nginx -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$work/nginx.out" 2>&1 &
    STARTED_PIDS+=($!)
    wait_for_port "$PORT"
}

start_lighttpd() {
    PORT=$(free_port)
    cat >"$work/lighttpd.conf" <<EOF
server.document-root = "$work/www"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$work/lighttpd.error.log"
server.max-keep-alive-requests = 100000000
server.max-keep-alive-idle = 30
mimetype.assign = ( ".txt" => "text/plain; charset=utf-8" )
EOF
    "${server_pin[@]}" lighttpd -D -f "$work/lighttpd.conf" >"$work/lighttpd.out" 2>&1 &
    STARTED_PIDS+=($!)
    wait_for_port "$PORT"
}

start_python() {
    PORT=$(free_port)
    "${server_pin[@]}" python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$PORT" \
        >"$work/python.out" 2>&1 &
    STARTED_PIDS+=($!)
    wait_for_port "$PORT"
}

stop_last_server() {
    local last=$((${#STARTED_PIDS[@]} - 1))
    stop_pid "${STARTED_PIDS[$last]}" 5
    unset "STARTED_PIDS[$last]"
}

# ---- One measurement: "REQUESTS_PER_SECOND P99_MS CPU_US_PER_REQUEST" ---

# CPU clock ticks (user + system) of PID and its children (nginx's worker).
cpu_ticks() {
    local pid total=0 ticks
    for pid in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
        ticks=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }')
        total=$((total + ${ticks:-0}))
    done
    echo "$total"
}

if command -v wrk >/dev/null; then
    load_tool=wrk
elif command -v ab >/dev/null; then
    load_tool=ab
    echo "bench_http: wrk is missing, using ab (sudo apt-get install wrk for better numbers)"
else
    echo "bench_http: needs wrk or ab: sudo apt-get install wrk (or: sudo $0 --install)" >&2
    exit 1
fi

# wrk prints "Requests/sec: 41234.56" and, with --latency, "99%    1.23ms".
measure() {
    local port=$1 mode=$2 pid=$3 headers=() text before
    before=$(cpu_ticks "$pid")
    [[ $mode == close ]] && headers=(-H 'Connection: close')
    if [[ $load_tool == wrk ]]; then
        text=$(timeout $((seconds + 30)) "${client_pin[@]}" wrk -t1 -c"$connections" \
            -d"${seconds}s" --latency "${headers[@]}" "http://127.0.0.1:$port/bench.txt") || true
        awk -v ticks=$(($(cpu_ticks "$pid") - before)) -v hz="$(getconf CLK_TCK)" '
             / requests in / { requests = $1 }
             /^Requests\/sec:/ { rate = $2 }
             $1 == "99%" { v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
                           p99 = unit == "us" ? v / 1000 : unit == "s" ? v * 1000 : v }
             END { printf "%.0f %.2f %.2f\n", rate, p99, requests ? ticks * 1e6 / hz / requests : 0 }' <<<"$text"
    else
        local keep=()
        [[ $mode == keepalive ]] && keep=(-k)
        text=$(timeout $((seconds + 60)) "${client_pin[@]}" ab -q -t "$seconds" -n 10000000 \
            -c "$connections" "${keep[@]}" "${headers[@]}" "http://127.0.0.1:$port/bench.txt" \
            2>/dev/null) || true
        awk -v ticks=$(($(cpu_ticks "$pid") - before)) -v hz="$(getconf CLK_TCK)" '
             /^Complete requests:/ { requests = $3 }
             /^Requests per second:/ { rate = $4 } $1 == "99%" { p99 = $2 }
             END { printf "%.0f %.2f %.2f\n", rate, p99, requests ? ticks * 1e6 / hz / requests : 0 }' <<<"$text"
    fi
}

# ---- Which servers --------------------------------------------------------

servers=(mini_http)
for candidate in nginx lighttpd; do
    if command -v "$candidate" >/dev/null || [[ -x /usr/sbin/$candidate ]]; then
        servers+=("$candidate")
    else
        package=$candidate
        [[ $candidate == nginx ]] && package=nginx-light
        echo "bench_http: $candidate is not installed, skipped (sudo apt-get install $package, or sudo $0 --install)"
    fi
done
PATH=$PATH:/usr/sbin
if command -v python3 >/dev/null; then
    servers+=(python)
else
    echo "bench_http: python3 is not installed, skipped (sudo apt-get install python3)"
fi

echo "bench_http: ${servers[*]}; $load_tool, $connections connections, ${seconds}s each," \
    "$rounds rounds; server pinned: ${server_pin[*]:-no}"
raw="$work/raw"
: >"$raw"
for ((round = 1; round <= rounds; round++)); do
    for server in "${servers[@]}"; do
        if ! "start_$server"; then
            echo "bench_http: $server did not start; skipped this round. Its output:"
            cat "$work/$server"*.out "$work/nginx/error.log" "$work/lighttpd.error.log" 2>/dev/null |
                tail -n 5 | sed 's/^/  | /'
            stop_last_server
            continue
        fi
        for mode in keepalive close; do
            read -r rate p99 cpu < <(measure "$PORT" "$mode" "${STARTED_PIDS[-1]}")
            echo "$server $mode $rate $p99 $cpu" >>"$raw"
            printf '  round %d: %-10s %-9s %8s req/s  p99 %6s ms  CPU %6s us/request\n' \
                "$round" "$server" "$mode" "$rate" "$p99" "$cpu"
        done
        stop_last_server
    done
done

# ---- Medians and ratios --------------------------------------------------

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
column_median() { awk -v s="$1" -v m="$2" -v c="$3" '$1 == s && $2 == m { print $c }' "$raw" | median; }

{
    echo "mini_http vs web servers: 1 KiB file, $load_tool -t1 -c$connections, ${seconds}s x $rounds rounds (medians)"
    printf '%-10s %12s %8s %10s   %12s %8s %10s\n' server keep-alive p99/ms CPU/us close p99/ms CPU/us
    for server in "${servers[@]}"; do
        printf '%-10s %12.0f %8.2f %10.2f   %12.0f %8.2f %10.2f\n' "$server" \
            "$(column_median "$server" keepalive 3)" "$(column_median "$server" keepalive 4)" \
            "$(column_median "$server" keepalive 5)" "$(column_median "$server" close 3)" \
            "$(column_median "$server" close 4)" "$(column_median "$server" close 5)"
    done
    mine_keep=$(column_median mini_http keepalive 3)
    mine_close=$(column_median mini_http close 3)
    for server in "${servers[@]:1}"; do
        awk -v name="$server" -v a="$mine_keep" -v b="$(column_median "$server" keepalive 3)" \
            -v c="$mine_close" -v d="$(column_median "$server" close 3)" \
            'BEGIN { printf "mini_http / %-9s req/s: keep-alive %5.2fx   close %5.2fx\n", name, b ? a / b : 0, d ? c / d : 0 }'
    done
} | tee "$results"

# For make bench's summary (scripts/bench_all.sh): every run, and one row per
# mode and peer: mini_http's median (lowest-highest round) and its ratio.
{
    echo "server,mode,requests_per_second,p99_ms,cpu_us_per_request"
    tr ' ' ',' <"$raw"
} >"$out/http_runs.csv"
{
    echo "benchmark,figure,median,low,high,unit,compared_with,ratio"
    for mode in keepalive close; do
        read -r mine low high < <(awk -v m="$mode" '$1 == "mini_http" && $2 == m { print $3 }' "$raw" |
            sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%s %s %s\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR] }')
        [[ -n ${mine:-} ]] || continue
        for server in "${servers[@]:1}"; do
            theirs=$(column_median "$server" "$mode" 3)
            awk -v m="$mode" -v s="$server" -v a="$mine" -v l="$low" -v h="$high" -v b="$theirs" \
                'BEGIN { printf "http,mini_http %s,%.0f,%.0f,%.0f,req/s,%s,%s\n", m, a, l, h, s, (b > 0 ? sprintf("%.2f", a / b) : "-") }'
        done
    done
} >"$out/http_summary.csv"
echo "bench_http: saved in $results, $out/http_runs.csv and $out/http_summary.csv"
