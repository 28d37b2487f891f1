#!/usr/bin/env bash
# make fuzz: run every libFuzzer target (built by make into build/fuzz/NAME)
# for SECONDS each, starting from its seed corpus tests/fuzz/NAME_corpus/.
# New inputs go to build/fuzz/NAME.corpus/ (never into the repository); a
# crash is written to build/fuzz/NAME.crash-* and fails the run. Fix the
# bug, then copy the crash file into tests/fuzz/NAME_corpus/ as a
# regression input: make test replays every file there.
#
# Usage: scripts/fuzz.sh SECONDS NAME...
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:?usage: fuzz.sh SECONDS NAME...}
shift
failures=0
for name in "$@"; do
    binary="$root/build/fuzz/$name"
    scratch="$root/build/fuzz/$name.corpus"
    mkdir -p "$scratch"
    echo "fuzz: $name for ${seconds}s"
    if "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$root/build/fuzz/$name." -print_final_stats=1 \
        "$scratch" "$root/tests/fuzz/${name}_corpus" >"$root/build/fuzz/$name.log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$root/build/fuzz/$name.log" |
            tail -n 2 | sed 's/^/  /'
    else
        echo "fuzz: $name FAILED; the end of build/fuzz/$name.log:"
        tail -n 30 "$root/build/fuzz/$name.log" | sed 's/^/  | /'
        failures=$((failures + 1))
    fi
done
((failures == 0)) || { echo "fuzz: $failures target(s) failed"; exit 1; }
echo "fuzz: every target ran clean"
