# shellcheck shell=bash
# epoll_server: epoll, the interest list kept in the kernel; data.ptr as the
# lookup table. Sourced by scripts/lab3.sh, which provides heading, say,
# start_demo, check...

run_scenario() {
    local client="$LAB_BUILD/tcp_client" load="$LAB_BUILD/tools/echo_load"
    local idle=2000

    heading "epoll: like poll, but the kernel keeps the list (效率更高, 监控更多)"
    say "epoll_server registers each client once with epoll_ctl(EPOLL_CTL_ADD), and"
    say "epoll_wait() hands back only the ready ones, each with its client"
    say "(epoll_event.data.ptr, the notes' {fileno: obj} dictionary in C)."
    say "$idle idle clients connect and say nothing; then one more sends a line."
    start_demo epoll_server -v || return 1

    local fifo="$DEMO_OUT.stdin" crowd_out="$DEMO_OUT.crowd"
    mkfifo "$fifo"
    # The fifo, open for reading and writing, never reports end of input, so
    # tcp_client holds its connections until it is signalled.
    "$client" -q --idle "$idle" -p "$DEMO_PORT" 0<>"$fifo" >"$crowd_out" 2>&1 &
    local crowd=$!
    STARTED_PIDS+=("$crowd")
    wait_for_line "$crowd_out" "^holding $idle connections$" 20
    wait_for_line "$DEMO_OUT" "\($idle connected\)$" 10

    local before_line reply rtt load_result load_status=0
    before_line=$(wc -l <"$DEMO_OUT")
    reply=$("$client" -q -p "$DEMO_PORT" -m "one voice among $idle")
    say "the talking client got back: '$reply'"
    wait_for_line "$DEMO_OUT" "after $((${#reply} + 1)) bytes echoed" 5
    tail -n +"$((before_line + 1))" "$DEMO_OUT" >"$DEMO_OUT.talk"
    rtt=$("$load" -p "$DEMO_PORT" -n 300 -b 64 rtt)
    say "300 round trips of 64 bytes with $idle idle clients connected: $rtt"
    load_result=$("$load" -p "$DEMO_PORT" -n 20 -b 16K -s 6 concurrent) || load_status=$?
    say "echo_load: $load_result"
    kill -s TERM "$crowd"
    wait "$crowd" 2>/dev/null
    stop_demo INT

    say "What epoll_server -v said for the talking client, with $idle others idle:"
    say "each wakeup names only the ready descriptor."
    show_transcript "$DEMO_OUT.talk"

    check "$idle idle clients were accepted" grep -q "($idle connected)\$" "$DEMO_OUT"
    check "the talking client was echoed" [ "$reply" = "one voice among $idle" ]
    check "its wakeups reported only its own descriptor" \
        grep -qE '^epoll_wait\(\) -> 1 ready: fd [0-9]+ EPOLLIN(\|EPOLLRDHUP)?$' "$DEMO_OUT.talk"
    check "the round trips were measured" grep -q '^rtt: rounds=300 ' <<<"$rtt"
    check "20 concurrent clients were echoed byte for byte" \
        [ "$load_status" -eq 0 -a "$load_result" = "ok clients=20 bytes=327680" ]
    check "Ctrl-C (SIGINT) ended it with status 0" [ "$DEMO_STATUS" -eq 0 ]
    check "it printed its summary" \
        grep -qE "^summary: clients=$((idle + 22)) bytes=[0-9]+\$" "$DEMO_OUT"
}
