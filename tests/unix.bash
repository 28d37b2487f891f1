# shellcheck shell=bash
# SOCKET, SOCKET_DIR and SERVER_* are set here for the test files to read.
# shellcheck disable=SC2034
# shellcheck disable=SC2154  # status and output come from bats' run
# Helpers for the unix_server and unix_client tests. Load after helper:
#
#   load helper
#   load unix
#
#   SOCKET_DIR, SOCKET           a folder for this test's sockets, and a path
#                                in it; short enough for sun_path (107 bytes)
#   start_unix_server PATH [ARGS...]   start build/unix_server -s PATH ARGS,
#                                wait for its first line, exactly
#                                "listening on PATH"; sets SERVER_PID,
#                                SERVER_OUT, SERVER_ERR
#   serve_as PID OUT             the server stop_server acts on
#   expect_unix_echo PATH MESSAGE     one unix_client -m round trip
#   has_python3                  true if python3 can be used (for the
#                                foreign-client tests, which skip without it)

# BATS_TEST_TMPDIR can be long (a deep TMPDIR); a socket path must fit in
# sun_path, so then the sockets go to a short folder of their own.
setup() {
    if ((${#BATS_TEST_TMPDIR} <= 64)); then
        SOCKET_DIR=$BATS_TEST_TMPDIR
        SHORT_SOCKET_DIR=''
    else
        SOCKET_DIR=$(mktemp -d /tmp/l3.XXXXXX)
        SHORT_SOCKET_DIR=$SOCKET_DIR
    fi
    SOCKET=$SOCKET_DIR/s.sock
}

teardown() {
    stop_started_processes
    local folder
    for folder in ${SHORT_SOCKET_DIR:-}; do # folders of our own, made with mktemp
        rm -rf "$folder"
    done
    check_sanitizer_reports
}

start_unix_server() {
    local path=$1
    shift
    start_program unix_server -s "$path" "$@"
    SERVER_PID=$PROGRAM_PID
    SERVER_OUT=$PROGRAM_OUT
    SERVER_ERR=$PROGRAM_ERR
    if ! wait_for_line "$SERVER_OUT" '^listening on ' 10; then
        sed 's/^/  stderr| /' "$SERVER_ERR" >&2
        return 1
    fi
    local first
    first=$(head -n 1 "$SERVER_OUT")
    [[ $first == "listening on $path" ]] || {
        echo "first line is not 'listening on $path': $first" >&2
        return 1
    }
}

# serve_as PID OUT: make a server started some other way the one that
# stop_server and expect_prompt_stop act on.
serve_as() {
    SERVER_PID=$1
    SERVER_OUT=$2
}

expect_unix_echo() {
    run timeout 10 "$(bin unix_client)" -q -s "$1" -m "$2"
    [ "$status" -eq 0 ]
    [ "$output" = "$2" ]
}

has_python3() {
    command -v python3 >/dev/null && python3 -c 'import socket; socket.send_fds' 2>/dev/null
}

# start_python_unix_peer PATH CODE: a python3 server on PATH (skips the test
# without python3). CODE runs after bind(), listen() and the "ready" line,
# with the listening socket as s and time and sys imported; the peer is
# stopped in teardown.
start_python_unix_peer() {
    has_python3 || skip "python3 is not installed"
    python3 -c "import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen()
print('ready', flush=True)
$2" "$1" </dev/null >"$BATS_TEST_TMPDIR/python.out" 2>&1 3>&- &
    remember_pid "$!"
    wait_for_line "$BATS_TEST_TMPDIR/python.out" '^ready$' 10
}

# The inode of a file, to tell "the same file" from "a new one at that path".
inode_of() {
    stat -c %i "$1"
}
