#!/usr/bin/env bats
# epoll_server: level-triggered epoll with data.ptr pointing at each client;
# 10,000 idle clients held at no cost per wakeup. The shared test bodies
# are in echo_servers.bash.

load helper
load echo_servers

@test "epoll_server: -h prints the usage; bad options exit 2 with a reason" {
    check_usage_and_bad_options epoll_server
}

@test "epoll_server: 200 concurrent clients, random data in random chunks, echoed exactly" {
    check_concurrent_echo epoll_server
}

@test "epoll_server: a client sending 8 MiB and never reading stalls nobody; memory bounded" {
    check_flooding_client epoll_server
}

@test "epoll_server: 1,000 connect/close cycles, some with RST: every descriptor given back" {
    check_connect_close_cycles epoll_server
}

@test "epoll_server: SIGINT with a client connected: exit 0 and the summary" {
    check_sigint_summary epoll_server
}

@test "epoll_server: -q keeps only listening and summary; -v decodes the epoll events" {
    check_quiet_and_verbose epoll_server '^epoll_wait\(\) -> 1 ready: fd [0-9]+ EPOLLIN(\|EPOLLRDHUP)?$'
}

@test "epoll_server: out of descriptors (EMFILE): logged once, no busy loop, serves again" {
    check_descriptor_shortage epoll_server
}

@test "epoll_server: a table filled exactly, then newcomers: still one shortage, said once" {
    check_shortage_with_empty_queue epoll_server
}

@test "epoll_server: holds 10,000 idle clients at <= 1 KiB each and still echoes" {
    check_many_idle_clients epoll_server 10000
}

@test "epoll_server: SIGINT under four streaming clients stops it within 2 s" {
    check_stop_under_load epoll_server
}

@test "epoll_server: SIGINT and SIGTERM stop it within 2 s while its echo is backed up" {
    check_stop_while_writing epoll_server
}
