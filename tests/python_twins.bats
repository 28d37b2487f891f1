#!/usr/bin/env bats
# The Python twins in docs/python/: each keeps its C demo's contract, and
# the two sides interoperate. Each twin is driven by the C clients
# (tcp_client, echo_load, struct_pack_demo send, unix_client), and each C
# server by the Python client (docs/python/echo_client.py): exact bytes
# back, SIGINT -> exit 0 with the summary line last.
#
# The C programs that are not built yet (struct_pack_demo, unix_server,
# unix_client, mini_http land later) are skipped, with the reason.

# shellcheck disable=SC2154 # bats run sets status, output, lines
load helper

setup_file() {
    # The interpreter itself: a wrapper in front of it (a pyenv shim) costs
    # a second per start on a busy machine and hides the twin's PID.
    PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PYTHON=''
    export PYTHON
}

setup() {
    [[ -n $PYTHON ]] || skip "python3 is not installed (sudo apt-get install python3)"
    TWINS="$BATS_TEST_DIRNAME/../docs/python"
    TWIN_ERRS=()
}

teardown() {
    stop_started_processes
    check_sanitizer_reports
    # A twin that crashed says so on stderr; none may.
    local err
    for err in "${TWIN_ERRS[@]}"; do
        if grep -q 'Traceback' "$err"; then
            echo "a Python traceback in $err:" >&2
            cat "$err" >&2
            return 1
        fi
    done
}

# start_twin NAME [ARGS...]: start docs/python/NAME.py -p 0 ARGS, as
# start_server does for build/NAME: wait for the exact "listening on
# ADDR:PORT" first line. Sets SERVER_PID, SERVER_PORT, SERVER_OUT, SERVER_ERR.
start_twin() {
    local name=$1
    shift
    start_twin_with "$name" -p 0 "$@"
    [[ $(head -n 1 "$SERVER_OUT") =~ ^listening\ on\ .*:([0-9]+)$ ]] || {
        echo "first line is not 'listening on ADDR:PORT': $(head -n 1 "$SERVER_OUT")" >&2
        return 1
    }
    SERVER_PORT=${BASH_REMATCH[1]}
}

# start_twin_with NAME ARGS...: the same without -p 0 (unix_server.py -s PATH).
start_twin_with() {
    local name=$1
    shift
    local base="$BATS_TEST_TMPDIR/$name.py.${#STARTED_PIDS[@]}"
    SERVER_OUT=$base.out
    SERVER_ERR=$base.err
    # 3>&-: bats waits for every holder of descriptor 3 before it finishes.
    "$PYTHON" "$TWINS/$name.py" "$@" </dev/null >"$SERVER_OUT" 2>"$SERVER_ERR" 3>&- &
    SERVER_PID=$!
    remember_pid "$SERVER_PID" "$SERVER_ERR"
    TWIN_ERRS+=("$SERVER_ERR")
    if ! wait_for_line "$SERVER_OUT" '^listening on ' 20; then
        sed 's/^/  stderr| /' "$SERVER_ERR" >&2
        return 1
    fi
}

# python_client ARGS...: docs/python/echo_client.py, with a deadline.
python_client() {
    timeout 20 "$PYTHON" "$TWINS/echo_client.py" -q -t 15 "$@"
}

MESSAGE="hello, twin"
STREAM_BYTES=262144
# What one -m round trip (MESSAGE and its newline) and the stream echo.
SESSION_BYTES=$((${#MESSAGE} + 1 + STREAM_BYTES))

# check_twin_echo NAME [ARGS...]: the twin under the C clients. tcp_client
# -m, 256 KiB of random bytes through tcp_client's stdin, then echo_load:
# LOAD_CLIENTS (20) clients at once, 64 KiB each, every byte checked.
# SIGINT: exit 0 and the exact summary (SUMMARY_EXTRA: a field the demo
# adds, as a regex).
check_twin_echo() {
    local clients=${LOAD_CLIENTS:-20}
    start_twin "$@" -q
    run timeout 20 "$(bin tcp_client)" -q -p "$SERVER_PORT" -m "$MESSAGE"
    [ "$status" -eq 0 ]
    [ "$output" = "$MESSAGE" ]
    head -c "$STREAM_BYTES" /dev/urandom >"$BATS_TEST_TMPDIR/sent"
    timeout 20 "$(bin tcp_client)" -q -p "$SERVER_PORT" \
        <"$BATS_TEST_TMPDIR/sent" >"$BATS_TEST_TMPDIR/received"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"
    run timeout 60 "$(bin tools/echo_load)" -t 30 -p "$SERVER_PORT" -n "$clients" -b 64K concurrent
    echo "echo_load: $output"
    [ "$status" -eq 0 ]
    [ "$output" = "ok clients=$clients bytes=$((clients * 65536))" ]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    local last
    last=$(tail -n 1 "$SERVER_OUT")
    echo "last line: $last"
    [ "$(wc -l <"$SERVER_OUT")" -eq 2 ] # -q: the listening line and the summary
    [[ $last =~ ^summary:\ clients=$((clients + 2))\ bytes=$((SESSION_BYTES + clients * 65536))${SUMMARY_EXTRA:-}$ ]]
}

# check_c_server_with_python_client NAME [ARGS...]: the C server under
# echo_client.py: -m, then 256 KiB through its stdin; SIGINT: the summary.
check_c_server_with_python_client() {
    start_server "$@" -q
    run python_client -p "$SERVER_PORT" -m "$MESSAGE"
    [ "$status" -eq 0 ]
    [ "$output" = "$MESSAGE" ]
    head -c "$STREAM_BYTES" /dev/urandom >"$BATS_TEST_TMPDIR/sent"
    python_client -p "$SERVER_PORT" <"$BATS_TEST_TMPDIR/sent" >"$BATS_TEST_TMPDIR/received"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=2\ bytes=${SESSION_BYTES}( |$) ]]
}

# check_twin_flood NAME WORDS: a client sends 8 MiB and never reads. The
# twin keeps at most 64 KiB of echo for it, stops reading from it (says so
# in its own WORDS), serves another client meanwhile, and its memory stays
# bounded.
check_twin_flood() {
    local name=$1 words=$2
    start_twin "$name"
    local before after
    before=$(resident_kib "$SERVER_PID")
    start_program_holding_stdin tools/echo_load -t 60 -p "$SERVER_PORT" -b 8M flood
    wait_for_line "$PROGRAM_OUT" '^flood: (stalled after|sent all) ' 30
    wait_for_line "$SERVER_OUT" "no more reading from it until it does \\($words\\)$" 10
    run timeout 20 "$(bin tcp_client)" -q -p "$SERVER_PORT" -m "not stuck behind the flood"
    [ "$status" -eq 0 ]
    [ "$output" = "not stuck behind the flood" ]
    after=$(resident_kib "$SERVER_PID")
    echo "resident: $before KiB before, $after KiB with the flooder"
    ((after - before < 8192))
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=2\  ]]
}

# check_twin_stop_under_load NAME [ARGS...]: four clients stream echo
# through the twin without pause (1 GiB each: far more than the test
# lasts); SIGINT must end it within 2 s.
check_twin_stop_under_load() {
    start_twin "$@" -q
    start_program tools/echo_load -t 60 -p "$SERVER_PORT" -n 4 -b 1024M -s 7 concurrent
    local load_pid=$PROGRAM_PID
    wait_until_busy "$SERVER_PID" 20
    kill -0 "$load_pid" # still streaming when the signal lands
    expect_prompt_stop INT 2
}

# ---- Every twin: the command line -------------------------------------------

@test "python twins: -h prints usage on stdout (exit 0); a bad option exits 2 with the usage" {
    local name
    for name in blocking_echo nonblock_timeout select_server poll_server epoll_server \
        epoll_et_demo struct_pack_demo unix_server mini_http echo_client; do
        run "$PYTHON" "$TWINS/$name.py" -h
        [ "$status" -eq 0 ] || { echo "$name -h: status $status"; return 1; }
        [[ ${lines[0]} == "usage: $name.py "* ]] || { echo "$name -h: ${lines[0]}"; return 1; }
        local subcommand=()
        [[ $name == struct_pack_demo ]] && subcommand=(pack)
        run --separate-stderr "$PYTHON" "$TWINS/$name.py" -x "${subcommand[@]}"
        [ "$status" -eq 2 ] || { echo "$name -x: status $status"; return 1; }
        [[ $stderr == "usage: $name.py "*"unrecognized arguments: -x"* ]] ||
            { echo "$name -x: $stderr"; return 1; }
    done
    run --separate-stderr "$PYTHON" "$TWINS/poll_server.py" -p 70000
    [ "$status" -eq 2 ]
    [[ $stderr == *"bad port '70000'"* ]]
    run --separate-stderr "$PYTHON" "$TWINS/poll_server.py" -H example.com
    [ "$status" -eq 2 ]
    [[ $stderr == *"bad address 'example.com'"* ]]
}

@test "python twins: a port in use is a setup error: exit 1, 'what failed: strerror (ERRNO)'" {
    start_server poll_server -q
    run --separate-stderr "$PYTHON" "$TWINS/epoll_server.py" -p "$SERVER_PORT"
    [ "$status" -eq 1 ]
    [ "$stderr" = "epoll_server.py: bind 127.0.0.1 port $SERVER_PORT: Address already in use (EADDRINUSE)" ]
}

# ---- blocking_echo ------------------------------------------------------------

@test "blocking_echo.py: the C clients' bytes come back exactly; SIGINT: exit 0, summary" {
    # 8 at once: the rest of 20 would not fit its backlog of 16 while it
    # serves one, and would wait out SYN retries.
    LOAD_CLIENTS=8 check_twin_echo blocking_echo
}

@test "blocking_echo.py: narrates accept/recv as the C demo does; a queued client waits its turn" {
    start_twin blocking_echo
    start_program_holding_stdin tcp_client -q -p "$SERVER_PORT"
    local first_pid=$PROGRAM_PID first_in=$PROGRAM_STDIN first_out=$PROGRAM_OUT
    wait_for_line "$SERVER_OUT" '^recv\(\) - blocks until fd [0-9]+ sends data or closes$'
    # The second client connects (the backlog) but is not served yet.
    start_program tcp_client -q -p "$SERVER_PORT" -m "second"
    local second_out=$PROGRAM_OUT
    echo "first" >"$first_in"
    wait_for_line "$first_out" '^first$'
    [ ! -s "$second_out" ]
    [ "$(grep -c '^accept() -> fd' "$SERVER_OUT")" -eq 1 ]
    kill -s TERM "$first_pid"
    wait_for_line "$second_out" '^second$'
    grep -qE '^close\(fd [0-9]+\) after echoing 6 bytes; the next client can be served$' "$SERVER_OUT"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=2 bytes=13" ]
}

@test "blocking_echo.py: SIGINT or SIGTERM ends it within 2 s while it is stuck in sendall()" {
    local signal
    for signal in INT TERM; do
        start_twin blocking_echo -q
        start_program_holding_stdin tools/echo_load -t 60 -p "$SERVER_PORT" -b 8M flood
        wait_for_line "$PROGRAM_OUT" '^flood: (stalled after|sent all) ' 30
        expect_prompt_stop "$signal" 2
    done
}

@test "blocking_echo: the C server echoes echo_client.py's bytes exactly" {
    check_c_server_with_python_client blocking_echo
}

# ---- nonblock_timeout -------------------------------------------------------------

@test "nonblock_timeout.py: nonblock mode echoes the C clients exactly; ticks counted" {
    SUMMARY_EXTRA=' ticks=[0-9]+' check_twin_echo nonblock_timeout -i 20
}

@test "nonblock_timeout.py: nonblock mode narrates EAGAIN and other work; -n stops it with status 0" {
    run timeout 20 "$PYTHON" "$TWINS/nonblock_timeout.py" -p 0 -i 10 -n 3
    [ "$status" -eq 0 ]
    [[ ${lines[2]} =~ ^sock.setblocking\(False\)\ on\ fd\ [0-9]+\ .*accept\(\)\ will\ never\ wait$ ]]
    [ "$(grep -c '^tick [0-9]: accept() -> EAGAIN (no client waiting)$' <<<"$output")" -eq 3 ]
    [ "${lines[-2]}" = "-n 3: that was the last tick; stopping" ]
    [ "${lines[-1]}" = "summary: clients=0 bytes=0 ticks=3" ]
}

@test "nonblock_timeout.py: timeout mode: socket.timeout counted, -n ends it; echo still exact" {
    start_twin nonblock_timeout --mode timeout -t 0.3 -n 2
    run timeout 20 "$(bin tcp_client)" -q -p "$SERVER_PORT" -m "$MESSAGE"
    [ "$output" = "$MESSAGE" ]
    wait_for_exit "$SERVER_PID" 20
    [ "$EXIT_STATUS" -eq 0 ]
    grep -qxF 'accept() timed out after 0.3 seconds (socket.timeout); that is timeout 2 of 2: stopping' "$SERVER_OUT"
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=12 timeouts=2" ]
}

@test "nonblock_timeout: the C server (both modes) echoes echo_client.py's bytes exactly" {
    check_c_server_with_python_client nonblock_timeout -i 20
    check_c_server_with_python_client nonblock_timeout --mode timeout -t 5
}

# ---- select_server, poll_server, epoll_server ---------------------------------

@test "select_server.py: the C clients' bytes come back exactly; SIGINT: exit 0, summary" {
    check_twin_echo select_server
}

@test "select_server.py: a client that never reads is left out of rlist; others still served" {
    check_twin_flood select_server "left out of rlist"
}

@test "select_server.py: -v shows the three lists select() returned" {
    start_twin select_server -v
    run timeout 20 "$(bin tcp_client)" -q -p "$SERVER_PORT" -m "$MESSAGE"
    [ "$output" = "$MESSAGE" ]
    grep -qE '^select\(\) -> 1 ready: read \{[0-9]+\} write \{\} except \{\}$' "$SERVER_OUT"
    stop_server TERM
    [ "$EXIT_STATUS" -eq 0 ]
    grep -qE '^wakeup fd [0-9]+: SIGTERM arrived; stopping$' "$SERVER_OUT"
}

@test "select_server: the C server echoes echo_client.py's bytes exactly" {
    check_c_server_with_python_client select_server
}

@test "poll_server.py: the C clients' bytes come back exactly; SIGINT: exit 0, summary" {
    check_twin_echo poll_server
}

@test "poll_server.py: the five steps are narrated; -v decodes what p.poll() returned" {
    start_twin poll_server -v
    run timeout 20 "$(bin tcp_client)" -q -p "$SERVER_PORT" -m "$MESSAGE"
    [ "$output" = "$MESSAGE" ]
    grep -qE '^fd [0-9]+ is the listening socket, non-blocking \(1 创建套接字: create the socket\)$' "$SERVER_OUT"
    grep -qE '^fd [0-9]+ registered for POLLIN\|POLLERR with p.register\(\) \(2 注册: register\)$' "$SERVER_OUT"
    grep -qE '^poll\(\) -> 1 ready: fd [0-9]+ POLLIN$' "$SERVER_OUT"
    grep -qE '^recv\(fd [0-9]+\) -> 0: the client closed; close\(fd [0-9]+\) after 12 bytes echoed$' "$SERVER_OUT"
    for step in 1 创建套接字 2 注册 3 查找字典 4 循环监控 5 处理; do
        grep -q "# $step\|$step -" "$TWINS/poll_server.py"
    done
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=12" ]
}

@test "poll_server.py: a client that never reads loses POLLIN; others still served" {
    check_twin_flood poll_server "POLLIN off"
}

@test "poll_server.py: SIGINT under full load ends it within 2 s (the wakeup socket)" {
    check_twin_stop_under_load poll_server
}

@test "poll_server: the C server echoes echo_client.py's bytes exactly" {
    check_c_server_with_python_client poll_server
}

@test "epoll_server.py: the C clients' bytes come back exactly; SIGINT: exit 0, summary" {
    check_twin_echo epoll_server
}

@test "epoll_server.py: a client that never reads loses EPOLLIN; others still served" {
    check_twin_flood epoll_server "EPOLLIN off"
}

@test "epoll_server.py: SIGTERM under full load ends it within 2 s" {
    start_twin epoll_server -q
    start_program tools/echo_load -t 60 -p "$SERVER_PORT" -n 4 -b 1024M -s 7 concurrent
    wait_until_busy "$SERVER_PID" 20
    expect_prompt_stop TERM 2
}

@test "epoll_server: the C server echoes echo_client.py's bytes exactly" {
    check_c_server_with_python_client epoll_server
}

# ---- epoll_et_demo ----------------------------------------------------------------

@test "epoll_et_demo.py: the phase lines equal the C demo's, in every mode" {
    local mode pair bytes chunk pids=() names=()
    for mode in lt et et-drain; do
        for pair in "20 4" "21 4" "20 100" "3000 1000"; do
            read -r bytes chunk <<<"$pair"
            local name="$mode.$bytes.$chunk"
            "$(bin epoll_et_demo)" -q --mode "$mode" -n "$bytes" -c "$chunk" \
                >"$BATS_TEST_TMPDIR/c.$name" 2>&1 3>&- &
            pids+=("$!")
            "$PYTHON" "$TWINS/epoll_et_demo.py" -q --mode "$mode" -n "$bytes" -c "$chunk" \
                >"$BATS_TEST_TMPDIR/py.$name" 2>&1 3>&- &
            pids+=("$!")
            names+=("$name")
        done
    done
    local pid
    for pid in "${pids[@]}"; do
        wait "$pid"
    done
    for name in "${names[@]}"; do
        diff "$BATS_TEST_TMPDIR/c.$name" "$BATS_TEST_TMPDIR/py.$name"
        [ "$(wc -l <"$BATS_TEST_TMPDIR/py.$name")" -eq 2 ]
    done
    grep -qxF 'phase=2 mode=et sent=5 chunk=4 wakeups=1 read=4 left=17' "$BATS_TEST_TMPDIR/py.et.20.4"
}

@test "epoll_et_demo.py: et reads \"abcd\", then in phase 2 the oldest stuck bytes \"efgh\"" {
    run timeout 20 "$PYTHON" "$TWINS/epoll_et_demo.py" --mode et
    [ "$status" -eq 0 ]
    [ "$(grep -c '^epoll_wait() -> 1 ready: fd [0-9]* EPOLLIN$' <<<"$output")" -eq 2 ]
    grep -qE '^recv\(fd [0-9]+, 4\) -> 4 bytes "abcd"$' <<<"$output"
    grep -qE '^recv\(fd [0-9]+, 4\) -> 4 bytes "efgh"$' <<<"$output"
    grep -qE '^ep.register\(fd [0-9]+, EPOLLIN\|EPOLLET\): edge-triggered|^select.epoll\(\) -> fd [0-9]+; ep.register\(fd [0-9]+, EPOLLIN\|EPOLLET\): edge-triggered \(边缘触发\)$' <<<"$output"
}

@test "epoll_et_demo.py: SIGINT during the experiment: the interrupted summary, exit 0" {
    local out="$BATS_TEST_TMPDIR/et.out"
    "$PYTHON" "$TWINS/epoll_et_demo.py" --mode lt -n 65536 -c 1 </dev/null >"$out" 2>&1 3>&- &
    local pid=$!
    remember_pid "$pid"
    wait_for_line "$out" '^recv\(fd [0-9]+, 1\) -> 1 byte ' 20
    kill -s INT "$pid"
    wait_for_exit "$pid" 10
    [ "$EXIT_STATUS" -eq 0 ]
    [[ $(tail -n 1 "$out") =~ ^summary:\ interrupted\ phase=1\ wakeups=[0-9]+\ read=[0-9]+\ left=[0-9]+$ ]]
}

@test "epoll_et_demo.py --serve lt: echoes the C clients exactly, 4 bytes per wakeup" {
    SUMMARY_EXTRA='' check_twin_echo epoll_et_demo --serve --mode lt -c 4096
}

@test "epoll_et_demo.py --serve et: one read per wakeup falls behind; the rest is reset at stop" {
    start_twin epoll_et_demo --serve --mode et -c 4
    local message=abcdefghijklmnopqrstuvwxyz
    start_program tcp_client -q -p "$SERVER_PORT" -m "$message"
    local client_pid=$PROGRAM_PID client_out=$PROGRAM_OUT
    wait_for_line "$SERVER_OUT" '^ioctl\(fd [0-9]+, FIONREAD\) -> [0-9]+ bytes still unread; edge-triggered: no reminder'
    grep -qE '^recv\(fd [0-9]+, 4\) -> 4 bytes "abcd"$' "$SERVER_OUT"
    stop_server TERM
    [ "$EXIT_STATUS" -eq 0 ]
    grep -qE '^close\(fd [0-9]+\) at shutdown; [0-9]+ bytes echoed; [0-9]+ bytes it sent were never read \(so the client gets a reset, not an EOF\)$' "$SERVER_OUT"
    wait_for_exit "$client_pid" 10
    local reply
    reply=$(cat "$client_out")
    [ -n "$reply" ]
    [ "${#reply}" -lt "${#message}" ]
    [[ $message == "$reply"* ]]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=${#reply}" ]
}

@test "epoll_et_demo.py --serve et-drain: drains to EAGAIN, echoes all, caps each turn" {
    start_twin epoll_et_demo --serve --mode et-drain -c 4
    local message alphabet=abcdefghijklmnopqrstuvwxyz
    message=$(printf "$alphabet%.0s" {1..40}) # 1040 bytes: 260 reads of 4
    run timeout 20 "$(bin tcp_client)" -q -p "$SERVER_PORT" -m "$message"
    [ "$status" -eq 0 ]
    [ "$output" = "$message" ]
    wait_for_line "$SERVER_OUT" '^close\(fd [0-9]+\): the client closed, and all 1041 bytes it sent were echoed$'
    grep -qE '^fd [0-9]+: 64 reads this turn and still no EAGAIN; .*\(fairness cap\)$' "$SERVER_OUT"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=1041" ]
}

@test "epoll_et_demo: the C server (--serve) echoes echo_client.py's bytes exactly" {
    check_c_server_with_python_client epoll_et_demo --serve --mode lt -c 4096
}

# ---- struct_pack_demo -----------------------------------------------------------

@test "struct_pack_demo.py: pack shows the notes' 'i5sf' record: 16 bytes, 3 of them padding" {
    run "$PYTHON" "$TWINS/struct_pack_demo.py" pack
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "st = struct.Struct('i5sf'): 16 bytes (struct.calcsize)" ]
    [ "${lines[1]}" = "st.pack(1, b'zhang', 1.75) -> 16 bytes: 01 00 00 00 7a 68 61 6e 67 00 00 00 00 00 e0 3f" ]
    [[ ${lines[4]} =~ ^\ \ offset\ +9\ +3\ pad\ +00\ 00\ 00\ +\(padding:\ native\ alignment\)$ ]]
    [ "${lines[6]}" = "st.unpack(data) -> (1, b'zhang', 1.75)" ]
    run "$PYTHON" "$TWINS/struct_pack_demo.py" -q pack '!i5sf' 1 zhang 1.75
    [ "$status" -eq 0 ]
    [ "$output" = "st.pack(1, b'zhang', 1.75) -> 13 bytes: 00 00 00 01 7a 68 61 6e 67 3f e0 00 00" ]
}

@test "struct_pack_demo.py: unpack and calcsize; a bad format, value or count exits 2" {
    run "$PYTHON" "$TWINS/struct_pack_demo.py" -q unpack '<i5sf' 01000000 7a68616e67 0000e03f
    [ "$status" -eq 0 ]
    [ "$output" = "st.unpack(data) -> (1, b'zhang', 1.75)" ]
    run "$PYTHON" "$TWINS/struct_pack_demo.py" -q calcsize i5sf
    [ "$output" = "struct.calcsize('i5sf') -> 16" ]
    run --separate-stderr "$PYTHON" "$TWINS/struct_pack_demo.py" pack zz 1
    [ "$status" -eq 2 ]
    [[ $stderr == *"bad format 'zz'"* ]]
    run --separate-stderr "$PYTHON" "$TWINS/struct_pack_demo.py" pack i5sf one zhang 1.75
    [ "$status" -eq 2 ]
    [[ $stderr == *"bad value 'one' for 'i'"* ]]
    run --separate-stderr "$PYTHON" "$TWINS/struct_pack_demo.py" pack i5sf 1 zhang
    [ "$status" -eq 2 ]
    [[ $stderr == *"takes 3 values per record; got 2"* ]]
    run --separate-stderr "$PYTHON" "$TWINS/struct_pack_demo.py" unpack i5sf 0100
    [ "$status" -eq 2 ]
    [[ $stderr == *"needs exactly 16 bytes; got 2"* ]]
}

@test "struct_pack_demo.py: serve frames the byte stream at calcsize, whatever recv() returns" {
    start_twin struct_pack_demo serve
    # Two records in one send: one recv() may carry both; they are cut at 16.
    run timeout 20 "$PYTHON" "$TWINS/struct_pack_demo.py" -q -p "$SERVER_PORT" \
        send i5sf 1 zhang 1.75 -2 li 0.5
    [ "$status" -eq 0 ]
    [ "$output" = "sent 2 record(s), 32 bytes, format 'i5sf'" ]
    # Three bytes: not a whole record.
    run timeout 20 "$(bin tcp_client)" -q -p "$SERVER_PORT" -m ab
    wait_for_line "$SERVER_OUT" 'with 3 bytes left over: not a whole 16-byte record; dropped$'
    grep -qE "^record 1 from fd [0-9]+: 01 00 00 00 7a 68 61 6e 67 00 00 00 00 00 e0 3f -> st.unpack\(\) -> \(1, b'zhang', 1.75\)$" "$SERVER_OUT"
    grep -qE "^record 2 from fd [0-9]+: .* -> st.unpack\(\) -> \(-2, b'li\\\\x00\\\\x00\\\\x00', 0.5\)$" "$SERVER_OUT"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=2 records=2 bytes=35 partial=1" ]
}

@test "struct_pack_demo.py: records from the C sender are unpacked by the twin" {
    [ -x "$(bin struct_pack_demo)" ] || skip "build/struct_pack_demo is not built yet (it lands in main later)"
    start_twin struct_pack_demo serve
    run timeout 20 "$(bin struct_pack_demo)" -p "$SERVER_PORT" send i5sf 1 zhang 1.75 2 li 1.5
    [ "$status" -eq 0 ]
    wait_for_line "$SERVER_OUT" "^record 2 from fd "
    grep -qE "^record 1 from fd [0-9]+: .* -> \(1, b'zhang', 1.75\)$" "$SERVER_OUT"
    grep -qE "^record 2 from fd [0-9]+: .* -> \(2, b'li\\\\x00\\\\x00\\\\x00', 1.5\)$" "$SERVER_OUT"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 records=2 bytes=32 partial=0" ]
}

@test "struct_pack_demo: the C server unpacks the twin's records" {
    [ -x "$(bin struct_pack_demo)" ] || skip "build/struct_pack_demo is not built yet (it lands in main later)"
    start_server struct_pack_demo serve
    run timeout 20 "$PYTHON" "$TWINS/struct_pack_demo.py" -q -p "$SERVER_PORT" send i5sf 7 zhang 1.75
    [ "$status" -eq 0 ]
    wait_for_line "$SERVER_OUT" 'zhang'
    grep -q '1\.75' "$SERVER_OUT"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 records=1 bytes=16 partial=0" ]
}

# ---- unix_server ------------------------------------------------------------------

# start_c_on_path NAME PATH [ARGS...]: build/NAME -s PATH ARGS, ready when
# it says "listening on PATH".
start_c_on_path() {
    local name=$1 path=$2
    shift 2
    start_program "$name" -s "$path" "$@"
    SERVER_PID=$PROGRAM_PID
    SERVER_OUT=$PROGRAM_OUT
    wait_for_line "$SERVER_OUT" '^listening on ' 10
    [ "$(head -n 1 "$SERVER_OUT")" = "listening on $path" ]
}

@test "unix_server.py: echoes exactly over the socket file; SIGINT: exit 0, summary, file removed" {
    local path="$BATS_TEST_TMPDIR/twin.sock"
    start_twin_with unix_server -s "$path" -q
    [ "$(head -n 1 "$SERVER_OUT")" = "listening on $path" ]
    [ -S "$path" ]
    run python_client -s "$path" -m "$MESSAGE"
    [ "$status" -eq 0 ]
    [ "$output" = "$MESSAGE" ]
    head -c "$STREAM_BYTES" /dev/urandom >"$BATS_TEST_TMPDIR/sent"
    python_client -s "$path" <"$BATS_TEST_TMPDIR/sent" >"$BATS_TEST_TMPDIR/received"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=2 bytes=$SESSION_BYTES descriptors=0" ]
    [ ! -e "$path" ]
}

@test "unix_server.py: SO_PEERCRED names the client; a passed descriptor's first line comes back" {
    local path="$BATS_TEST_TMPDIR/twin.sock" note="$BATS_TEST_TMPDIR/note.txt"
    start_twin_with unix_server -s "$path"
    echo "the client's line" >"$note"
    # Its own -t deadline, not timeout(1): the pid must be the client's.
    "$PYTHON" "$TWINS/echo_client.py" -q -t 15 -s "$path" --send-fd "$note" -m "$MESSAGE" \
        >"$BATS_TEST_TMPDIR/reply" 3>&- &
    local client_pid=$!
    wait "$client_pid"
    # The echo, then the first line of the passed file, as the C server does.
    [ "$(cat "$BATS_TEST_TMPDIR/reply")" = "$(printf '%s\n%s' "$MESSAGE" "the client's line")" ]
    grep -qE "^accept\(\) -> fd [0-9]+; getsockopt\(SO_PEERCRED\): pid $client_pid uid $(id -u) gid $(id -g)$" "$SERVER_OUT"
    grep -qE "^recvmsg\(fd [0-9]+\) -> SCM_RIGHTS: fd [0-9]+, the client's open $note$" "$SERVER_OUT"
    grep -qE "^pread\(fd [0-9]+, offset 0\) -> 18 bytes; close\(fd [0-9]+\); its first line \(18 bytes\)" "$SERVER_OUT"
    # The file itself is untouched.
    [ "$(cat "$note")" = "the client's line" ]
    stop_server TERM
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=30 descriptors=1" ]
}

@test "unix_server.py: a stale socket file is replaced; a live one or a plain file is refused" {
    local path="$BATS_TEST_TMPDIR/twin.sock"
    # A socket file whose server is gone: bound, never unlinked.
    "$PYTHON" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$path"
    [ -S "$path" ]
    start_twin_with unix_server -s "$path"
    grep -qxF "unlink($path): a stale socket file, nobody listening" "$SERVER_OUT"
    run --separate-stderr timeout 20 "$PYTHON" "$TWINS/unix_server.py" -s "$path"
    [ "$status" -eq 1 ]
    [ "$stderr" = "unix_server.py: another server is listening on $path" ]
    stop_server INT
    [ ! -e "$path" ]
    echo "not a socket" >"$path"
    run --separate-stderr timeout 20 "$PYTHON" "$TWINS/unix_server.py" -s "$path"
    [ "$status" -eq 1 ]
    [ "$stderr" = "unix_server.py: $path exists and is not a socket; not removing it" ]
    [ "$(cat "$path")" = "not a socket" ]
}

@test "unix_server: the C server echoes echo_client.py's bytes; the socket file goes at exit" {
    [ -x "$(bin unix_server)" ] || skip "build/unix_server is not built yet (it lands in main later)"
    local path="$BATS_TEST_TMPDIR/c.sock"
    start_c_on_path unix_server "$path" -q
    run python_client -s "$path" -m "$MESSAGE"
    [ "$status" -eq 0 ]
    [ "$output" = "$MESSAGE" ]
    head -c "$STREAM_BYTES" /dev/urandom >"$BATS_TEST_TMPDIR/sent"
    python_client -s "$path" <"$BATS_TEST_TMPDIR/sent" >"$BATS_TEST_TMPDIR/received"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=2\ bytes=${SESSION_BYTES}( |$) ]]
    [ ! -e "$path" ]
}

@test "unix_server.py: the C unix_client's message comes back" {
    [ -x "$(bin unix_client)" ] || skip "build/unix_client is not built yet (it lands in main later)"
    "$(bin unix_client)" -h | grep -q -- '-m MESSAGE' || skip "unix_client has no -m MESSAGE"
    local path="$BATS_TEST_TMPDIR/twin.sock"
    start_twin_with unix_server -s "$path" -q
    run --separate-stderr timeout 20 "$(bin unix_client)" -q -s "$path" -m "$MESSAGE"
    [ "$status" -eq 0 ]
    [ "$output" = "$MESSAGE" ]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=1\ bytes=12\  ]]
}

# ---- mini_http --------------------------------------------------------------------

# A docroot of our own: an index, a file in a folder, and a symlink out.
make_docroot() {
    DOCROOT="$BATS_TEST_TMPDIR/www"
    mkdir -p "$DOCROOT/css"
    printf '<!doctype html>\n<h1>Lab 3</h1>\n' >"$DOCROOT/index.html"
    printf 'h1 { color: teal; }\n' >"$DOCROOT/css/site.css"
    echo secret >"$BATS_TEST_TMPDIR/secret.txt"
    ln -s "$BATS_TEST_TMPDIR/secret.txt" "$DOCROOT/leak.txt"
}

# http REQUEST: send it with tcp_client (the C client), the reply on stdout.
http() {
    printf '%s' "$1" | timeout 20 "$(bin tcp_client)" -q -p "$SERVER_PORT"
}

# http_escaped REQUEST: the same, with \r\n written as printf escapes.
http_escaped() {
    # shellcheck disable=SC2059 # the request is the format, on purpose
    printf "$1" | timeout 20 "$(bin tcp_client)" -q -p "$SERVER_PORT"
}

@test "mini_http.py: GET sends the file with its length and type; HEAD the same head, no body" {
    make_docroot
    start_twin mini_http -r "$DOCROOT" -q
    local reply expected
    reply=$(http $'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
    expected=$'HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 31\r\nConnection: close\r\n\r\n<!doctype html>\n<h1>Lab 3</h1>'
    [ "$reply" = "$expected" ]
    reply=$(http $'HEAD /css/site.css HTTP/1.1\r\nHost: localhost\r\n\r\n')
    # ($(...) drops the last newline: the head ends "\r\n\r\n" and nothing follows.)
    [ "$reply" = $'HTTP/1.1 200 OK\r\nContent-Type: text/css\r\nContent-Length: 20\r\nConnection: close\r\n\r' ]
    reply=$(http $'GET /css/%73ite.css?v=2 HTTP/1.0\r\n\r\n')
    [[ $reply == *$'\r\n\r\nh1 { color: teal; }' ]]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=3\ bytes=[0-9]+\ requests=3$ ]]
}

@test "mini_http.py: 404, 405 with Allow, 400 for bad requests and for paths out of the docroot" {
    make_docroot
    start_twin mini_http -r "$DOCROOT" -q
    local request status_line
    while IFS='|' read -r request status_line; do
        [ "$(http_escaped "$request" | head -n 1)" = "$status_line"$'\r' ] ||
            { echo "for '$request': $(http_escaped "$request" | head -n 1)"; return 1; }
    done <<'EOF2'
GET /missing.html HTTP/1.1\r\nHost: x\r\n\r\n|HTTP/1.1 404 Not Found
POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n|HTTP/1.1 405 Method Not Allowed
GET /../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n|HTTP/1.1 400 Bad Request
GET /css/%%2e%%2e/%%2e%%2e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n|HTTP/1.1 400 Bad Request
GET /leak.txt HTTP/1.1\r\nHost: x\r\n\r\n|HTTP/1.1 400 Bad Request
GET / HTTP/1.1\r\n\r\n|HTTP/1.1 400 Bad Request
GET /\r\n\r\n|HTTP/1.1 400 Bad Request
hello there\r\n\r\n|HTTP/1.1 400 Bad Request
EOF2
    http $'DELETE / HTTP/1.1\r\nHost: x\r\n\r\n' | grep -qx $'Allow: GET, HEAD\r'
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=9\ bytes=[0-9]+\ requests=9$ ]]
}

@test "mini_http.py: shows the request line, headers and blank line, then its response" {
    make_docroot
    start_twin mini_http -r "$DOCROOT"
    http $'GET /css/site.css HTTP/1.1\r\nHost: localhost\r\nUser-Agent: lab3-test\r\n\r\n' >/dev/null
    wait_for_line "$SERVER_OUT" '^  body: 20 bytes$'
    diff <(sed -n '/^accept()/,$p' "$SERVER_OUT" | sed 1d) - <<'EOF2'
  request line: GET /css/site.css HTTP/1.1
  header: Host: localhost
  header: User-Agent: lab3-test
  blank line: end of the headers (GET and HEAD have no body)
  GET /css/site.css -> css/site.css, 20 bytes
  response line: HTTP/1.1 200 OK
  header: Content-Type: text/css
  header: Content-Length: 20
  header: Connection: close
  body: 20 bytes
EOF2
    stop_server TERM
    [ "$EXIT_STATUS" -eq 0 ]
    run --separate-stderr "$PYTHON" "$TWINS/mini_http.py" -p 0 -r "$BATS_TEST_TMPDIR/none"
    [ "$status" -eq 1 ]
    [ "$stderr" = "mini_http.py: docroot $BATS_TEST_TMPDIR/none: No such file or directory (ENOENT)" ]
}

@test "mini_http: the C server answers a Python client (http.client)" {
    [ -x "$(bin mini_http)" ] || skip "build/mini_http is not built yet (it lands in main later)"
    make_docroot
    start_server mini_http -r "$DOCROOT" -q
    run timeout 20 "$PYTHON" - "$SERVER_PORT" <<'EOF2'
import http.client, sys
for path in ("/", "/css/site.css", "/missing.html"):
    connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    print(response.status, response.getheader("Content-Length"), repr(response.read()))
    connection.close()
EOF2
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "200 31 b'<!doctype html>\\n<h1>Lab 3</h1>\\n'" ]
    [ "${lines[1]}" = "200 20 b'h1 { color: teal; }\\n'" ]
    [[ ${lines[2]} == "404 "* ]]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\  ]]
}
