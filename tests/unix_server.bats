#!/usr/bin/env bats
# unix_server: an echo server on a local socket; the path's safety, peer
# credentials, descriptor passing (docs/unix_server.md). The client's own
# tests are in unix_client.bats.

load helper
load unix

# A socket file with no server behind it: start a server and SIGKILL it,
# so it cannot clean up.
make_stale_socket() {
    start_unix_server "$1" -q
    kill -s KILL "$SERVER_PID"
    wait_for_exit "$SERVER_PID" 10
    [ -S "$1" ]
}

# pass_file FILE: one unix_client --pass round trip; its stdout in $output.
pass_file() {
    run timeout 10 "$(bin unix_client)" -q -s "$SOCKET" --pass "$1" </dev/null
}

@test "unix_server: -h prints the usage; bad options exit 2 with a reason" {
    run "$(bin unix_server)" -h
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "usage: unix_server "* ]]

    local arguments
    for arguments in "-x" "-s" "-m" "-m 999" "-m abc" "-m -1" "-m 01000" "-s @x -m 0600" \
        "-s @" "-s x surplus"; do
        # shellcheck disable=SC2086 # split on purpose
        run "$(bin unix_server)" $arguments
        echo "arguments: $arguments -> status $status: $output"
        [ "$status" -eq 2 ]
        [[ ${lines[0]} == "unix_server: "* ]]
        [[ $output == *"usage: unix_server"* ]]
    done
}

@test "unix_server: echoes a line and 1 MiB of random bytes exactly; summary counts them" {
    start_unix_server "$SOCKET"
    expect_unix_echo "$SOCKET" "hello, local socket"
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/sent"
    timeout 30 "$(bin unix_client)" -q -s "$SOCKET" <"$BATS_TEST_TMPDIR/sent" \
        >"$BATS_TEST_TMPDIR/received"
    cmp "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/received"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=2 bytes=$((20 + 1048576)) descriptors=0" ]
}

@test "unix_server: two clients at once; then 20 at once, 256 KiB each, all exact" {
    start_unix_server "$SOCKET"
    start_program_holding_stdin unix_client -q -s "$SOCKET"
    local first_out=$PROGRAM_OUT first_in=$PROGRAM_STDIN
    wait_for_line "$SERVER_OUT" '\(1 connected\)$' 10
    # The second is served while the first is connected and silent.
    expect_unix_echo "$SOCKET" "second client"
    grep -q '(2 connected)$' "$SERVER_OUT"
    printf 'first client\n' >"$first_in"
    wait_for_line "$first_out" '^first client$' 10

    local i pids=()
    for i in $(seq 20); do
        head -c 262144 /dev/urandom >"$BATS_TEST_TMPDIR/sent.$i"
        timeout 60 "$(bin unix_client)" -q -s "$SOCKET" <"$BATS_TEST_TMPDIR/sent.$i" \
            >"$BATS_TEST_TMPDIR/received.$i" 3>&- &
        pids+=("$!")
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}"
    done
    for i in $(seq 20); do
        cmp "$BATS_TEST_TMPDIR/sent.$i" "$BATS_TEST_TMPDIR/received.$i"
    done
}

@test "unix_server: the credentials line names the client's pid, uid and gid" {
    start_unix_server "$SOCKET"
    start_program_holding_stdin unix_client -q -s "$SOCKET"
    local client=$PROGRAM_PID
    wait_for_line "$SERVER_OUT" \
        "^fd [0-9]+: SO_PEERCRED says pid $client uid $(id -u) gid $(id -g)\$" 10
    grep -qE "^accept\(\) -> fd [0-9]+ from \(unnamed\), connected to $SOCKET \(1 connected\)\$" \
        "$SERVER_OUT"
}

@test "unix_server: a stale socket file (its server was killed) is removed and replaced" {
    make_stale_socket "$SOCKET"
    run timeout 10 "$(bin unix_client)" -s "$SOCKET" -m hi
    [ "$status" -eq 1 ]
    [[ $output == *"ECONNREFUSED"* ]]

    start_unix_server "$SOCKET"
    grep -qF "$SOCKET: a stale socket file was there (connect() -> ECONNREFUSED: nobody listened); unlink()ed it before bind()" \
        "$SERVER_OUT"
    expect_unix_echo "$SOCKET" "served again"
}

@test "unix_server: a live server is not pushed aside; its file and its clients stay" {
    start_unix_server "$SOCKET"
    local first=$SERVER_PID inode lock_text
    inode=$(inode_of "$SOCKET")
    lock_text=$(cat "$SOCKET.lock")
    [ "$lock_text" = "$first" ]

    run timeout 10 "$(bin unix_server)" -s "$SOCKET"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *"unix_server: $SOCKET: a server is listening there already; not taking it over"* ]]
    [ "$(inode_of "$SOCKET")" = "$inode" ]
    [ "$(cat "$SOCKET.lock")" = "$lock_text" ]
    kill -0 "$first"
    expect_unix_echo "$SOCKET" "still the first server"
}

@test "unix_server: two servers started at once on a stale path: one serves, one exits 1" {
    local round
    for round in 1 2 3 4 5; do
        make_stale_socket "$SOCKET"
        start_program unix_server -s "$SOCKET"
        local a=$PROGRAM_PID a_out=$PROGRAM_OUT a_err=$PROGRAM_ERR
        start_program unix_server -s "$SOCKET"
        local b=$PROGRAM_PID b_out=$PROGRAM_OUT b_err=$PROGRAM_ERR
        # Wait until one of them has gone; the other must be the one listening.
        local deadline=$((SECONDS + 10)) winner='' loser=''
        while [[ -z $loser ]]; do
            if wait_until_gone "$a" 0; then
                winner=$b winner_out=$b_out loser=$a loser_err=$a_err
            elif wait_until_gone "$b" 0; then
                winner=$a winner_out=$a_out loser=$b loser_err=$b_err
            fi
            ((SECONDS < deadline))
            sleep 0.02
        done
        wait_for_exit "$loser" 5
        echo "round $round: $winner serves; $loser ended with $EXIT_STATUS: $(cat "$loser_err")"
        [ "$EXIT_STATUS" -eq 1 ]
        grep -q 'not taking it over' "$loser_err"
        wait_for_line "$winner_out" "^listening on $SOCKET\$" 10
        expect_unix_echo "$SOCKET" "round $round"
        serve_as "$winner" "$winner_out"
        stop_server TERM
        [ "$EXIT_STATUS" -eq 0 ]
        [ ! -e "$SOCKET" ]
    done
}

@test "unix_server: a regular file, a directory and symlinks at the path are left intact" {
    local target="$SOCKET_DIR/thing"
    printf 'precious\0bytes\n' >"$SOCKET_DIR/original"

    cp "$SOCKET_DIR/original" "$target"
    run timeout 10 "$(bin unix_server)" -s "$target"
    [ "$status" -eq 1 ]
    [[ $output == *"$target exists and is a regular file, not a socket; leaving it alone"* ]]
    cmp "$SOCKET_DIR/original" "$target"
    rm "$target"

    mkdir "$target"
    cp "$SOCKET_DIR/original" "$target/inside"
    run timeout 10 "$(bin unix_server)" -s "$target"
    [ "$status" -eq 1 ]
    [[ $output == *"is a directory, not a socket"* ]]
    cmp "$SOCKET_DIR/original" "$target/inside"
    [ "$(find "$target" | wc -l)" -eq 2 ]
    rm -r "$target"

    local pointed
    for pointed in "$SOCKET_DIR/original" "$SOCKET_DIR" "$SOCKET_DIR/nothing-here"; do
        ln -s "$pointed" "$target"
        run timeout 10 "$(bin unix_server)" -s "$target"
        echo "symlink to $pointed: $output"
        [ "$status" -eq 1 ]
        [[ $output == *"is a symbolic link, not a socket"* ]]
        [ "$(readlink "$target")" = "$pointed" ]
        rm "$target"
    done
    cmp "$SOCKET_DIR/original" <(printf 'precious\0bytes\n')
    [ ! -e "$SOCKET_DIR/nothing-here" ]
    # The lock taken on the way in is given back on the way out.
    [ ! -e "$target.lock" ]
}

@test "unix_server: a path of 107 bytes is served; 108 bytes is a usage error, exit 2" {
    local folder="$SOCKET_DIR/p"
    mkdir "$folder"
    local name_length=$((107 - ${#folder} - 1))
    local longest
    longest="$folder/$(printf 'x%.0s' $(seq "$name_length"))"
    [ "${#longest}" -eq 107 ]
    start_unix_server "$longest" -q
    expect_unix_echo "$longest" "107 bytes"
    stop_server TERM

    run "$(bin unix_server)" -s "${longest}y"
    [ "$status" -eq 2 ]
    [[ ${lines[0]} == "unix_server: socket path '${longest}y' is 108 bytes long; sun_path holds at most 107 and its NUL" ]]
    run "$(bin unix_client)" -s "${longest}y" -m hi
    [ "$status" -eq 2 ]
    [ "$(find "$folder" -mindepth 1 | wc -l)" -eq 0 ]
}

@test "unix_server: an abstract name (@NAME) makes no file and vanishes with the server" {
    local name="@lab3-test-$$-$BATS_TEST_NUMBER-$RANDOM"
    start_unix_server "$name"
    grep -q 'abstract name.*no file at all' "$SERVER_OUT"
    grep -qF " $name" /proc/net/unix
    expect_unix_echo "$name" "no file needed"
    [ -z "$(find . "$SOCKET_DIR" -maxdepth 1 -name '*lab3-test*')" ]

    # A second server on the same name: bind() says EADDRINUSE.
    run timeout 10 "$(bin unix_server)" -s "$name"
    [ "$status" -eq 1 ]
    [[ $output == *"a server is listening there already"* ]]

    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    run ! grep -qF " $name" /proc/net/unix
}

@test "unix_server: the socket file gets -m's mode (default 0600) whatever the umask" {
    start_unix_server "$SOCKET" -q
    [ "$(stat -c %a "$SOCKET")" = 600 ]
    [[ $(ls -l "$SOCKET") == srw-------* ]]
    stop_server TERM

    umask 077
    start_unix_server "$SOCKET" -q -m 0666
    [ "$(stat -c %a "$SOCKET")" = 666 ]
    [[ $(ls -l "$SOCKET") == srw-rw-rw-* ]]
}

# as_nobody PROGRAM ARGS...: run a copy of build/PROGRAM as uid/gid 65534.
as_nobody() {
    local program=$1
    shift
    setpriv --reuid=65534 --regid=65534 --clear-groups "$SHARED_DIR/$program" "$@"
}

@test "unix_server: the mode is the access control; a passed descriptor carries access" {
    [[ $(id -u) -eq 0 ]] || skip "needs root, to act as another user with setpriv"
    command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
    # A folder every user can enter, with copies of the programs in it.
    SHARED_DIR=$(mktemp -d /tmp/l3.XXXXXX)
    SHORT_SOCKET_DIR="$SHARED_DIR ${SHORT_SOCKET_DIR:-}"
    chmod 0777 "$SHARED_DIR"
    cp "$(bin unix_server)" "$(bin unix_client)" "$SHARED_DIR/"

    # 0600, owned by root: another user's connect() gets EACCES.
    start_unix_server "$SHARED_DIR/s.sock"
    run as_nobody unix_client -q -s "$SHARED_DIR/s.sock" -m hi
    [ "$status" -eq 1 ]
    [[ $output == *"(the socket file's mode keeps you out): Permission denied (EACCES)" ]]
    stop_server TERM

    # 0666: it may, and SO_PEERCRED names it.
    start_unix_server "$SHARED_DIR/s.sock" -m 0666
    run as_nobody unix_client -q -s "$SHARED_DIR/s.sock" -m hi
    [ "$status" -eq 0 ]
    [ "$output" = hi ]
    grep -q 'SO_PEERCRED says pid [0-9]* uid 65534 gid 65534$' "$SERVER_OUT"
    stop_server TERM

    # A server running as nobody cannot open root's private file, but reads
    # it through the descriptor root passes: the descriptor is the access.
    local private="$BATS_TEST_TMPDIR/private.txt"
    printf 'for root only\n' >"$private"
    chmod 0600 "$private"
    run setpriv --reuid=65534 --regid=65534 --clear-groups cat "$private"
    [ "$status" -eq 1 ]
    [[ $output == *"Permission denied"* ]]
    # setpriv itself, not the function: $! must be the server's own pid
    # (setpriv execs it), for teardown to stop it.
    setpriv --reuid=65534 --regid=65534 --clear-groups "$SHARED_DIR/unix_server" \
        -s "$SHARED_DIR/n.sock" -m 0666 >"$SHARED_DIR/n.out" 2>&1 3>&- &
    remember_pid "$!"
    wait_for_line "$SHARED_DIR/n.out" '^listening on ' 10
    run timeout 10 "$(bin unix_client)" -q -s "$SHARED_DIR/n.sock" --pass "$private" </dev/null
    [ "$status" -eq 0 ]
    [ "$output" = "pass $private
for root only" ]
    grep -q "owner uid 0, mode 0600; readlink(/proc/self/fd/[0-9]*) -> $private\$" "$SHARED_DIR/n.out"
}

@test "unix_server: SIGINT and SIGTERM remove the socket file and its lock" {
    local signal
    for signal in INT TERM; do
        start_unix_server "$SOCKET"
        [ -S "$SOCKET" ]
        [ -f "$SOCKET.lock" ]
        expect_unix_echo "$SOCKET" "before SIG$signal"
        stop_server "$signal"
        [ "$EXIT_STATUS" -eq 0 ]
        [ ! -e "$SOCKET" ]
        [ ! -e "$SOCKET.lock" ]
        grep -q "^unlink($SOCKET): the socket file is gone\$" "$SERVER_OUT"
        [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=$((${#signal} + 11)) descriptors=0" ]
    done
}

@test "unix_server: a file that replaced ours at the path is not removed on exit" {
    start_unix_server "$SOCKET"
    mv "$SOCKET" "$SOCKET_DIR/moved.sock"
    printf 'not yours\n' >"$SOCKET"
    stop_server TERM
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(cat "$SOCKET")" = "not yours" ]
    grep -q "^$SOCKET is no longer the file we bound; leaving it alone\$" "$SERVER_OUT"
}

@test "unix_server: a setup failure after bind() (EMFILE at epoll_create1) removes the file" {
    # Descriptors 0-2, the signalfd, the lock, the socket: a limit of 6
    # lets everything up to bind() and listen() succeed, and no more.
    run bash -c 'for fd in $(seq 3 30); do eval "exec $fd>&-"; done
                 ulimit -n 6 && exec "$0" -s "$1"' "$(bin unix_server)" "$SOCKET"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *"unix_server: epoll_create1: Too many open files (EMFILE)"* ]]
    [[ $output == *"listening on $SOCKET"* ]]
    [ ! -e "$SOCKET" ]
    [ ! -e "$SOCKET.lock" ]
}

@test "unix_server: a passed descriptor is read and closed; 200 passes leak nothing" {
    printf 'the first line\nthe second line\n' >"$BATS_TEST_TMPDIR/notes.txt"
    start_unix_server "$SOCKET" -q
    local baseline
    baseline=$(open_descriptors "$SERVER_PID")

    run timeout 10 "$(bin unix_client)" -q -s "$SOCKET" --pass "$BATS_TEST_TMPDIR/notes.txt" \
        -m 'and a message'
    [ "$status" -eq 0 ]
    [ "$output" = "pass $BATS_TEST_TMPDIR/notes.txt
the first line
and a message" ]

    local i wrong=0
    for i in $(seq 200); do
        pass_file "$BATS_TEST_TMPDIR/notes.txt"
        [[ $status -eq 0 && $output == "pass $BATS_TEST_TMPDIR/notes.txt
the first line" ]] || wrong=$((wrong + 1))
    done
    echo "wrong replies: $wrong"
    [ "$wrong" -eq 0 ]
    wait_for_descriptors "$SERVER_PID" -eq "$baseline" 10
    stop_server INT
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=201\ bytes=[0-9]+\ descriptors=201$ ]]
}

@test "unix_server: the narration names the descriptor, the file and the line sent back" {
    printf 'only line' >"$BATS_TEST_TMPDIR/no-newline.txt"
    : >"$BATS_TEST_TMPDIR/empty.txt"
    start_unix_server "$SOCKET"
    pass_file "$BATS_TEST_TMPDIR/no-newline.txt"
    [ "$output" = "pass $BATS_TEST_TMPDIR/no-newline.txt
only line" ]
    pass_file "$BATS_TEST_TMPDIR/empty.txt"
    [ "$output" = "pass $BATS_TEST_TMPDIR/empty.txt" ]
    grep -qE "^recvmsg\(fd [0-9]+\) -> [0-9]+ bytes and SCM_RIGHTS: a descriptor, now our fd [0-9]+\$" \
        "$SERVER_OUT"
    grep -qE "readlink\(/proc/self/fd/[0-9]+\) -> $BATS_TEST_TMPDIR/no-newline.txt\$" "$SERVER_OUT"
    grep -qE '^pread\(fd [0-9]+, offset 0\) -> 9 bytes; close\(fd [0-9]+\); its first line \(9 bytes\)' \
        "$SERVER_OUT"
}

@test "unix_server: bad control messages are refused for that client only, nothing leaked" {
    printf 'line\n' >"$BATS_TEST_TMPDIR/file"
    start_unix_server "$SOCKET"
    local baseline file="$BATS_TEST_TMPDIR/file"
    baseline=$(open_descriptors "$SERVER_PID")
    start_program_holding_stdin unix_client -q -s "$SOCKET"
    local bystander_out=$PROGRAM_OUT bystander_in=$PROGRAM_STDIN

    # Each refused client gets nothing back: the server reads the message
    # and closes (the client sees the end, or ECONNRESET).
    run timeout 10 "$(bin unix_client)" -q -s "$SOCKET" --pass "$file" --pass "$file" </dev/null
    [ -z "$output" ]
    wait_for_line "$SERVER_OUT" 'refused: 2 descriptors in one message; one at a time; closed the 2 descriptors' 10

    # More than the control buffer holds: MSG_CTRUNC, the kernel closes the
    # rest, the server closes the ones it got.
    run timeout 10 "$(bin unix_client)" -q -s "$SOCKET" --pass "$file" --pass "$file" \
        --pass "$file" --pass "$file" --pass "$file" --pass "$file" </dev/null
    [ -z "$output" ]
    wait_for_line "$SERVER_OUT" 'refused: its control message did not fit \(MSG_CTRUNC' 10

    run timeout 10 "$(bin unix_client)" -q -s "$SOCKET" --pass "$BATS_TEST_TMPDIR" </dev/null
    [ -z "$output" ]
    wait_for_line "$SERVER_OUT" 'refused: the passed descriptor is a directory, not a regular file' 10

    run timeout 10 "$(bin unix_client)" -q -s "$SOCKET" --pass /dev/null </dev/null
    [ -z "$output" ]
    wait_for_line "$SERVER_OUT" 'refused: the passed descriptor is a device, not a regular file' 10

    # The others never noticed.
    printf 'still here\n' >"$bystander_in"
    wait_for_line "$bystander_out" '^still here$' 10
    expect_unix_echo "$SOCKET" "and new clients are served"
    wait_for_descriptors "$SERVER_PID" -eq $((baseline + 1)) 10
    stop_server INT
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=6\ bytes=[0-9]+\ descriptors=8$ ]]
}

@test "unix_server: a foreign client (python3 AF_UNIX, send_fds) is served the same" {
    has_python3 || skip "python3 with socket.send_fds (3.9+) is not installed"
    printf 'python line\nmore\n' >"$BATS_TEST_TMPDIR/file"
    start_unix_server "$SOCKET"
    local baseline
    baseline=$(open_descriptors "$SERVER_PID")
    run timeout 20 python3 - "$SOCKET" "$BATS_TEST_TMPDIR/file" <<'EOF'
import os, socket, sys

path, file_name = sys.argv[1], sys.argv[2]

def client():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s

def receive(s, length):
    data = b""
    while len(data) < length:
        more = s.recv(length - len(data))
        if not more:
            break
        data += more
    return data

def refused(s):
    """Closed by the server, with nothing sent back."""
    data = b""
    try:
        while more := s.recv(100):
            data += more
    except ConnectionResetError:
        pass
    return data == b""

print(os.getpid())
s = client()
s.sendall(b"from python\n")
print(receive(s, 12).decode(), end="")

fd = os.open(file_name, os.O_RDONLY)
socket.send_fds(s, [b"pass\n"], [fd])
print(receive(s, 5 + 12).decode(), end="")
# The server read with pread(): our shared offset did not move.
print(os.read(fd, 6).decode())
os.close(fd)
s.shutdown(socket.SHUT_WR)
print("end of echo" if receive(s, 1) == b"" else "more than expected")
s.close()

# A write-only descriptor: that client is refused.
s = client()
fd = os.open(file_name, os.O_WRONLY)
socket.send_fds(s, [b"x"], [fd])
os.close(fd)
print("write-only refused:", refused(s))
s.close()

# O_PATH: a descriptor that names the file but cannot read it.
s = client()
fd = os.open(file_name, os.O_PATH)
socket.send_fds(s, [b"x"], [fd])
os.close(fd)
print("O_PATH refused:", refused(s))
s.close()

# A pipe, and the client's own socket: not regular files.
reading, writing = os.pipe()
s = client()
socket.send_fds(s, [b"x"], [reading])
print("pipe refused:", refused(s))
s.close()
os.close(reading)
os.close(writing)
s = client()
socket.send_fds(s, [b"x"], [s.fileno()])
print("socket refused:", refused(s))
s.close()
EOF
    echo "$output"
    [ "$status" -eq 0 ]
    local python_pid=${lines[0]}
    [ "${lines[1]}" = "from python" ]
    [ "${lines[2]}" = "pass" ]
    [ "${lines[3]}" = "python line" ]
    [ "${lines[4]}" = "python" ]
    [ "${lines[5]}" = "end of echo" ]
    [ "${lines[6]}" = "write-only refused: True" ]
    [ "${lines[7]}" = "O_PATH refused: True" ]
    [ "${lines[8]}" = "pipe refused: True" ]
    [ "${lines[9]}" = "socket refused: True" ]
    grep -q "SO_PEERCRED says pid $python_pid uid $(id -u) gid $(id -g)\$" "$SERVER_OUT"
    grep -q 'refused: the passed descriptor is open for writing only' "$SERVER_OUT"
    grep -q 'refused: the passed descriptor is open with O_PATH' "$SERVER_OUT"
    grep -q 'refused: the passed descriptor is a FIFO, not a regular file' "$SERVER_OUT"
    grep -q 'refused: the passed descriptor is a socket, not a regular file' "$SERVER_OUT"
    wait_for_descriptors "$SERVER_PID" -eq "$baseline" 10
}

@test "unix_server: a foreign live server (python3, no lock file) is not pushed aside" {
    start_python_unix_peer "$SOCKET" 'time.sleep(60)'
    run timeout 10 "$(bin unix_server)" -s "$SOCKET"
    [ "$status" -eq 1 ]
    [[ $output == *"$SOCKET: a server is listening there already; not taking it over"* ]]
    [ -S "$SOCKET" ]
    [ ! -e "$SOCKET.lock" ]
}

@test "unix_server: out of descriptors (EMFILE): logged once, no busy loop, serves again" {
    command -v prlimit >/dev/null || skip "prlimit (util-linux) is not installed"
    start_unix_server "$SOCKET"
    # stdio, the signalfd, the lock, the socket, epoll: 7; a limit of 12
    # leaves room for 5 clients. Ten connect and hold.
    prlimit --pid "$SERVER_PID" --nofile=12:12
    local i holders=()
    for i in $(seq 10); do
        start_program tools/unix_flood "$SOCKET" 1
        holders+=("$PROGRAM_PID")
    done
    wait_for_line "$SERVER_OUT" 'accept\(\) failed.*\(EMFILE\)$' 10

    # The queued clients keep the listening socket readable; a server that
    # kept watching it would spin. Ours pauses. Measure one second.
    local ticks_before ticks_after
    ticks_before=$(cpu_ticks "$SERVER_PID")
    sleep 1
    ticks_after=$(cpu_ticks "$SERVER_PID")
    echo "CPU over one second: $((ticks_after - ticks_before)) ticks of $(getconf CLK_TCK)"
    ((ticks_after - ticks_before <= 20))
    [ "$(grep -c EMFILE "$SERVER_OUT")" -eq 1 ]

    local holder
    for holder in "${holders[@]}"; do
        kill -s TERM "$holder"
        wait_for_exit "$holder" 5
    done
    wait_for_line "$SERVER_OUT" 'the descriptor shortage is over' 10
    expect_unix_echo "$SOCKET" "served again"
}

@test "unix_server: SIGINT under load from four streaming clients: exit within 2 s" {
    start_unix_server "$SOCKET" -q
    local i streamers=()
    for i in 1 2 3 4; do
        # The echo goes to /dev/null: gigabytes of zeros.
        timeout 60 "$(bin unix_client)" -q -s "$SOCKET" </dev/zero >/dev/null \
            2>"$BATS_TEST_TMPDIR/streamer.$i.err" 3>&- &
        remember_pid "$!" "$BATS_TEST_TMPDIR/streamer.$i.err"
        streamers+=("$!")
    done
    wait_until_busy "$SERVER_PID" 100
    for i in "${streamers[@]}"; do
        kill -0 "$i" # all still streaming when the signal lands
    done
    expect_prompt_stop INT 2
    [ ! -e "$SOCKET" ]
}

@test "unix_server: a client that never reads stalls nobody, nor the stop (INT, TERM)" {
    local signal
    for signal in INT TERM; do
        start_unix_server "$SOCKET"
        # Sends 8 MiB and never reads: the kernel's buffers fill, then the
        # server's 64 KiB for it; then the server stops reading from it.
        start_program tools/unix_flood "$SOCKET" 8388608
        wait_for_line "$PROGRAM_OUT" '^flood: stalled after [0-9]+ bytes$' 30
        wait_for_line "$SERVER_OUT" 'no more reading from it until it does \(EPOLLIN off\)$' 10
        expect_unix_echo "$SOCKET" "not stalled by SIG$signal's victim"
        expect_prompt_stop "$signal" 2
        [ ! -e "$SOCKET" ]
    done
}

@test "unix_server: -q keeps only listening and summary; -v decodes the epoll events" {
    start_unix_server "$SOCKET" -q
    expect_unix_echo "$SOCKET" "quiet"
    stop_server INT
    [ "$(wc -l <"$SERVER_OUT")" -eq 2 ]
    [ "$(tail -n 1 "$SERVER_OUT")" = "summary: clients=1 bytes=6 descriptors=0" ]

    start_unix_server "$SOCKET" -v
    expect_unix_echo "$SOCKET" "hi"
    wait_for_line "$SERVER_OUT" '^epoll_wait\(\) -> 1 ready: fd [0-9]+ EPOLLIN$' 5
    wait_for_line "$SERVER_OUT" '^recvmsg\(fd [0-9]+\) -> 3 bytes$' 5
    wait_for_line "$SERVER_OUT" '^send\(fd [0-9]+\) -> 3 of 3 bytes$' 5
}
