# shellcheck shell=bash
# shellcheck disable=SC2154  # status, output and lines come from bats' run
# What tests/mini_http.bats and tests/mini_http_server.bats share. Loaded
# after helper.bash:
#
#   load helper
#   load mini_http
#
#   make_site                 a small site in $SITE, a secret beside it
#   start_site [OPTIONS...]   mini_http -r $SITE; SERVER_PORT...
#   fetch PATH [CURL ARGS]    curl; head in $HEAD_FILE, body in $BODY_FILE
#   send_raw BYTES            BYTES (printf %b escapes) on one connection,
#                             half-closed; the whole reply in $REPLY_FILE
#   reply_statuses            the status codes in $REPLY_FILE, in order
#   header NAME [FILE]        the value of a header (default $HEAD_FILE)

mini_http_setup() {
    command -v curl >/dev/null || skip "curl is not installed (sudo apt-get install curl)"
    SITE=$BATS_TEST_TMPDIR/www
    URL_COUNT=0
}

make_site() {
    mkdir -p "$SITE/sub" "$SITE/empty"
    printf 'hello\n' >"$SITE/hello.txt"
    printf '<!DOCTYPE html>\n<title>sub</title>\n' >"$SITE/sub/index.html"
    printf 'TOP-SECRET\n' >"$BATS_TEST_TMPDIR/secret.txt"
}

start_site() {
    start_server mini_http -r "$SITE" "$@"
}

base_url() {
    echo "http://127.0.0.1:$SERVER_PORT"
}

fetch() {
    local path=$1
    shift
    URL_COUNT=$((URL_COUNT + 1))
    HEAD_FILE=$BATS_TEST_TMPDIR/head.$URL_COUNT
    BODY_FILE=$BATS_TEST_TMPDIR/body.$URL_COUNT
    timeout 20 curl -s --path-as-is -D "$HEAD_FILE" -o "$BODY_FILE" "$@" "$(base_url)$path"
}

send_raw() {
    URL_COUNT=$((URL_COUNT + 1))
    REPLY_FILE=$BATS_TEST_TMPDIR/reply.$URL_COUNT
    printf '%b' "$1" | timeout 20 "$(bin tcp_client)" -q -p "$SERVER_PORT" >"$REPLY_FILE"
}

reply_statuses() {
    grep -a -o -E '^HTTP/1\.1 [0-9]{3} ' "$REPLY_FILE" | cut -d ' ' -f 2 | paste -s -d ' ' -
}

# header NAME [FILE]: the value of the first NAME header, without the CR.
header() {
    awk -v name="$(tr '[:upper:]' '[:lower:]' <<<"$1")" -F': ' \
        '/^\r?$/ { exit } { sub(/\r$/, "") } tolower($1) == name { print substr($0, length($1) + 3); exit }' \
        "${2:-$HEAD_FILE}"
}

# raw_status BYTES: VERDICT is the status of the one response to BYTES,
# followed by " close" when the response also says "Connection: close".
raw_status() {
    send_raw "$1"
    VERDICT=$(reply_statuses)
    if [[ $(header Connection "$REPLY_FILE") == close ]]; then
        VERDICT+=" close"
    fi
}

# expect_raw VERDICT BYTES: raw_status is exactly VERDICT, else say which.
expect_raw() {
    raw_status "$2"
    if [[ $VERDICT != "$1" ]]; then
        echo "for $(printf '%q' "$2"): expected '$1', got '$VERDICT'" >&2
        return 1
    fi
}

# Body bytes of the single response in FILE: total minus the head.
body_length() {
    local total head
    total=$(wc -c <"$1")
    head=$(sed -n '1,/^\r$/p' "$1" | wc -c)
    echo $((total - head))
}
