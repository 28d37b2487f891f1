#!/usr/bin/env bats
# fuzz: every seed and regression input of every fuzz target, replayed
# through the same functions the demos call (tests/fuzz/replay.c), on this
# build: with the sanitizers in make test SANITIZE=1. make fuzz explores
# further with libFuzzer; what it finds ends up in these folders.

load helper

replay_corpus() {
    local name=$1
    [ -d "$BATS_TEST_DIRNAME/fuzz/${name}_corpus" ]
    run "$(bin "fuzz/${name}_replay")" "$BATS_TEST_DIRNAME/fuzz/${name}_corpus"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output =~ replayed\ ([0-9]+)\ inputs ]]
    ((BASH_REMATCH[1] > 0))
    ! grep -qE 'Sanitizer|runtime error:' <<<"$output"
}

@test "fuzz: struct_format corpus replays cleanly through struct_pack_demo's parser" {
    replay_corpus struct_format
}

@test "fuzz: every fuzz target has a corpus and a replay binary" {
    local target name count=0
    for target in "$BATS_TEST_DIRNAME"/fuzz/*_fuzz.c; do
        name=$(basename "$target" _fuzz.c)
        [ -d "$BATS_TEST_DIRNAME/fuzz/${name}_corpus" ]
        [ -x "$(bin "fuzz/${name}_replay")" ]
        count=$((count + 1))
    done
    ((count > 0))
}

@test "fuzz: http_request corpus replays cleanly through mini_http's parser, resolver and escaping" {
    replay_corpus http_request
}
