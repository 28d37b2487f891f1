#!/usr/bin/env bats
# tcp_client: the lab's client - poll loop, -m, --idle, -t (docs/tcp_client.md).

# shellcheck disable=SC2154 # bats run --separate-stderr sets stderr and stderr_lines
bats_require_minimum_version 1.5.0
load helper

# How many ESTABLISHED TCP connections have local port $1 (the server's
# side of each connection), read from /proc so no extra tool is needed.
server_side_connections() {
    local port_hex
    port_hex=$(printf '%04X' "$1")
    awk -v port="$port_hex" \
        'NR > 1 { split($2, local_address, ":"); if (local_address[2] == port && $4 == "01") n++ }
         END { print n + 0 }' /proc/net/tcp
}

# Poll until server_side_connections $1 equals $2, or fail after $3 seconds.
wait_for_connections() {
    local port=$1 wanted=$2 seconds=${3:-10}
    local deadline=$((SECONDS + seconds))
    until [ "$(server_side_connections "$port")" -eq "$wanted" ]; do
        if ((SECONDS >= deadline)); then
            echo "port $port has $(server_side_connections "$port") connections, not $wanted" >&2
            return 1
        fi
        sleep 0.02
    done
}

@test "tcp_client: -h prints usage on stdout and exits 0" {
    run --separate-stderr "$(bin tcp_client)" -h
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "usage: tcp_client "* ]]
    [[ $output == *"--idle N"* ]]
    [ -z "$stderr" ]
}

@test "tcp_client: bad options exit 2 with a one-line reason and the usage" {
    local arguments
    for arguments in "-x" "--bogus" "-p" "-p 70000" "-p abc" "-p 0" "--idle 0" \
        "--idle 1000001" "--idle abc" "-t abc" "-t 0" "-t -1" "-t 1e999" \
        "-H" "-m hi --idle 3" "extra"; do
        # shellcheck disable=SC2086 # split on purpose
        run --separate-stderr "$(bin tcp_client)" $arguments
        echo "arguments: $arguments -> status $status, stderr: $stderr"
        [ "$status" -eq 2 ]
        [ -z "$output" ]
        [[ ${stderr_lines[0]} == "tcp_client: "* ]]
        [[ ${stderr_lines[1]} == "usage: tcp_client "* ]]
    done
}

@test "tcp_client: -m sends the message and a newline, prints the reply, exits 0" {
    start_server blocking_echo
    run --separate-stderr "$(bin tcp_client)" -p "$SERVER_PORT" -m 'hello, echo'
    [ "$status" -eq 0 ]
    [ "$output" = 'hello, echo' ]
    [ -z "$stderr" ]
    # Exactly the message and one newline reached the server.
    wait_for_line "$SERVER_OUT" '^close\(fd [0-9]+\) after echoing 12 bytes'
}

@test "tcp_client: default mode copies stdin to the server and replies to stdout, half-closing at the end" {
    start_server blocking_echo
    printf 'one\ntwo\n\0binary\xff\n' >"$BATS_TEST_TMPDIR/sent"
    "$(bin tcp_client)" -v -p "$SERVER_PORT" <"$BATS_TEST_TMPDIR/sent" \
        >"$BATS_TEST_TMPDIR/received" 2>"$BATS_TEST_TMPDIR/notes"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"
    # -v narrates on stderr, never on stdout.
    grep -qE '^tcp_client: shutdown\(fd [0-9]+, SHUT_WR\)' "$BATS_TEST_TMPDIR/notes"
    grep -qE '^tcp_client: recv\(\) -> 0: the server closed' "$BATS_TEST_TMPDIR/notes"
}

@test "tcp_client: 1 MiB of random bytes through blocking_echo comes back intact" {
    start_server blocking_echo -q
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/sent"
    timeout 30 "$(bin tcp_client)" -p "$SERVER_PORT" \
        <"$BATS_TEST_TMPDIR/sent" >"$BATS_TEST_TMPDIR/received"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"
}

@test "tcp_client: a closed stdout (EPIPE) ends it with status 1 and one line" {
    start_server blocking_echo -q
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/sent"
    # shellcheck disable=SC2016 # expanded by the inner bash
    run --separate-stderr bash -c \
        'set -o pipefail; timeout 30 "$1" -p "$2" <"$3" | head -c 1 >/dev/null' \
        bash "$(bin tcp_client)" "$SERVER_PORT" "$BATS_TEST_TMPDIR/sent"
    [ "$status" -eq 1 ]
    [[ $stderr == "tcp_client: write to stdout: Broken pipe (EPIPE)" ]]
}

@test "tcp_client: --idle N holds N connections until SIGTERM, then exits 0" {
    start_server blocking_echo -q
    start_program_holding_stdin tcp_client --idle 10 -p "$SERVER_PORT"
    local client_pid=$PROGRAM_PID client_out=$PROGRAM_OUT
    wait_for_line "$client_out" '^holding 10 connections$'
    [ "$(wc -l <"$client_out")" -eq 1 ]
    # The server's side: one accepted, the rest waiting in its backlog.
    wait_for_connections "$SERVER_PORT" 10
    [ "$(open_descriptors "$client_pid")" -ge 13 ]
    kill -s TERM "$client_pid"
    wait_for_exit "$client_pid" 10
    [ "$EXIT_STATUS" -eq 0 ]
    wait_for_connections "$SERVER_PORT" 0
}

@test "tcp_client: --idle N lets go at end of stdin" {
    start_server blocking_echo -q
    run --separate-stderr timeout 20 "$(bin tcp_client)" --idle 3 -p "$SERVER_PORT" </dev/null
    [ "$status" -eq 0 ]
    [ "$output" = "holding 3 connections" ]
}

@test "tcp_client: --idle raises its own soft descriptor limit, and reports EMFILE at the hard one" {
    start_server blocking_echo -q
    # 15 connections need 18 descriptors; the soft limit starts at 12.
    # shellcheck disable=SC2016 # expanded by the inner bash
    run --separate-stderr timeout 20 bash -c 'ulimit -S -n 12 && exec "$1" --idle 15 -p "$2" </dev/null' \
        bash "$(bin tcp_client)" "$SERVER_PORT"
    echo "soft: $status $output $stderr"
    [ "$status" -eq 0 ]
    [ "$output" = "holding 15 connections" ]

    # With the hard limit at 12 too, it stops part-way and says why.
    # shellcheck disable=SC2016 # expanded by the inner bash
    run --separate-stderr timeout 20 bash -c 'ulimit -n 12 && exec "$1" --idle 15 -p "$2" </dev/null' \
        bash "$(bin tcp_client)" "$SERVER_PORT"
    echo "hard: $status $output $stderr"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ $stderr =~ ^tcp_client:\ opened\ [0-9]+\ of\ 15\ connections\;\ .*\(EMFILE\)$ ]]
}

@test "tcp_client: -t connects with a timeout and narrates EINPROGRESS, poll and SO_ERROR" {
    start_server blocking_echo
    run --separate-stderr "$(bin tcp_client)" -t 2 -p "$SERVER_PORT" -m timely
    [ "$status" -eq 0 ]
    [ "$output" = timely ]
    [[ $stderr == *"connect() -> EINPROGRESS"* ]]
    [[ $stderr == *"poll(fd "*", POLLOUT, 2000 ms)"* ]]
    [[ $stderr == *"getsockopt(SO_ERROR) -> 0: connected"* ]]
    # -q keeps the connect quiet.
    run --separate-stderr "$(bin tcp_client)" -q -t 2 -p "$SERVER_PORT" -m quiet
    [ "$status" -eq 0 ]
    [ "$output" = quiet ]
    [ -z "$stderr" ]
}

@test "tcp_client: -t reports a connect that does not finish in time (exit 1)" {
    # A listener whose accept queue is full drops new SYNs, so connect()
    # stays in progress. Stop the server so it never accepts, fill its queue
    # with --idle (which itself times out once the queue is full), and try.
    start_server blocking_echo -q
    kill -s STOP "$SERVER_PID"
    run --separate-stderr timeout 20 "$(bin tcp_client)" --idle 1000 -t 0.5 -p "$SERVER_PORT"
    local fill_status=$status fill_stderr=$stderr
    local started finished
    started=$(now_ms)
    run --separate-stderr timeout 20 "$(bin tcp_client)" -t 1 -p "$SERVER_PORT" -m late
    finished=$(now_ms)
    kill -s CONT "$SERVER_PID"

    echo "fill: $fill_status $fill_stderr"
    [ "$fill_status" -eq 1 ]
    [[ $fill_stderr =~ ^tcp_client:\ opened\ [0-9]+\ of\ 1000\ connections\;\ connect\ to\ 127\.0\.0\.1\ port\ $SERVER_PORT\ timed\ out\ after\ 0\.5\ seconds$ ]]

    echo "client: $status after $((finished - started)) ms: $stderr"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ $stderr == *"connect() -> EINPROGRESS"* ]]
    [ "${stderr_lines[-1]}" = "tcp_client: connect to 127.0.0.1 port $SERVER_PORT timed out after 1 second" ]
    ((finished - started >= 900))
    ((finished - started < 8000))
}

@test "tcp_client: a refused connect exits 1 naming ECONNREFUSED" {
    # A port that was just listening and is now closed.
    start_server blocking_echo -q
    local port=$SERVER_PORT
    stop_server
    run --separate-stderr "$(bin tcp_client)" -p "$port" -m nobody
    [ "$status" -eq 1 ]
    [ "$stderr" = "tcp_client: connect to 127.0.0.1 port $port: Connection refused (ECONNREFUSED)" ]
    run --separate-stderr "$(bin tcp_client)" -q -t 2 -p "$port" -m nobody
    [ "$status" -eq 1 ]
    [ "$stderr" = "tcp_client: connect to 127.0.0.1 port $port: Connection refused (ECONNREFUSED)" ]
    run --separate-stderr "$(bin tcp_client)" --idle 5 -p "$port"
    [ "$status" -eq 1 ]
    [ "$stderr" = "tcp_client: opened 0 of 5 connections; connect to 127.0.0.1 port $port: Connection refused (ECONNREFUSED)" ]
}

@test "tcp_client: SIGTERM while connected and waiting ends it with status 0" {
    start_server blocking_echo
    start_program_holding_stdin tcp_client -p "$SERVER_PORT"
    wait_for_line "$SERVER_OUT" '^accept\(\) -> fd'
    kill -s TERM "$PROGRAM_PID"
    wait_for_exit "$PROGRAM_PID" 10
    [ "$EXIT_STATUS" -eq 0 ]
}
