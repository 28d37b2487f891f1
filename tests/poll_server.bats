#!/usr/bin/env bats
# poll_server: poll() over a growing pollfd array, the five steps of the
# course notes' poll server; 10,000 idle clients held. The shared test bodies
# are in echo_servers.bash.

load helper
load echo_servers

@test "poll_server: -h prints the usage; bad options exit 2 with a reason" {
    check_usage_and_bad_options poll_server
}

@test "poll_server: 200 concurrent clients, random data in random chunks, echoed exactly" {
    check_concurrent_echo poll_server
}

@test "poll_server: a client sending 8 MiB and never reading stalls nobody; memory bounded" {
    check_flooding_client poll_server
}

@test "poll_server: 1,000 connect/close cycles, some with RST: every descriptor given back" {
    check_connect_close_cycles poll_server
}

@test "poll_server: SIGINT with a client connected: exit 0 and the summary" {
    check_sigint_summary poll_server
}

@test "poll_server: -q keeps only listening and summary; -v decodes the revents" {
    check_quiet_and_verbose poll_server '^poll\(\) -> 1 ready: fd [0-9]+ POLLIN$'
}

@test "poll_server: out of descriptors (EMFILE): logged once, no busy loop, serves again" {
    check_descriptor_shortage poll_server
}

@test "poll_server: a table filled exactly, then newcomers: still one shortage, said once" {
    check_shortage_with_empty_queue poll_server
}

@test "poll_server: holds 10,000 idle clients at <= 1 KiB each and still echoes" {
    check_many_idle_clients poll_server 10000
}

@test "poll_server: SIGINT under four streaming clients stops it within 2 s" {
    check_stop_under_load poll_server
}

@test "poll_server: SIGINT and SIGTERM stop it within 2 s while its echo is backed up" {
    check_stop_while_writing poll_server
}
