# shellcheck shell=bash
# struct_pack_demo: 结构化数据, records packed as Python's struct packs them.
# Sourced by scripts/lab3.sh, which provides heading, say, start_demo, check...

run_scenario() {
    heading "struct (结构化数据): pack (1, b'zhang', 1.75) with 'i5sf', send it, unpack it"
    say "The notes pack a record with struct.Struct('i5sf'). In native mode (the"
    say "default '@') the float is aligned as in a C struct: 16 bytes, 3 of padding."
    say "With '=' (standard sizes) the same record is 13 bytes."
    local program="$LAB_BUILD/struct_pack_demo"
    # shellcheck disable=SC2154 # $work is lab3.sh's scratch folder
    local example="$work/struct_example.out"
    timeout 10 "$program" >"$example" 2>&1
    show_transcript "$example"

    say ""
    say "pack and unpack speak Python's format language; '!' is network byte order:"
    local packed="$work/struct_pack.out" unpacked="$work/struct_unpack.out" hex
    timeout 10 "$program" pack '!hd' -5 1e-5 >"$packed" 2>&1
    show_transcript "$packed"
    hex=$(head -n 1 "$packed")
    timeout 10 "$program" unpack '!hd' "$hex" >"$unpacked" 2>&1
    show_transcript "$unpacked"

    say ""
    say "Records over TCP: serve cuts the byte stream into 16-byte records; one client"
    say "sends two records back to back, another sends 7 bytes and closes."
    start_demo struct_pack_demo serve i5sf || return 1
    local sent="$work/struct_send.out" client
    timeout 10 "$program" -p "$DEMO_PORT" send i5sf 1 zhang 1.75 2 li 1.8 >"$sent" 2>&1
    show_transcript "$sent"
    wait_for_line "$DEMO_OUT" 'closed after 2 records' 5
    exec {client}<>"/dev/tcp/127.0.0.1/$DEMO_PORT"
    printf '\001\000\000\000zha' >&"$client"
    exec {client}>&-
    wait_for_line "$DEMO_OUT" 'a partial record, dropped' 5
    local python_status=skipped
    if command -v python3 >/dev/null; then
        say "and a Python client, with struct.Struct('i5sf').pack(3, b'wang', 1.6):"
        python_status=0
        timeout 10 python3 - "$DEMO_PORT" <<'PYTHON' || python_status=$?
import socket, struct, sys
with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5) as s:
    s.sendall(struct.Struct('i5sf').pack(3, b'wang', 1.6))
PYTHON
        wait_for_line "$DEMO_OUT" 'wang' 5
    fi
    stop_demo INT
    show_transcript

    check "'i5sf' packs to the 16 bytes CPython makes" \
        grep -qxF "hex '@': 010000007a68616e670000000000e03f" "$example"
    check "'=i5sf' packs to 13 bytes, no padding" \
        grep -qxF "hex '=': 010000007a68616e670000e03f" "$example"
    check "sizeof(struct record) is calcsize('i5sf'), 16" \
        grep -qxF "  sizeof = 16; offsetof: id 0, name 4, height 12" "$example"
    check "'!hd' gives network byte order: fffb first" [ "$hex" = fffb3ee4f8b588e368f1 ]
    check "unpack gives Python's tuple back, (-5, 1e-05)" \
        grep -qxF "(-5, 1e-05)" "$unpacked"
    check "the server unpacked record 1 as (1, b'zhang', 1.75)" \
        grep -qE "^record 1 from fd [0-9]+: .* -> \(1, b'zhang', 1\.75\)$" "$DEMO_OUT"
    check "and record 2, from the same stream, as li's" \
        grep -qE "^record 2 from fd [0-9]+: .* -> \(2, b'li" "$DEMO_OUT"
    check "the 7 bytes were called a partial record, not unpacked" \
        grep -q '7 of 16 bytes came; a partial record, dropped' "$DEMO_OUT"
    if [[ $python_status != skipped ]]; then
        check "the Python client's record came through as (3, b'wang\\x00', 1.600000023841858)" \
            grep -qF "(3, b'wang\\x00', 1.600000023841858)" "$DEMO_OUT"
    fi
    check "Ctrl-C (SIGINT) ended it with status 0" [ "$DEMO_STATUS" -eq 0 ]
    if [[ $python_status == skipped ]]; then
        check "it printed its summary" grep -qx 'summary: clients=2 records=2 bytes=39 partial=1' "$DEMO_OUT"
    else
        check "it printed its summary" grep -qx 'summary: clients=3 records=3 bytes=55 partial=1' "$DEMO_OUT"
    fi
}
