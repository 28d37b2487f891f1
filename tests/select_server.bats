#!/usr/bin/env bats
# select_server: select(rlist, wlist, xlist) serving many echo clients in one
# thread; a client beyond FD_SETSIZE refused, not undefined behaviour. The
# shared test bodies are in echo_servers.bash.

load helper
load echo_servers

@test "select_server: -h prints the usage; bad options exit 2 with a reason" {
    check_usage_and_bad_options select_server
}

@test "select_server: 200 concurrent clients, random data in random chunks, echoed exactly" {
    check_concurrent_echo select_server
}

@test "select_server: a client sending 8 MiB and never reading stalls nobody; memory bounded" {
    check_flooding_client select_server
}

@test "select_server: 1,000 connect/close cycles, some with RST: every descriptor given back" {
    check_connect_close_cycles select_server
}

@test "select_server: SIGINT with a client connected: exit 0 and the summary" {
    check_sigint_summary select_server
}

@test "select_server: -q keeps only listening and summary; -v shows the three sets" {
    check_quiet_and_verbose select_server \
        '^select\(\) -> 1 ready: read \{[0-9]+\} write \{\} except \{\}$'
}

@test "select_server: out of descriptors (EMFILE): logged once, no busy loop, serves again" {
    check_descriptor_shortage select_server
}

@test "select_server: a table filled exactly, then newcomers: still one shortage, said once" {
    check_shortage_with_empty_queue select_server
}

@test "select_server: clients beyond FD_SETSIZE are refused; earlier ones still echoed" {
    local hard_limit
    hard_limit=$(ulimit -Hn)
    if [[ $hard_limit != unlimited ]] && ((hard_limit < 1200)); then
        skip "the hard descriptor limit ($hard_limit) is below 1200"
    fi
    start_server select_server
    local baseline
    baseline=$(open_descriptors "$SERVER_PID")

    # An early client gets a low descriptor...
    local early reply=''
    exec {early}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'early\n' >&"$early"
    read -r -t 5 reply <&"$early"
    [ "$reply" = early ]

    # ...then 1,100 more push the server's descriptors past 1023.
    start_program_holding_stdin tcp_client --idle 1100 -p "$SERVER_PORT"
    local holder=$PROGRAM_PID
    wait_for_line "$PROGRAM_OUT" '^holding 1100 connections$' 30
    wait_for_line "$SERVER_OUT" '^accept\(\) -> fd 1024 from .*: refused, select\(\) cannot watch a descriptor >= FD_SETSIZE \(1024\); close\(fd 1024\)$' 10

    # A newcomer now gets fd 1024 too, and is refused: closed unanswered.
    # (End of file, or a reset if its line arrived before the close.)
    run "$(bin tcp_client)" -q -p "$SERVER_PORT" -m "refuse-me"
    [[ $output != *refuse-me* ]]

    # The early client is still served, and the server is alive.
    printf 'still here\n' >&"$early"
    read -r -t 5 reply <&"$early"
    [ "$reply" = "still here" ]
    exec {early}>&-
    kill -0 "$SERVER_PID"

    # Once the crowd leaves, newcomers are welcome again.
    kill -s TERM "$holder"
    wait_for_exit "$holder" 10
    wait_for_descriptors "$SERVER_PID" -eq "$baseline" 10
    expect_echo "welcome again"
}

@test "select_server: xlist reports TCP urgent (out-of-band) data, not errors" {
    command -v python3 >/dev/null || skip "python3 is needed to send MSG_OOB"
    start_server select_server
    # Two ordinary bytes, then one urgent byte '!' (0x21) sent with MSG_OOB.
    run python3 - "$SERVER_PORT" <<'PYTHON'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as s:
    s.sendall(b"ab")
    s.send(b"!", socket.MSG_OOB)
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := s.recv(100):
        reply += chunk
    print(reply.decode())
PYTHON
    [ "$status" -eq 0 ]
    # The urgent byte is taken out of the stream; the rest is echoed.
    [ "$output" = ab ]
    wait_for_line "$SERVER_OUT" '^fd [0-9]+ is in xlist: TCP urgent data; recv\(MSG_OOB\) -> byte 0x21 ' 5
}

@test "select_server: SIGINT under four streaming clients stops it within 2 s" {
    check_stop_under_load select_server
}

@test "select_server: SIGINT and SIGTERM stop it within 2 s while its echo is backed up" {
    check_stop_while_writing select_server
}
