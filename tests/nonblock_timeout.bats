#!/usr/bin/env bats
# nonblock_timeout: non-blocking sockets and receive timeouts (docs/nonblock_timeout.md).

# shellcheck disable=SC2154 # bats run --separate-stderr sets stderr and stderr_lines
bats_require_minimum_version 1.5.0
load helper

@test "nonblock_timeout: -h prints usage on stdout and exits 0" {
    run --separate-stderr "$(bin nonblock_timeout)" -h
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "usage: nonblock_timeout "* ]]
    [[ $output == *"setblocking(False)"* ]]
    [ -z "$stderr" ]
}

@test "nonblock_timeout: bad options exit 2 with a one-line reason and the usage" {
    local arguments
    for arguments in "-x" "--bogus" "--mode" "--mode fast" "-i 0" "-i abc" "-i 60001" \
        "-t abc" "--mode timeout -t abc" "--mode timeout -t 0" "--mode timeout -t -1" \
        "-n 0" "-n x" "-p 70000" "-p abc" "--mode timeout -i 5" "-t 2" "extra"; do
        # shellcheck disable=SC2086 # split on purpose
        run --separate-stderr "$(bin nonblock_timeout)" $arguments
        echo "arguments: $arguments -> status $status, stderr: $stderr"
        [ "$status" -eq 2 ]
        [ -z "$output" ]
        [[ ${stderr_lines[0]} == "nonblock_timeout: "* ]]
        [[ ${stderr_lines[1]} == "usage: nonblock_timeout "* ]]
    done
}

@test "nonblock_timeout: a port already in use exits 1 naming EADDRINUSE" {
    start_server nonblock_timeout
    run --separate-stderr "$(bin nonblock_timeout)" -p "$SERVER_PORT"
    [ "$status" -eq 1 ]
    [[ $stderr == *"Address already in use (EADDRINUSE)"* ]]
    run --separate-stderr "$(bin nonblock_timeout)" --mode timeout -p "$SERVER_PORT"
    [ "$status" -eq 1 ]
    [[ $stderr == *"Address already in use (EADDRINUSE)"* ]]
}

@test "nonblock_timeout: nonblock: accept and recv say EAGAIN, it does other work, and it does not spin" {
    start_server nonblock_timeout -i 50
    wait_for_line "$SERVER_OUT" '^tick 1: accept\(\) -> EAGAIN \(no client waiting\)$'
    grep -qx 'doing other work (tick 1) for 50 ms while nothing is ready' "$SERVER_OUT"

    # A client that connects and says nothing: its recv() says EAGAIN too.
    start_program_holding_stdin tcp_client -p "$SERVER_PORT"
    wait_for_line "$SERVER_OUT" '^accept\(\) -> fd [0-9]+ from 127\.0\.0\.1:[0-9]+'
    wait_for_line "$SERVER_OUT" '^tick [0-9]+: accept\(\) -> EAGAIN .*; recv\(fd [0-9]+\) -> EAGAIN \(no data yet\)$'

    # 20 more ticks of 50 ms take about a second; spinning would burn all of it.
    local ticks before after
    ticks=$(grep -c '^doing other work' "$SERVER_OUT")
    before=$(cpu_ticks "$SERVER_PID")
    wait_for_line "$SERVER_OUT" "^doing other work \\(tick $((ticks + 20))\\)"
    after=$(cpu_ticks "$SERVER_PID")
    echo "CPU: $((after - before)) clock ticks for 20 rounds of 50 ms"
    ((after - before < 50))
}

@test "nonblock_timeout: nonblock: echoes a message and 1 MiB intact, and SIGINT gives the summary" {
    start_server nonblock_timeout -i 20
    run --separate-stderr timeout 20 "$(bin tcp_client)" -p "$SERVER_PORT" -m 'hello, nonblocking'
    [ "$status" -eq 0 ]
    [ "$output" = 'hello, nonblocking' ]

    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/sent"
    timeout 30 "$(bin tcp_client)" -p "$SERVER_PORT" \
        <"$BATS_TEST_TMPDIR/sent" >"$BATS_TEST_TMPDIR/received"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"

    wait_for_line "$SERVER_OUT" 'close\(fd [0-9]+\) after echoing 1048576 bytes'
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=2 bytes=1048595 ticks=$(grep -c '^doing other work' "$SERVER_OUT")" ]
}

@test "nonblock_timeout: nonblock: a silent client does not stop another from being echoed" {
    start_server nonblock_timeout -i 20
    start_program_holding_stdin tcp_client -p "$SERVER_PORT"
    wait_for_line "$SERVER_OUT" '^accept\(\) -> fd'
    run --separate-stderr timeout 20 "$(bin tcp_client)" -p "$SERVER_PORT" -m second
    [ "$status" -eq 0 ]
    [ "$output" = second ]
    [ "$(grep -c '^accept() -> fd' "$SERVER_OUT")" -eq 2 ]
}

@test "nonblock_timeout: nonblock: a client that resets mid-echo costs one line; the server goes on" {
    start_server nonblock_timeout -i 20
    local client byte
    exec {client}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    head -c 50000 /dev/zero | tr '\0' x >&"$client"
    read -r -N 1 -t 5 byte <&"$client"
    [ "$byte" = x ]
    # Closing with unread data makes the kernel send RST, not FIN.
    exec {client}>&-
    wait_for_line "$SERVER_OUT" '^(recv\(\) on|send\(\) to) fd [0-9]+ failed; closing it: .*\((ECONNRESET|EPIPE)\)$'

    run --separate-stderr timeout 20 "$(bin tcp_client)" -p "$SERVER_PORT" -m 'still here'
    [ "$status" -eq 0 ]
    [ "$output" = 'still here' ]
}

@test "nonblock_timeout: nonblock: -n COUNT stops after COUNT ticks with the summary" {
    run --separate-stderr timeout 20 "$(bin nonblock_timeout)" -p 0 -i 10 -n 3
    [ "$status" -eq 0 ]
    [ "$(grep -c '^tick [0-9]*: accept() -> EAGAIN' <<<"$output")" -eq 3 ]
    [ "${lines[-1]}" = "summary: clients=0 bytes=0 ticks=3" ]

    # -q keeps only the listening line and the summary.
    run --separate-stderr timeout 20 "$(bin nonblock_timeout)" -q -p 0 -i 10 -n 3
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    [[ ${lines[0]} =~ ^listening\ on\ 127\.0\.0\.1:[0-9]+$ ]]
    [ "${lines[1]}" = "summary: clients=0 bytes=0 ticks=3" ]
}

@test "nonblock_timeout: timeout: accept() times out after about -t seconds; -n 2 ends it with status 0" {
    start_server nonblock_timeout --mode timeout -t 1 -n 2
    local started finished
    started=$(now_ms)
    wait_for_line "$SERVER_OUT" '^accept\(\) timed out after 1 second \(EAGAIN\); waiting again$'
    finished=$(now_ms)
    echo "first timeout after $((finished - started)) ms"
    ((finished - started >= 900))
    ((finished - started < 5000))

    wait_for_exit "$SERVER_PID" 10
    [ "$EXIT_STATUS" -eq 0 ]
    grep -qx 'accept() timed out after 1 second (EAGAIN); that is timeout 2 of 2: stopping' "$SERVER_OUT"
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=0 bytes=0 timeouts=2" ]
    grep -q 'SO_RCVTIMEO, 1 second' "$SERVER_OUT"

    # A decimal timeout, and -q: only the listening line and the summary.
    run --separate-stderr timeout 20 "$(bin nonblock_timeout)" --mode timeout -q -p 0 -t 0.2 -n 2
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    [ "${lines[1]}" = "summary: clients=0 bytes=0 timeouts=2" ]
}

@test "nonblock_timeout: timeout: recv() times out on a silent client, the echo still works, timeouts count" {
    # -t 1 leaves the client a second to connect before accept() times out.
    start_server nonblock_timeout --mode timeout -t 1 -n 2
    start_program_holding_stdin tcp_client -p "$SERVER_PORT"
    local client_pid=$PROGRAM_PID client_out=$PROGRAM_OUT
    printf 'ping\n' >"$PROGRAM_STDIN"
    wait_for_line "$client_out" '^ping$'
    wait_for_line "$SERVER_OUT" '^recv\(fd [0-9]+\) timed out after 1 second \(EAGAIN\); waiting again$'
    wait_for_exit "$SERVER_PID" 10
    [ "$EXIT_STATUS" -eq 0 ]
    grep -qE '^recv\(fd [0-9]+\) timed out after 1 second \(EAGAIN\); that is timeout 2 of 2: stopping$' "$SERVER_OUT"
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=5 timeouts=2" ]
    # The server closed the connection, so the client ends too.
    wait_for_exit "$client_pid" 10
    [ "$EXIT_STATUS" -eq 0 ]
}

@test "nonblock_timeout: SIGINT while blocked or sleeping ends either mode at once with status 0 and the summary" {
    start_server nonblock_timeout --mode timeout -t 60
    wait_for_line "$SERVER_OUT" '^accept\(\) - blocks for at most 60 seconds$'
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=0 bytes=0 timeouts=0" ]

    start_server nonblock_timeout -i 60000
    wait_for_line "$SERVER_OUT" '^doing other work \(tick 1\) for 60000 ms'
    local started
    started=$SECONDS
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    ((SECONDS - started < 5))
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=0 bytes=0 ticks=1" ]
}

@test "nonblock_timeout: nonblock: SIGINT under load from four streaming clients ends it within 2 s" {
    check_stop_under_load nonblock_timeout -i 1000
}

@test "nonblock_timeout: nonblock: SIGINT or SIGTERM while its echo backs up to a client that never reads" {
    check_stop_while_writing nonblock_timeout -i 1000
}

@test "nonblock_timeout: timeout: SIGINT under load from four streaming clients ends it within 2 s" {
    check_stop_under_load nonblock_timeout --mode timeout -t 60
}

@test "nonblock_timeout: timeout: SIGINT or SIGTERM while it is blocked in send() to a client that never reads" {
    check_stop_while_writing nonblock_timeout --mode timeout -t 60
}

@test "nonblock_timeout: nonblock: out of descriptors under load, EMFILE is said once, and a client is served when one is free" {
    command -v prlimit >/dev/null || skip "prlimit (util-linux) is not installed"
    start_server nonblock_timeout -q -i 20
    # Once its last descriptor before the clients (the signalfd) is open,
    # room for exactly one client: the lowest free number is the last.
    local deadline=$((SECONDS + 10))
    until find "/proc/$SERVER_PID/fd" -lname 'anon_inode:*signalfd*' | grep -q .; do
        ((SECONDS < deadline)) || { echo "no signalfd in /proc/$SERVER_PID/fd" >&2; return 1; }
        sleep 0.02
    done
    local limit
    limit=$(($(lowest_free_descriptor "$SERVER_PID") + 1))
    prlimit --pid "$SERVER_PID" --nofile="$limit:$limit"

    # One client streams without pause and keeps every round busy (no other
    # work, no sleep between rounds)...
    start_program tools/echo_load -t 60 -p "$SERVER_PORT" -n 1 -b 65536M -s 3 concurrent
    local stream_pid=$PROGRAM_PID
    wait_until_busy "$SERVER_PID" 10
    # Its accept() is not asked by readiness: with the table full it fails
    # at once, though nobody is queued. Three pauses end with the queue
    # empty, and that does not end the shortage: still one line.
    wait_for_line "$SERVER_OUT" '^accept\(\) failed.*\(EMFILE\)$'
    sleep 0.3
    [ "$(grep -c 'EMFILE' "$SERVER_OUT")" -eq 1 ]
    # ...and three more wait in the backlog, with no descriptor left for them.
    start_program_holding_stdin tcp_client --idle 3 -p "$SERVER_PORT"
    local idle_pid=$PROGRAM_PID
    wait_for_line "$PROGRAM_OUT" '^holding 3 connections$'
    wait_for_line "$SERVER_OUT" '^accept\(\) failed.*\(EMFILE\)$'

    # Watch for a second and a half: rounds without end (busy ones, with no
    # sleep between them), fifteen ends of the listener's 100 ms pause, and
    # one line all the same.
    local watch_until lines
    watch_until=$(($(now_ms) + 1500))
    while (($(now_ms) < watch_until)); do
        lines=$(grep -c 'EMFILE' "$SERVER_OUT")
        ((lines == 1)) || { echo "EMFILE said $lines times" >&2; return 1; }
        sleep 0.05
    done
    kill -0 "$stream_pid" # still streaming all along
    grep -qx 'accept() failed; trying again every 100 ms until a descriptor is free: Too many open files (EMFILE)' "$SERVER_OUT"

    # The shortage ends when clients leave; then a newcomer is served. (It
    # fills the table again, so its accept() may start a new shortage.)
    stop_pid "$idle_pid"
    stop_pid "$stream_pid"
    [ "$(grep -c 'EMFILE' "$SERVER_OUT")" -eq 1 ]
    run --separate-stderr timeout 20 "$(bin tcp_client)" -q -p "$SERVER_PORT" -m 'after the shortage'
    [ "$status" -eq 0 ]
    [ "$output" = 'after the shortage' ]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=[0-9]+\  ]]
}

@test "nonblock_timeout: timeout: out of descriptors: said once, no busy loop, the client is served later" {
    check_blocking_accept_shortage nonblock_timeout --mode timeout -t 60
}
