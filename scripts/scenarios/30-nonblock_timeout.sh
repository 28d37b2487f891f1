# shellcheck shell=bash
# nonblock_timeout: non-blocking I/O (非阻塞IO) and timeout detection (超时检测).
# Sourced by scripts/lab3.sh, which provides heading, say, start_demo, check...

# number_between N LOW HIGH: LOW <= N <= HIGH.
number_between() {
    (($1 >= $2 && $1 <= $3))
}

run_scenario() {
    local client="$LAB_BUILD/tcp_client"

    heading "Non-blocking I/O (非阻塞IO): setblocking(False) - ask, get EAGAIN, do other work"
    say "nonblock_timeout puts O_NONBLOCK on its sockets: accept() and recv() never"
    say "wait, they answer EAGAIN when nothing is there. When every socket said"
    say "EAGAIN it does 'other work' for 300 ms (-i 300) and asks again."
    start_demo nonblock_timeout -i 300 || return 1
    wait_for_line "$DEMO_OUT" '^doing other work \(tick 1\)' 5

    local silent
    exec {silent}<>"/dev/tcp/127.0.0.1/$DEMO_PORT"
    say "a silent client connects and says nothing: its recv() gives EAGAIN too"
    wait_for_line "$DEMO_OUT" 'recv\(fd [0-9]+\) -> EAGAIN' 5

    local reply expected_sum echoed_sum
    reply=$("$client" -q -p "$DEMO_PORT" -m 'hello while the other client sleeps')
    say "a second client sent a line and got back: '$reply'"
    expected_sum=$(seq 1 20000 | cksum)
    echoed_sum=$(seq 1 20000 | "$client" -q -p "$DEMO_PORT" | cksum)
    say "a third sent 108894 bytes (seq 1 20000): checksum and length sent"
    say "  '$expected_sum', came back '$echoed_sum'"
    exec {silent}>&-
    wait_for_line "$DEMO_OUT" 'close\(fd [0-9]+\) after echoing 0 bytes' 5
    stop_demo INT
    show_transcript

    check "accept() said EAGAIN while no client was waiting" \
        grep -q '^tick [0-9]*: accept() -> EAGAIN (no client waiting)' "$DEMO_OUT"
    check "the silent client's recv() said EAGAIN" grep -qE 'recv\(fd [0-9]+\) -> EAGAIN' "$DEMO_OUT"
    check "it did other work between tries" grep -q '^doing other work (tick 2)' "$DEMO_OUT"
    check "the line came back while the silent client stayed connected" \
        [ "$reply" = 'hello while the other client sleeps' ]
    check "108894 bytes came back intact" [ "$expected_sum" = "$echoed_sum" ]
    check "Ctrl-C (SIGINT) ended it with status 0" [ "$DEMO_STATUS" -eq 0 ]
    check "Ctrl-C came in through the signalfd, read like a socket" \
        grep -qx 'signalfd: SIGINT arrived; stopping' "$DEMO_OUT"
    check "it printed its summary" grep -qE '^summary: clients=3 bytes=108930 ticks=[0-9]+$' "$DEMO_OUT"

    heading "Timeout detection (超时检测): settimeout(1) - block, but not forever"
    say "In timeout mode the sockets block as usual, with SO_RCVTIMEO of 1 second:"
    say "accept() gives up after 1 s with EAGAIN, the demo notes it and waits again;"
    say "-n 2 makes it stop after the second timeout. Nobody connects."
    start_demo nonblock_timeout --mode timeout -t 1 -n 2 || return 1
    local started=$SECONDS
    wait_for_demo_exit 10
    local took=$((SECONDS - started))
    show_transcript

    check "accept() timed out after 1 second and waited again" \
        grep -qx 'accept() timed out after 1 second (EAGAIN); waiting again' "$DEMO_OUT"
    check "it stopped by itself after 2 timeouts with status 0" [ "$DEMO_STATUS" -eq 0 ]
    check "that took about 2 seconds (took ${took} s)" number_between "$took" 1 5
    check "it printed its summary" grep -qx 'summary: clients=0 bytes=0 timeouts=2' "$DEMO_OUT"

    heading "The client's side of 超时检测: create_connection(timeout=1)"
    say "A server that never answers: the demo is frozen (SIGSTOP) and its listen"
    say "backlog is full, so the kernel drops new SYNs. tcp_client -t 1 connects"
    say "without blocking (EINPROGRESS), waits in poll() for 1 second, gives up."
    start_demo nonblock_timeout --mode timeout -t 60 || return 1
    kill -s STOP "$DEMO_PID"
    timeout 60 "$client" -q --idle 100 -t 0.3 -p "$DEMO_PORT" 2>/dev/null
    local client_notes client_status=0
    # -t bounds only the connect; should a connection get through anyway,
    # timeout(1) bounds the wait for a reply the frozen server never sends.
    client_notes=$(timeout 10 "$client" -t 1 -p "$DEMO_PORT" -m 'anyone there?' 2>&1) ||
        client_status=$?
    kill -s CONT "$DEMO_PID"
    stop_demo INT
    say "what tcp_client -t 1 said on stderr:"
    local note_lines
    mapfile -t note_lines <<<"$client_notes"
    printf '  | %s\n' "${note_lines[@]}"

    check "the connect went on in the background (EINPROGRESS)" \
        grep -q 'connect() -> EINPROGRESS' <<<"$client_notes"
    check "it reported the timeout" \
        grep -qE "connect to 127\.0\.0\.1 port $DEMO_PORT timed out after 1 second$" \
        <<<"$client_notes"
    check "and exited with status 1" [ "$client_status" -eq 1 ]
}
