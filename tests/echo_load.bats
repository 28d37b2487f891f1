#!/usr/bin/env bats
# Self-test of the test tool tools/echo_load against blocking_echo, the one
# server every build has. blocking_echo serves one client at a time, so the
# concurrent check runs with one client here; the multiplexed servers' own
# tests run it with hundreds.

load helper

setup() {
    start_server blocking_echo -q
    TOOL=$(bin tools/echo_load)
}

@test "echo_load: concurrent: 1 MiB echoed and every byte checked" {
    run "$TOOL" -p "$SERVER_PORT" concurrent -n 1 -b 1M -s 7
    [ "$status" -eq 0 ]
    [ "$output" = "ok clients=1 bytes=1048576" ]
}

@test "echo_load: concurrent: a wrong byte is caught at its offset" {
    # The server echoes perfectly; the tool is told to expect byte 54321 to
    # differ, so the check must fail there and name the offset.
    run "$TOOL" -p "$SERVER_PORT" -n 1 -b 100000 --flip-expected-at 54321 concurrent
    [ "$status" -eq 1 ]
    [[ $output =~ ^concurrent\ failed:\ client\ 0:\ byte\ at\ offset\ 54321:\ expected\ 0x[0-9a-f]{2},\ got\ 0x[0-9a-f]{2}$ ]]
}

@test "echo_load: flood stalls a blocking server, holds it, and concurrent times out instead of hanging" {
    start_program tools/echo_load -p "$SERVER_PORT" flood -b 64M
    local flood_pid=$PROGRAM_PID flood_out=$PROGRAM_OUT
    wait_for_line "$flood_out" '^flood: stalled after [0-9]+ bytes$' 10
    # blocking_echo is now stuck in write() to the flooder: nobody else is served.
    run "$TOOL" -p "$SERVER_PORT" -t 1 concurrent -n 1 -b 1000
    [ "$status" -eq 1 ]
    [[ $output == "concurrent failed: timeout after 1 s: 1 of 1 clients unfinished"* ]]
    # The flooder was still holding its connection; SIGTERM ends it with 0.
    kill -0 "$flood_pid"
    kill -s TERM "$flood_pid"
    wait_for_exit "$flood_pid" 5
    [ "$EXIT_STATUS" -eq 0 ]
}

@test "echo_load: flood: a small flood is sent whole; end-of-file on stdin ends the hold" {
    run "$TOOL" -p "$SERVER_PORT" -b 1000 flood < <(:)
    [ "$status" -eq 0 ]
    [ "$output" = "flood: sent all 1000 bytes" ]
}

@test "echo_load: churn: 60 cycles, every 4th closed with RST, all echoed" {
    run "$TOOL" -p "$SERVER_PORT" churn -n 60 --reset-every 4
    [ "$status" -eq 0 ]
    [ "$output" = "ok cycles=60 resets=15" ]
    stop_server
    [ "$EXIT_STATUS" -eq 0 ]
    grep -qx 'summary: clients=60 bytes=[0-9]*' "$SERVER_OUT"
}

@test "echo_load: reset: sends, aborts with RST, and the server goes on" {
    run "$TOOL" -p "$SERVER_PORT" reset -b 4M
    [ "$status" -eq 0 ]
    [[ $output =~ ^reset\ after\ sending\ [1-9][0-9]*\ bytes$ ]]
    run "$TOOL" -p "$SERVER_PORT" concurrent -n 1 -b 1000
    [ "$output" = "ok clients=1 bytes=1000" ]
}

@test "echo_load: rtt: a median and a 90th percentile" {
    run "$TOOL" -p "$SERVER_PORT" rtt -n 50 -b 64
    [ "$status" -eq 0 ]
    [[ $output =~ ^rtt:\ rounds=50\ median_us=[0-9]+\.[0-9]\ p90_us=[0-9]+\.[0-9]$ ]]
}

@test "echo_load: bad command lines exit 2 with the usage" {
    run "$TOOL" -p "$SERVER_PORT" juggle
    [ "$status" -eq 2 ]
    [[ $output == *"unknown subcommand 'juggle'"* ]]
    run "$TOOL" concurrent -n 1
    [ "$status" -eq 2 ]
    [[ $output == *"missing -p PORT"* ]]
    run "$TOOL" -p "$SERVER_PORT" -b 5X concurrent
    [ "$status" -eq 2 ]
}

@test "echo_load: storm: echoing, resetting, vanishing and slow clients; the tally adds up" {
    run "$TOOL" -t 60 -p "$SERVER_PORT" -n 30 -b 4K -s 11 --allow-refused storm
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output =~ ^ok\ clients=30\ survivors=([0-9]+)\ resets=([0-9]+)\ vanished=([0-9]+)\ refused=([0-9]+)\ bytes=([0-9]+)$ ]]
    local survivors=${BASH_REMATCH[1]} resets=${BASH_REMATCH[2]} vanished=${BASH_REMATCH[3]}
    local refused=${BASH_REMATCH[4]} total=${BASH_REMATCH[5]}
    [ $((survivors + resets + vanished + refused)) -eq 30 ]
    [ "$total" -eq $((survivors * 4096)) ]
    ((survivors > 0))
    # The server lived through it and serves the next client.
    run "$TOOL" -p "$SERVER_PORT" concurrent -n 1 -b 1K
    [ "$output" = "ok clients=1 bytes=1024" ]
}

# A listener that accepts and closes at once: every client is refused.
# Sets REFUSING_PORT.
start_refusing_server() {
    command -v python3 >/dev/null || skip "python3 is needed for the refusing server"
    local port_file="$BATS_TEST_TMPDIR/port"
    python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]) + "\n")
while True:
    c, _ = s.accept(); c.close()
' "$port_file" 3>&- &
    remember_pid $!
    wait_for_line "$port_file" '^[0-9]+$' 10
    REFUSING_PORT=$(cat "$port_file")
}

@test "echo_load: storm: a server that closes clients unanswered fails it without --allow-refused" {
    start_refusing_server
    run "$TOOL" -t 20 -p "$REFUSING_PORT" -n 5 -b 64K storm
    [ "$status" -eq 1 ]
    [[ $output == "storm failed: "* ]]
    run "$TOOL" -t 20 -p "$REFUSING_PORT" -n 5 -b 64K --allow-refused storm
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output =~ ^ok\ clients=5\ survivors=0\ .*\ bytes=0$ ]]
}

@test "echo_load: storm: --allow-refused also counts a refusal that send() sees first" {
    # The server's close can reach a client as a failed send() (EPIPE,
    # ECONNRESET) before poll() reports it readable; with 200 clients most
    # runs have one.
    start_refusing_server
    local round tally='resets=([0-9]+) vanished=([0-9]+) refused=([0-9]+)'
    for round in 1 2 3; do
        run "$TOOL" -t 30 -p "$REFUSING_PORT" -n 200 -b 1M -s "$round" --allow-refused storm
        echo "round $round: $output"
        [ "$status" -eq 0 ]
        [[ $output =~ ^ok\ clients=200\ survivors=0\ $tally\ bytes=0$ ]]
        [ $((BASH_REMATCH[1] + BASH_REMATCH[2] + BASH_REMATCH[3])) -eq 200 ]
    done
}
