#!/usr/bin/env bats
# mini_http: the server around the protocol (docs/mini_http.md): what it
# narrates, keep-alive and pipelining, big files and clients that leave,
# timeouts, many clients at once, descriptor shortage, Ctrl-C, and a real
# browser. The protocol rules themselves: mini_http.bats.

load helper
load mini_http

setup() {
    mini_http_setup
}

@test "mini_http: narrates each request head and response head in the notes' words" {
    make_site
    start_site
    fetch /hello.txt -A 'lab-test/1.0'
    wait_for_line "$SERVER_OUT" '响应体 body' 5
    grep -qx 'fd [0-9]*: 请求行 request line | GET /hello.txt HTTP/1.1' "$SERVER_OUT"
    grep -qx "fd [0-9]*: 请求头 header       | Host: 127.0.0.1:$SERVER_PORT" "$SERVER_OUT"
    grep -qx 'fd [0-9]*: 请求头 header       | User-Agent: lab-test/1.0' "$SERVER_OUT"
    grep -qx 'fd [0-9]*: 空行   blank line   | ' "$SERVER_OUT"
    grep -qx 'fd [0-9]*: 响应行 status line  | HTTP/1.1 200 OK' "$SERVER_OUT"
    grep -qx 'fd [0-9]*: 响应头 header       | Content-Length: 6' "$SERVER_OUT"
    grep -qx "fd [0-9]*: 响应体 body         | 6 bytes of hello.txt, from the cache's copy, in one sendmsg() with the head" "$SERVER_OUT"
    [ "$(grep -c '空行   blank line' "$SERVER_OUT")" -eq 2 ]
}

@test "mini_http: hostile bytes are shown escaped: nothing reaches the terminal raw" {
    make_site
    start_site
    send_raw 'GET /\x1b[2J\x1b]0;owned\x07 HTTP/1.1\r\nHost: x\r\nX-Bytes: \x9b\xff\\\r\n\r\n'
    [ "$(reply_statuses)" = 400 ]
    send_raw 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Bytes: caf\xc3\xa9 \\ tab\there\r\n\r\n'
    [ "$(reply_statuses)" = 200 ]
    wait_for_line "$SERVER_OUT" 'X-Bytes: caf' 5
    grep -qF '请求行 request line | GET /\x1b[2J\x1b]0;owned\x07 HTTP/1.1' "$SERVER_OUT"
    grep -qF '| X-Bytes: caf\xc3\xa9 \\ tab\there' "$SERVER_OUT"
    # Not one control byte (other than the newlines) and no byte >= 0x80
    # outside the labels, which are the only UTF-8 the server writes.
    run ! env LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$SERVER_OUT"
    local stray
    stray=$(sed 's/请求行\|请求头\|响应行\|响应头\|响应体\|空行//' "$SERVER_OUT" | LC_ALL=C grep -ca $'[\x80-\xff]' || true)
    [ "$stray" -eq 0 ]
}

@test "mini_http: -q keeps the listening line and the summary; -v adds the system calls" {
    make_site
    start_site -q
    fetch /hello.txt
    fetch /nothing
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(wc -l <"$SERVER_OUT")" -eq 2 ]
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=2\ requests=2\ bytes=[0-9]+$ ]]

    start_site -v
    fetch /hello.txt
    wait_for_line "$SERVER_OUT" '^sendmsg\(fd [0-9]+\) -> ([0-9]+) of \1 bytes: head and copy$' 5
    grep -qE '^recv\(fd [0-9]+\) -> [0-9]+ bytes$' "$SERVER_OUT"
    grep -qE '^epoll_wait\(\) -> 1 ready: fd [0-9]+ EPOLLIN$' "$SERVER_OUT"
    grep -q '^open-file cache: openat2() and fstat() -> hello.txt is fd [0-9]*, kept for this second$' "$SERVER_OUT"
    grep -q '^open-file cache: pread(fd [0-9]*) -> 6 bytes: kept as a copy, sent with each head$' "$SERVER_OUT"
}

@test "mini_http: a file over 16 KiB goes by sendfile() after its head; one of 16 KiB with it in one sendmsg()" {
    make_site
    head -c 16385 /dev/urandom >"$SITE/over.bin"
    head -c 16384 /dev/urandom >"$SITE/limit.bin"
    start_site -v
    fetch /over.bin
    cmp "$BODY_FILE" "$SITE/over.bin"
    fetch /limit.bin
    cmp "$BODY_FILE" "$SITE/limit.bin"
    grep -qx 'fd [0-9]*: 响应体 body         | 16385 bytes of over.bin, by sendfile()' "$SERVER_OUT"
    grep -qE '^send\(fd [0-9]+\) -> [0-9]+ of [0-9]+ bytes of head$' "$SERVER_OUT"
    grep -qE '^sendfile\(fd [0-9]+\) -> 16385 bytes, 0 to go$' "$SERVER_OUT"
    grep -qx "fd [0-9]*: 响应体 body         | 16384 bytes of limit.bin, from the cache's copy, in one sendmsg() with the head" "$SERVER_OUT"
}

@test "mini_http: a small file changed on disk is served new within a second, whole, with its new length" {
    make_site
    start_site -q
    fetch /hello.txt
    [ "$(cat "$BODY_FILE")" = hello ]
    # In place (same inode, the cache's descriptor still open), longer.
    printf 'hello, changed\n' >"$SITE/hello.txt"
    local deadline=$((SECONDS + 3))
    until fetch /hello.txt && [ "$(cat "$BODY_FILE")" = 'hello, changed' ]; do
        # Until then the old copy, whole and with its own length: never a mix.
        [ "$(cat "$BODY_FILE")" = hello ]
        [ "$(header Content-Length)" = 6 ]
        ((SECONDS < deadline)) || { echo "still the old file after 3 s" >&2; return 1; }
        sleep 0.1
    done
    [ "$(header Content-Length)" = 15 ]
}

@test "mini_http: 200 pipelined requests for a 16 KiB file to a client that reads late: every byte in order" {
    command -v python3 >/dev/null || skip "python3 is not installed"
    make_site
    head -c 16384 /dev/urandom >"$SITE/limit.bin"
    start_site -q
    # The answers fill the socket buffers long before the client reads, so
    # sendmsg() sends part of a head and copy, and goes on from there.
    run timeout 30 python3 -c '
import socket, sys, time
body = open(sys.argv[2], "rb").read()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096) # a small window
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /limit.bin HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
time.sleep(0.5)
data = b""
while data.count(body) < 200:
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    data += chunk
heads = data.split(b"HTTP/1.1 200 OK\r\n")[1:]
whole = sum(1 for h in heads if h.endswith(body) and b"Content-Length: 16384\r\n" in h)
print(len(heads), whole)' "$SERVER_PORT" "$SITE/limit.bin"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$output" = "200 200" ]
}

@test "mini_http: keep-alive: one connection for three requests; Connection: close and HTTP/1.0 honoured" {
    make_site
    start_site
    local url
    url=$(base_url)
    run --separate-stderr timeout 20 curl -sv "$url/hello.txt" "$url/sub/" "$url/hello.txt"
    [ "$status" -eq 0 ]
    [ "$(grep -c 'Re-using existing connection' <<<"$stderr")" -eq 2 ]
    [ "$(grep -c '^accept() -> ' "$SERVER_OUT")" -eq 1 ]

    run --separate-stderr timeout 20 curl -sv -H 'Connection: close' "$url/hello.txt" "$url/hello.txt"
    [ "$status" -eq 0 ]
    [ "$(grep -c 'Re-using existing connection' <<<"$stderr")" -eq 0 ]
    [ "$(grep -ci '^< Connection: close' <<<"$stderr")" -eq 2 ]
    fetch /hello.txt --http1.0
    [ "$(header Connection)" = close ]
    fetch /hello.txt --http1.0 -H 'Connection: keep-alive'
    [ "$(header Connection)" = keep-alive ]
    [ "$(grep -c '^accept() -> ' "$SERVER_OUT")" -eq 5 ]
}

@test "mini_http: three pipelined requests in one write are answered in order" {
    make_site
    start_site
    send_raw 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /sub/ HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n\r\n'
    [ "$(reply_statuses)" = "200 200 404" ]
    [ "$(grep -c '^accept() -> ' "$SERVER_OUT")" -eq 1 ]
    # The hello body sits between the first head and the second.
    [ "$(sed -n '/^\r$/{n;p;q}' "$REPLY_FILE")" = hello ]
    grep -q '<title>404 Not Found</title>' "$REPLY_FILE"
    run ! grep -q '<title>sub</title>' "$REPLY_FILE" # HEAD: no body
}

@test "mini_http: a 20 MiB file arrives intact, also to a client that half-closed first" {
    make_site
    head -c $((20 * 1024 * 1024)) /dev/urandom >"$SITE/big.bin"
    start_site -q
    fetch /big.bin
    cmp "$BODY_FILE" "$SITE/big.bin"
    [ "$(header Content-Type)" = application/octet-stream ]
    # tcp_client sends the request, shuts its side down, reads to the end.
    send_raw 'GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n'
    [ "$(body_length "$REPLY_FILE")" -eq $((20 * 1024 * 1024)) ]
    tail -c $((20 * 1024 * 1024)) "$REPLY_FILE" | cmp - "$SITE/big.bin"
}

@test "mini_http: a client that disconnects mid-transfer costs nothing: the rest are served" {
    make_site
    head -c $((20 * 1024 * 1024)) /dev/zero >"$SITE/big.bin"
    start_site
    fetch /big.bin
    local settled
    settled=$(open_descriptors "$SERVER_PID")
    local connection
    exec {connection}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n' >&"$connection"
    head -c 100000 <&"$connection" >/dev/null
    exec {connection}>&-
    wait_for_line "$SERVER_OUT" 'the client went away; close' 10
    wait_for_descriptors "$SERVER_PID" -eq "$settled" 10
    fetch /hello.txt
    [ "$(cat "$BODY_FILE")" = hello ]
}

@test "mini_http: -t: a head not complete in time gets 408; an idle keep-alive connection just closes" {
    make_site
    start_site -t 1
    local connection reply
    exec {connection}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n' >&"$connection"
    reply=$(timeout 10 cat <&"$connection")
    exec {connection}>&-
    [[ $reply == $'HTTP/1.1 408 Request Timeout\r'* ]]
    [[ $reply == *$'Connection: close\r'* ]]

    # A connection that never says anything: 408 too.
    exec {connection}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    reply=$(timeout 10 cat <&"$connection")
    exec {connection}>&-
    [[ $reply == $'HTTP/1.1 408 Request Timeout\r'* ]]

    # After a response, an idle keep-alive connection is closed without a word.
    exec {connection}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n' >&"$connection"
    reply=$(timeout 10 cat <&"$connection")
    exec {connection}>&-
    [[ $reply == $'HTTP/1.1 200 OK\r'*$'\r\n\r\nhello' ]]
    wait_for_line "$SERVER_OUT" 'idle for 1 s after 1 request\(s\); close' 5
    [ "$(grep -c 'no complete request head after 1 s: 408' "$SERVER_OUT")" -eq 2 ]
}

@test "mini_http: 100 concurrent clients, while silent and trickling ones wait" {
    make_site
    head -c 65536 /dev/urandom >"$SITE/64k.bin"
    start_site -q -t 60
    # The slow ones: 20 connections that say nothing, one that sends half a head.
    start_program_holding_stdin tcp_client --idle 20 -p "$SERVER_PORT"
    wait_for_line "$PROGRAM_OUT" '^holding 20 connections$' 10
    local slow
    exec {slow}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'GET /hello.txt HTTP/1.1\r\nHo' >&"$slow"

    local i pids=()
    for i in $(seq 1 100); do
        timeout 30 curl -s -o "$BATS_TEST_TMPDIR/got.$i" "$(base_url)/64k.bin" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do
        wait "$i"
    done
    for i in $(seq 1 100); do
        cmp "$BATS_TEST_TMPDIR/got.$i" "$SITE/64k.bin"
    done
    # The trickler finishes its head; it is answered like anyone else.
    printf 'st: x\r\nConnection: close\r\n\r\n' >&"$slow"
    local reply
    reply=$(timeout 10 cat <&"$slow")
    exec {slow}>&-
    [[ $reply == $'HTTP/1.1 200 OK\r'*hello ]]
}

@test "mini_http: out of descriptors (EMFILE): said once, no busy loop, serves again" {
    command -v prlimit >/dev/null || skip "prlimit (util-linux) is not installed"
    make_site
    start_site
    prlimit --pid "$SERVER_PID" --nofile=20:20
    start_program_holding_stdin tcp_client --idle 40 -p "$SERVER_PORT"
    local holder=$PROGRAM_PID
    wait_for_line "$PROGRAM_OUT" '^holding 40 connections$' 10
    wait_for_line "$SERVER_OUT" 'accept\(\) failed.*\(EMFILE\)$' 10
    local before after
    before=$(cpu_ticks "$SERVER_PID")
    sleep 1
    after=$(cpu_ticks "$SERVER_PID")
    echo "CPU over one second: $((after - before)) ticks of $(getconf CLK_TCK)"
    ((after - before <= 20))
    [ "$(grep -c EMFILE "$SERVER_OUT")" -eq 1 ]
    kill -s TERM "$holder"
    wait_for_exit "$holder" 10
    wait_for_line "$SERVER_OUT" 'the descriptor shortage is over' 10
    fetch /hello.txt
    [ "$(cat "$BODY_FILE")" = hello ]
}

@test "mini_http: SIGINT with a client connected: exit 0, the summary, the client closed" {
    make_site
    start_site
    local connection line
    exec {connection}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n' >&"$connection"
    read -r -t 10 line <&"$connection"
    [ "$line" = $'HTTP/1.1 200 OK\r' ]
    wait_for_line "$SERVER_OUT" '响应体 body' 5
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    grep -qx 'signalfd: SIGINT arrived; stopping' "$SERVER_OUT"
    grep -qx 'stopping: close() on the 1 connections still open' "$SERVER_OUT"
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=1\ requests=1\ bytes=[0-9]+$ ]]
    # Read what is left of the response, then end of file: closed, not hung.
    timeout 10 cat <&"$connection" >/dev/null
    exec {connection}>&-
}

@test "mini_http: SIGTERM while 20 clients are downloading: it ends at once, exit 0" {
    make_site
    head -c $((20 * 1024 * 1024)) /dev/zero >"$SITE/big.bin"
    start_site
    local i deadline=$((SECONDS + 20))
    for i in $(seq 1 20); do
        timeout 60 curl -s --limit-rate 200K -o /dev/null "$(base_url)/big.bin" 3>&- &
        remember_pid $!
    done
    # Every response under way: 20 bodies being sent, slowly.
    until [ "$(grep -c '响应体 body' "$SERVER_OUT")" -eq 20 ]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
    stop_server TERM
    grep -qx 'stopping: close() on the 20 connections still open' "$SERVER_OUT"
    [ "$EXIT_STATUS" -eq 0 ]
    [[ $(tail -n 1 "$SERVER_OUT") =~ ^summary:\ clients=20\ requests=20\ bytes=[0-9]+$ ]]
}

@test "mini_http: headless Chromium renders the sample page, asking for its stylesheet and image" {
    local browser
    browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
    [ -n "$browser" ] || skip "Chromium is not installed (sudo apt-get install chromium)"
    start_server mini_http
    local sandbox=()
    ((EUID == 0)) && sandbox=(--no-sandbox) # Chromium refuses to run as root with its sandbox
    run --separate-stderr timeout 60 "$browser" --headless "${sandbox[@]}" --disable-gpu \
        --disable-dev-shm-usage --no-first-run --user-data-dir="$BATS_TEST_TMPDIR/chromium" --dump-dom "$(base_url)/"
    [ "$status" -eq 0 ]
    [[ $output == *"<title>mini_http: the anatomy of a request and a response</title>"* ]]
    [[ $output == *"<h1>Hello from mini_http</h1>"* ]]
    grep -qE '^fd [0-9]+: 请求行 request line \| GET / HTTP/1.1$' "$SERVER_OUT"
    grep -qE '^fd [0-9]+: 请求行 request line \| GET /style.css HTTP/1.1$' "$SERVER_OUT"
    grep -qE '^fd [0-9]+: 请求行 request line \| GET /anatomy.svg HTTP/1.1$' "$SERVER_OUT"
    grep -qE '^fd [0-9]+: 请求头 header       \| User-Agent: .*HeadlessChrome' "$SERVER_OUT"
}
