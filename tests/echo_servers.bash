# shellcheck shell=bash
# shellcheck disable=SC2154  # status, output and lines come from bats' run
# The tests select_server, poll_server and epoll_server share, each a
# function taking the server's name. Loaded after helper.bash:
#
#   load helper
#   load echo_servers
#
# The servers have one contract (docs/select_server.md and its siblings):
# every byte echoed exactly, a bounded output buffer per client, reading
# paused while it is full, one client's trouble never the server's, EMFILE
# survived, SIGINT ends it with a summary.

# expect_echo MESSAGE: one tcp_client round trip through the server.
expect_echo() {
    run "$(bin tcp_client)" -q -p "$SERVER_PORT" -m "$1"
    [ "$status" -eq 0 ]
    [ "$output" = "$1" ]
}

# ---- The tests ---------------------------------------------------------------

check_usage_and_bad_options() {
    local server=$1
    run "$(bin "$server")" -h
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "usage: $server "* ]]

    run "$(bin "$server")" -x
    [ "$status" -eq 2 ]
    [[ $output == *"unknown option '-x'"* ]]
    [[ $output == *"usage: $server"* ]]

    run "$(bin "$server")" -p
    [ "$status" -eq 2 ]
    [[ $output == *"option '-p' needs a value"* ]]

    run "$(bin "$server")" -p 70000
    [ "$status" -eq 2 ]
    [[ $output == *"bad port '70000'"* ]]

    run "$(bin "$server")" -p 0 surplus
    [ "$status" -eq 2 ]
    [[ $output == *"unexpected argument 'surplus'"* ]]
}

check_concurrent_echo() {
    local server=$1 seed=$RANDOM
    start_server "$server" -q
    run "$(bin tools/echo_load)" -t 60 -p "$SERVER_PORT" -n 200 -b 64K -s "$seed" concurrent
    echo "echo_load (seed $seed): $output"
    [ "$status" -eq 0 ]
    [ "$output" = "ok clients=200 bytes=13107200" ]

    # 1 MiB through one client, compared byte for byte.
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/sent"
    "$(bin tcp_client)" -q -p "$SERVER_PORT" <"$BATS_TEST_TMPDIR/sent" >"$BATS_TEST_TMPDIR/received"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"

    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=201 bytes=$((13107200 + 1048576))" ]
}

check_flooding_client() {
    local server=$1
    start_server "$server"
    local before
    before=$(resident_kib "$SERVER_PID")

    # Sends 8 MiB and never reads: its echo fills the kernel's buffers, then
    # the server's 64 KiB for it, then the server stops reading from it.
    start_program_holding_stdin tools/echo_load -t 60 -p "$SERVER_PORT" -b 8M flood
    local flood_out=$PROGRAM_OUT
    wait_for_line "$flood_out" '^flood: (stalled after|sent all) ' 30
    if grep -q '^flood: stalled after' "$flood_out"; then
        # Only a server that stopped reading can stall the sender.
        wait_for_line "$SERVER_OUT" 'no more reading from it until it does' 10
    else
        echo "the kernel's socket buffers took all 8 MiB: the pause was not needed"
    fi

    # Meanwhile another client is served at once.
    expect_echo "second client"

    if is_sanitizer_build "$server"; then
        echo "sanitizer build: resident memory not checked"
    else
        local after
        after=$(resident_kib "$SERVER_PID")
        echo "server resident memory: $before KiB before, $after KiB while flooded"
        ((after - before < 2048))
    fi
    kill -0 "$SERVER_PID"
}

check_connect_close_cycles() {
    local server=$1
    start_server "$server" -q
    local baseline
    baseline=$(open_descriptors "$SERVER_PID")
    run "$(bin tools/echo_load)" -t 60 -p "$SERVER_PORT" -n 1000 --reset-every 7 churn
    echo "echo_load: $output"
    [ "$status" -eq 0 ]
    [ "$output" = "ok cycles=1000 resets=142" ]
    # Every descriptor given back, RST or not.
    wait_for_descriptors "$SERVER_PID" -eq "$baseline" 10
    expect_echo "after the churn"
}

check_sigint_summary() {
    local server=$1
    start_server "$server"
    local connection reply='' more=''
    exec {connection}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'hello\n' >&"$connection"
    read -r -t 5 reply <&"$connection"
    [ "$reply" = hello ]

    # SIGINT while the server sleeps in its wait with a client connected.
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=6" ]
    # It closed the client on its way out: end of file, not a timeout.
    local read_status=0
    read -r -t 5 more <&"$connection" || read_status=$?
    exec {connection}>&-
    [ "$read_status" -eq 1 ]
    [ -z "$more" ]
}

check_quiet_and_verbose() {
    local server=$1 wakeup_regex=$2
    start_server "$server" -q
    expect_echo "quiet"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    # -q: the listening line and the summary, nothing else.
    [ "$(wc -l <"$SERVER_OUT")" -eq 2 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=6" ]

    start_server "$server" -v
    expect_echo "hi"
    wait_for_line "$SERVER_OUT" "$wakeup_regex" 5
    wait_for_line "$SERVER_OUT" '^recv\(fd [0-9]+\) -> 3 bytes$' 5
    wait_for_line "$SERVER_OUT" '^send\(fd [0-9]+\) -> 3 of 3 bytes$' 5
}

check_descriptor_shortage() {
    local server=$1
    command -v prlimit >/dev/null || skip "prlimit (util-linux) is not installed"
    start_server "$server"
    # Soft and hard limit 20 on the running server: about 15 clients fit.
    prlimit --pid "$SERVER_PID" --nofile=20:20

    start_program_holding_stdin tcp_client --idle 40 -p "$SERVER_PORT"
    local holder=$PROGRAM_PID
    wait_for_line "$PROGRAM_OUT" '^holding 40 connections$' 10
    wait_for_line "$SERVER_OUT" 'accept\(\) failed.*\(EMFILE\)$' 10

    # The queued clients keep the listening socket readable. A server that
    # keeps watching it spins at 100% CPU; ours pauses. Measure one second.
    local ticks_before ticks_after
    ticks_before=$(cpu_ticks "$SERVER_PID")
    sleep 1
    ticks_after=$(cpu_ticks "$SERVER_PID")
    echo "CPU over one second: $((ticks_after - ticks_before)) ticks of $(getconf CLK_TCK)"
    ((ticks_after - ticks_before <= 20))
    [ "$(grep -c 'EMFILE' "$SERVER_OUT")" -eq 1 ]
    kill -0 "$SERVER_PID"

    # The clients leave; the server takes the queued ones, sees them go, and
    # serves newcomers again.
    kill -s TERM "$holder"
    wait_for_exit "$holder" 10
    wait_for_line "$SERVER_OUT" 'the descriptor shortage is over' 10
    expect_echo "served again"
}

# The table fills exactly: the last free descriptor goes to a client, and
# the accept() after it fails with the queue empty (Linux takes the new
# descriptor before it looks at the queue). An empty queue after the pause
# does not end the shortage: newcomers find the server just as full, and it
# is still the same shortage, said once.
check_shortage_with_empty_queue() {
    local server=$1 limit=20
    command -v prlimit >/dev/null || skip "prlimit (util-linux) is not installed"
    start_server "$server" -q
    prlimit --pid "$SERVER_PID" --nofile="$limit:$limit"
    # Free numbers below the limit (an inherited descriptor may sit above).
    local below=0 fd
    for fd in /proc/"$SERVER_PID"/fd/*; do
        ((${fd##*/} < limit)) && below=$((below + 1))
    done
    local free=$((limit - below)) held
    held=$(($(open_descriptors "$SERVER_PID") + free))

    start_program_holding_stdin tcp_client --idle "$free" -p "$SERVER_PORT"
    local exact=$PROGRAM_PID
    wait_for_line "$PROGRAM_OUT" "^holding $free connections\$" 10
    wait_for_descriptors "$SERVER_PID" -eq "$held" 10
    wait_for_line "$SERVER_OUT" 'accept\(\) failed.*\(EMFILE\)$' 10
    sleep 0.3 # three pauses end with nobody queued

    start_program_holding_stdin tcp_client --idle 5 -p "$SERVER_PORT"
    local late=$PROGRAM_PID
    wait_for_line "$PROGRAM_OUT" '^holding 5 connections$' 10
    sleep 0.3 # three more, with the newcomers queued
    [ "$(grep -c 'EMFILE' "$SERVER_OUT")" -eq 1 ]

    stop_pid "$exact"
    expect_echo "served again"
    [ "$(grep -c 'EMFILE' "$SERVER_OUT")" -eq 1 ]
    stop_pid "$late"
}

check_many_idle_clients() {
    local server=$1 count=$2
    local hard_limit
    hard_limit=$(ulimit -Hn)
    if [[ $hard_limit != unlimited ]] && ((hard_limit < count + 100)); then
        skip "the hard descriptor limit ($hard_limit) is below $((count + 100))"
    fi
    start_server "$server" -q
    local baseline before
    baseline=$(open_descriptors "$SERVER_PID")
    before=$(resident_kib "$SERVER_PID")

    start_program_holding_stdin tcp_client --idle "$count" -p "$SERVER_PORT"
    wait_for_line "$PROGRAM_OUT" "^holding $count connections$" 60
    wait_for_descriptors "$SERVER_PID" -ge $((baseline + count)) 60

    if is_sanitizer_build "$server"; then
        echo "sanitizer build: resident memory not checked"
    else
        local after
        after=$(resident_kib "$SERVER_PID")
        echo "server resident memory: $before KiB, then $after KiB with $count idle clients:" \
            "$(((after - before) * 1024 / count)) bytes per client"
        # At most about 1 KiB per idle client.
        (((after - before) * 1024 <= count * 1024))
    fi
    expect_echo "one more"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=$((count + 1)) bytes=9" ]
}
