#!/usr/bin/env bats
# unix_client: stdin or -m to a local socket, --pass FILE, and the
# --count/--size throughput mode (docs/unix_client.md, docs/unix_server.md).

load helper
load unix

@test "unix_client: -h prints usage on stdout; bad options exit 2 with a reason" {
    run --separate-stderr "$(bin unix_client)" -h
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "usage: unix_client "* ]]
    [ -z "$stderr" ]

    local arguments
    for arguments in "-x" "--bogus" "-s" "-m" "--pass" "--count 5" "--size 5" \
        "--count 0 --size 1" "--count 1 --size 0" "--count 1 --size 16777217" \
        "--count x --size 1" "--count 1 --size 1 -m hi" "--count 1 --size 1 --pass f" \
        "-s @" "extra"; do
        # shellcheck disable=SC2086 # split on purpose
        run --separate-stderr "$(bin unix_client)" $arguments
        echo "arguments: $arguments -> status $status, stderr: $stderr"
        [ "$status" -eq 2 ]
        [ -z "$output" ]
        [[ ${stderr_lines[0]} == "unix_client: "* ]]
        [[ ${stderr_lines[1]} == "usage: unix_client "* ]]
    done
}

@test "unix_client: -m sends the message and a newline, prints the reply, says nothing else" {
    start_unix_server "$SOCKET"
    run --separate-stderr timeout 10 "$(bin unix_client)" -s "$SOCKET" -m 'hello, local'
    [ "$status" -eq 0 ]
    [ "$output" = 'hello, local' ]
    [ -z "$stderr" ]
    wait_for_line "$SERVER_OUT" 'the client closed; close\(fd [0-9]+\) after 13 bytes echoed$'
}

@test "unix_client: stdin goes to the server byte for byte, then a half-close" {
    start_unix_server "$SOCKET" -q
    printf 'one\ntwo\n\0binary\xff\n' >"$BATS_TEST_TMPDIR/sent"
    timeout 10 "$(bin unix_client)" -v -s "$SOCKET" <"$BATS_TEST_TMPDIR/sent" \
        >"$BATS_TEST_TMPDIR/received" 2>"$BATS_TEST_TMPDIR/notes"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"
    grep -qE '^unix_client: connect\(\) -> 0: fd [0-9]+ connected to ' "$BATS_TEST_TMPDIR/notes"
    grep -qE '^unix_client: shutdown\(fd [0-9]+, SHUT_WR\) after 17 bytes' "$BATS_TEST_TMPDIR/notes"
    grep -qE '^unix_client: recv\(\) -> 0: the server closed; 17 bytes sent, 17 received$' \
        "$BATS_TEST_TMPDIR/notes"
}

@test "unix_client: no socket (ENOENT) and a stale one (ECONNREFUSED) are errors, exit 1" {
    run --separate-stderr timeout 10 "$(bin unix_client)" -s "$SOCKET" -m hi
    [ "$status" -eq 1 ]
    [ "$stderr" = "unix_client: connect to $SOCKET (no server has made that socket): No such file or directory (ENOENT)" ]

    start_unix_server "$SOCKET" -q
    kill -s KILL "$SERVER_PID"
    wait_for_exit "$SERVER_PID"
    run --separate-stderr timeout 10 "$(bin unix_client)" -s "$SOCKET" -m hi
    [ "$status" -eq 1 ]
    [ "$stderr" = "unix_client: connect to $SOCKET (a socket file, but no server behind it): Connection refused (ECONNREFUSED)" ]
}

@test "unix_client: --pass sends the descriptor; the reply is the text, then the file's line" {
    printf 'first\nsecond\n' >"$BATS_TEST_TMPDIR/file"
    start_unix_server "$SOCKET" -q
    run --separate-stderr timeout 10 "$(bin unix_client)" -s "$SOCKET" \
        --pass "$BATS_TEST_TMPDIR/file" </dev/null
    [ "$status" -eq 0 ]
    [ "$output" = "pass $BATS_TEST_TMPDIR/file
first" ]
    [[ $stderr =~ ^unix_client:\ sendmsg\(fd\ [0-9]+\):\ [0-9]+\ bytes\ and\ SCM_RIGHTS\ carrying\ our\ fd\ [0-9]+\ \($BATS_TEST_TMPDIR/file\)\;\ close ]]

    # Passing and then stdin: the stdin bytes follow the file's line.
    run timeout 10 "$(bin unix_client)" -q -s "$SOCKET" --pass "$BATS_TEST_TMPDIR/file" \
        < <(printf 'typed\n')
    [ "$output" = "pass $BATS_TEST_TMPDIR/file
first
typed" ]

    run --separate-stderr timeout 10 "$(bin unix_client)" -s "$SOCKET" \
        --pass "$BATS_TEST_TMPDIR/missing" </dev/null
    [ "$status" -eq 1 ]
    [ "$stderr" = "unix_client: open($BATS_TEST_TMPDIR/missing) for --pass: No such file or directory (ENOENT)" ]
}

@test "unix_client: --count/--size checks every byte and prints the throughput line" {
    start_unix_server "$SOCKET" -q
    local count size total=0
    # 3 MB messages are larger than the socket buffers: sending and reading
    # the echo must overlap.
    for count_size in 1000:64 200:4096 50:65536 3:3000000; do
        count=${count_size%:*}
        size=${count_size#*:}
        run --separate-stderr timeout 60 "$(bin unix_client)" -s "$SOCKET" --count "$count" \
            --size "$size"
        echo "$output"
        [ "$status" -eq 0 ]
        [[ $output =~ ^throughput:\ $count\ x\ $size\ bytes\ echoed\ and\ checked\ in\ [0-9]+\.[0-9]{3}\ s:\ [0-9]+\.[0-9]\ MiB/s,\ [0-9]+\ round\ trips/s$ ]]
        [ -z "$stderr" ]
        total=$((total + count * size))
    done
    stop_server INT
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=4 bytes=$total descriptors=0" ]
}

@test "unix_client: --count stops at SIGINT without a throughput line, exit 0" {
    start_unix_server "$SOCKET" -q
    start_program unix_client -s "$SOCKET" --count 1000000000 --size 64
    local client=$PROGRAM_PID client_out=$PROGRAM_OUT client_err=$PROGRAM_ERR
    wait_until_busy "$SERVER_PID" 5
    kill -s INT "$client"
    wait_for_exit "$client" 5
    [ "$EXIT_STATUS" -eq 0 ]
    [ ! -s "$client_out" ]
    grep -qE '^unix_client: stopped after [0-9]+ of 1000000000 messages; nothing measured$' \
        "$client_err"
}

@test "unix_client: --count reports a wrong echo (python3 server flipping one bit), exit 1" {
    start_python_unix_peer "$SOCKET" '
connection, _ = s.accept()
seen = 0
while data := connection.recv(65536):
    data = bytearray(data)
    if seen <= 100 < seen + len(data):
        data[100 - seen] ^= 1
    seen += len(data)
    connection.sendall(data)'
    run --separate-stderr timeout 10 "$(bin unix_client)" -s "$SOCKET" --count 3 --size 64
    echo "$stderr"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ $stderr =~ ^unix_client:\ wrong\ echo:\ message\ 2,\ byte\ 36\ is\ 0x[0-9a-f]{2},\ expected\ 0x[0-9a-f]{2}$ ]]
}

@test "unix_client: the server half-closes before all of stdin is sent: it says how much is left, exit 1" {
    # Reads 10 bytes, shuts its own side down, and reads no more.
    start_python_unix_peer "$SOCKET" '
connection, _ = s.accept()
got = b""
while len(got) < 10 and (chunk := connection.recv(10 - len(got))):
    got += chunk
connection.shutdown(socket.SHUT_WR)
time.sleep(60)'
    # Far more than a local socket holds, so some must be left.
    local size=8388608
    head -c "$size" /dev/zero >"$BATS_TEST_TMPDIR/sent"
    run --separate-stderr timeout 20 "$(bin unix_client)" -s "$SOCKET" <"$BATS_TEST_TMPDIR/sent"
    echo "status $status, stderr: $stderr"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ $stderr =~ ^unix_client:\ the\ server\ closed\ its\ side\ with\ ([0-9]+)\ bytes\ left\ unsent\ \(([0-9]+)\ sent\)$ ]]
    local left=${BASH_REMATCH[1]} sent=${BASH_REMATCH[2]}
    ((left > 0))
    ((left + sent == size))
}

@test "unix_client: the default path is \$XDG_RUNTIME_DIR/lab3.sock, else /tmp/lab3-UID.sock" {
    export XDG_RUNTIME_DIR=$SOCKET_DIR
    start_program unix_server -q
    SERVER_PID=$PROGRAM_PID
    wait_for_line "$PROGRAM_OUT" '^listening on ' 10
    [ "$(head -n 1 "$PROGRAM_OUT")" = "listening on $SOCKET_DIR/lab3.sock" ]
    expect_unix_echo "$SOCKET_DIR/lab3.sock" "explicit"
    run timeout 10 "$(bin unix_client)" -q -m "by default"
    [ "$output" = "by default" ]

    local fallback
    fallback=/tmp/lab3-$(id -u).sock
    [[ -e $fallback ]] && skip "$fallback exists here; the fallback is not tried"
    run --separate-stderr env -u XDG_RUNTIME_DIR "$(bin unix_client)" -m hi
    [ "$status" -eq 1 ]
    [[ $stderr == "unix_client: connect to $fallback "* ]]
}
