#!/usr/bin/env bats
# lab3: the make lab3 runner, scripts/lab3.sh: its options, its deadline,
# Ctrl-C, and that nothing it started is left running or on disk.
#
# Most tests run it on a fixture: a build folder of links to the real
# programs (so that every process it starts names the fixture in its
# command line, and a survivor is easy to find), a scenario folder
# (LAB3_SCENARIO_DIR) holding small scenarios written here, and an empty
# TMPDIR that must stay empty.

load helper

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
LAB3="$ROOT/scripts/lab3.sh"

setup() {
    FIXTURE="$BATS_TEST_TMPDIR/lab3-fixture"
    mkdir -p "$FIXTURE/build" "$FIXTURE/scenarios" "$FIXTURE/tmp"
    ln -s "$BUILD_DIR"/* "$FIXTURE/build/"
}

# lab3 ARGS...: the runner on the fixture, bounded so that a runner that
# hangs fails the test instead of holding it. 3>&-: bats waits for every
# holder of descriptor 3, so a process the runner failed to stop would hold
# the test instead of failing it in nothing_left.
lab3() {
    LAB_BUILD="$FIXTURE/build" LAB3_SCENARIO_DIR="$FIXTURE/scenarios" \
        TMPDIR="$FIXTURE/tmp" timeout 120 "$LAB3" "$@" 3>&-
}

# scenario FILE: a fixture scenario, its body on stdin.
scenario() {
    cat >"$FIXTURE/scenarios/$1"
}

# A scenario that passes in a fraction of a second.
quick_scenario() {
    scenario "$1" <<'EOF'
run_scenario() {
    heading "A quick one"
    start_demo blocking_echo || return 1
    stop_demo INT
    show_transcript
    check "it ended with status 0" [ "$DEMO_STATUS" -eq 0 ]
}
EOF
}

# A scenario that never ends, the way nonblock_timeout's once did: a client
# waits for a reply from a frozen server. Around it: a file made with
# mktemp, a client in the background that the scenario never tells the
# runner about, and one under timeout(1), which moves to a process group
# of its own.
hanging_scenario() {
    scenario "$1" <<'EOF'
run_scenario() {
    heading "A scenario that never ends"
    start_demo blocking_echo || return 1
    mktemp >/dev/null
    mkfifo "$work/hold"
    "$LAB_BUILD/tcp_client" -q --idle 2 -p "$DEMO_PORT" 0<>"$work/hold" >/dev/null 2>&1 &
    timeout 600 "$LAB_BUILD/tcp_client" -q --idle 1 -p "$DEMO_PORT" 0<>"$work/hold" >/dev/null 2>&1 &
    kill -s STOP "$DEMO_PID"
    say "hanging now"
    "$LAB_BUILD/tcp_client" -q -p "$DEMO_PORT" -m 'anyone there?' 2>/dev/null
}
EOF
}

# processes_naming TEXT: every process whose command line holds TEXT (read
# with builtins, so that no process of our own is found).
processes_naming() {
    local file pid words
    for file in /proc/[0-9]*/cmdline; do
        pid=${file#/proc/}
        pid=${pid%/cmdline}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        mapfile -t -d '' words 2>/dev/null <"$file" || continue
        [[ "${words[*]}" == *"$1"* ]] && echo "pid $pid: ${words[*]}"
    done
    return 0
}

# A test that fails with something left running stops it here, so that
# one failure does not leave the machine busy.
teardown() {
    local pid
    for pid in $(processes_naming "$FIXTURE" | sed -n 's/^pid \([0-9]*\):.*/\1/p'); do
        kill -s KILL "$pid" 2>/dev/null || true
    done
    stop_started_processes
    check_sanitizer_reports
}

# nothing_left: no process of the run is alive and its TMPDIR is empty.
# (The runner reaps what it stops before it exits; the short poll only
# spares a busy machine a false alarm.)
nothing_left() {
    local deadline=$((SECONDS + 5)) left
    while left=$(processes_naming "$FIXTURE") && [[ -n $left ]]; do
        if ((SECONDS >= deadline)); then
            echo "still running after the run:" >&2
            echo "$left" >&2
            return 1
        fi
        sleep 0.1
    done
    if [[ -n $(ls -A "$FIXTURE/tmp") ]]; then
        echo "left in TMPDIR:" >&2
        ls -lAR "$FIXTURE/tmp" >&2
        return 1
    fi
}

# scoreboard_row NAME: the row of NAME in the scoreboard of $output.
scoreboard_row() {
    sed -n '/^Scoreboard$/,$p' <<<"$output" | grep -E "^  $1 +"
}

@test "lab3: --help documents every option on stdout and exits 0" {
    run --separate-stderr "$LAB3" --help
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [[ ${lines[0]} == "usage: scripts/lab3.sh "* ]]
    local word
    for word in --list --only --pause --help 'ONLY=' LAB3_DEADLINE NO_COLOR 130; do
        echo "looking for $word"
        [[ $output == *"$word"* ]]
    done
    run -0 "$LAB3" -h
    [[ ${lines[0]} == "usage: scripts/lab3.sh "* ]]
}

@test "lab3: a bad option exits 2 with a one-line reason and the usage on stderr" {
    local arguments
    for arguments in "-x" "--bogus" "--only" "--only --pause"; do
        # shellcheck disable=SC2086 # split on purpose
        run --separate-stderr lab3 $arguments
        echo "arguments: $arguments -> status $status, stderr: $stderr"
        [ "$status" -eq 2 ]
        [ -z "$output" ]
        [[ ${stderr_lines[0]} == "lab3.sh: "* ]]
        [[ ${stderr_lines[1]} == "usage: scripts/lab3.sh "* ]]
    done
    LAB3_DEADLINE=soon run --separate-stderr lab3 --list
    [ "$status" -eq 2 ]
    [[ ${stderr_lines[0]} == "lab3.sh: LAB3_DEADLINE must be a whole number of seconds above 0, not 'soon'" ]]
    nothing_left
}

@test "lab3: an unknown section exits 2 naming the known ones, and runs nothing" {
    quick_scenario 20-blocking_echo.sh
    run --separate-stderr lab3 --only blocking_echo blokcing_echo
    [ "$status" -eq 2 ]
    [ -z "$output" ]
    [ "$stderr" = "lab3.sh: no section 'blokcing_echo'; the sections are: mini_http blocking_echo nonblock_timeout select_server poll_server epoll_server epoll_et_demo struct_pack_demo unix_server" ]
    nothing_left
}

@test "lab3: --list shows the nine sections in the order of the notes, and which can run" {
    quick_scenario 20-blocking_echo.sh
    quick_scenario 50-poll_server.sh
    rm "$FIXTURE/build/poll_server"
    run -0 lab3 --list
    local list
    list=$(tr -s ' ' <<<"$output")
    [ "$list" = "The sections of make lab3, in the order of the course notes
 mini_http skip HTTP recap (http协议): no scenario yet ($FIXTURE/scenarios/NN-mini_http.sh)
 blocking_echo ready Blocking I/O (阻塞IO) - docs/blocking_echo.md
 nonblock_timeout skip Non-blocking I/O and timeouts (非阻塞IO, 超时检测): no scenario yet ($FIXTURE/scenarios/NN-nonblock_timeout.sh)
 select_server skip I/O multiplexing with select (IO多路复用): no scenario yet ($FIXTURE/scenarios/NN-select_server.sh)
 poll_server skip poll: the five steps (poll_server步骤): not built ($FIXTURE/build/poll_server is missing; run make)
 epoll_server skip epoll (效率更高, 监控更多): no scenario yet ($FIXTURE/scenarios/NN-epoll_server.sh)
 epoll_et_demo skip Level vs edge triggering (水平触发, 边缘触发): no scenario yet ($FIXTURE/scenarios/NN-epoll_et_demo.sh)
 struct_pack_demo skip struct: a record as bytes (struct模块): no scenario yet ($FIXTURE/scenarios/NN-struct_pack_demo.sh)
 unix_server skip Local sockets (本地套接字): no scenario yet ($FIXTURE/scenarios/NN-unix_server.sh)" ]
    nothing_left
}

@test "lab3: every section that can run here links to a page that exists" {
    run -0 "$LAB3" --list
    local line page pages=0
    for line in "${lines[@]}"; do
        [[ $line =~ \ ready\ .*\ -\ (docs/[^ ]+\.md)$ ]] || continue
        page=${BASH_REMATCH[1]}
        echo "checking $page"
        [ -f "$ROOT/$page" ]
        pages=$((pages + 1))
    done
    ((pages >= 6))
}

@test "lab3: --only runs just the named sections, in the order of the notes, and scores them" {
    quick_scenario 20-blocking_echo.sh
    cp "$ROOT/scripts/scenarios/70-epoll_et_demo.sh" "$FIXTURE/scenarios/"
    quick_scenario 50-poll_server.sh
    run -0 lab3 --only epoll_et_demo,blocking_echo
    [[ $output == *"[1/2]  Blocking I/O (阻塞IO)"* ]]
    [[ $output == *"[2/2]  Level vs edge triggering (水平触发, 边缘触发)"* ]]
    [[ $output != *"poll_server"* ]]
    [[ $output == *"Read more: docs/epoll_et_demo.md"* ]]
    [[ $output == *"What to notice:"* ]]
    grep -qE '^\[1/2\] blocking_echo: PASS in [0-9]+\.[0-9] s$' <<<"$output"
    grep -qE '^\[2/2\] epoll_et_demo: PASS in [0-9]+\.[0-9] s$' <<<"$output"
    scoreboard_row blocking_echo | grep -qE '^  blocking_echo +PASS +[0-9]+\.[0-9]$'
    scoreboard_row epoll_et_demo | grep -qE '^  epoll_et_demo +PASS +[0-9]+\.[0-9]$'
    [ "$(sed -n '/^Scoreboard$/,$p' <<<"$output" | grep -c '^  [a-z]')" -eq 3 ] # the header and two rows
    [[ ${lines[-1]} =~ ^lab3:\ 2\ passed,\ 0\ failed,\ 0\ skipped\ in\ [0-9.]+\ s$ ]]
    nothing_left
}

@test "lab3: make lab3 ONLY=... passes the names on, and make help says so" {
    run -0 make -C "$ROOT" -n lab3 ONLY="poll_server epoll_server"
    [[ $output == *"scripts/lab3.sh --only poll_server epoll_server"* ]]
    run -0 make -C "$ROOT" -n lab3
    grep -qx 'scripts/lab3.sh *' <<<"$output"
    run -0 make -C "$ROOT" -s help
    grep -E '^make lab3 .*ONLY=' <<<"$output"
}

@test "lab3: a section past its deadline is stopped with all it started, scored FAIL, and the walk goes on" {
    hanging_scenario 20-blocking_echo.sh
    quick_scenario 30-nonblock_timeout.sh
    LAB3_DEADLINE=5 run lab3 --only blocking_echo nonblock_timeout mini_http
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *"hanging now"* ]]
    [[ $output == *"lab3.sh: blocking_echo passed its deadline of 5 s. Stopping what it started:"* ]]
    grep -qE '^\[2/3\] blocking_echo: FAIL in [0-9.]+ s - deadline: still running after 5 s, in: .*/tcp_client -q -p [0-9]+ -m anyone there\?; stopped$' <<<"$output"
    grep -qE '^\[3/3\] nonblock_timeout: PASS in ' <<<"$output"
    scoreboard_row blocking_echo | grep -qE '^  blocking_echo +FAIL +[0-9.]+  deadline: still running after 5 s, in: '
    scoreboard_row nonblock_timeout | grep -qE '^  nonblock_timeout +PASS '
    scoreboard_row mini_http | grep -qE '^  mini_http +SKIP +-  no scenario yet'
    [[ ${lines[-1]} == "lab3: 1 passed, 1 failed, 1 skipped in "*" s" ]]
    nothing_left
}

@test "lab3: Ctrl-C stops the section and all it started at once, then the scoreboard, status 130" {
    hanging_scenario 20-blocking_echo.sh
    quick_scenario 30-nonblock_timeout.sh
    local out="$BATS_TEST_TMPDIR/lab3.out"
    # Job control: the runner gets a process group of its own, as the
    # foreground job at a terminal does, and SIGINT is not ignored in it.
    # Ctrl-C at a terminal signals that whole group; so does this kill.
    set -m
    LAB_BUILD="$FIXTURE/build" LAB3_SCENARIO_DIR="$FIXTURE/scenarios" TMPDIR="$FIXTURE/tmp" \
        "$LAB3" >"$out" 2>&1 3>&- &
    local runner=$!
    set +m
    remember_pid "$runner"
    wait_for_line "$out" '^hanging now$' 30
    kill -s INT -- "-$runner"
    wait_for_exit "$runner" 30
    cat "$out"
    [ "$EXIT_STATUS" -eq 130 ]
    grep -qx 'lab3.sh: Ctrl-C: stopping blocking_echo and everything it started' "$out"
    grep -qE '^  blocking_echo +STOPPED +[0-9.]+  Ctrl-C$' "$out"
    grep -qE '^lab3: 0 passed, 0 failed, 1 skipped in [0-9.]+ s; stopped by Ctrl-C at blocking_echo$' "$out"
    run ! grep -q nonblock_timeout "$out"
    nothing_left
}

@test "lab3: a failed check fails its section, and the scoreboard names the check" {
    scenario 20-blocking_echo.sh <<'EOF'
run_scenario() {
    check "one is one" [ 1 -eq 1 ]
    check "two is three" [ 2 -eq 3 ]
    check "four is five" [ 4 -eq 5 ]
}
EOF
    run -1 lab3 blocking_echo
    [[ $output == *"check: two is three: FAILED"* ]]
    [[ $output != *"What to notice:"* ]]
    scoreboard_row blocking_echo | grep -qE '^  blocking_echo +FAIL +[0-9.]+  check failed: two is three \(and 1 more\)$'
    nothing_left
}

@test "lab3: a process the scenario forgot is stopped when it ends" {
    scenario 20-blocking_echo.sh <<'EOF'
run_scenario() {
    (exec -a "$LAB_BUILD/forgotten" sleep 600) &
    check "it ran" true
}
EOF
    run -0 lab3 blocking_echo
    [[ $output == *"lab3.sh: the scenario left 1 process running; stopping them"* ]]
    scoreboard_row blocking_echo | grep -qE '^  blocking_echo +PASS '
    nothing_left
}

@test "lab3: sections that are not built or have no scenario are SKIP; none run means status 1" {
    quick_scenario 20-blocking_echo.sh
    rm "$FIXTURE/build/blocking_echo"
    run -1 lab3 --only blocking_echo unix_server
    grep -qx "\[1/2\] blocking_echo: SKIP, not built ($FIXTURE/build/blocking_echo is missing; run make)" <<<"$output"
    scoreboard_row unix_server | grep -qE '^  unix_server +SKIP +-  no scenario yet'
    [[ ${lines[-1]} == "lab3: 0 passed, 0 failed, 2 skipped in "*" s; nothing ran" ]]
    nothing_left
}

@test "lab3: a scenario file that is not in the table still runs, after the others" {
    quick_scenario 20-blocking_echo.sh
    quick_scenario 15-extra_demo.sh
    sed -i 's/blocking_echo/extra_demo/' "$FIXTURE/scenarios/15-extra_demo.sh"
    ln -s "$BUILD_DIR/blocking_echo" "$FIXTURE/build/extra_demo"
    run -0 lab3 --only extra_demo blocking_echo
    [[ $output == *"[2/2]  extra_demo (not in lab3.sh's table of sections)"* ]]
    scoreboard_row extra_demo | grep -qE '^  extra_demo +PASS '
    nothing_left
}

@test "lab3: colour on a terminal; plain text in a pipe or with NO_COLOR" {
    script -qec true /dev/null >/dev/null 2>&1 || skip "script(1) cannot open a terminal (pty) here"
    quick_scenario 20-blocking_echo.sh
    local command="LAB_BUILD='$FIXTURE/build' LAB3_SCENARIO_DIR='$FIXTURE/scenarios' TMPDIR='$FIXTURE/tmp' '$LAB3' blocking_echo"
    run -0 env TERM=xterm script -qec "$command" /dev/null 3>&-
    [[ $output == *$'\e[32mPASS'* ]]
    [[ $output == *$'  \e[32mcheck: it ended with status 0: ok\e[0m'* ]]
    run -0 env TERM=xterm NO_COLOR=1 script -qec "$command" /dev/null 3>&-
    [[ $output == *"PASS"* && $output != *$'\e['* ]]
    run -0 lab3 blocking_echo
    [[ $output == *"PASS"* && $output != *$'\e['* ]]
    nothing_left
}

@test "lab3: --pause waits for Enter before each section after the first" {
    quick_scenario 20-blocking_echo.sh
    quick_scenario 30-nonblock_timeout.sh
    local out="$BATS_TEST_TMPDIR/lab3.out" keys="$BATS_TEST_TMPDIR/keys" enter
    mkfifo "$keys"
    LAB_BUILD="$FIXTURE/build" LAB3_SCENARIO_DIR="$FIXTURE/scenarios" TMPDIR="$FIXTURE/tmp" \
        "$LAB3" --pause blocking_echo nonblock_timeout <"$keys" >"$out" 2>&1 3>&- &
    local runner=$!
    remember_pid "$runner"
    exec {enter}>"$keys"
    wait_for_line "$out" 'Press Enter for \[2/2\] nonblock_timeout' 30
    grep -q '^\[1/2\] blocking_echo: PASS' "$out"
    run ! grep -q '2/2\]  Non-blocking' "$out" # it waits
    echo >&"$enter"
    wait_for_exit "$runner" 30
    exec {enter}>&-
    cat "$out"
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(grep -c 'Press Enter' "$out")" -eq 1 ]
    grep -q '^\[2/2\] nonblock_timeout: PASS' "$out"
    nothing_left
}

@test "lab3: the unix_server section under a TMPDIR too deep for a socket path passes and leaves nothing" {
    cp "$ROOT/scripts/scenarios/90-unix_server.sh" "$FIXTURE/scenarios/"
    local deep
    deep="$FIXTURE/tmp/$(printf 'a%.0s' {1..60})/$(printf 'b%.0s' {1..40})"
    mkdir -p "$deep"
    LAB_BUILD="$FIXTURE/build" LAB3_SCENARIO_DIR="$FIXTURE/scenarios" \
        TMPDIR="$deep" run -0 timeout 120 "$LAB3" unix_server 3>&-
    echo "$output" | tail -n 5
    scoreboard_row unix_server | grep -qE '^  unix_server +PASS '
    # The socket was named relative to the section's folder, inside it.
    grep -qx '  | listening on lab3.sock' <<<"$output"
    [ -z "$(ls -A "$deep")" ]
    rm -rf "${deep%/*}"
    nothing_left
}
