#!/usr/bin/env bash
# trace.sh - watch a demo's socket and wait system calls with strace, and
# see that its Python twin makes the same ones: select.epoll().poll() is
# epoll_wait underneath, sock.recv() is recvfrom.
#
# Usage: scripts/trace.sh DEMO [ARGS...]            build/DEMO under strace
#        scripts/trace.sh --python DEMO [ARGS...]   docs/python/DEMO.py under strace
#        scripts/trace.sh --compare DEMO [ARGS...]  both, each given the same short
#                                                   client session, and their call
#                                                   sequences printed side by side
#
# Only these calls are shown: socket, bind, listen, accept, connect, recv,
# send, read, write, close, sendfile, select, poll, epoll_*, signalfd and the
# sleeps (nanosleep: time.sleep, "other work" in nonblock_timeout). No
# -f: every demo is one thread in one process. The first two modes run in
# the foreground (Ctrl-C ends the demo, and strace with it). --compare
# starts each server on port 0 (or a socket file in a scratch folder),
# waits for its "listening on" line, runs the session with a deadline,
# sends SIGINT and prints the calls from the first socket onwards (what
# comes before is the loader and the interpreter starting up). Repeated
# calls are counted ("recvfrom x3"); a failed call shows its errno
# ("accept4 EAGAIN"). Every process it starts is stopped by its PID,
# however it ends.
#
# Examples:
#   scripts/trace.sh --compare epoll_server
#   scripts/trace.sh --compare nonblock_timeout --mode timeout -t 0.5 -n 2
#   scripts/trace.sh --compare epoll_et_demo --mode et
#   scripts/trace.sh --python poll_server -v      (then build/tcp_client -p 9004)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# wait_for_line, wait_until_gone, stop_pid
# shellcheck source=scripts/processes.sh
source "$root/scripts/processes.sh"
LAB_BUILD="${LAB_BUILD:-$root/build}"
TRACED='/^(socket|socketpair|bind|listen|accept|accept4|connect|shutdown|recvfrom|recvmsg|sendto|sendmsg|sendfile|read|write|close|select|pselect6|poll|ppoll|epoll_create|epoll_create1|epoll_ctl|epoll_wait|epoll_pwait|epoll_pwait2|signalfd|signalfd4|nanosleep|clock_nanosleep)$'
SESSION_MESSAGE='hello from trace.sh'
# A sanitizer build's leak check cannot run under ptrace (it stops the
# program with a fatal error at exit); the other checks still run.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

usage() {
    sed -n '6,10s/^# \{0,1\}//p' "$0"
}

fail() {
    echo "trace.sh: $*" >&2
    exit 1
}

check_strace() {
    command -v strace >/dev/null ||
        fail "strace is needed: sudo apt-get install strace"
    strace -o /dev/null true 2>/dev/null ||
        fail "strace cannot trace here (ptrace not permitted; in a container, run it with --cap-add SYS_PTRACE)"
}

c_program() {
    [[ -x $LAB_BUILD/$1 ]] || fail "$LAB_BUILD/$1 is not built (make)"
    echo "$LAB_BUILD/$1"
}

# Sets twin=(PYTHON SCRIPT): the interpreter itself, not a wrapper script
# in front of it (a pyenv shim is a bash script: strace would trace bash).
# No process substitution anywhere before strace starts: bash 5.2 keeps a
# descriptor of one open, the traced program would inherit it, and a later
# read in this script could wait for it.
python_program() {
    [[ -f $root/docs/python/$1.py ]] || fail "there is no docs/python/$1.py"
    local python
    python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) ||
        fail "python3 is needed: sudo apt-get install python3"
    twin=("$python" "$root/docs/python/$1.py")
}

# ---- --compare ---------------------------------------------------------------

work=''
started=()
cleanup() {
    local pid
    for pid in "${started[@]}"; do
        stop_pid "$pid" 3
    done
    [[ -n $work && -z ${KEEP_TRACE:-} ]] && rm -rf "$work"
}

# The traced program's own PID: the child of strace running the program's
# executable. (strace first forks short-lived probes of its own, to test
# what the kernel supports; they run strace itself.)
tracee_of() {
    local strace_pid=$1 executable deadline=$((SECONDS + 10)) child children
    executable=$(realpath "$2")
    while kill -0 "$strace_pid" 2>/dev/null; do
        children=()
        read -ra children 2>/dev/null <"/proc/$strace_pid/task/$strace_pid/children"
        for child in "${children[@]}"; do
            if [[ $(readlink "/proc/$child/exe" 2>/dev/null) == "$executable" ]]; then
                echo "$child"
                return 0
            fi
        done
        ((SECONDS < deadline)) || return 1
        sleep 0.02
    done
    return 1
}

# Wait (up to 5 s) until PID has slept in a system call for 100 ms: the
# session's last echo is done and the server waits again, so the SIGINT
# lands in the same place on both sides. (A process strace holds between
# calls is stopped, "t"; one inside accept or a wait sleeps, "S".)
wait_until_asleep() {
    local pid=$1 asleep=0 deadline=$((SECONDS + 5)) state
    while ((asleep < 5 && SECONDS < deadline)); do
        state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 0
        if [[ $state == S ]]; then asleep=$((asleep + 1)); else asleep=0; fi
        sleep 0.02
    done
}

# What kind of run DEMO ARGS is: "tcp" (a TCP server), "unix" (a Unix
# socket server), or "run" (a program that ends by itself).
kind_of() {
    local demo=$1
    shift
    case $demo in
    blocking_echo | nonblock_timeout | select_server | poll_server | epoll_server | mini_http) echo tcp ;;
    unix_server) echo unix ;;
    epoll_et_demo) if [[ " $* " == *" --serve "* ]]; then echo tcp; else echo run; fi ;;
    struct_pack_demo) if [[ " $* " == *" serve"* ]]; then echo tcp; else echo run; fi ;;
    *) echo unknown ;;
    esac
}

# The same client session for both sides, bounded by a deadline.
run_session() {
    local demo=$1 port=$2 path=$3
    case $demo in
    mini_http)
        printf 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n' |
            timeout 10 "$LAB_BUILD/tcp_client" -q -p "$port" ;;
    struct_pack_demo)
        timeout 10 "${python[@]}" "$root/docs/python/struct_pack_demo.py" -q -p "$port" \
            send i5sf 1 zhang 1.75 ;;
    unix_server)
        timeout 10 "${python[@]}" "$root/docs/python/echo_client.py" -q -s "$path" \
            -m "$SESSION_MESSAGE" ;;
    *)
        timeout 10 "$LAB_BUILD/tcp_client" -q -p "$port" -m "$SESSION_MESSAGE" ;;
    esac
}

# trace_one SIDE KIND DEMO PROGRAM... -- ARGS...: run one side under
# strace, drive it, stop it; the trace lands in $work/SIDE.trace.
trace_one() {
    local side=$1 kind=$2 demo=$3
    shift 3
    local program=()
    while [[ $1 != -- ]]; do
        program+=("$1")
        shift
    done
    shift
    local arguments=("$@") path="$work/$side.sock"
    case $kind in
    tcp) if [[ $demo == struct_pack_demo ]]; then arguments=(-p 0 "$@"); else arguments+=(-p 0); fi ;;
    unix) arguments+=(-s "$path") ;;
    esac
    local out="$work/$side.out"
    strace -o "$work/$side.trace" -e trace="$TRACED" "${program[@]}" "${arguments[@]}" \
        </dev/null >"$out" 2>&1 &
    local strace_pid=$!
    started+=("$strace_pid")
    local tracee
    tracee=$(tracee_of "$strace_pid" "${program[0]}") || fail "$side: the traced program did not start"
    started+=("$tracee")

    if [[ $kind == run ]]; then
        wait_until_gone "$tracee" 20 || echo "trace.sh: $side: still running after 20 s; stopped" >&2
    else
        wait_for_line "$out" '^listening on ' 20 || fail "$side: no 'listening on' line"
        local first port
        read -r first <"$out"
        port=${first##*:}
        run_session "$demo" "$port" "$path" >"$work/$side.session" 2>&1 ||
            echo "trace.sh: $side: the client session failed: $(head -n 3 "$work/$side.session")" >&2
        wait_until_asleep "$tracee"
        kill -s INT "$tracee" 2>/dev/null
        wait_until_gone "$tracee" 10 || echo "trace.sh: $side: no exit 10 s after SIGINT; stopped" >&2
    fi
    stop_pid "$tracee" 3
    wait_until_gone "$strace_pid" 10
    stop_pid "$strace_pid" 3
}

# Call names from the first socket-like call on, one per line, repeats
# counted: "accept4", "accept4 EAGAIN", "recvfrom x3", "[SIGINT]". The
# narration's writes to stdout are left out.
calls_of() {
    awk '
        !started && /^(socket|socketpair|signalfd4?)\(/ { started = 1 }
        !started { next }
        /^--- SIG/ { print "[" $2 "]"; next }
        /^\+\+\+ exited with/ { print "exit " $4; next }
        /^[a-z_0-9]+\(/ {
            name = substr($0, 1, index($0, "(") - 1)
            if (name == "write" && $0 ~ /^write\([12],/) next  # narration, not a socket
            result = $0; sub(/.*\) += /, "", result)
            if (result ~ /^-1 E/) { split(result, word, " "); name = name " " word[2] }
            else if (result ~ /^\? ERESTART/) name = name " (interrupted)"
            print name
        }' "$1" |
        awk '
            $0 == last { count++; next }
            { flush(); last = $0; count = 1 }
            END { flush() }
            function flush() { if (count == 1) print last; else if (count > 1) print last " x" count }'
}

compare() {
    local demo=$1
    shift
    local kind
    kind=$(kind_of "$demo" "$@")
    [[ $kind == unknown ]] && fail "no client session for '$demo'; try one of the lab's demos"
    local c
    c=$(c_program "$demo") || exit 1
    python_program "$demo"
    python=("${twin[0]}")
    work=$(mktemp -d "${TMPDIR:-/tmp}/trace.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM

    trace_one c "$kind" "$demo" "$c" -- "$@"
    trace_one python "$kind" "$demo" "${twin[@]}" -- "$@"
    calls_of "$work/c.trace" >"$work/c.calls"
    calls_of "$work/python.trace" >"$work/python.calls"

    local session="tcp_client -m '$SESSION_MESSAGE', then SIGINT"
    case $kind/$demo in
    run/*) session="no client: it runs to its end" ;;
    */mini_http) session="one GET / with tcp_client, then SIGINT" ;;
    */struct_pack_demo) session="one record sent (struct_pack_demo.py send), then SIGINT" ;;
    */unix_server) session="echo_client.py -s PATH -m '$SESSION_MESSAGE', then SIGINT" ;;
    esac
    echo "trace.sh --compare $demo${*:+ $*}"
    echo "session: $session"
    echo "calls from the first socket on, narration (write to stdout) left out;"
    echo "|: different, < or >: on one side only"
    echo
    # diff lines up the calls both sides make; -y puts them side by side.
    diff --side-by-side --width=78 --expand-tabs \
        <(printf '%s\n' "C: build/$demo" "------------------" && cat "$work/c.calls") \
        <(printf '%s\n' "Python: $demo.py" "------------------" && cat "$work/python.calls")
    return 0
}

# ---- main ------------------------------------------------------------------------

case ${1:-} in
'')
    usage >&2
    exit 2 ;;
-h | --help)
    usage
    exit 0 ;;
--compare)
    shift
    (($# >= 1)) || { usage >&2; exit 2; }
    check_strace
    compare "$@" ;;
--python)
    shift
    (($# >= 1)) || { usage >&2; exit 2; }
    check_strace
    python_program "$1"
    shift
    exec strace -e trace="$TRACED" "${twin[@]}" "$@" ;;
-*)
    echo "trace.sh: unknown option '$1'" >&2
    usage >&2
    exit 2 ;;
*)
    check_strace
    executable=$(c_program "$1") || exit 1
    shift
    exec strace -e trace="$TRACED" "$executable" "$@" ;;
esac
