# shellcheck shell=bash
# unix_server: local sockets (本地套接字) between two programs on one machine,
# and what they can do that TCP cannot. Sourced by scripts/lab3.sh, which
# provides heading, say, check, stop_demo, show_transcript, STARTED_PIDS and
# its scratch folder $work.
# shellcheck disable=SC2154  # work comes from scripts/lab3.sh

# start_unix_demo PATH [ARGS...]: start unix_server -s PATH; wait for its
# "listening on" line. Sets DEMO_PID and DEMO_OUT.
start_unix_demo() {
    local path=$1
    shift
    DEMO_OUT="$work/unix_server.${#STARTED_PIDS[@]}.out"
    "$LAB_BUILD/unix_server" -s "$path" "$@" >"$DEMO_OUT" 2>&1 &
    DEMO_PID=$!
    STARTED_PIDS+=("$DEMO_PID")
    wait_for_line "$DEMO_OUT" '^listening on ' 10 || {
        say "unix_server did not start"
        return 1
    }
}

run_scenario() {
    local client="$LAB_BUILD/unix_client" server="$LAB_BUILD/unix_server"
    # A socket path must fit in sun_path (107 bytes). If $work is too deep,
    # go there and name the socket relative to it: nothing outside $work,
    # which lab3.sh removes however the section ends.
    local path="$work/lab3.sock"
    if ((${#path} > 100)); then
        cd "$work" || return 1
        path=lab3.sock
    fi

    heading "Local sockets (本地套接字): socket(AF_UNIX, SOCK_STREAM), bind(path)"
    say "unix_server listens on a file, not a port. Clients connect to the path;"
    say "the file's mode decides who may (here 0600: only you). The server learns"
    say "each client's pid, uid and gid from the kernel (SO_PEERCRED), and a client"
    say "can send it an open file descriptor (SCM_RIGHTS): TCP can do neither."
    start_unix_demo "$path" || return 1

    local listing reply pass_reply second_status=0 throughput
    listing=$(ls -l "$path")
    say "ls -l shows the socket file (the 's' is its type):"
    say "  $listing"
    reply=$(timeout 10 "$client" -q -s "$path" -m "hello over a local socket")
    say "unix_client -m got back: '$reply'"

    printf 'first line of the passed file\nsecond line\n' >"$work/passed.txt"
    pass_reply=$(timeout 10 "$client" -q -s "$path" --pass "$work/passed.txt" </dev/null)
    say "unix_client --pass passed.txt got back:"
    say "  ${pass_reply//$'\n'/$'\n'  }"

    timeout 10 "$server" -s "$path" >"$work/second.out" 2>&1 || second_status=$?
    say "a second server on the same path: $(tail -n 1 "$work/second.out")"

    throughput=$(timeout 60 "$client" -q -s "$path" --count 5000 --size 4096)
    say "unix_client --count 5000 --size 4096: $throughput"
    say "(scripts/bench_local.sh sets this against TCP over loopback)"
    stop_demo INT
    local gone_after_stop=yes
    [[ -e $path ]] && gone_after_stop=no
    show_transcript

    say "Now a server that dies without cleaning up (SIGKILL) leaves its file:"
    start_unix_demo "$path" -q || return 1
    kill -s KILL "$DEMO_PID"
    wait_for_demo_exit 5 2>/dev/null # no "Killed" from bash: it was on purpose
    local stale_listing refused_status=0
    stale_listing=$(ls -l "$path" 2>&1)
    say "  $stale_listing"
    timeout 10 "$client" -q -s "$path" -m hi >"$work/refused.out" 2>&1 || refused_status=$?
    say "  a client: $(cat "$work/refused.out")"
    say "The next server finds it stale (nobody answers on it) and replaces it:"
    start_unix_demo "$path" || return 1
    local after_stale
    after_stale=$(timeout 10 "$client" -q -s "$path" -m "served again")
    stop_demo TERM
    show_transcript

    check "the echo came back exactly" [ "$reply" = "hello over a local socket" ]
    check "the socket file is a socket ('s'), mode 0600" grep -q '^srw------- ' <<<"$listing"
    check "the server named the client's pid, uid and gid" \
        grep -qE "SO_PEERCRED says pid [0-9]+ uid $(id -u) gid $(id -g)\$" "$work"/unix_server.0.out
    check "the passed file's first line came back after the message" \
        [ "$pass_reply" = "pass $work/passed.txt"$'\n'"first line of the passed file" ]
    check "a second server did not take the path (exit 1)" [ "$second_status" -eq 1 ]
    check "the throughput was measured" grep -q '^throughput: 5000 x 4096 bytes echoed and checked' \
        <<<"$throughput"
    check "Ctrl-C (SIGINT) removed the socket file" [ "$gone_after_stop" = yes ]
    check "a killed server's stale file refuses clients (ECONNREFUSED)" \
        grep -q ECONNREFUSED "$work/refused.out"
    check "the next server replaced the stale file and served" [ "$after_stale" = "served again" ]
    check "SIGTERM ended it with status 0 and a summary" \
        [ "$DEMO_STATUS" -eq 0 -a "$(tail -n 1 "$DEMO_OUT")" = "summary: clients=1 bytes=13 descriptors=0" ]
    [ "$refused_status" -eq 1 ]
}
