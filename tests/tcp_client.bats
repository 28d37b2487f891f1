#!/usr/bin/env bats
# tcp_client: the lab's client - poll loop, -m, --idle, -t (docs/tcp_client.md).

# shellcheck disable=SC2154 # bats run --separate-stderr sets stderr and stderr_lines
bats_require_minimum_version 1.5.0
load helper

# How many ESTABLISHED TCP connections have local port $1 (the server's
# side of each connection), read from /proc so no extra tool is needed.
server_side_connections() {
    local port_hex
    port_hex=$(printf '%04X' "$1")
    awk -v port="$port_hex" \
        'NR > 1 { split($2, local_address, ":"); if (local_address[2] == port && $4 == "01") n++ }
         END { print n + 0 }' /proc/net/tcp
}

# Poll until server_side_connections $1 equals $2, or fail after $3 seconds.
wait_for_connections() {
    local port=$1 wanted=$2 seconds=${3:-10}
    local deadline=$((SECONDS + seconds))
    until [ "$(server_side_connections "$port")" -eq "$wanted" ]; do
        if ((SECONDS >= deadline)); then
            echo "port $port has $(server_side_connections "$port") connections, not $wanted" >&2
            return 1
        fi
        sleep 0.02
    done
}

@test "tcp_client: -h prints usage on stdout and exits 0" {
    run --separate-stderr "$(bin tcp_client)" -h
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "usage: tcp_client "* ]]
    [[ $output == *"--idle N"* ]]
    [ -z "$stderr" ]
}

@test "tcp_client: bad options exit 2 with a one-line reason and the usage" {
    local arguments
    for arguments in "-x" "--bogus" "-p" "-p 70000" "-p abc" "-p 0" "--idle 0" \
        "--idle 1000001" "--idle abc" "-t abc" "-t 0" "-t -1" "-t 1e999" \
        "-H" "-m hi --idle 3" "extra"; do
        # shellcheck disable=SC2086 # split on purpose
        run --separate-stderr "$(bin tcp_client)" $arguments
        echo "arguments: $arguments -> status $status, stderr: $stderr"
        [ "$status" -eq 2 ]
        [ -z "$output" ]
        [[ ${stderr_lines[0]} == "tcp_client: "* ]]
        [[ ${stderr_lines[1]} == "usage: tcp_client "* ]]
    done
}

@test "tcp_client: -m sends the message and a newline, prints the reply, exits 0" {
    start_server blocking_echo
    run --separate-stderr "$(bin tcp_client)" -p "$SERVER_PORT" -m 'hello, echo'
    [ "$status" -eq 0 ]
    [ "$output" = 'hello, echo' ]
    [ -z "$stderr" ]
    # Exactly the message and one newline reached the server.
    wait_for_line "$SERVER_OUT" '^close\(fd [0-9]+\) after echoing 12 bytes'
}

@test "tcp_client: default mode copies stdin to the server and replies to stdout, half-closing at the end" {
    start_server blocking_echo
    printf 'one\ntwo\n\0binary\xff\n' >"$BATS_TEST_TMPDIR/sent"
    "$(bin tcp_client)" -v -p "$SERVER_PORT" <"$BATS_TEST_TMPDIR/sent" \
        >"$BATS_TEST_TMPDIR/received" 2>"$BATS_TEST_TMPDIR/notes"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"
    # -v narrates on stderr, never on stdout.
    grep -qE '^tcp_client: shutdown\(fd [0-9]+, SHUT_WR\)' "$BATS_TEST_TMPDIR/notes"
    grep -qE '^tcp_client: recv\(\) -> 0: the server closed' "$BATS_TEST_TMPDIR/notes"
}

@test "tcp_client: 1 MiB of random bytes through blocking_echo comes back intact" {
    start_server blocking_echo -q
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/sent"
    timeout 30 "$(bin tcp_client)" -p "$SERVER_PORT" \
        <"$BATS_TEST_TMPDIR/sent" >"$BATS_TEST_TMPDIR/received"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"
}

@test "tcp_client: a closed stdout (EPIPE) ends it with status 1 and one line" {
    start_server blocking_echo -q
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/sent"
    # shellcheck disable=SC2016 # expanded by the inner bash
    run --separate-stderr bash -c \
        'set -o pipefail; timeout 30 "$1" -p "$2" <"$3" | head -c 1 >/dev/null' \
        bash "$(bin tcp_client)" "$SERVER_PORT" "$BATS_TEST_TMPDIR/sent"
    [ "$status" -eq 1 ]
    [[ $stderr == "tcp_client: write to stdout: Broken pipe (EPIPE)" ]]
}

@test "tcp_client: --idle N holds N connections until SIGTERM, then exits 0" {
    start_server blocking_echo -q
    start_program_holding_stdin tcp_client --idle 10 -p "$SERVER_PORT"
    local client_pid=$PROGRAM_PID client_out=$PROGRAM_OUT
    wait_for_line "$client_out" '^holding 10 connections$'
    [ "$(wc -l <"$client_out")" -eq 1 ]
    # The server's side: one accepted, the rest waiting in its backlog.
    wait_for_connections "$SERVER_PORT" 10
    [ "$(open_descriptors "$client_pid")" -ge 13 ]
    kill -s TERM "$client_pid"
    wait_for_exit "$client_pid" 10
    [ "$EXIT_STATUS" -eq 0 ]
    wait_for_connections "$SERVER_PORT" 0
}

@test "tcp_client: --idle N lets go at end of stdin" {
    start_server blocking_echo -q
    run --separate-stderr timeout 20 "$(bin tcp_client)" --idle 3 -p "$SERVER_PORT" </dev/null
    [ "$status" -eq 0 ]
    [ "$output" = "holding 3 connections" ]
}

@test "tcp_client: --idle raises its own soft descriptor limit, and reports EMFILE at the hard one" {
    start_server blocking_echo -q
    # 15 connections need 18 descriptors; the soft limit starts at 12.
    # shellcheck disable=SC2016 # expanded by the inner bash
    run --separate-stderr timeout 20 bash -c 'ulimit -S -n 12 && exec "$1" --idle 15 -p "$2" </dev/null' \
        bash "$(bin tcp_client)" "$SERVER_PORT"
    echo "soft: $status $output $stderr"
    [ "$status" -eq 0 ]
    [ "$output" = "holding 15 connections" ]

    # With the hard limit at 12 too, it stops part-way and says why.
    # shellcheck disable=SC2016 # expanded by the inner bash
    run --separate-stderr timeout 20 bash -c 'ulimit -n 12 && exec "$1" --idle 15 -p "$2" </dev/null' \
        bash "$(bin tcp_client)" "$SERVER_PORT"
    echo "hard: $status $output $stderr"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ $stderr =~ ^tcp_client:\ opened\ [0-9]+\ of\ 15\ connections\;\ .*\(EMFILE\)$ ]]
}

@test "tcp_client: -t connects with a timeout and narrates EINPROGRESS, poll and SO_ERROR" {
    start_server blocking_echo
    run --separate-stderr "$(bin tcp_client)" -t 2 -p "$SERVER_PORT" -m timely
    [ "$status" -eq 0 ]
    [ "$output" = timely ]
    [[ $stderr == *"connect() -> EINPROGRESS"* ]]
    [[ $stderr == *"poll(fd "*", POLLOUT, 2000 ms)"* ]]
    [[ $stderr == *"getsockopt(SO_ERROR) -> 0: connected"* ]]
    # -q keeps the connect quiet.
    run --separate-stderr "$(bin tcp_client)" -q -t 2 -p "$SERVER_PORT" -m quiet
    [ "$status" -eq 0 ]
    [ "$output" = quiet ]
    [ -z "$stderr" ]
}

@test "tcp_client: -t reports a connect that does not finish in time (exit 1)" {
    # A listener whose accept queue is full drops new SYNs, so connect()
    # stays in progress. Stop the server so it never accepts, fill its queue
    # with --idle (which itself times out once the queue is full), and try.
    start_server blocking_echo -q
    kill -s STOP "$SERVER_PID"
    run --separate-stderr timeout 20 "$(bin tcp_client)" --idle 1000 -t 0.5 -p "$SERVER_PORT"
    local fill_status=$status fill_stderr=$stderr
    local started finished
    started=$(now_ms)
    run --separate-stderr timeout 20 "$(bin tcp_client)" -t 1 -p "$SERVER_PORT" -m late
    finished=$(now_ms)
    kill -s CONT "$SERVER_PID"

    echo "fill: $fill_status $fill_stderr"
    [ "$fill_status" -eq 1 ]
    [[ $fill_stderr =~ ^tcp_client:\ opened\ [0-9]+\ of\ 1000\ connections\;\ connect\ to\ 127\.0\.0\.1\ port\ $SERVER_PORT\ timed\ out\ after\ 0\.5\ seconds$ ]]

    echo "client: $status after $((finished - started)) ms: $stderr"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ $stderr == *"connect() -> EINPROGRESS"* ]]
    [ "${stderr_lines[-1]}" = "tcp_client: connect to 127.0.0.1 port $SERVER_PORT timed out after 1 second" ]
    ((finished - started >= 900))
    ((finished - started < 8000))
}

@test "tcp_client: a refused connect exits 1 naming ECONNREFUSED" {
    # A port that was just listening and is now closed.
    start_server blocking_echo -q
    local port=$SERVER_PORT
    stop_server
    run --separate-stderr "$(bin tcp_client)" -p "$port" -m nobody
    [ "$status" -eq 1 ]
    [ "$stderr" = "tcp_client: connect to 127.0.0.1 port $port: Connection refused (ECONNREFUSED)" ]
    run --separate-stderr "$(bin tcp_client)" -q -t 2 -p "$port" -m nobody
    [ "$status" -eq 1 ]
    [ "$stderr" = "tcp_client: connect to 127.0.0.1 port $port: Connection refused (ECONNREFUSED)" ]
    run --separate-stderr "$(bin tcp_client)" --idle 5 -p "$port"
    [ "$status" -eq 1 ]
    [ "$stderr" = "tcp_client: opened 0 of 5 connections; connect to 127.0.0.1 port $port: Connection refused (ECONNREFUSED)" ]
}

@test "tcp_client: SIGTERM while connected and waiting ends it with status 0" {
    start_server blocking_echo
    start_program_holding_stdin tcp_client -p "$SERVER_PORT"
    wait_for_line "$SERVER_OUT" '^accept\(\) -> fd'
    kill -s TERM "$PROGRAM_PID"
    wait_for_exit "$PROGRAM_PID" 10
    [ "$EXIT_STATUS" -eq 0 ]
}

# ---- Peers that misbehave on purpose, in python3 -----------------------------

# send_queue_towards PORT: the bytes waiting in the send queue of our
# ESTABLISHED connection to PORT (tx_queue in /proc/net/tcp), 0 if none.
send_queue_towards() {
    local port_hex queue
    port_hex=$(printf '%04X' "$1")
    queue=$(awk -v port="$port_hex" 'NR > 1 && $4 == "01" {
        split($3, remote, ":"); split($5, queues, ":")
        if (remote[2] == port) { print queues[1]; exit } }' /proc/net/tcp)
    echo $((16#${queue:-0}))
}

# start_python_peer SCRIPT [ARGS...]: run a python3 server that prints
# "listening on 127.0.0.1:PORT" first; skip the test without python3.
# Sets PEER_PORT, and PEER_STDIN: a FIFO the peer reads, to write cues into.
start_python_peer() {
    command -v python3 >/dev/null || skip "python3 is not installed"
    local out="$BATS_TEST_TMPDIR/peer.out" err="$BATS_TEST_TMPDIR/peer.err"
    PEER_STDIN="$BATS_TEST_TMPDIR/peer.stdin"
    mkfifo "$PEER_STDIN"
    python3 -c "$@" 0<>"$PEER_STDIN" >"$out" 2>"$err" 3>&- &
    remember_pid $!
    wait_for_line "$out" '^listening on 127\.0\.0\.1:[0-9]+$' 10
    PEER_PORT=$(sed -n '1s/.*://p' "$out")
}

# Reads 10 bytes from each client, shuts its own side down (the client reads
# end of file), and keeps the connection open without reading more. With
# the argument "on-cue" it shuts down only when a line comes on its stdin.
HALF_CLOSING_PEER='
import socket, sys
on_cue = sys.argv[1:] == ["on-cue"]
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
listener.bind(("127.0.0.1", 0))
listener.listen(4)
print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
held = []
while True:
    connection, _ = listener.accept()
    got = b""
    while len(got) < 10:
        chunk = connection.recv(10 - len(got))
        if not chunk:
            break
        got += chunk
    if on_cue:
        sys.stdin.readline()
    connection.shutdown(socket.SHUT_WR)
    held.append(connection)
'

# Echoes one client, with the byte at stream offset sys.argv[1] flipped.
CORRUPTING_PEER='
import socket, sys
flip_at = int(sys.argv[1])
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
connection, _ = listener.accept()
position = 0
while True:
    data = bytearray(connection.recv(65536))
    if not data:
        break
    if position <= flip_at < position + len(data):
        data[flip_at - position] ^= 0x20
    position += len(data)
    connection.sendall(data)
'

@test "tcp_client: the server half-closes before all of stdin is sent: it says how much is left, exit 1" {
    start_python_peer "$HALF_CLOSING_PEER"
    # More than the client's socket can hold (its send buffer may grow to
    # the third field of tcp_wmem), so some must be left when the peer stops.
    local wmem_maximum size
    read -r _ _ wmem_maximum </proc/sys/net/ipv4/tcp_wmem
    size=$((2 * wmem_maximum > 8388608 ? 2 * wmem_maximum : 8388608))
    head -c "$size" /dev/zero >"$BATS_TEST_TMPDIR/sent"

    run --separate-stderr timeout 20 "$(bin tcp_client)" -p "$PEER_PORT" <"$BATS_TEST_TMPDIR/sent"
    echo "status $status, stderr: $stderr"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ $stderr =~ ^tcp_client:\ the\ server\ closed\ its\ side\ with\ ([0-9]+)\ bytes\ left\ unsent\ \(([0-9]+)\ sent\)$ ]]
    local left=${BASH_REMATCH[1]} sent=${BASH_REMATCH[2]}
    ((left > 0))
    ((left + sent == size))

}

@test "tcp_client: the server half-closes while stdin is a pipe: at least what it holds is left unsent" {
    start_python_peer "$HALF_CLOSING_PEER" on-cue
    # A pipe that never ends, kept full by a writer.
    start_program_holding_stdin tcp_client -v -p "$PEER_PORT"
    local client_pid=$PROGRAM_PID client_err=$PROGRAM_ERR
    head -c 268435456 /dev/zero >"$PROGRAM_STDIN" 3>&- &
    remember_pid $!
    # Once the client's send queue stops growing, its socket is full: the
    # client holds data it cannot send, and the pipe is full behind it. Only
    # then may the peer shut down its side.
    local deadline=$((SECONDS + 20)) queued=0 before=-1
    until ((queued > 0 && queued == before)); do
        ((SECONDS < deadline)) || { echo "the send queue never settled: $queued" >&2; return 1; }
        before=$queued
        sleep 0.2
        queued=$(send_queue_towards "$PEER_PORT")
    done
    echo cue >"$PEER_STDIN"
    wait_for_exit "$client_pid" 10
    tail -n 1 "$client_err"
    [ "$EXIT_STATUS" -eq 1 ]
    [[ $(tail -n 1 "$client_err") =~ ^tcp_client:\ the\ server\ closed\ its\ side\ with\ at\ least\ [1-9][0-9]*\ bytes\ left\ unsent\ \([0-9]+\ sent\)\;\ stdin\ had\ not\ ended$ ]]
}

@test "tcp_client: --count N --size BYTES echoes N checked messages and prints one throughput line" {
    start_server blocking_echo -q
    run --separate-stderr timeout 60 "$(bin tcp_client)" -p "$SERVER_PORT" --count 40 --size 100000
    echo "status $status: $output / $stderr"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "${#lines[@]}" -eq 1 ]
    [[ $output =~ ^throughput:\ 40\ x\ 100000\ bytes\ echoed\ and\ checked\ in\ ([0-9]+\.[0-9]{3})\ s:\ ([0-9]+\.[0-9])\ MiB/s,\ ([0-9]+)\ round\ trips/s$ ]]
    # The figures agree: MiB/s = N*BYTES/2^20/S and round trips/s = N/S
    # (within what the rounding of S to milliseconds allows).
    awk -v s="${BASH_REMATCH[1]}" -v rate="${BASH_REMATCH[2]}" -v trips="${BASH_REMATCH[3]}" 'BEGIN {
        if (s < 0.05) exit 0
        mib = 40 * 100000 / 1048576 / s; per_second = 40 / s
        if (rate < mib * 0.95 - 0.1 || rate > mib * 1.05 + 0.1) exit 1
        if (trips < per_second * 0.95 - 1 || trips > per_second * 1.05 + 1) exit 1
    }'
    # Every byte went through the server, exactly once.
    stop_server INT
    grep -qx 'summary: clients=1 bytes=4000000' "$SERVER_OUT"

    # -q: the same one line; -v: a note per message on stderr as well.
    start_server nonblock_timeout -q -i 20
    run --separate-stderr timeout 60 "$(bin tcp_client)" -q -p "$SERVER_PORT" --count 5 --size 1
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [[ $output =~ ^throughput:\ 5\ x\ 1\ bytes\ echoed\ and\ checked\ in\ [0-9]+\.[0-9]{3}\ s:\ [0-9]+\.[0-9]\ MiB/s,\ [0-9]+\ round\ trips/s$ ]]
    run --separate-stderr timeout 60 "$(bin tcp_client)" -v -p "$SERVER_PORT" --count 5 --size 1
    [ "$status" -eq 0 ]
    [[ $output =~ ^throughput:\ 5\ x\ 1\ bytes ]]
    [ "$(grep -c '^tcp_client: message [1-5] of 5: 1 bytes sent, echoed and checked$' <<<"$stderr")" -eq 5 ]
}

@test "tcp_client: --count with messages larger than every socket buffer does not deadlock" {
    # Sending a whole 16 MiB message before reading any of it would fill
    # both directions' buffers against blocking_echo, and hang.
    start_server blocking_echo -q
    run --separate-stderr timeout 60 "$(bin tcp_client)" -p "$SERVER_PORT" --count 2 --size 16777216
    echo "status $status: $output / $stderr"
    [ "$status" -eq 0 ]
    [[ $output =~ ^throughput:\ 2\ x\ 16777216\ bytes\ echoed\ and\ checked\ in\  ]]
}

@test "tcp_client: --count catches a wrong byte and names the message and the offset (exit 1)" {
    # Messages of 1000 bytes: stream offset 2500 is offset 500 of message 3.
    start_python_peer "$CORRUPTING_PEER" 2500
    run --separate-stderr timeout 20 "$(bin tcp_client)" -p "$PEER_PORT" --count 5 --size 1000
    echo "status $status: $output / $stderr"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ $stderr =~ ^tcp_client:\ message\ 3\ of\ 5\ came\ back\ wrong\ at\ offset\ 500:\ sent\ 0x([0-9a-f]{2}),\ got\ 0x([0-9a-f]{2})$ ]]
    # The byte that came back is the one sent, with the peer's flipped bit.
    (((16#${BASH_REMATCH[1]} ^ 16#${BASH_REMATCH[2]}) == 0x20))
}

@test "tcp_client: --count gives up at --deadline, and stops on SIGTERM, exit 1 either way" {
    # A frozen server: the connect completes in its backlog, no echo comes.
    start_server blocking_echo -q
    kill -s STOP "$SERVER_PID"
    local started finished
    started=$(now_ms)
    run --separate-stderr timeout 20 "$(bin tcp_client)" -p "$SERVER_PORT" --count 3 --size 10 \
        --deadline 1
    finished=$(now_ms)
    echo "status $status after $((finished - started)) ms: $stderr"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "$stderr" = "tcp_client: --deadline passed with 0 of 3 messages echoed; nothing measured" ]
    ((finished - started >= 900))
    ((finished - started < 8000))

    start_program tcp_client -p "$SERVER_PORT" --count 3 --size 10
    local client_pid=$PROGRAM_PID client_err=$PROGRAM_ERR
    # (the first client's connection is closed by now: CLOSE_WAIT, not counted)
    wait_for_connections "$SERVER_PORT" 1
    kill -s TERM "$client_pid"
    wait_for_exit "$client_pid" 5
    kill -s CONT "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 1 ]
    [ "$(cat "$client_err")" = "tcp_client: stopped with 0 of 3 messages echoed; nothing measured" ]
}

@test "tcp_client: bad throughput options exit 2 with a one-line reason and the usage" {
    local arguments
    for arguments in "--count 0" "--count x" "--count 1000000001" "--size 0" \
        "--size 1073741825" "--count 5" "--size 5" "--count 1 --size 1 -m hi" \
        "--count 1 --size 1 --idle 2" "--deadline 5" "--count 1 --size 1 --deadline 0" \
        "--count 1 --size 1 --deadline x"; do
        # shellcheck disable=SC2086 # split on purpose
        run --separate-stderr "$(bin tcp_client)" $arguments
        echo "arguments: $arguments -> status $status, stderr: $stderr"
        [ "$status" -eq 2 ]
        [ -z "$output" ]
        [[ ${stderr_lines[0]} == "tcp_client: "* ]]
        [[ ${stderr_lines[1]} == "usage: tcp_client "* ]]
    done
}
