# shellcheck shell=bash
# mini_http: the HTTP recap of the notes (http协议): a request is a request
# line, headers and a blank line; a response a status line, headers, a
# blank line and a body. Sourced by scripts/lab3.sh, which provides heading,
# say, start_demo, check...

run_scenario() {
    # root: the top of the lab, set by scripts/lab3.sh.
    # shellcheck disable=SC2154
    local client="$LAB_BUILD/tcp_client" www="$root/demos/www" site="$work/site"

    heading "HTTP (http协议): 请求行 请求头 空行 in, 响应行 响应头 空行 响应体 out"
    say "mini_http serves a copy of the sample site demos/www, with a 1 MiB file"
    say "added. A client sends it the text of a request; mini_http prints that"
    say "request as it arrived, then the head of its response, labelled with the"
    say "notes' words, and sends the page: a small file from a copy in memory,"
    say "with its head in one sendmsg(); a large one by sendfile()."
    cp -R "$www" "$site"
    head -c 1048576 /dev/urandom >"$site/big.bin"
    start_demo mini_http -r "$site" || return 1

    local page="$DEMO_OUT.page" refused="$DEMO_OUT.refused"
    printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        timeout 10 "$client" -q -p "$DEMO_PORT" >"$page"
    wait_for_line "$DEMO_OUT" '响应体 body' 5
    say "The client saw this response head (the body, the page, follows it):"
    sed -n '1,/^\r$/p' "$page" | tr -d '\r' | sed 's/^/  > /'

    local big="$DEMO_OUT.big"
    printf 'GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        timeout 10 "$client" -q -p "$DEMO_PORT" >"$big"
    wait_for_line "$DEMO_OUT" 'bytes of big.bin' 5
    say "GET /big.bin: $(grep -F 'bytes of big.bin' "$DEMO_OUT" | sed 's/^fd [0-9]*: //')"

    say "Now a request that tries to leave the document root: GET /../../etc/passwd"
    local before_line
    before_line=$(wc -l <"$DEMO_OUT")
    printf 'GET /../../etc/passwd HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        timeout 10 "$client" -q -p "$DEMO_PORT" >"$refused"
    wait_for_line "$DEMO_OUT" '响应行 status line  \| HTTP/1.1 404' 5
    say "and one with a terminal escape sequence in it, which is shown escaped:"
    printf 'GET /\x1b[31mred HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        timeout 10 "$client" -q -p "$DEMO_PORT" >/dev/null
    wait_for_line "$DEMO_OUT" 'GET /\\x1b\[31mred' 5
    stop_demo INT

    say "What mini_http said for the first two requests (the page, the big file):"
    sed -n "1,${before_line}p" "$DEMO_OUT" >"$DEMO_OUT.first"
    show_transcript "$DEMO_OUT.first"
    say "and for the other two (the escape sequence arrived as bytes 1b 5b 33 31 6d):"
    grep -E '请求行|响应行' "$DEMO_OUT" | tail -n 4 | sed 's/^/  | /'

    local body_bytes
    body_bytes=$(($(wc -c <"$page") - $(sed -n '1,/^\r$/p' "$page" | wc -c)))
    check "the page came back whole (${body_bytes} bytes, as Content-Length said)" \
        cmp -s <(tail -c "$body_bytes" "$page") "$www/index.html"
    check "the request line was shown as 请求行" \
        grep -q '请求行 request line | GET / HTTP/1.1$' "$DEMO_OUT"
    check "the status line was shown as 响应行" \
        grep -q '响应行 status line  | HTTP/1.1 200 OK$' "$DEMO_OUT"
    check "the page went out with its head in one sendmsg(), from the cache's copy" \
        grep -qF "响应体 body         | $body_bytes bytes of index.html, from the cache's copy, in one sendmsg() with the head" "$DEMO_OUT"
    check "the 1 MiB file came back whole, by sendfile()" \
        bash -c "grep -qF '响应体 body         | 1048576 bytes of big.bin, by sendfile()' '$DEMO_OUT' && cmp -s <(tail -c 1048576 '$big') '$site/big.bin'"
    check "/../../etc/passwd got 404, not the file" \
        bash -c "head -n 1 '$refused' | grep -q '^HTTP/1.1 404 ' && ! grep -q '^root:' '$refused'"
    check "no raw escape byte reached the terminal" bash -c "! grep -q $'\\x1b' '$DEMO_OUT'"
    check "Ctrl-C (SIGINT) ended it with status 0" [ "$DEMO_STATUS" -eq 0 ]
    check "it printed its summary" grep -qE '^summary: clients=4 requests=4 bytes=[0-9]+$' "$DEMO_OUT"
}
