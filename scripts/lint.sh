#!/usr/bin/env bash
# make lint: cppcheck and clang-tidy over every C file, shellcheck over
# every script. Zero findings, or it fails. Their settings live in the
# repository: .clang-tidy (which checks, and why some are off) and the
# cppcheck options below; a finding silenced in the code carries, beside
# it, the reason it is not a bug (cppcheck-suppress / NOLINT).
#
# Usage: scripts/lint.sh
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1

missing=()
for tool in cppcheck clang-tidy shellcheck; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
    echo "lint: missing ${missing[*]}; install with: sudo apt-get install cppcheck clang-tidy shellcheck" >&2
    exit 1
fi

mapfile -t sources < <(git ls-files '*.c' 2>/dev/null || find demos common tests bench -name '*.c')
failures=0

echo "lint: cppcheck on ${#sources[@]} files"
# missingIncludeSystem: cppcheck does not need the system headers' bodies.
if ! cppcheck -q --std=c11 --enable=warning,style,performance,portability --inline-suppr \
    --error-exitcode=1 --suppress=missingIncludeSystem -Icommon "${sources[@]}"; then
    failures=$((failures + 1))
fi

echo "lint: clang-tidy on ${#sources[@]} files"
# .clang-tidy makes every finding an error, so the exit status says it all;
# the "N warnings generated" chatter (from system headers) is dropped.
tidy_log=$(mktemp)
trap 'rm -f "$tidy_log"' EXIT
if ! clang-tidy -quiet "${sources[@]}" -- -std=c11 -Icommon >"$tidy_log" 2>&1; then
    failures=$((failures + 1))
fi
grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$tidy_log"

echo "lint: shellcheck"
if ! shellcheck -x scripts/*.sh scripts/scenarios/*.sh .ci/run ||
    ! shellcheck -x -s bash tests/*.bash ||
    ! shellcheck -s bats -e SC2154 tests/*.bats; then
    failures=$((failures + 1))
fi

if ((failures > 0)); then
    echo "lint: $failures tool(s) reported findings"
    exit 1
fi
echo "lint: clean"
