#!/usr/bin/env bash
# make lab3: walk the whole lab, one section per demo, in the order of the
# course notes. Each section opens with the notes' point and the page to
# read, then its scenario starts the demo on a free port, drives it with
# scripted clients, shows what the demo said, and checks that the lesson
# really happened; then what to notice. A scoreboard ends the run.
#
# Scenarios live in scripts/scenarios/NN-DEMO.sh, one per section, each
# defining run_scenario (see 20-blocking_echo.sh for the pattern) with the
# calls below: heading, say, start_demo, start_background, stop_demo,
# wait_for_demo_exit, show_transcript, check. The title, the notes' point,
# the page and what to notice are kept here, in the table of sections.
#
# How a section runs: the runner starts the scenario as its own process,
# in a session of its own (setsid), with "lab3.sh --run-scenario FILE DIR".
# Everything the scenario starts - its demo, clients in the foreground or
# with &, even commands that move to a process group of their own, as
# timeout(1) does - stays in that session, so the runner finds them all by
# their session id in /proc and stops each one by its PID: when the
# section's deadline passes, on Ctrl-C, or when the scenario ended but left
# something running. Ctrl-C at the terminal reaches only the runner (the
# session has no terminal); the runner then stops the section itself.
# Every scratch file is under one mktemp -d folder, removed on every exit.
#
# For the tests: LAB3_DEADLINE=SECONDS sets the deadline of each section
# (default 60); LAB3_SCENARIO_DIR=DIR reads the scenarios from DIR instead,
# so a test can put a scenario there that never ends.
#
# DEMO_PORT, DEMO_STATUS, work... are set here for the scenario files to read.
# shellcheck disable=SC2034
set -uo pipefail
shopt -s extglob

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# wait_for_line, wait_until_gone, stop_pid, open_descriptors
# shellcheck source=scripts/processes.sh
source "$root/scripts/processes.sh"
export LAB_BUILD="${LAB_BUILD:-$root/build}"

# set_colours 1|0: the escape sequences, or nothing.
set_colours() {
    if [[ $1 == 1 ]]; then
        bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' yellow=$'\e[33m'
        dim=$'\e[2m' plain=$'\e[0m'
    else
        bold='' green='' red='' yellow='' dim='' plain=''
    fi
}

# ---- What a scenario may call --------------------------------------------
# These run in the scenario's own process (see run_scenario_process), where
# $work is the section's scratch folder.

STARTED_PIDS=()
FAILED_CHECKS=0

# note_reason TEXT: one line for the scoreboard, if the section fails.
note_reason() {
    printf '%s\n' "$*" >>"$REASONS"
}

# heading TITLE: one topic of the section.
heading() {
    printf '\n%s== %s ==%s\n' "$bold" "$1" "$plain"
}

# say TEXT: a line of explanation for the student.
say() {
    printf '%s\n' "$*"
}

# start_demo NAME [ARGS...]: start build/NAME -p 0 ARGS; wait for its
# "listening on" line. Sets DEMO_PID, DEMO_PORT, DEMO_OUT.
start_demo() {
    local name=$1
    shift
    DEMO_OUT="$work/$name.${#STARTED_PIDS[@]}.out"
    "$LAB_BUILD/$name" -p 0 "$@" >"$DEMO_OUT" 2>&1 &
    DEMO_PID=$!
    STARTED_PIDS+=("$DEMO_PID")
    if ! wait_for_line "$DEMO_OUT" '^listening on ' 10; then
        say "$name did not start"
        note_reason "$name did not start (no 'listening on' line in 10 s)"
        return 1
    fi
    DEMO_PORT=$(sed -n '1s/.*:\([0-9]*\)$/\1/p' "$DEMO_OUT")
}

# start_background COMMAND...: run a client in the background, remembered
# for cleanup. Sets BACKGROUND_PID.
start_background() {
    "$@" &
    BACKGROUND_PID=$!
    STARTED_PIDS+=("$BACKGROUND_PID")
}

# wait_for_demo_exit SECONDS: wait for the demo to end; one that is still
# running then is killed (status 137). Sets DEMO_STATUS.
wait_for_demo_exit() {
    wait_until_gone "$DEMO_PID" "$1" || kill -s KILL "$DEMO_PID" 2>/dev/null
    DEMO_STATUS=0
    wait "$DEMO_PID" 2>/dev/null || DEMO_STATUS=$?
}

# stop_demo [SIGNAL]: send SIGINT (the student's Ctrl-C) and wait for the
# demo to exit. Sets DEMO_STATUS.
stop_demo() {
    kill -s "${1:-INT}" "$DEMO_PID" 2>/dev/null
    wait_for_demo_exit 10
}

# show_transcript [FILE]: the demo's narration, indented (default DEMO_OUT).
show_transcript() {
    local file=${1:-$DEMO_OUT}
    printf '%s--- what the demo said ---%s\n' "$dim" "$plain"
    sed 's/^/  | /' "$file"
    printf '%s--------------------------%s\n' "$dim" "$plain"
}

# check DESCRIPTION COMMAND...: run the check, print ok/FAILED beside it.
check() {
    local description=$1
    shift
    if "$@"; then
        printf '  %scheck: %s: ok%s\n' "$green" "$description" "$plain"
    else
        printf '  %scheck: %s: FAILED%s\n' "$red" "$description" "$plain"
        FAILED_CHECKS=$((FAILED_CHECKS + 1))
        note_reason "check failed: $description"
    fi
}

stop_started() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid" 3
    done
    STARTED_PIDS=()
}

# run_scenario_process FILE DIR: the scenario's own process. DIR is its
# scratch folder, also its TMPDIR; DIR.reasons collects why it failed.
run_scenario_process() {
    local file=$1
    work=$2
    REASONS="$2.reasons"
    export TMPDIR=$2
    set_colours "${LAB3_COLOUR:-0}"
    trap stop_started EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    # shellcheck source=/dev/null
    source "$file"
    local status=0
    run_scenario || status=$?
    if ((FAILED_CHECKS == 0 && status != 0)); then
        note_reason "the scenario stopped early (status $status)"
    fi
    ((FAILED_CHECKS == 0 && status == 0))
}

if [[ ${1:-} == --run-scenario ]]; then
    run_scenario_process "$2" "$3"
    exit
fi

# ---- The sections ----------------------------------------------------------
# In the order of the course notes. For each: the demo (its scenario is
# scripts/scenarios/NN-NAME.sh, its program build/NAME), the title, the
# notes' point (a line that starts with a space continues the one above),
# the page to read, and what to notice once the transcript has run.

sections_table() {
    cat <<'TABLE'
name    mini_http
title   HTTP recap (http协议)
point   An HTTP response is a response line, headers, a blank line and a body
        (响应行, 响应头, 空行, 响应体). The server reads the browser's request,
        shows it, and sends a page back.
page    docs/mini_http.md
notice  The blank line ends the headers; what follows is the body, as long as
        Content-Length says.

name    blocking_echo
title   Blocking I/O (阻塞IO)
point   Blocking is the default (默认的IO形态): accept() and recv() sleep until
        something arrives. Simple, but slow (效率低): one client at a time.
page    docs/blocking_echo.md
notice  The second client's line waited in the kernel until the first client
        left: the server was asleep in recv() for the first one.

name    nonblock_timeout
title   Non-blocking I/O and timeouts (非阻塞IO, 超时检测)
point   setblocking(False) makes a call answer EAGAIN at once instead of
        sleeping, so the program can do other work; settimeout() keeps the
        sleep but bounds it (超时检测).
page    docs/nonblock_timeout.md
notice  EAGAIN is not an error: it means "nothing yet, ask again". A timeout
        is the same answer after a bounded wait, on the server and the client.

name    select_server
title   I/O multiplexing with select (IO多路复用)
point   select(rlist, wlist, xlist[, timeout]) watches many descriptors at once
        and hands back the ready ones (同时监控多个IO), so one loop serves
        every client.
page    docs/select_server.md
notice  One wakeup can report several ready clients; and an fd_set ends at
        descriptor 1023 (FD_SETSIZE), so later clients are refused.

name    poll_server
title   poll: the five steps (poll_server步骤)
point   poll() takes a list of (fd, events), the notes' register(fd,
        POLLIN|POLLERR), and answers [(fileno, event)]; a lookup table (查找字典)
        takes each fileno back to its client.
page    docs/poll_server.md
notice  The pollfd array holds descriptor numbers, not bits: no FD_SETSIZE.
        A client whose echo piles up loses POLLIN until it reads.

name    epoll_server
title   epoll (效率更高, 监控更多)
point   epoll is used like poll, but the kernel keeps the watched list, so each
        wait hands back only the ready descriptors: faster, and for more of
        them, than select and poll.
page    docs/epoll_server.md
notice  Thousands of idle clients were connected, yet each wakeup named only
        the descriptor that was ready: the cost follows the ready ones.

name    epoll_et_demo
title   Level vs edge triggering (水平触发, 边缘触发)
point   Level-triggered epoll reminds you until the data is handled;
        edge-triggered (EPOLLET) reminds you once, then only when a new event
        comes.
page    docs/epoll_et_demo.md
notice  In et mode the unread bytes stayed, with no reminder; et-drain reads
        until EAGAIN on every wakeup, so nothing is left behind.

name    struct_pack_demo
title   struct: a record as bytes (struct模块)
point   struct.pack('i5sf', 1, b'zhang', 1.75) turns values into bytes of a
        fixed layout (结构化打包), and unpack turns the bytes back into values.
page    docs/struct_pack_demo.md
notice  The format is the contract, and both sides must use the same one.
        Native '@' follows the C compiler's padding; '!' fixes the sizes and
        the byte order (network order), which is what belongs on the wire.

name    unix_server
title   Local sockets (本地套接字)
point   A Unix domain socket, socket(AF_UNIX, SOCK_STREAM), joins two programs
        on one machine through a path: bind(path), listen, then send/recv as
        with TCP.
page    docs/unix_server.md
notice  The address is a file: it appears at bind() and goes when the server
        ends; no port and no network.
TABLE
}

declare -A title=() point=() page=() notice=()
section_names=()
read_sections() {
    local line key value name='' last=''
    while IFS= read -r line; do
        if [[ -z $line ]]; then
            continue
        elif [[ $line == ' '* ]]; then # a continuation of $last
            value=${line#"${line%%[! ]*}"}
            case $last in
            point) point[$name]+=$'\n'"$value" ;;
            notice) notice[$name]+=$'\n'"$value" ;;
            esac
            continue
        fi
        key=${line%% *}
        value=${line#"$key"}
        value=${value#"${value%%[! ]*}"}
        case $key in
        name) name=$value section_names+=("$name") ;;
        title) title[$name]=$value ;;
        point) point[$name]=$value ;;
        page) page[$name]=$value ;;
        notice) notice[$name]=$value ;;
        esac
        last=$key
    done < <(sections_table)
}

# ---- The runner ------------------------------------------------------------

usage() {
    cat <<EOF
usage: scripts/lab3.sh [--pause] [--only NAME...]   (or: make lab3 [ONLY="NAME..."])
       scripts/lab3.sh --list | --help

Walks Lab 3 in the order of the course notes. Each section starts its demo,
drives it with scripted clients, shows what the demo said, and checks that
the lesson happened. A scoreboard ends the run.

  --list          list the sections in order, and whether each can run here
  --only NAME...  run only these sections (names as --list shows them; commas
                  work too); make lab3 ONLY="poll_server epoll_server" passes
                  them on. Names given without --only mean the same.
  --pause         wait for Enter before each section after the first
  -h, --help      this help

Every section has a deadline, LAB3_DEADLINE seconds (default 60); one that
overruns is stopped with everything it started and scored FAIL. A section
whose demo is not built, or has no scenario yet, is skipped. Colour on a
terminal; plain text in a pipe or with NO_COLOR=1.

Exit status: 0 every section that ran passed, 1 one failed or none ran,
2 bad usage, 130 stopped by Ctrl-C.
EOF
}

usage_error() {
    printf 'lab3.sh: %s\n' "$1" >&2
    usage >&2
    exit 2
}

if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 501)); then
    echo "lab3.sh: needs bash 5.1 or newer (for wait -n -p); this is $BASH_VERSION" >&2
    exit 1
fi
read_sections
scenario_dir=${LAB3_SCENARIO_DIR:-$root/scripts/scenarios}
deadline=${LAB3_DEADLINE:-60}
if [[ ! $deadline =~ ^[0-9]+$ ]] || ((deadline == 0)); then
    usage_error "LAB3_DEADLINE must be a whole number of seconds above 0, not '$deadline'"
fi

# A scenario file that is not in the table still runs, after the others.
for file in "$scenario_dir"/+([0-9])-*.sh; do
    [[ -e $file ]] || continue
    base=$(basename "$file" .sh)
    name=${base#*-}
    if [[ ! -v "title[$name]" ]]; then
        section_names+=("$name")
        title[$name]="$name (not in lab3.sh's table of sections)"
    fi
done

list=0 pause=0 chosen=()
while (($# > 0)); do
    case $1 in
    -h | --help) usage; exit 0 ;;
    --list) list=1 ;;
    --pause) pause=1 ;;
    --only)
        shift
        if (($# == 0)) || [[ $1 == -* ]]; then
            usage_error "--only needs at least one section name"
        fi
        while (($# > 0)) && [[ $1 != -* ]]; do
            chosen+=("$1")
            shift
        done
        continue
        ;;
    --only=*) chosen+=("${1#--only=}") ;;
    -*) usage_error "unknown option '$1'" ;;
    *) chosen+=("$1") ;;
    esac
    shift
done

# The chosen sections, checked, then run in the order of the notes.
declare -A wanted=()
for item in "${chosen[@]}"; do
    IFS=', ' read -r -a names <<<"$item"
    for name in "${names[@]}"; do
        if [[ ! -v "title[$name]" ]]; then
            printf "lab3.sh: no section '%s'; the sections are: %s\n" \
                "$name" "${section_names[*]}" >&2
            exit 2
        fi
        wanted[$name]=1
    done
done
selected=()
for name in "${section_names[@]}"; do
    if ((${#wanted[@]} == 0)) || [[ -v "wanted[$name]" ]]; then
        selected+=("$name")
    fi
done

# shown NAME: a path as the student would type it, from the project's folder.
shown() {
    printf '%s' "${1#"$root"/}"
}

# find_section NAME: SCENARIO (its file) and SKIP (why it cannot run, or '').
find_section() {
    local name=$1 files
    files=("$scenario_dir"/+([0-9])-"$name".sh)
    SCENARIO=${files[0]}
    SKIP=''
    if [[ ! -e $SCENARIO ]]; then
        SKIP="no scenario yet ($(shown "$scenario_dir")/NN-$name.sh)"
    elif [[ ! -x $LAB_BUILD/$name ]]; then
        SKIP="not built ($(shown "$LAB_BUILD")/$name is missing; run make)"
    fi
}

colour=0
[[ -t 1 && -z ${NO_COLOR:-} && ${TERM:-} != dumb ]] && colour=1
set_colours "$colour"

if ((list)); then
    printf '%sThe sections of make lab3, in the order of the course notes%s\n' "$bold" "$plain"
    for name in "${selected[@]}"; do
        find_section "$name"
        if [[ -z $SKIP ]]; then
            printf '  %-17s %sready%s  %s%s\n' "$name" "$green" "$plain" "${title[$name]}" \
                "${page[$name]:+ - ${page[$name]}}"
        else
            printf '  %-17s %sskip%s   %s: %s\n' "$name" "$dim" "$plain" "${title[$name]}" "$SKIP"
        fi
    done
    exit 0
fi

# now_tenths: the time in tenths of a second (EPOCHREALTIME's radix follows
# the locale, so keep the digits only).
now_tenths() {
    local micro=${EPOCHREALTIME//[!0-9]/}
    echo $((micro / 100000))
}

tenths() {
    printf '%d.%d' $(($1 / 10)) $(($1 % 10))
}

# session_members SID: the PIDs of the live processes in session SID (a
# zombie has ended already; it only waits to be reaped).
session_members() {
    local stat line rest state session
    for stat in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$stat" || continue
        rest=${line##*) } # the name in (...) may hold spaces
        read -r state _ _ session _ <<<"$rest"
        if [[ $session == "$1" && $state != Z ]]; then
            line=${stat#/proc/}
            echo "${line%/stat}"
        fi
    done
}

# describe_pid PID: its command line, as the student would type it.
describe_pid() {
    local words state
    mapfile -t -d '' words 2>/dev/null <"/proc/$1/cmdline"
    state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null)
    local text="${words[*]}"
    text=${text//"$root"\//}
    [[ $state == T ]] && text+=" (stopped by a signal)"
    printf '%s' "$text"
}

# waited_for LEADER: the command the scenario was waiting for when its
# deadline passed: the newest child of the scenario's shell (or of one of
# its subshells, which share its command line). A child of such a child,
# as timeout(1) starts, is not it; its parent is.
waited_for() {
    local leader=$1 pid line fields start shell_command
    local -A shell=() parent=() start_of=()
    shell_command=$(describe_pid "$leader")
    for pid in $(session_members "$leader"); do
        { read -r line <"/proc/$pid/stat"; } 2>/dev/null || continue
        read -r -a fields <<<"${line##*) }" # the fields after the name
        parent[$pid]=${fields[1]} start_of[$pid]=${fields[19]}
        [[ $(describe_pid "$pid") == "$shell_command" ]] && shell[$pid]=1
    done
    local newest='' newest_start=-1
    for pid in "${!parent[@]}"; do
        [[ -v "shell[$pid]" || ! -v "shell[${parent[$pid]}]" ]] && continue
        start=${start_of[$pid]}
        # Clock ticks are coarse: of two started in the same tick, the
        # higher PID is the newer (PIDs wrap, but rarely within one tick).
        if ((start > newest_start || (start == newest_start && pid > newest))); then
            newest=$pid newest_start=$start
        fi
    done
    [[ -n $newest ]] && describe_pid "$newest"
}

# stop_session SID: stop every process in session SID by its PID: SIGTERM
# (and SIGCONT, for one frozen with SIGSTOP), 5 seconds to end, then
# SIGKILL. New processes may appear while the scenario cleans up; each
# round finds them too.
stop_session() {
    local sid=$1 pids round_end signal=TERM
    local give_up=$((SECONDS + 15))
    while mapfile -t pids < <(session_members "$sid"); ((${#pids[@]} > 0)); do
        kill -s "$signal" "${pids[@]}" 2>/dev/null
        kill -s CONT "${pids[@]}" 2>/dev/null
        round_end=$((SECONDS + 5))
        while [[ -n $(session_members "$sid") ]] && ((SECONDS < round_end)); do
            sleep 0.1
        done
        signal=KILL
        if ((SECONDS >= give_up)); then
            printf '%slab3.sh: could not stop: %s%s\n' "$red" "${pids[*]}" "$plain" >&2
            return 1
        fi
    done
}

# run_section NAME FILE: run one scenario to its end, its deadline or
# Ctrl-C; sets VERDICT and REASON.
leader='' timer=''
run_section() {
    local name=$1 file=$2 dir="$work/$1" status=0 finished='' waiting left
    mkdir "$dir"
    LAB3_COLOUR=$colour setsid "$BASH" "$root/scripts/lab3.sh" --run-scenario "$file" "$dir" \
        </dev/null &
    leader=$!
    sleep "$deadline" &
    timer=$!
    while ((!interrupted)); do
        status=0
        # Either ends, or a trapped signal (Ctrl-C) cuts the wait short,
        # and then -p leaves $finished unset.
        wait -n -p finished "$leader" "$timer" || status=$?
        finished=${finished:-}
        [[ -n $finished ]] || ((interrupted)) && break
    done
    if [[ $finished == "$leader" ]]; then
        kill "$timer" 2>/dev/null
        wait "$timer" 2>/dev/null
        timer=''
        left=$(session_members "$leader")
        if [[ -n $left ]]; then
            local count
            count=$(wc -w <<<"$left")
            if ((count == 1)); then count+=" process"; else count+=" processes"; fi
            say "${yellow}lab3.sh: the scenario left $count running; stopping them${plain}"
            stop_session "$leader"
        fi
        leader=''
        if ((status == 0)); then
            VERDICT=PASS REASON=''
        else
            VERDICT=FAIL REASON="the scenario ended with status $status"
            local reasons=()
            [[ -f $dir.reasons ]] && mapfile -t reasons <"$dir.reasons"
            if ((${#reasons[@]} > 0)); then
                REASON=${reasons[0]}
                ((${#reasons[@]} > 1)) && REASON+=" (and $((${#reasons[@]} - 1)) more)"
            fi
        fi
        return
    fi
    if [[ $finished == "$timer" ]]; then
        timer=''
        waiting=$(waited_for "$leader")
        VERDICT=FAIL
        REASON="deadline: still running after $deadline s${waiting:+, in: $waiting}; stopped"
        say ""
        say "${red}lab3.sh: $name passed its deadline of $deadline s. Stopping what it started:${plain}"
        local pid
        for pid in $(session_members "$leader"); do
            say "${red}  pid $pid: $(describe_pid "$pid")${plain}"
        done
    else
        kill "$timer" 2>/dev/null
        wait "$timer" 2>/dev/null
        timer=''
        VERDICT=STOPPED REASON="Ctrl-C"
        say ""
        say "${yellow}lab3.sh: Ctrl-C: stopping $name and everything it started${plain}"
    fi
    stop_session "$leader"
    wait "$leader" 2>/dev/null
    leader=''
}

# pause_before NAME: for a classroom, wait for Enter (or the end of input).
# read is asked again every half second, so that Ctrl-C is seen at once.
pause_before() {
    printf '\n%sPress Enter for %s (Ctrl-C to stop)...%s' "$bold" "$1" "$plain"
    local status
    while :; do
        status=0
        read -r -t 0.5 _ || status=$?
        ((interrupted)) && break
        ((status > 128)) || break
    done
    echo
}

interrupted=0
on_interrupt() {
    interrupted=1
}
cleanup() {
    [[ -n $timer ]] && kill "$timer" 2>/dev/null
    [[ -n $leader ]] && stop_session "$leader"
    rm -rf "$work"
}
trap on_interrupt INT TERM HUP PIPE
trap cleanup EXIT
work=$(mktemp -d "${TMPDIR:-/tmp}/lab3.XXXXXX") || exit 1

printf '%sLab 3: I/O models and local IPC%s (programs from %s; deadline %s s a section)\n' \
    "$bold" "$plain" "$(shown "$LAB_BUILD")" "$deadline"
count=${#selected[@]}
number=0 ran=0 passed=0 failed=0 skipped=0 stopped_in=''
results=()
walk_started=$(now_tenths)
for name in "${selected[@]}"; do
    ((interrupted)) && { stopped_in=$name; break; }
    number=$((number + 1))
    step="[$number/$count]"
    find_section "$name"
    if [[ -n $SKIP ]]; then
        printf '\n%s%s %s: SKIP, %s%s\n' "$dim" "$step" "$name" "$SKIP" "$plain"
        results+=("$name|SKIP|-|$SKIP")
        skipped=$((skipped + 1))
        continue
    fi
    if ((pause && ran > 0)); then
        pause_before "$step $name"
        ((interrupted)) && { stopped_in=$name; break; }
    fi
    ran=$((ran + 1))
    printf '\n%s%s\n %s  %s\n%s%s\n' "$bold" "=============================================================" \
        "$step" "${title[$name]}" "=============================================================" "$plain"
    [[ -n ${point[$name]:-} ]] && printf '%s\n' "${point[$name]}" | sed 's/^/  /'
    [[ -n ${page[$name]:-} ]] && printf '  Read more: %s\n' "${page[$name]}"
    started=$(now_tenths)
    run_section "$name" "$SCENARIO"
    took=$(tenths $(($(now_tenths) - started)))
    if [[ $VERDICT == PASS && -n ${notice[$name]:-} ]]; then
        printf '\n%sWhat to notice:%s\n' "$bold" "$plain"
        printf '%s\n' "${notice[$name]}" | sed 's/^/  /'
    fi
    results+=("$name|$VERDICT|$took|$REASON")
    case $VERDICT in
    PASS) passed=$((passed + 1)) colour_now=$green ;;
    FAIL) failed=$((failed + 1)) colour_now=$red ;;
    *) colour_now=$yellow ;;
    esac
    printf '%s%s %s: %s in %s s%s%s\n' "$colour_now" "$step" "$name" "$VERDICT" "$took" \
        "${REASON:+ - $REASON}" "$plain"
    ((interrupted)) && { stopped_in=$name; break; }
done

printf '\n%sScoreboard%s\n' "$bold" "$plain"
printf '  %-18s %-8s %7s  %s\n' section result seconds reason
for row in "${results[@]}"; do
    IFS='|' read -r name verdict seconds reason <<<"$row"
    case $verdict in
    PASS) colour_now=$green ;;
    FAIL) colour_now=$red ;;
    SKIP) colour_now=$dim ;;
    *) colour_now=$yellow ;;
    esac
    row=$(printf '  %-18s %s%-8s%s %7s  %s' "$name" "$colour_now" "$verdict" "$plain" "$seconds" "$reason")
    printf '%s\n' "${row%"${row##*[! ]}"}"
done
total=$(tenths $(($(now_tenths) - walk_started)))
summary="lab3: $passed passed, $failed failed, $skipped skipped in $total s"
if [[ -n $stopped_in ]]; then
    echo "$summary; stopped by Ctrl-C at $stopped_in"
    exit 130
fi
if ((passed == 0 && failed == 0)); then
    echo "$summary; nothing ran"
    exit 1
fi
echo "$summary"
((failed == 0))
