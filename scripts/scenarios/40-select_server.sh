# shellcheck shell=bash
# select_server: I/O multiplexing (IO多路复用) with select(rlist, wlist, xlist).
# Sourced by scripts/lab3.sh, which provides heading, say, start_demo, check...

# show_excerpt FILE REGEX: the first 10 lines of a long transcript, then the
# first line matching REGEX and the 8 after it.
show_excerpt() {
    local file=$1 regex=$2
    {
        head -n 10 "$file"
        echo "..."
        grep -m 1 -A 8 -E -- "$regex" "$file"
        echo "... ($(wc -l <"$file") lines in all)"
    } >"$file.excerpt"
    show_transcript "$file.excerpt"
}

run_scenario() {
    local client="$LAB_BUILD/tcp_client" load="$LAB_BUILD/tools/echo_load"

    heading "I/O multiplexing (IO多路复用): select(rlist, wlist, xlist) serves everyone at once"
    say "select_server sleeps in select(), which watches the listening socket and"
    say "every client at once. One client stays connected while 20 more send 16 KiB"
    say "each, all at the same time, in random chunks; then the first one speaks again."
    start_demo select_server -v || return 1

    local held echo_held='' echo_again=''
    exec {held}<>"/dev/tcp/127.0.0.1/$DEMO_PORT"
    printf 'I stay connected\n' >&"$held"
    read -r -t 5 echo_held <&"$held"
    say "the first client got back: '$echo_held'"

    local load_result load_status=0
    load_result=$("$load" -p "$DEMO_PORT" -n 20 -b 16K -s 3 concurrent) || load_status=$?
    say "echo_load: $load_result"

    printf 'still here\n' >&"$held"
    read -r -t 5 echo_again <&"$held"
    say "the first client, after the crowd, got back: '$echo_again'"
    exec {held}>&-
    wait_for_line "$DEMO_OUT" 'close\(fd 5\) after 28 bytes echoed' 5
    stop_demo INT
    say "What select_server -v said, in part: one line per wakeup, with the three"
    say "sets select() handed back; later, one wakeup finds several clients ready:"
    show_excerpt "$DEMO_OUT" '^select\(\) -> ([3-9]|[1-9][0-9]+) ready'

    check "the first client was echoed" [ "$echo_held" = "I stay connected" ]
    check "20 concurrent clients were echoed byte for byte" \
        [ "$load_status" -eq 0 -a "$load_result" = "ok clients=20 bytes=327680" ]
    check "the first client was still served after them" [ "$echo_again" = "still here" ]
    check "-v showed a wakeup with its three sets" \
        grep -qE '^select\(\) -> [0-9]+ ready: read \{[0-9, ]*\} write \{[0-9, ]*\} except \{\}$' "$DEMO_OUT"
    check "Ctrl-C (SIGINT) ended it with status 0" [ "$DEMO_STATUS" -eq 0 ]
    check "its summary counts 21 clients and every byte" \
        grep -qx 'summary: clients=21 bytes=327708' "$DEMO_OUT"

    heading "FD_SETSIZE: select() cannot watch descriptor 1024 or above"
    say "An fd_set is a bitmap of 1024 bits. 1,030 idle clients connect; the server's"
    say "descriptors run past 1023 and select_server refuses those clients, one line"
    say "each, instead of writing past the end of its fd_set."
    start_demo select_server || return 1
    local fifo="$DEMO_OUT.stdin" crowd_out="$DEMO_OUT.crowd"
    mkfifo "$fifo"
    # The fifo, open for reading and writing, never reports end of input, so
    # tcp_client holds its connections until it is signalled.
    "$client" -q --idle 1030 -p "$DEMO_PORT" 0<>"$fifo" >"$crowd_out" 2>&1 &
    local crowd=$!
    STARTED_PIDS+=("$crowd")
    wait_for_line "$crowd_out" '^holding 1030 connections$' 20
    wait_for_line "$DEMO_OUT" '^accept\(\) -> fd 1024 .*refused' 5
    local late
    late=$("$client" -q -p "$DEMO_PORT" -m 'me too?' 2>/dev/null) || true
    say "a newcomer said 'me too?' and got back: '${late}' (nothing: refused)"
    kill -s TERM "$crowd"
    wait "$crowd" 2>/dev/null
    stop_demo INT
    grep -m 3 -B 2 'refused, ' "$DEMO_OUT" >"$DEMO_OUT.refused"
    say "Where the descriptors ran out for select():"
    show_transcript "$DEMO_OUT.refused"

    local refused
    refused=$(grep -c 'refused, select() cannot watch' "$DEMO_OUT")
    check "clients beyond FD_SETSIZE were refused ($refused of them)" [ "$refused" -ge 1 ]
    check "the newcomer got nothing back" [ -z "$late" ]
    check "the server stayed up and ended with status 0" [ "$DEMO_STATUS" -eq 0 ]
}
