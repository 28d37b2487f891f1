# shellcheck shell=bash
# blocking_echo: blocking I/O (阻塞IO) serves one client at a time.
# Sourced by scripts/lab3.sh, which provides heading, say, start_demo, check...

run_scenario() {
    heading "Blocking I/O (阻塞IO): the default, simple, one client at a time"
    say "blocking_echo sleeps in accept() and recv(). Two clients connect; the"
    say "second is queued by the kernel but not served until the first leaves."
    start_demo blocking_echo || return 1

    local first second echo_first='' echo_second=''
    exec {first}<>"/dev/tcp/127.0.0.1/$DEMO_PORT"
    printf 'first client\n' >&"$first"
    read -r -t 5 echo_first <&"$first"
    say "client 1 connected and got back: '$echo_first'"

    exec {second}<>"/dev/tcp/127.0.0.1/$DEMO_PORT"
    printf 'second client\n' >&"$second"
    say "client 2 connected (the backlog accepted it) and sent a line..."
    read -r -t 1 echo_second <&"$second"
    say "...after 1 second it has got back: '${echo_second}' (nothing)"
    local waited=$echo_second

    exec {first}>&-
    say "client 1 closes; now the server can accept client 2"
    read -r -t 5 echo_second <&"$second"
    say "client 2 got back: '$echo_second'"
    exec {second}>&-

    wait_for_line "$DEMO_OUT" 'clients=|close\(fd [0-9]+\) after echoing 14' 5
    stop_demo INT
    show_transcript

    check "client 1 was echoed at once" [ "$echo_first" = "first client" ]
    check "client 2 got nothing while client 1 was connected" [ -z "$waited" ]
    check "client 2 was echoed once client 1 left" [ "$echo_second" = "second client" ]
    check "Ctrl-C (SIGINT) ended it with status 0" [ "$DEMO_STATUS" -eq 0 ]
    check "it printed its summary" grep -q '^summary: clients=2 bytes=27$' "$DEMO_OUT"

    heading "Ctrl-C while the server is stuck in send()"
    say "A client sends 8 MiB and never reads its echo: the server's send() fills"
    say "the socket and sleeps. Ctrl-C interrupts it half-way: send() returns a"
    say "short count, and write_all() must give up rather than send the rest."
    start_demo blocking_echo || return 1
    local flood_out="${DEMO_OUT%.out}.flood"
    start_background timeout 60 "$LAB_BUILD/tools/echo_load" -t 30 -p "$DEMO_PORT" -b 8M flood \
        >"$flood_out"
    wait_for_line "$flood_out" '^flood: (stalled after|sent all) ' 30
    say "the client: $(head -n 1 "$flood_out")"
    local started_ms=$(($(date +%s%N) / 1000000)) took_ms
    stop_demo INT
    took_ms=$(($(date +%s%N) / 1000000 - started_ms))
    say "the server ended ${took_ms} ms after SIGINT; its last lines:"
    local last_lines
    mapfile -t last_lines < <(tail -n 3 "$DEMO_OUT")
    printf '  | %s\n' "${last_lines[@]}"

    check "Ctrl-C ended it with status 0" [ "$DEMO_STATUS" -eq 0 ]
    check "within 2 seconds, though the client still does not read (${took_ms} ms)" \
        [ "$took_ms" -lt 2000 ]
    check "it printed its summary" grep -qE '^summary: clients=1 bytes=[0-9]+$' "$DEMO_OUT"
}
