#!/usr/bin/env bats
# mini_http: the protocol rules of docs/mini_http.md (RFC 9110, RFC 9112),
# each checked on the wire. curl for what a client sees; raw bytes through
# tcp_client for what curl would never send. The server's behaviour under
# load, timeouts, signals and a real browser: mini_http_server.bats.

load helper
load mini_http

setup() {
    mini_http_setup
}

@test "mini_http: -h prints the usage; bad options exit 2; a missing root exits 1" {
    run "$(bin mini_http)" -h
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "usage: mini_http "* ]]
    [[ $output == *"-r DOCROOT"* && $output == *"-t SECONDS"* ]]

    run "$(bin mini_http)" -x
    [ "$status" -eq 2 ]
    [[ $output == *"unknown option '-x'"* && $output == *"usage: mini_http"* ]]
    run "$(bin mini_http)" -t 0
    [ "$status" -eq 2 ]
    [[ $output == *"bad timeout '0'"* ]]
    run "$(bin mini_http)" -p 0 surplus
    [ "$status" -eq 2 ]
    [[ $output == *"unexpected argument 'surplus'"* ]]
    run "$(bin mini_http)" -p 0 -r "$BATS_TEST_TMPDIR/no-such-folder"
    [ "$status" -eq 1 ]
    [[ $output == "mini_http: document root $BATS_TEST_TMPDIR/no-such-folder: No such file or directory (ENOENT)" ]]
    # A copy of the program far from demos/www cannot find the sample site.
    mkdir -p "$BATS_TEST_TMPDIR/elsewhere/bin"
    cp "$(bin mini_http)" "$BATS_TEST_TMPDIR/elsewhere/bin/"
    run "$BATS_TEST_TMPDIR/elsewhere/bin/mini_http" -p 0
    [ "$status" -eq 1 ]
    [ "$output" = "mini_http: the sample site demos/www is not beside this program; name the folder to serve with -r DOCROOT" ]
}

@test "mini_http: started from any folder it serves the sample site, byte for byte" {
    cd "$BATS_TEST_TMPDIR"
    start_server mini_http -q
    local www=$BATS_TEST_DIRNAME/../demos/www
    fetch /
    cmp "$BODY_FILE" "$www/index.html"
    [ "$(head -n 1 "$HEAD_FILE")" = $'HTTP/1.1 200 OK\r' ]
    [ "$(header Content-Type)" = "text/html; charset=utf-8" ]
    [ "$(header Content-Length)" = "$(wc -c <"$www/index.html")" ]
    [ "$(header Server)" = mini_http ]
    [[ $(header Date) =~ ^[A-Z][a-z]{2},\ [0-9]{2}\ [A-Z][a-z]{2}\ [0-9]{4}\ [0-9:]{8}\ GMT$ ]]
    [ "$(header Last-Modified)" = "$(TZ=GMT date -r "$www/index.html" '+%a, %d %b %Y %H:%M:%S GMT')" ]
    grep -q '<title>mini_http: the anatomy of a request and a response</title>' "$BODY_FILE"
    fetch /style.css
    cmp "$BODY_FILE" "$www/style.css"
    [ "$(header Content-Type)" = "text/css; charset=utf-8" ]
    fetch /anatomy.svg
    cmp "$BODY_FILE" "$www/anatomy.svg"
    [ "$(header Content-Type)" = "image/svg+xml" ]
}

@test "mini_http: HEAD has the same headers as GET and no body" {
    make_site
    start_site -q
    fetch /hello.txt
    local get_head=$HEAD_FILE
    fetch /hello.txt -I
    diff <(grep -v '^Date:' "$get_head") <(grep -v '^Date:' "$HEAD_FILE")
    # On the wire: the head and not one byte more, also for an error.
    send_raw 'HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n'
    [ "$(body_length "$REPLY_FILE")" -eq 0 ]
    [ "$(header Content-Length "$REPLY_FILE")" -eq 6 ]
    send_raw 'HEAD /nothing HTTP/1.1\r\nHost: x\r\n\r\n'
    [ "$(reply_statuses)" = 404 ]
    [ "$(body_length "$REPLY_FILE")" -eq 0 ]
    [ "$(header Content-Length "$REPLY_FILE")" -gt 0 ]
}

@test "mini_http: Content-Type from the extension; text types with charset=utf-8" {
    mkdir -p "$SITE"
    local pair name
    local -a expected=(
        "a.html text/html; charset=utf-8" "a.css text/css; charset=utf-8"
        "a.js text/javascript; charset=utf-8" "a.mjs text/javascript; charset=utf-8"
        "a.json application/json" "a.txt text/plain; charset=utf-8"
        "a.md text/markdown; charset=utf-8" "a.png image/png" "a.jpg image/jpeg"
        "a.jpeg image/jpeg" "a.gif image/gif" "a.svg image/svg+xml" "a.ico image/x-icon"
        "a.webp image/webp" "a.wasm application/wasm" "a.pdf application/pdf"
        "UPPER.PNG image/png" "a.bin application/octet-stream" "no-extension application/octet-stream"
        "dot.d/file application/octet-stream"
    )
    mkdir -p "$SITE/dot.d"
    for pair in "${expected[@]}"; do
        printf 'x' >"$SITE/${pair%% *}"
    done
    start_site -q
    for pair in "${expected[@]}"; do
        name=${pair%% *}
        fetch "/$name"
        [ "$(header Content-Type)" = "${pair#* }" ] || {
            echo "$name: $(header Content-Type)" >&2
            return 1
        }
    done
}

@test "mini_http: If-Modified-Since: 304 with no body when not modified, else 200" {
    make_site
    touch -d '2020-01-01 00:00:00 UTC' "$SITE/hello.txt"
    start_site -q
    fetch /hello.txt -H 'If-Modified-Since: Wed, 01 Jan 2020 00:00:00 GMT'
    [ "$(head -n 1 "$HEAD_FILE")" = $'HTTP/1.1 304 Not Modified\r' ]
    [ ! -s "$BODY_FILE" ]
    [ "$(header Last-Modified)" = "Wed, 01 Jan 2020 00:00:00 GMT" ]
    [ -z "$(header Content-Length)" ]
    fetch /hello.txt -H 'If-Modified-Since: Tue, 31 Dec 2019 23:59:59 GMT'
    [ "$(head -n 1 "$HEAD_FILE")" = $'HTTP/1.1 200 OK\r' ]
    [ "$(cat "$BODY_FILE")" = hello ]
    fetch /hello.txt -H 'If-Modified-Since: yesterday'
    [ "$(head -n 1 "$HEAD_FILE")" = $'HTTP/1.1 200 OK\r' ]
    # curl's own conditional GET (-z) is answered the same way.
    fetch /hello.txt -z 'Jan 1 00:00:00 2020 GMT'
    [ "$(head -n 1 "$HEAD_FILE")" = $'HTTP/1.1 304 Not Modified\r' ]
}

@test "mini_http: 404 and every error carry a small HTML page with an exact Content-Length" {
    make_site
    start_site -q
    fetch /nothing-here
    [ "$(head -n 1 "$HEAD_FILE")" = $'HTTP/1.1 404 Not Found\r' ]
    [ "$(header Content-Type)" = "text/html; charset=utf-8" ]
    [ "$(header Content-Length)" -eq "$(wc -c <"$BODY_FILE")" ]
    grep -q '<title>404 Not Found</title>' "$BODY_FILE"
    local request
    for request in 'POST / HTTP/1.1\r\nHost: x\r\n\r\n' 'BREW / HTTP/1.1\r\nHost: x\r\n\r\n' \
        'GET / HTTP/3.0\r\nHost: x\r\n\r\n' 'GET / HTTP/1.1\r\n\r\n'; do
        send_raw "$request"
        [ "$(body_length "$REPLY_FILE")" -eq "$(header Content-Length "$REPLY_FILE")" ]
        grep -q "<h1>$(reply_statuses) " "$REPLY_FILE"
    done
}

@test "mini_http: the other standard methods get 405 with Allow; unknown ones 501; case matters" {
    make_site
    start_site -q
    local method
    for method in POST PUT DELETE PATCH OPTIONS TRACE; do
        fetch /hello.txt -X "$method" -d 'some data'
        [ "$(head -n 1 "$HEAD_FILE")" = $'HTTP/1.1 405 Method Not Allowed\r' ]
        [ "$(header Allow)" = "GET, HEAD" ]
    done
    # The method is judged before the form of the target.
    expect_raw '405 close' 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n'
    expect_raw '405 close' 'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n'
    expect_raw '501 close' 'BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n'
    expect_raw '501 close' 'get /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n'
    expect_raw '501 close' 'Get /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n'
}

@test "mini_http: versions: 1.0 and 1.1 served, a higher 1.x as 1.1, any other 505" {
    make_site
    start_site -q
    expect_raw '200' 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n'
    expect_raw '200 close' 'GET /hello.txt HTTP/1.0\r\n\r\n'
    expect_raw '200' 'GET /hello.txt HTTP/1.7\r\nHost: x\r\n\r\n'
    grep -q '^HTTP/1.1 200 OK' "$REPLY_FILE"
    expect_raw '505 close' 'GET /hello.txt HTTP/2.0\r\nHost: x\r\n\r\n'
    expect_raw '505 close' 'GET /hello.txt HTTP/0.9\r\nHost: x\r\n\r\n'
    expect_raw '505 close' 'GET /hello.txt HTTP/3.1\r\nHost: x\r\n\r\n'
}

@test "mini_http: malformed request lines get 400 and a close" {
    make_site
    start_site -q
    local line
    for line in 'GET /hello.txt' 'GET  /hello.txt HTTP/1.1' 'GET /hello.txt  HTTP/1.1' \
        ' GET /hello.txt HTTP/1.1' 'GET /hello.txt HTTP/1.1 ' 'GET /hello.txt http/1.1' \
        'GET /hello.txt HTTP/1.10' 'GET /hello.txt HTTP/1' 'GET /hello.txt HTTP/1.x' \
        'GET\t/hello.txt HTTP/1.1' 'GE(T /hello.txt HTTP/1.1' 'GET /he\x01llo.txt HTTP/1.1' \
        'GET /h\xc3\xa9 HTTP/1.1' 'GET /hello.txt#top HTTP/1.1' 'GET /hello.txt HTTP/1.1\r\r' \
        'GET hello.txt HTTP/1.1' 'GET * HTTP/1.1' 'GET example.org:80 HTTP/1.1' \
        'GET http:///hello.txt HTTP/1.1'; do
        expect_raw '400 close' "$line\r\nHost: x\r\n\r\n"
    done
    # A bad %-escape is found when the path is decoded, after the request
    # itself parsed: 400, and the connection may stay.
    expect_raw '400' 'GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n'
    expect_raw '400' 'GET /%4 HTTP/1.1\r\nHost: x\r\n\r\n'
}

@test "mini_http: absolute-form targets, bare LF line ends and leading empty lines are accepted" {
    make_site
    printf 'root\n' >"$SITE/index.html"
    start_site -q
    send_raw 'GET http://example.org/hello.txt?query=1 HTTP/1.1\r\nHost: example.org\r\n\r\n'
    [ "$(reply_statuses)" = 200 ]
    [ "$(tail -c 6 "$REPLY_FILE")" = hello ]
    expect_raw '200' 'GET HTTP://example.org/hello.txt HTTP/1.1\r\nHost: example.org\r\n\r\n'
    expect_raw '200' 'GET http://example.org HTTP/1.1\r\nHost: example.org\r\n\r\n'
    [ "$(tail -c 5 "$REPLY_FILE")" = root ]
    expect_raw '200' 'GET /hello.txt HTTP/1.1\nHost: x\n\n'
    expect_raw '200' '\r\n\r\n\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n'
    expect_raw '200' 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Spaces:   a b  \r\n\r\n'
}

@test "mini_http: header rules: one valid Host; no space before the colon, no obs-fold, no CR/LF/NUL in values" {
    make_site
    start_site -q
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\nHost: a b\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\nHost: a/b\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\nHost:\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\nHost : x\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\nHost\t: x\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Long: one\r\n two\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\n X-Lead: x\r\nHost: x\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-CR: a\rb\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-NUL: a\x00b\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Escape: \x1b[2J\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n'
    expect_raw '400 close' 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n: no name\r\n\r\n'
    # HTTP/1.0 needs no Host, and an IPv6 literal with a port is a Host.
    expect_raw '200 close' 'GET /hello.txt HTTP/1.0\r\n\r\n'
    expect_raw '200' 'GET /hello.txt HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n'
}

@test "mini_http: body framing: bad Content-Length, TE with CL, TE in 1.0, chunked not last: 400; unknown coding 501" {
    make_site
    start_site -q
    local head='GET /hello.txt HTTP/1.1\r\nHost: x\r\n'
    expect_raw '400 close' "${head}Content-Length: -1\r\n\r\n"
    expect_raw '400 close' "${head}Content-Length: 1x\r\n\r\n"
    expect_raw '400 close' "${head}Content-Length: 3, 3\r\n\r\nabc"
    expect_raw '400 close' "${head}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
    expect_raw '400 close' "${head}Content-Length: 99999999999999999999\r\n\r\n"
    expect_raw '400 close' "${head}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    expect_raw '400 close' 'GET /hello.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
    expect_raw '400 close' "${head}Transfer-Encoding: chunked, gzip\r\n\r\n"
    expect_raw '400 close' "${head}Transfer-Encoding: gzip\r\n\r\n"
    expect_raw '400 close' "${head}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
    expect_raw '400 close' "${head}Transfer-Encoding: chunked, gzip, chunked\r\n\r\n"
    expect_raw '501 close' "${head}Transfer-Encoding: rot13, chunked\r\n\r\n"
    # A valid chunked body is refused: 411 asks for a Content-Length.
    expect_raw '411 close' "${head}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
    expect_raw '411 close' "${head}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    # Two equal Content-Lengths are one length.
    expect_raw '200' "${head}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"
}

@test "mini_http: a request body is read and thrown away, never taken for the next request" {
    make_site
    start_site -q
    local smuggled=$'GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n'
    send_raw "GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: ${#smuggled}\r\n\r\n${smuggled}GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n"
    [ "$(reply_statuses)" = "200 200" ]
    grep -q '<title>sub</title>' "$REPLY_FILE"
    # A refused request's body is not waited for: the answer comes, then a close.
    send_raw "POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: ${#smuggled}\r\n\r\n${smuggled}"
    [ "$(reply_statuses)" = 405 ]
}

@test "mini_http: Expect: 100-continue: the go-ahead before the body; a refusal at once, without it" {
    make_site
    start_site -q
    local connection line
    exec {connection}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n' >&"$connection"
    read -r -t 10 line <&"$connection"
    [ "$line" = $'HTTP/1.1 100 Continue\r' ]
    read -r -t 10 line <&"$connection"
    [ "$line" = $'\r' ]
    printf 'hello' >&"$connection"
    read -r -t 10 line <&"$connection"
    [ "$line" = $'HTTP/1.1 200 OK\r' ]
    exec {connection}>&-

    exec {connection}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    printf 'PUT /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n' >&"$connection"
    read -r -t 10 line <&"$connection"
    [ "$line" = $'HTTP/1.1 405 Method Not Allowed\r' ]
    exec {connection}>&-
    # curl waits for the go-ahead too (it gives up after 1 s without one).
    fetch /hello.txt -X GET -H 'Expect: 100-continue' --data-binary 'x' --expect100-timeout 5
    [ "$(cat "$BODY_FILE")" = hello ]
}

@test "mini_http: request line over 8 KiB: 414; headers over 16 KiB or 100 fields: 431" {
    make_site
    start_site -q
    local long
    long=$(printf 'a%.0s' {1..8200})
    expect_raw '414 close' "GET /$long HTTP/1.1\r\nHost: x\r\n\r\n"
    # Refused as soon as the line is too long, without waiting for its end.
    expect_raw '414 close' "GET /$long"
    long=$(printf 'a%.0s' {1..8150})
    expect_raw '200' "GET /hello.txt?$long HTTP/1.1\r\nHost: x\r\n\r\n"
    long=$(printf 'b%.0s' {1..17000})
    expect_raw '431 close' "GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Big: $long\r\n\r\n"
    local fields='' i
    for i in {1..99}; do fields+="X-Field-$i: $i\r\n"; done
    expect_raw '200' "GET /hello.txt HTTP/1.1\r\nHost: x\r\n$fields\r\n"
    expect_raw '431 close' "GET /hello.txt HTTP/1.1\r\nHost: x\r\n${fields}X-One-Too-Many: 1\r\n\r\n"
}

@test "mini_http: traversal attempts never reach the secret just outside the root" {
    make_site
    ln -s ../secret.txt "$SITE/link-out"
    ln -s "$BATS_TEST_TMPDIR/secret.txt" "$SITE/link-absolute"
    ln -s .. "$SITE/link-up"
    ln -s hello.txt "$SITE/link-in"
    start_site -q
    local target
    for target in /../secret.txt /../../secret.txt /sub/../../secret.txt /%2e%2e/secret.txt \
        /%2E%2E/secret.txt /.%2e/secret.txt /%2e./secret.txt /..%2fsecret.txt /..%2Fsecret.txt \
        /..%5csecret.txt '/..\\secret.txt' /%252e%252e/secret.txt /./../secret.txt \
        /sub/./../../secret.txt /secret.txt%00 /..%00/secret.txt //../secret.txt \
        "$BATS_TEST_TMPDIR/secret.txt" "/$BATS_TEST_TMPDIR/secret.txt" /link-out /link-absolute \
        /link-up/secret.txt /link-up/www/hello.txt http://x/../secret.txt ../secret.txt \
        'http://x/%2e%2e/secret.txt'; do
        raw_status "GET $target HTTP/1.1\r\nHost: x\r\n\r\n"
        if [[ $VERDICT != 400* && $VERDICT != 404* ]] || grep -q TOP-SECRET "$REPLY_FILE"; then
            echo "$target: $VERDICT" >&2
            cat "$REPLY_FILE" >&2
            return 1
        fi
    done
    # A symlink that stays inside is followed; curl's normalised ../ is harmless.
    expect_raw '200' 'GET /link-in HTTP/1.1\r\nHost: x\r\n\r\n'
    fetch /sub/../hello.txt
    [ "$(cat "$BODY_FILE")" = hello ]
    fetch /%68ello.txt
    [ "$(cat "$BODY_FILE")" = hello ]
}

@test "mini_http: a folder: 301 to the slashed URL, then its index.html; without one, 404" {
    make_site
    printf 'spaced\n' >"$SITE/sub/with space.txt"
    start_site -q
    fetch /sub
    [ "$(head -n 1 "$HEAD_FILE")" = $'HTTP/1.1 301 Moved Permanently\r' ]
    [ "$(header Location)" = /sub/ ]
    [ "$(header Content-Length)" -eq "$(wc -c <"$BODY_FILE")" ]
    fetch /sub -L
    [ "$(cat "$BODY_FILE")" = "$(cat "$SITE/sub/index.html")" ]
    fetch /sub/?x=1
    [ "$(header Content-Type)" = "text/html; charset=utf-8" ]
    fetch /empty
    [ "$(header Location)" = /empty/ ]
    fetch /empty/
    [ "$(head -n 1 "$HEAD_FILE")" = $'HTTP/1.1 404 Not Found\r' ]
    fetch /hello.txt/
    [ "$(head -n 1 "$HEAD_FILE")" = $'HTTP/1.1 404 Not Found\r' ]
    fetch /sub/with%20space.txt
    [ "$(cat "$BODY_FILE")" = spaced ]
    send_raw 'GET http://x/sub HTTP/1.1\r\nHost: x\r\n\r\n'
    [ "$(header Location "$REPLY_FILE")" = /sub/ ]
}

@test "mini_http: an unreadable file is 403 (the server runs as an unprivileged user)" {
    make_site
    chmod -R a+rX "$SITE"
    printf 'locked\n' >"$SITE/locked.txt"
    chmod 000 "$SITE/locked.txt"
    if ((EUID != 0)); then
        start_site -q
    else
        # Root reads everything: drop to nobody (65534) for this test.
        command -v setpriv >/dev/null || skip "running as root and setpriv (util-linux) is missing"
        chmod o+x "$BATS_RUN_TMPDIR" # nobody may pass through (not list) the test folders
        setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$(bin mini_http)" \
            || skip "running as root and nobody cannot reach $(bin mini_http)"
        local out=$BATS_TEST_TMPDIR/nobody.out err=$BATS_TEST_TMPDIR/nobody.err
        setpriv --reuid=65534 --regid=65534 --clear-groups "$(bin mini_http)" -q -p 0 -r "$SITE" \
            </dev/null >"$out" 2>"$err" 3>&- &
        SERVER_PID=$!
        remember_pid "$SERVER_PID" "$err"
        wait_for_line "$out" '^listening on ' 10
        SERVER_PORT=$(sed -n '1s/.*:\([0-9]*\)$/\1/p' "$out")
    fi
    fetch /locked.txt
    [ "$(head -n 1 "$HEAD_FILE")" = $'HTTP/1.1 403 Forbidden\r' ]
    run ! grep -q locked "$BODY_FILE"
    fetch /hello.txt
    [ "$(cat "$BODY_FILE")" = hello ]
}
