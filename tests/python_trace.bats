#!/usr/bin/env bats
# scripts/trace.sh: a demo's socket and wait calls under strace, and the
# same client session against the C demo and its Python twin side by side.
# The wait calls are matched by family (poll or ppoll, epoll_wait or
# epoll_pwait): the C servers are moving from the p-variants to a signalfd.

# shellcheck disable=SC2154 # bats run sets status, output, lines, stderr
bats_require_minimum_version 1.5.0
load helper

setup() {
    command -v strace >/dev/null || skip "strace is not installed (sudo apt-get install strace)"
    strace -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace not permitted)"
    command -v python3 >/dev/null || skip "python3 is not installed"
    TRACE="$BATS_TEST_DIRNAME/../scripts/trace.sh"
}

# The demo's processes still running with trace.sh's arguments: none may be
# left once it has returned.
leftover_processes() {
    local executable pid found=0
    executable=$(realpath "$(bin "$1")")
    for pid in /proc/[0-9]*; do
        [[ $(readlink "$pid/exe" 2>/dev/null) == "$executable" ]] || continue
        [[ $(tr '\0' ' ' <"$pid/cmdline" 2>/dev/null) == *" -p 0 " ]] || continue
        echo "left running: ${pid#/proc/} $(tr '\0' ' ' <"$pid/cmdline")" >&2
        found=1
    done
    return "$found"
}

@test "trace.sh: --compare epoll_server: epoll_wait in both columns, same accept/recv/send" {
    run timeout 60 "$TRACE" --compare epoll_server
    echo "$output"
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "trace.sh --compare epoll_server"* ]]
    grep -qE '^C: build/epoll_server +\| +Python: epoll_server.py$' <<<"$output"
    grep -qE '^epoll_p?wait( x[0-9]+)? +\|? +epoll_wait( x[0-9]+)?$' <<<"$output"
    grep -qE '^epoll_create1 +epoll_create1$' <<<"$output"
    grep -qE '^accept4 +accept4$' <<<"$output"
    grep -qE '^recvfrom +recvfrom$' <<<"$output"
    grep -qE '^sendto +sendto$' <<<"$output"
    # The stop: Python's handler runs ([SIGINT]) and writes to its wakeup
    # socket; the C server's SIGINT stays blocked and is read from its
    # signalfd, so strace shows no delivery on that side at all.
    grep -qE '^ +> +\[SIGINT\]$' <<<"$output"
    grep -qE '^read +(\||) +recvfrom$' <<<"$output"
    [ "${lines[-1]}" = "$(printf '%-38s   %s' 'exit 0' 'exit 0')" ]
    leftover_processes epoll_server
}

@test "trace.sh: --compare poll_server: poll (or ppoll) in both columns" {
    run timeout 60 "$TRACE" --compare poll_server
    echo "$output"
    [ "$status" -eq 0 ]
    grep -qE '^p?poll( x[0-9]+)? +\|? +poll( x[0-9]+)?$' <<<"$output"
    grep -qE '^accept4 EAGAIN +accept4 EAGAIN$' <<<"$output"
    [[ ${lines[-1]} =~ ^exit\ 0\ +exit\ 0$ ]]
    leftover_processes poll_server
}

@test "trace.sh: --compare epoll_et_demo --mode et: the same waits on a socketpair, no client" {
    run timeout 60 "$TRACE" --compare epoll_et_demo --mode et
    echo "$output"
    [ "$status" -eq 0 ]
    grep -qx 'session: no client: it runs to its end' <<<"$output"
    grep -qE '^socketpair +socketpair$' <<<"$output"
    # Per phase: one wakeup with data, one read, one timeout: the pair twice.
    [ "$(grep -cE '^epoll_p?wait +epoll_wait$' <<<"$output")" -eq 4 ]
    [ "$(grep -cE '^read +\| +recvfrom$' <<<"$output")" -eq 2 ]
}

@test "trace.sh: --compare nonblock_timeout --mode timeout: settimeout() waits in poll() first" {
    run timeout 60 "$TRACE" --compare nonblock_timeout --mode timeout -t 0.5 -n 3
    echo "$output"
    [ "$status" -eq 0 ]
    # SO_RCVTIMEO in C: accept4 itself waits. Python: poll() with the
    # deadline, then accept4; so poll is on the Python side only.
    grep -qE '^ +> +poll$' <<<"$output"
    [ "$(grep -cE '^p?poll' <<<"$output")" -eq 0 ]
    grep -qE '^accept4 +accept4$' <<<"$output"
}

@test "trace.sh: DEMO and --python DEMO trace one program in the foreground" {
    run --separate-stderr timeout 60 "$TRACE" epoll_et_demo -q --mode et
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "phase=1 mode=et sent=20 chunk=4 wakeups=1 read=4 left=16" ]
    [[ $stderr == *"epoll_wait("* ]]
    [[ $stderr == *"+++ exited with 0 +++"* ]]
    [[ $stderr != *"openat("* ]] # only the socket and wait calls
    run --separate-stderr timeout 60 "$TRACE" --python epoll_et_demo -q --mode et
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = "phase=2 mode=et sent=5 chunk=4 wakeups=1 read=4 left=17" ]
    [[ $stderr == *"socketpair("* ]]
    [[ $stderr == *"epoll_wait("* ]]
}

@test "trace.sh: no arguments exit 2; -h exit 0; an unknown demo or a missing build exits 1" {
    run --separate-stderr "$TRACE"
    [ "$status" -eq 2 ]
    [[ $stderr == "Usage: scripts/trace.sh DEMO"* ]]
    run "$TRACE" -h
    [ "$status" -eq 0 ]
    [[ ${lines[2]} == *"--compare DEMO"* ]]
    run --separate-stderr "$TRACE" --compare tcp_client
    [ "$status" -eq 1 ]
    [ "$stderr" = "trace.sh: no client session for 'tcp_client'; try one of the lab's demos" ]
    run --separate-stderr "$TRACE" --python no_such_demo
    [ "$status" -eq 1 ]
    [[ $stderr == "trace.sh: there is no docs/python/no_such_demo.py" ]]
    LAB_BUILD="$BATS_TEST_TMPDIR/empty" run --separate-stderr "$TRACE" --compare poll_server
    [ "$status" -eq 1 ]
    [[ $stderr == *"/empty/poll_server is not built (make)" ]]
}
