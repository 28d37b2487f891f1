# shellcheck shell=bash
# poll_server: the five steps of a poll server (poll_server步骤) from the notes.
# Sourced by scripts/lab3.sh, which provides heading, say, start_demo, check...

# show_lines FILE REGEX BEFORE AFTER: the start of the transcript, then the
# first line matching REGEX with BEFORE lines before it and AFTER after it.
show_lines() {
    local file=$1 regex=$2 before=$3 after=$4
    {
        head -n 4 "$file"
        echo "..."
        grep -m 1 -B "$before" -A "$after" -E -- "$regex" "$file"
        echo "... ($(wc -l <"$file") lines in all)"
    } >"$file.excerpt"
    show_transcript "$file.excerpt"
}

run_scenario() {
    local client="$LAB_BUILD/tcp_client" load="$LAB_BUILD/tools/echo_load"

    heading "poll: the five steps of a poll server (poll_server步骤)"
    say "1 创建套接字 create the socket; 2 注册 register it (POLLIN in a pollfd array);"
    say "3 查找字典 keep a lookup table fd -> client; 4 循环监控 loop on poll();"
    say "5 处理 handle each event. poll_server -v narrates each wakeup with its"
    say "decoded revents. A client sends 8 MiB and never reads its echo: the server"
    say "buffers at most 64 KiB for it, then stops reading from it (POLLIN off)."
    say "Meanwhile another client and 20 concurrent ones are served as usual."
    start_demo poll_server -v || return 1

    local fifo="$DEMO_OUT.stdin" flood_out="$DEMO_OUT.flood"
    mkfifo "$fifo"
    # The fifo, open for reading and writing, never reports end of input, so
    # the flooder holds its connection until it is signalled.
    "$load" -p "$DEMO_PORT" -b 8M flood 0<>"$fifo" >"$flood_out" 2>&1 &
    local flooder=$!
    STARTED_PIDS+=("$flooder")
    wait_for_line "$flood_out" '^flood: (stalled after|sent all) ' 20
    wait_for_line "$DEMO_OUT" 'no more reading from it' 5
    say "the flooder: $(tail -n 1 "$flood_out")"

    local reply load_result load_status=0
    reply=$("$client" -q -p "$DEMO_PORT" -m 'am I stuck behind the flood?')
    say "another client got back: '$reply'"
    load_result=$("$load" -p "$DEMO_PORT" -n 20 -b 16K -s 5 concurrent) || load_status=$?
    say "echo_load: $load_result"
    kill -s TERM "$flooder"
    wait "$flooder" 2>/dev/null
    wait_for_line "$DEMO_OUT" 'close\(fd 5\) after' 5
    stop_demo INT
    say "What poll_server -v said when the flooder's echo piled up:"
    show_lines "$DEMO_OUT" 'no more reading from it' 9 4

    check "step 2 was narrated: the listening socket registered for POLLIN" \
        grep -q 'registered for POLLIN in the pollfd array (2 注册: register)' "$DEMO_OUT"
    check "-v decoded each wakeup" grep -qE '^poll\(\) -> 1 ready: fd 3 POLLIN$' "$DEMO_OUT"
    check "the flooder's echo was kept to 64 KiB, then reading stopped" \
        grep -q '^fd 5: 65536 bytes of echo wait for it to read; no more reading' "$DEMO_OUT"
    check "the other client was served while the flooder was stuck" \
        [ "$reply" = 'am I stuck behind the flood?' ]
    check "20 concurrent clients were echoed byte for byte" \
        [ "$load_status" -eq 0 -a "$load_result" = "ok clients=20 bytes=327680" ]
    check "the flooder's exit closed only its own connection" \
        grep -qE '^(send|recv)\(fd 5\) failed; close\(fd 5\)|^recv\(fd 5\) -> 0' "$DEMO_OUT"
    check "Ctrl-C (SIGINT) ended it with status 0" [ "$DEMO_STATUS" -eq 0 ]
    check "it printed its summary" grep -qE '^summary: clients=22 bytes=[0-9]+$' "$DEMO_OUT"
}
