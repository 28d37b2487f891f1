#!/usr/bin/env bash
# Run the bats tests (all of tests/, or the files given) against $LAB_BUILD.
#
# Needs bats-core 1.5 or newer. Uses the one on PATH if it is new enough;
# otherwise installs a pinned copy into build/tools/ with npm (no root);
# otherwise says in one line how to install it.
set -euo pipefail

BATS_VERSION=1.11.1
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export LAB_BUILD="${LAB_BUILD:-$root/build}"

bats_is_recent() { # bats --version prints "Bats 1.8.2"
    local version major minor
    version=$("$1" --version 2>/dev/null | awk '{ print $2 }') || return 1
    major=${version%%.*}
    minor=${version#*.}
    minor=${minor%%.*}
    [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] || return 1
    ((major > 1 || (major == 1 && minor >= 5)))
}

find_bats() {
    local local_bats="$root/build/tools/bats-$BATS_VERSION/node_modules/bats/bin/bats"
    if command -v bats >/dev/null && bats_is_recent bats; then
        command -v bats
    elif [[ -x $local_bats ]]; then
        echo "$local_bats"
    elif command -v npm >/dev/null; then
        echo "run-tests: installing bats-core $BATS_VERSION into build/tools/ with npm" >&2
        npm install --silent --no-audit --no-fund --save-exact \
            --prefix "$root/build/tools/bats-$BATS_VERSION" "bats@$BATS_VERSION" >&2
        echo "$local_bats"
    else
        echo "run-tests: bats-core >= 1.5 is needed: sudo apt-get install bats" >&2
        return 1
    fi
}

bats=$(find_bats)
if (($# == 0)); then
    set -- tests/
fi

# Sanitizer builds: any report fails the program (and so its test).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=99}"

echo "run-tests: $("$bats" --version) on $LAB_BUILD"
# TAP output, counted at the end into one plain closing line.
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
"$bats" --formatter tap --timing "$@" | tee "$report" || status=$?
skipped=$(grep -cE '^ok .*# skip' "$report" || true)
passed=$(($(grep -cE '^ok ' "$report" || true) - skipped))
failed=$(grep -cE '^not ok ' "$report" || true)
echo "tests: $passed passed, $failed failed, $skipped skipped"
if ((failed > 0 || passed + skipped == 0)); then
    status=1
fi
exit "$status"
