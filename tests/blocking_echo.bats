#!/usr/bin/env bats
# blocking_echo: an iterative echo server on blocking calls (docs/blocking_echo.md).

load helper

@test "blocking_echo: -h prints usage on stdout and exits 0" {
    run "$(bin blocking_echo)" -h
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "usage: blocking_echo "* ]]
}

@test "blocking_echo: bad options exit 2 with a one-line reason and the usage" {
    local arguments
    for arguments in "-p 70000" "-p abc" "-p" "-x" "--bogus" "-H 999.1.1.1" "extra"; do
        # shellcheck disable=SC2086 # split on purpose
        run --separate-stderr "$(bin blocking_echo)" $arguments
        echo "arguments: $arguments -> status $status, stderr: $stderr"
        [ "$status" -eq 2 ]
        [ -z "$output" ]
        [[ ${stderr_lines[0]} == "blocking_echo: "* ]]
        [[ ${stderr_lines[1]} == "usage: blocking_echo "* ]]
    done
}

@test "blocking_echo: a port already in use exits 1 naming EADDRINUSE" {
    start_server blocking_echo
    run --separate-stderr "$(bin blocking_echo)" -p "$SERVER_PORT"
    [ "$status" -eq 1 ]
    [[ $stderr == *"Address already in use (EADDRINUSE)"* ]]
}

@test "blocking_echo: it echoes a line and narrates accept and recv" {
    start_server blocking_echo
    local client reply
    exec {client}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'hello, blocking world\n' >&"$client"
    read -r -t 5 reply <&"$client"
    exec {client}>&-
    [ "$reply" = "hello, blocking world" ]
    wait_for_line "$SERVER_OUT" '^close\(fd [0-9]+\) after echoing 22 bytes'
    grep -qE '^accept\(\) - blocks until a client connects$' "$SERVER_OUT"
    grep -qE '^accept\(\) -> fd [0-9]+ from 127\.0\.0\.1:[0-9]+$' "$SERVER_OUT"
    grep -qE '^recv\(fd [0-9]+\) -> 22 bytes' "$SERVER_OUT"
}

@test "blocking_echo: a second client connects at once but is echoed only after the first leaves" {
    start_server blocking_echo
    local first second reply=''
    exec {first}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'one\n' >&"$first"
    read -r -t 5 reply <&"$first"
    [ "$reply" = one ]

    # connect() succeeds: the kernel queues the connection in the backlog.
    exec {second}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'two\n' >&"$second"
    reply=''
    read -r -t 1 reply <&"$second" || true
    [ -z "$reply" ]
    [ "$(grep -c '^accept() ->' "$SERVER_OUT")" -eq 1 ]

    exec {first}>&-
    read -r -t 5 reply <&"$second"
    [ "$reply" = two ]
    exec {second}>&-
    [ "$(grep -c '^accept() ->' "$SERVER_OUT")" -eq 2 ]
}

@test "blocking_echo: 1 MiB of random bytes comes back intact" {
    start_server blocking_echo -q
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/sent"
    "$(bin tcp_client)" -q -p "$SERVER_PORT" \
        <"$BATS_TEST_TMPDIR/sent" >"$BATS_TEST_TMPDIR/received"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    grep -qx 'summary: clients=1 bytes=1048576' "$SERVER_OUT"
}

@test "blocking_echo: a client that resets mid-echo costs one line; the server goes on" {
    start_server blocking_echo
    run "$(bin tools/echo_load)" -p "$SERVER_PORT" -b 4194304 reset
    [ "$status" -eq 0 ]
    wait_for_line "$SERVER_OUT" '^close\(fd [0-9]+\) after echoing'
    # exactly one line about the failure, naming the errno
    run grep -cE 'failed; closing it: .*\((ECONNRESET|EPIPE)\)$' "$SERVER_OUT"
    [ "$output" -eq 1 ]
    run "$(bin tcp_client)" -q -p "$SERVER_PORT" -m "still here"
    [ "$status" -eq 0 ]
    [ "$output" = "still here" ]
}

@test "blocking_echo: SIGINT while blocked in recv() with a client connected: exit 0 and a summary" {
    start_server blocking_echo
    local client reply
    exec {client}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'abc\n' >&"$client"
    read -r -t 5 reply <&"$client"
    wait_for_line "$SERVER_OUT" '^recv\(fd [0-9]+\) -> 4 bytes'
    stop_server INT
    exec {client}>&-
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=4" ]
}

@test "blocking_echo: SIGTERM while blocked in accept(): exit 0 and a summary" {
    start_server blocking_echo
    wait_for_line "$SERVER_OUT" '^accept\(\) - blocks'
    stop_server TERM
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=0 bytes=0" ]
}

@test "blocking_echo: -q keeps only the listening line and the summary" {
    start_server blocking_echo -q
    run "$(bin tcp_client)" -q -p "$SERVER_PORT" -m quiet
    [ "$output" = quiet ]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(wc -l <"$SERVER_OUT")" -eq 2 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=6" ]
}

@test "blocking_echo: -H ::1 listens on IPv6 and says [::1]:PORT" {
    grep -qs '^0\{31\}1 ' /proc/net/if_inet6 || skip "this host has no IPv6 loopback"
    start_server blocking_echo -H ::1
    [[ $(head -n 1 "$SERVER_OUT") =~ ^listening\ on\ \[::1\]:[0-9]+$ ]]
    run "$(bin tcp_client)" -q -H ::1 -p "$SERVER_PORT" -m "over IPv6"
    [ "$status" -eq 0 ]
    [ "$output" = "over IPv6" ]
    grep -qE '^accept\(\) -> fd [0-9]+ from \[::1\]:[0-9]+$' "$SERVER_OUT"
}

@test "blocking_echo: SIGINT under load from four streaming clients ends it within 2 s" {
    check_stop_under_load blocking_echo
}

@test "blocking_echo: SIGINT or SIGTERM while it is blocked in send() to a client that never reads" {
    check_stop_while_writing blocking_echo
}

@test "blocking_echo: out of descriptors, accept() fails at once: said once, no busy loop, the client is served later" {
    check_blocking_accept_shortage blocking_echo
}
