#!/usr/bin/env bats
# epoll_et_demo: level- vs edge-triggered epoll (docs/epoll_et_demo.md).
#
# The experiment is deterministic: all bytes are in the socketpair before
# the first epoll_wait, so the 200 ms quiet period can only end a phase
# when nothing is ready. The server tests use TCP and assert only what TCP
# timing cannot change.

# shellcheck disable=SC2154 # bats run --separate-stderr sets stderr and stderr_lines
bats_require_minimum_version 1.5.0
load helper

# The two summary lines the issue's formulas predict for MODE BYTES CHUNK.
expected_summary() {
    local mode=$1 bytes=$2 chunk=$3
    local wakeups1 read1 left1 wakeups2 read2 left2
    case $mode in
    lt)
        wakeups1=$(((bytes + chunk - 1) / chunk)) read1=$bytes left1=0
        wakeups2=$(((5 + chunk - 1) / chunk)) read2=5 left2=0
        ;;
    et)
        read1=$((chunk < bytes ? chunk : bytes))
        wakeups1=1 left1=$((bytes - read1))
        read2=$((chunk < left1 + 5 ? chunk : left1 + 5))
        wakeups2=1 left2=$((left1 + 5 - read2))
        ;;
    et-drain)
        wakeups1=1 read1=$bytes left1=0
        wakeups2=1 read2=5 left2=0
        ;;
    esac
    printf 'phase=1 mode=%s sent=%d chunk=%d wakeups=%d read=%d left=%d\n' \
        "$mode" "$bytes" "$chunk" "$wakeups1" "$read1" "$left1"
    printf 'phase=2 mode=%s sent=5 chunk=%d wakeups=%d read=%d left=%d\n' \
        "$mode" "$chunk" "$wakeups2" "$read2" "$left2"
}

# Run the experiment (-q) for MODE and every "BYTES CHUNK" pair at once
# (they wait in parallel: the quiet periods overlap), then compare each
# output with expected_summary.
check_summaries() {
    local mode=$1 pair bytes chunk out
    shift
    local pairs=("$@") pids=() outputs=()
    for pair in "${pairs[@]}"; do
        read -r bytes chunk <<<"$pair"
        out="$BATS_TEST_TMPDIR/$mode.$bytes.$chunk"
        "$(bin epoll_et_demo)" -q --mode "$mode" -n "$bytes" -c "$chunk" >"$out" 2>&1 3>&- &
        pids+=("$!")
        outputs+=("$out")
    done
    local i status failed=0
    for i in "${!pids[@]}"; do
        status=0
        wait "${pids[$i]}" || status=$?
        read -r bytes chunk <<<"${pairs[$i]}"
        if [ "$status" -ne 0 ] ||
            [ "$(cat "${outputs[$i]}")" != "$(expected_summary "$mode" "$bytes" "$chunk")" ]; then
            echo "--mode $mode -n $bytes -c $chunk: status $status; expected:" >&2
            expected_summary "$mode" "$bytes" "$chunk" | sed 's/^/  | /' >&2
            echo "got:" >&2
            sed 's/^/  | /' "${outputs[$i]}" >&2
            failed=1
        fi
    done
    return "$failed"
}

# Every case: CHUNK < BYTES, = BYTES, > BYTES, CHUNK 1, BYTES not a multiple
# of CHUNK, the smallest and the largest BYTES.
PAIRS=("20 4" "20 20" "20 100" "20 1" "21 4" "100 7" "1 1" "3 65536"
    "65536 4096" "65536 1" "65536 65536")

@test "epoll_et_demo: -h prints usage on stdout and exits 0" {
    run --separate-stderr "$(bin epoll_et_demo)" --help
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "usage: epoll_et_demo "* ]]
    [[ $output == *"--serve"* ]]
    [ -z "$stderr" ]
}

@test "epoll_et_demo: lt: ceil(BYTES/CHUNK) wakeups read everything, in both phases" {
    check_summaries lt "${PAIRS[@]}"
}

@test "epoll_et_demo: et: one wakeup, one read; the rest stays unread (left is counted)" {
    check_summaries et "${PAIRS[@]}"
}

@test "epoll_et_demo: et-drain: one wakeup, drained to EAGAIN, nothing left" {
    check_summaries et-drain "${PAIRS[@]}"
}

@test "epoll_et_demo: the defaults are lt, 20 bytes, chunk 4; -q prints exactly the two summary lines" {
    run --separate-stderr "$(bin epoll_et_demo)" -q
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "${#lines[@]}" -eq 2 ]
    [ "${lines[0]}" = "phase=1 mode=lt sent=20 chunk=4 wakeups=5 read=20 left=0" ]
    [ "${lines[1]}" = "phase=2 mode=lt sent=5 chunk=4 wakeups=2 read=5 left=0" ]
}

@test "epoll_et_demo: lt narration: every wakeup is one epoll_wait line, then one read" {
    run --separate-stderr "$(bin epoll_et_demo)" --mode lt -n 10 -c 4
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out"
    grep -qE '^write\(fd [0-9]+, 10\) -> 10 bytes "abcdefghij"$' "$BATS_TEST_TMPDIR/out"
    # Phase 1: 3 wakeups; phase 2: 2 wakeups.
    [ "$(grep -cE '^epoll_wait\(\) -> 1 ready: fd [0-9]+ EPOLLIN$' "$BATS_TEST_TMPDIR/out")" -eq 5 ]
    [ "$(grep -cxF 'epoll_wait() -> 0 (nothing new for 200 ms)' "$BATS_TEST_TMPDIR/out")" -eq 2 ]
    grep -A1 -E '^epoll_wait\(\) -> 1 ready' "$BATS_TEST_TMPDIR/out" | grep -qE '^read\(fd [0-9]+, 4\) -> 4 bytes "abcd"$'
    grep -qE '^read\(fd [0-9]+, 4\) -> 2 bytes "ij"$' "$BATS_TEST_TMPDIR/out"
    grep -qE '^read\(fd [0-9]+, 4\) -> 1 byte "5"$' "$BATS_TEST_TMPDIR/out"
    [ "$(grep -cE '^read\(.*EAGAIN' "$BATS_TEST_TMPDIR/out")" -eq 0 ]
}

@test "epoll_et_demo: et phase 2: the new bytes wake it once, and it reads the OLDEST stuck bytes" {
    run --separate-stderr "$(bin epoll_et_demo)" --mode et
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out"
    # The only reads, in order: "abcd" in phase 1, "efgh" (not "1234") in phase 2.
    run grep -E '^read\(' "$BATS_TEST_TMPDIR/out"
    [ "${#lines[@]}" -eq 2 ]
    [[ ${lines[0]} =~ ^read\(fd\ [0-9]+,\ 4\)\ -\>\ 4\ bytes\ \"abcd\"$ ]]
    [[ ${lines[1]} =~ ^read\(fd\ [0-9]+,\ 4\)\ -\>\ 4\ bytes\ \"efgh\"$ ]]
    grep -qE '^write\(fd [0-9]+, 5\) -> 5 bytes "12345"$' "$BATS_TEST_TMPDIR/out"
    grep -qxF 'phase=1 mode=et sent=20 chunk=4 wakeups=1 read=4 left=16' "$BATS_TEST_TMPDIR/out"
    grep -qxF 'phase=2 mode=et sent=5 chunk=4 wakeups=1 read=4 left=17' "$BATS_TEST_TMPDIR/out"
    grep -qE 'EPOLLIN\|EPOLLET\): edge-triggered' "$BATS_TEST_TMPDIR/out"
}

@test "epoll_et_demo: et-drain narration: each wakeup reads until read() says EAGAIN" {
    run --separate-stderr "$(bin epoll_et_demo)" --mode et-drain -n 9 -c 4
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out"
    run grep -E '^(epoll_wait|read)\(' "$BATS_TEST_TMPDIR/out"
    [[ ${lines[0]} == "epoll_wait() -> 1 ready: fd "*" EPOLLIN" ]]
    [[ ${lines[1]} == *'-> 4 bytes "abcd"' ]]
    [[ ${lines[2]} == *'-> 4 bytes "efgh"' ]]
    [[ ${lines[3]} == *'-> 1 byte "i"' ]]
    [[ ${lines[4]} == *"-> -1 EAGAIN"* ]]
    [[ ${lines[5]} == "epoll_wait() -> 0 (nothing new for 200 ms)" ]]
    [[ ${lines[6]} == "epoll_wait() -> 1 ready: fd "*" EPOLLIN" ]]
    [[ ${lines[7]} == *'-> 4 bytes "1234"' ]]
    [[ ${lines[8]} == *'-> 1 byte "5"' ]]
    [[ ${lines[9]} == *"-> -1 EAGAIN"* ]]
    [ "${#lines[@]}" -eq 11 ]
}

@test "epoll_et_demo: -v shows the kernel's own count of unread bytes, equal to left" {
    run --separate-stderr "$(bin epoll_et_demo)" -v --mode et -n 30 -c 8
    [ "$status" -eq 0 ]
    [[ $output =~ ioctl\(fd\ [0-9]+,\ FIONREAD\)\ -\>\ 22\ bytes\ queued\ in\ the\ kernel\ \(left=22\) ]]
    [[ $output =~ ioctl\(fd\ [0-9]+,\ FIONREAD\)\ -\>\ 19\ bytes\ queued\ in\ the\ kernel\ \(left=19\) ]]
    [[ $output == *"epoll_wait(fd "*", timeout 200 ms) - waiting"* ]]
    [[ $output == *"SO_SNDBUF"* ]]
}

@test "epoll_et_demo: bad input exits 2 with a reason and the usage" {
    local arguments reason
    local cases=(
        "-c 0|bad CHUNK '0'" "-c -4|bad CHUNK '-4'" "-c four|bad CHUNK 'four'"
        "-c 65537|bad CHUNK '65537'" "-c 4x|bad CHUNK '4x'"
        "-n 0|bad BYTES '0'" "-n -1|bad BYTES '-1'" "-n lots|bad BYTES 'lots'"
        "-n 65537|bad BYTES '65537'" "-n 99999999999999999999|bad BYTES"
        "--mode edge|bad mode 'edge'" "--mode|option '--mode' needs a value"
        "-c|option '-c' needs a value" "-x|unknown option '-x'" "--bogus|unknown option"
        "-p 9006|need --serve" "-H 127.0.0.1|need --serve" "--serve -n 5|not --serve"
        "--serve -p 70000|bad port" "extra|unexpected argument 'extra'"
    )
    local case
    for case in "${cases[@]}"; do
        arguments=${case%%|*} reason=${case#*|}
        # shellcheck disable=SC2086 # split on purpose
        run --separate-stderr "$(bin epoll_et_demo)" $arguments
        echo "arguments: $arguments -> status $status, stderr: $stderr"
        [ "$status" -eq 2 ]
        [ -z "$output" ]
        [[ ${stderr_lines[0]} == "epoll_et_demo: "*"$reason"* ]]
        [[ ${stderr_lines[1]} == "usage: epoll_et_demo "* ]]
    done
}

@test "epoll_et_demo: SIGINT during the experiment ends it cleanly with status 0" {
    start_program epoll_et_demo --mode et -n 65536 -c 1
    wait_for_line "$PROGRAM_OUT" '^phase=1 '
    kill -s INT "$PROGRAM_PID"
    wait_for_exit "$PROGRAM_PID" 10
    [ "$EXIT_STATUS" -eq 0 ]
    # Either it was still in phase 2's quiet period, or it had just finished.
    tail -n 1 "$PROGRAM_OUT" | grep -qE '^(summary: interrupted phase=2 wakeups=[01] read=[01] left=655(39|40)|phase=2 .* left=65539)$'
}

# ---- Server mode (TCP: qualitative checks only) ---------------------------

@test "epoll_et_demo: server lt: reminded until handled, so a 4-byte reader still echoes everything" {
    start_server epoll_et_demo --serve --mode lt -c 4
    local message="hello, level-triggered world" descriptors_before
    descriptors_before=$(open_descriptors "$SERVER_PID")
    run --separate-stderr timeout 10 "$(bin tcp_client)" -q -p "$SERVER_PORT" -m "$message"
    [ "$status" -eq 0 ]
    [ "$output" = "$message" ]
    wait_for_line "$SERVER_OUT" '^close\(fd [0-9]+\): the client closed, and all 29 bytes it sent were echoed$'
    # 29 bytes, at most 4 per read: at least 8 reads, each after its own wakeup.
    local reads wakeups
    reads=$(grep -cE '^read\(fd [0-9]+, 4\) -> [1-4] bytes? ' "$SERVER_OUT")
    wakeups=$(grep -cE '^epoll_wait\(\) -> 1 ready: fd [0-9]+ EPOLLIN$' "$SERVER_OUT")
    [ "$reads" -ge 8 ]
    [ "$wakeups" -ge "$reads" ]
    [ "$(open_descriptors "$SERVER_PID")" -eq "$descriptors_before" ] # the client's is closed
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=29" ]
}

@test "epoll_et_demo: server et: one read per wakeup falls behind; the client gets only a prefix" {
    start_server epoll_et_demo --serve --mode et -c 4
    local message=abcdefghijklmnopqrstuvwxyz
    start_program tcp_client -q -p "$SERVER_PORT" -m "$message"
    local client_pid=$PROGRAM_PID client_out=$PROGRAM_OUT
    # After its read the server knows bytes are still queued, and waits anyway.
    wait_for_line "$SERVER_OUT" '^ioctl\(fd [0-9]+, FIONREAD\) -> [0-9]+ bytes still unread; edge-triggered: no reminder'
    grep -qE '^read\(fd [0-9]+, 4\) -> 4 bytes "abcd"$' "$SERVER_OUT"
    stop_server TERM
    [ "$EXIT_STATUS" -eq 0 ]
    grep -qE '^close\(fd [0-9]+\) at shutdown; [0-9]+ bytes echoed; [0-9]+ bytes it sent were never read \(so the client gets a reset, not an EOF\)$' "$SERVER_OUT"
    # Closing with unread input resets the connection; the client stops.
    wait_for_exit "$client_pid" 10
    [ "$EXIT_STATUS" -ne 124 ]
    local reply
    reply=$(cat "$client_out")
    echo "reply: '$reply'"
    [ -n "$reply" ]
    [ "${#reply}" -lt "${#message}" ]
    [[ $message == "$reply"* ]]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=${#reply}" ]
}

@test "epoll_et_demo: server et-drain: drains to EAGAIN, echoes all, and caps each turn for fairness" {
    start_server epoll_et_demo --serve --mode et-drain -c 4
    local message alphabet=abcdefghijklmnopqrstuvwxyz
    message=$(printf "$alphabet%.0s" {1..40}) # 1040 bytes: 260 reads of 4
    run --separate-stderr timeout 10 "$(bin tcp_client)" -q -p "$SERVER_PORT" -m "$message"
    [ "$status" -eq 0 ]
    [ "$output" = "$message" ]
    wait_for_line "$SERVER_OUT" '^close\(fd [0-9]+\): the client closed, and all 1041 bytes it sent were echoed$'
    grep -qE '^fd [0-9]+: 64 reads this turn and still no EAGAIN; .*\(fairness cap\)$' "$SERVER_OUT"
    # It read on to the end: EAGAIN between bursts, or the client's EOF.
    grep -qE '^read\(fd [0-9]+, 4\) -> 0: the client closed its side$' "$SERVER_OUT"
    stop_server TERM
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=1041" ]
}

@test "epoll_et_demo: server lt: a client that does not read its echo is paused, memory stays bounded" {
    start_server epoll_et_demo --serve --mode lt -c 65536
    local client total=$((48 * 1024 * 1024))
    exec {client}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    # Send far more than the socket buffers hold, without reading any echo.
    head -c "$total" /dev/zero >&"$client" 3>&- &
    local writer=$!
    remember_pid "$writer"
    wait_for_line "$SERVER_OUT" '^fd [0-9]+: 65536 bytes of echo wait unsent \(buffer full\); no longer watching EPOLLIN until it drains$' 20
    # An unbounded buffer would hold most of the 48 MiB by now (the kernel's
    # socket buffers take 20 MiB at most); this one holds 64 KiB. 16 MiB is
    # generous enough for a sanitizer build too.
    local resident_kib
    resident_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status")
    echo "server resident: $resident_kib KiB"
    [ "$resident_kib" -lt 16384 ]
    # Now read everything back: the server resumes and every byte returns.
    local received
    received=$(timeout 30 head -c "$total" <&"$client" | wc -c)
    exec {client}>&-
    [ "$received" -eq "$total" ]
    grep -qE '^fd [0-9]+: its echo is draining; watching EPOLLIN again$' "$SERVER_OUT"
    wait_for_exit "$writer" 10
    [ "$EXIT_STATUS" -eq 0 ]
}

@test "epoll_et_demo: server: SIGTERM with a client connected ends it at once with status 0" {
    start_server epoll_et_demo --serve --mode et -q
    local client
    exec {client}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'x' >&"$client"
    stop_server TERM
    exec {client}>&-
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(head -n 1 "$SERVER_OUT")" = "listening on 127.0.0.1:$SERVER_PORT" ]
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=[01]\ bytes=[01]$ ]]
    [ "$(wc -l <"$SERVER_OUT")" -eq 2 ]
}

# ---- Server mode under load and abuse --------------------------------------

# skip_unless_descriptors COUNT: skip unless the hard descriptor limit leaves
# room for COUNT connections (the server raises its soft limit to the hard one).
skip_unless_descriptors() {
    local hard_limit
    hard_limit=$(ulimit -Hn)
    if [[ $hard_limit != unlimited ]] && ((hard_limit < $1 + 100)); then
        skip "the hard descriptor limit ($hard_limit) is below $(($1 + 100))"
    fi
}

# descriptor_numbers PID: the numbers of PID's open descriptors, one a line,
# sorted as text (for comm).
descriptor_numbers() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort
}

# new_descriptors PID BASELINE_FILE: those not open when BASELINE_FILE was written.
new_descriptors() {
    comm -13 "$2" <(descriptor_numbers "$1")
}

@test "epoll_et_demo: lt, SIGINT while four clients stream through it: it stops within 2 s" {
    check_stop_under_load epoll_et_demo --serve --mode lt
}

@test "epoll_et_demo: et-drain, SIGINT while four clients stream through it: stops within 2 s" {
    check_stop_under_load epoll_et_demo --serve --mode et-drain
}

@test "epoll_et_demo: et, SIGINT with four streaming clients it has fallen behind: within 2 s" {
    # One read per edge cannot keep up with a stream: within moments every
    # receive queue is full, nothing new arrives, and no edge comes again.
    # So et is not busy (check_stop_under_load would wait for that in vain),
    # but its clients are all still there, still trying to send.
    start_server epoll_et_demo --serve --mode et -q
    local baseline streamer pid
    baseline=$(open_descriptors "$SERVER_PID")
    for streamer in 1 2 3 4; do
        timeout 60 "$(bin tcp_client)" -q -p "$SERVER_PORT" </dev/zero >/dev/null \
            2>"$BATS_TEST_TMPDIR/streamer.$streamer.err" 3>&- &
        remember_pid $! "$BATS_TEST_TMPDIR/streamer.$streamer.err"
    done
    wait_for_descriptors "$SERVER_PID" -ge $((baseline + 4)) 10
    for pid in "${STARTED_PIDS[@]}"; do
        kill -0 "$pid"
    done
    expect_prompt_stop INT 2
}

@test "epoll_et_demo: SIGINT and SIGTERM while its echo to a non-reader is backed up (3 modes)" {
    local mode
    for mode in lt et et-drain; do
        echo "--mode $mode"
        check_stop_while_writing epoll_et_demo --serve --mode "$mode" -c 65536
    done
}

@test "epoll_et_demo: 1,000 clients connecting at once are all served (lt, et-drain)" {
    skip_unless_descriptors 1000
    local mode
    for mode in lt et-drain; do
        # 4 KiB per read: what is tested is the crowd, not the chunk.
        start_server epoll_et_demo --serve --mode "$mode" -q -c 4096
        run --separate-stderr "$(bin tools/echo_load)" -t 60 -p "$SERVER_PORT" -n 1000 -b 4K \
            -s "$RANDOM" concurrent
        echo "--mode $mode: $output $stderr"
        [ "$status" -eq 0 ]
        [ "$output" = "ok clients=1000 bytes=4096000" ]
        stop_server INT
        [ "$EXIT_STATUS" -eq 0 ]
        [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1000 bytes=4096000" ]
    done
}

@test "epoll_et_demo: et takes 1,000 clients connecting at once, every one" {
    skip_unless_descriptors 1000
    start_server epoll_et_demo --serve --mode et -q
    local baseline
    baseline=$(open_descriptors "$SERVER_PID")
    start_program_holding_stdin tcp_client --idle 1000 -p "$SERVER_PORT"
    wait_for_line "$PROGRAM_OUT" '^holding 1000 connections$' 30
    wait_for_descriptors "$SERVER_PID" -eq $((baseline + 1000)) 30
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1000 bytes=0" ]
}

@test "epoll_et_demo: et-drain accepts all of 10,000 idle clients, at <= 1 KiB each" {
    local count=10000
    skip_unless_descriptors "$count"
    start_server epoll_et_demo --serve --mode et-drain -q
    local baseline before
    baseline=$(open_descriptors "$SERVER_PID")
    before=$(resident_kib "$SERVER_PID")
    start_program_holding_stdin tcp_client --idle "$count" -p "$SERVER_PORT"
    wait_for_line "$PROGRAM_OUT" "^holding $count connections$" 60
    # Every one accepted: the edge-triggered listener is drained to EAGAIN.
    wait_for_descriptors "$SERVER_PID" -eq $((baseline + count)) 60
    if is_sanitizer_build epoll_et_demo; then
        echo "sanitizer build: resident memory not checked"
    else
        local after
        after=$(resident_kib "$SERVER_PID")
        echo "server resident memory: $before KiB, then $after KiB with $count idle clients:" \
            "$(((after - before) * 1024 / count)) bytes per client"
        (((after - before) * 1024 <= count * 1024))
    fi
    run timeout 10 "$(bin tcp_client)" -q -p "$SERVER_PORT" -m "one more"
    [ "$status" -eq 0 ]
    [ "$output" = "one more" ]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=$((count + 1)) bytes=9" ]
}

@test "epoll_et_demo: after a storm of echoing, resetting, vanishing and slow clients, every descriptor is back (lt, et-drain)" {
    skip_unless_descriptors 300
    local mode
    for mode in lt et-drain; do
        start_server epoll_et_demo --serve --mode "$mode" -q -c 16384
        local baseline
        baseline=$(open_descriptors "$SERVER_PID")
        run --separate-stderr "$(bin tools/echo_load)" -t 90 -p "$SERVER_PORT" -n 300 -b 64K \
            -s "$RANDOM" storm
        echo "--mode $mode: $output $stderr"
        [ "$status" -eq 0 ]
        [[ $output =~ ^ok\ clients=300\  ]]
        wait_for_descriptors "$SERVER_PID" -eq "$baseline" 20
        stop_server INT
        [ "$EXIT_STATUS" -eq 0 ]
    done
}

# lost_descriptors FILE: the descriptors the et server said it has lost.
lost_descriptors() {
    sed -nE 's/^fd ([0-9]+): lost: .*/\1/p' "$1" | sort
}

@test "epoll_et_demo: et names each client it loses; no other descriptor outlives its client" {
    start_server epoll_et_demo --serve --mode et -c 4
    local baseline="$BATS_TEST_TMPDIR/baseline"
    descriptor_numbers "$SERVER_PID" >"$baseline"
    local message=abcdefghijklmnopqrstuvwxyz client pids=()
    for client in 1 2 3 4 5 6 7 8 9 10; do
        start_program tcp_client -q -p "$SERVER_PORT" -m "$message"
        pids+=("$PROGRAM_PID")
    done
    # Each sends 27 bytes and its EOF; et reads 4 per event and loses it.
    local deadline=$((SECONDS + 20))
    until (($(lost_descriptors "$SERVER_OUT" | wc -l) == 10)); do
        ((SECONDS < deadline)) || { tail -n 20 "$SERVER_OUT" >&2; return 1; }
        sleep 0.05
    done
    # The clients give up and go; the server's sockets for them stay, named.
    for client in "${pids[@]}"; do
        kill -s TERM "$client"
        wait_for_exit "$client" 10
    done
    diff <(lost_descriptors "$SERVER_OUT") <(new_descriptors "$SERVER_PID" "$baseline")
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(grep -cE '^close\(fd [0-9]+\) at shutdown; (4 bytes echoed; 23|8 bytes echoed; 19) bytes it sent were never read' "$SERVER_OUT")" -eq 10 ]

    # A storm (most of it fails against et: that is its lesson). Once the
    # clients are gone, every client descriptor still open is one it named.
    skip_unless_descriptors 200
    start_server epoll_et_demo --serve --mode et -c 4096
    descriptor_numbers "$SERVER_PID" >"$baseline"
    run --separate-stderr "$(bin tools/echo_load)" -t 2 -p "$SERVER_PORT" -n 200 -b 64K \
        -s "$RANDOM" storm
    echo "storm against et: $output $stderr"
    deadline=$((SECONDS + 20))
    local unnamed
    until unnamed=$(comm -13 <(lost_descriptors "$SERVER_OUT") \
        <(new_descriptors "$SERVER_PID" "$baseline")) && [ -z "$unnamed" ]; do
        if ((SECONDS >= deadline)); then
            echo "open, and never named lost: ${unnamed//$'\n'/ }" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "lost and named: $(lost_descriptors "$SERVER_OUT" | wc -l)," \
        "still open: $(new_descriptors "$SERVER_PID" "$baseline" | wc -l)"
}

@test "epoll_et_demo: out of descriptors (EMFILE), connected clients still echo at once; logged once (3 modes)" {
    command -v prlimit >/dev/null || skip "prlimit (util-linux) is not installed"
    local mode
    for mode in lt et et-drain; do
        start_server epoll_et_demo --serve --mode "$mode" -c 65536
        local connection reply='' round started elapsed
        exec {connection}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
        wait_for_line "$SERVER_OUT" '^accept\(\) -> fd [0-9]+ ' 10
        # Soft and hard limit 20: 13 more clients fit, the rest stay queued.
        prlimit --pid "$SERVER_PID" --nofile=20:20
        start_program_holding_stdin tcp_client --idle 40 -p "$SERVER_PORT"
        local holder=$PROGRAM_PID
        wait_for_line "$PROGRAM_OUT" '^holding 40 connections$' 10
        wait_for_line "$SERVER_OUT" '^accept\(\) failed.*\(EMFILE\)$' 10

        # Sleeping in the loop (100 ms per try) made each echo wait for it.
        started=$(now_ms)
        for round in $(seq 20); do
            printf 'round %d\n' "$round" >&"$connection"
            read -r -t 5 reply <&"$connection"
            [ "$reply" = "round $round" ]
        done
        elapsed=$(($(now_ms) - started))
        echo "--mode $mode: 20 round trips in $elapsed ms while out of descriptors"
        ((elapsed < 1000))
        exec {connection}>&-

        kill -s TERM "$holder"
        wait_for_exit "$holder" 10
        wait_for_line "$SERVER_OUT" 'the descriptor shortage is over' 10
        # A line and its echo, then close: no wait for the server's EOF,
        # which --mode et (one read per edge) never sends.
        exec {connection}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
        printf 'served again\n' >&"$connection"
        read -r -t 5 reply <&"$connection"
        exec {connection}>&-
        [ "$reply" = "served again" ]
        [ "$(grep -c 'EMFILE' "$SERVER_OUT")" -eq 1 ]
        stop_server INT
        [ "$EXIT_STATUS" -eq 0 ]
    done
}

@test "epoll_et_demo: a client's reset (EPOLLERR) is named by its errno, never 'Success' (3 modes)" {
    local mode
    for mode in lt et et-drain; do
        start_server epoll_et_demo --serve --mode "$mode" -c 65536
        local baseline
        baseline=$(open_descriptors "$SERVER_PID")
        # Sends until the server stops reading (its echo is never read), then RST.
        run timeout 30 "$(bin tools/echo_load)" -t 20 -p "$SERVER_PORT" -b 8M reset
        echo "--mode $mode: $output"
        [[ $output == "reset after sending "* ]]
        wait_for_line "$SERVER_OUT" '^fd [0-9]+ reported EPOLLERR; closing it: .* \(ECONNRESET\)$' 10
        wait_for_descriptors "$SERVER_PID" -eq "$baseline" 10
        ! grep -q 'Success' "$SERVER_OUT" "$SERVER_ERR"
        stop_server INT
        [ "$EXIT_STATUS" -eq 0 ]
    done
}
