# shellcheck shell=bash
# epoll_et_demo: level-triggered (水平触发) vs edge-triggered (边缘触发) epoll.
# Sourced by scripts/lab3.sh, which provides heading, say, start_demo, check...

# run_experiment MODE: the default experiment (20 bytes, 4 per read) in
# MODE; its narration goes to EXPERIMENT_OUT, its status to EXPERIMENT_STATUS.
run_experiment() {
    # shellcheck disable=SC2154 # $work is lab3.sh's scratch folder
    EXPERIMENT_OUT="$work/epoll_et_demo.$1.out"
    EXPERIMENT_STATUS=0
    "$LAB_BUILD/epoll_et_demo" --mode "$1" >"$EXPERIMENT_OUT" 2>&1 || EXPERIMENT_STATUS=$?
}

# has_line FILE LINE: FILE has exactly this line.
has_line() {
    grep -qxF -- "$2" "$1"
}

run_scenario() {
    heading "Level-triggered (水平触发) vs edge-triggered (边缘触发) epoll"
    say "The notes: level-triggered keeps reminding you until the data is handled;"
    say "edge-triggered reminds you once, and if you do not handle it, not again until"
    say "the next new event. Each run below writes 20 letters into a socketpair at once,"
    say "reads 4 bytes per wakeup, and stops a phase after 200 ms without a wakeup."
    say "Phase 2 writes 5 new bytes \"12345\": a new event."

    say ""
    say "1) --mode lt: epoll reports the socket as long as anything is unread."
    run_experiment lt
    show_transcript "$EXPERIMENT_OUT"
    local lt_out=$EXPERIMENT_OUT lt_status=$EXPERIMENT_STATUS

    say ""
    say "2) --mode et (EPOLLET): one wakeup, one read of 4, and silence: 16 bytes stuck."
    say "   In phase 2 the new bytes wake it once more - and it reads \"efgh\", the"
    say "   OLDEST stuck bytes, not the new ones."
    run_experiment et
    show_transcript "$EXPERIMENT_OUT"
    local et_out=$EXPERIMENT_OUT et_status=$EXPERIMENT_STATUS

    say ""
    say "3) --mode et-drain: edge-triggered done right - on each wakeup, read until"
    say "   read() fails with EAGAIN (which needs a non-blocking descriptor)."
    run_experiment et-drain
    show_transcript "$EXPERIMENT_OUT"
    local drain_out=$EXPERIMENT_OUT drain_status=$EXPERIMENT_STATUS

    say ""
    say "4) The same rule in a server: --serve --mode et -c 4. A client sends"
    say "   'hello world', waits, then sends 'again'."
    start_demo epoll_et_demo --serve --mode et -c 4 || return 1
    local client first='' second=''
    exec {client}<>"/dev/tcp/127.0.0.1/$DEMO_PORT"
    printf 'hello world\n' >&"$client"
    read -r -N 4 -t 5 first <&"$client"
    wait_for_line "$DEMO_OUT" 'still unread; edge-triggered' 5
    say "   the client got back '$first' - the rest is queued, and nobody is reminded"
    printf 'again\n' >&"$client"
    read -r -N 4 -t 5 second <&"$client"
    say "   after 'again' it got back '$second' - the next OLDEST bytes, not 'again'"
    say "   Then Ctrl-C: it arrives on a signalfd that epoll watches like a client."
    stop_demo INT
    exec {client}>&-
    show_transcript

    check "lt phase 1: 5 wakeups read all 20 bytes" \
        has_line "$lt_out" "phase=1 mode=lt sent=20 chunk=4 wakeups=5 read=20 left=0"
    check "lt phase 2: 2 wakeups read the 5 new bytes" \
        has_line "$lt_out" "phase=2 mode=lt sent=5 chunk=4 wakeups=2 read=5 left=0"
    check "et phase 1: 1 wakeup, 4 bytes read, 16 left" \
        has_line "$et_out" "phase=1 mode=et sent=20 chunk=4 wakeups=1 read=4 left=16"
    check "et phase 2: 1 wakeup, 4 bytes read, 17 left" \
        has_line "$et_out" "phase=2 mode=et sent=5 chunk=4 wakeups=1 read=4 left=17"
    check "et phase 2 read the oldest bytes, \"efgh\"" \
        grep -qE '^read\(fd [0-9]+, 4\) -> 4 bytes "efgh"$' "$et_out"
    check "et-drain phase 1: 1 wakeup, all 20 bytes read" \
        has_line "$drain_out" "phase=1 mode=et-drain sent=20 chunk=4 wakeups=1 read=20 left=0"
    check "et-drain phase 2: 1 wakeup, all 5 bytes read" \
        has_line "$drain_out" "phase=2 mode=et-drain sent=5 chunk=4 wakeups=1 read=5 left=0"
    check "the three experiments exited with status 0" \
        [ "$lt_status$et_status$drain_status" = 000 ]
    check "the et server echoed 'hell' first" [ "$first" = hell ]
    check "then, on the next event, 'o wo' (the oldest stuck bytes)" [ "$second" = "o wo" ]
    check "Ctrl-C (SIGINT) came in through the signalfd, one more ready descriptor" \
        grep -qx 'signalfd: SIGINT arrived; stopping' "$DEMO_OUT"
    check "Ctrl-C (SIGINT) ended the server with status 0" [ "$DEMO_STATUS" -eq 0 ]
    check "it printed its summary" grep -qx 'summary: clients=1 bytes=8' "$DEMO_OUT"
}
