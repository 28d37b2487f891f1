/*
 * unix_flood.c - a test tool: the client that sends to unix_server and
 * never reads (echo_load flood, for a local socket).
 *
 * Usage:   unix_flood PATH BYTES
 *
 * Connects to PATH, sends up to BYTES without ever reading, and prints
 * "flood: sent all N bytes", or "flood: stalled after N bytes" once
 * nothing has gone out for 500 ms: the server's buffer for it is full and
 * it has stopped reading. Then it holds the connection, still not reading,
 * until SIGINT/SIGTERM. Exit 0; 1 if it cannot connect or send; 2 for a
 * bad command line.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lab.h"

#define STALL_MS 500

static const char usage_text[] = "usage: unix_flood PATH BYTES\n";

int main(int argc, char *argv[])
{
    long bytes;
    if (argc != 3 || parse_number(argv[2], 1, 1L << 40, &bytes) < 0)
        usage_error(usage_text, "expected a socket path and a byte count");
    struct sockaddr_un address;
    socklen_t length = unix_address_or_exit(argv[1], &address, usage_text);
    install_signal_handlers();
    start_narration();

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        fatal("socket");
    if (connect(fd, (struct sockaddr *)&address, length) < 0)
        fatal("connect to %s", argv[1]);

    static char chunk[65536];
    memset(chunk, 'f', sizeof chunk);
    long long sent = 0;
    while (sent < bytes && !stop_requested) {
        size_t wanted = bytes - sent < (long long)sizeof chunk ? (size_t)(bytes - sent)
                                                               : sizeof chunk;
        ssize_t count = send(fd, chunk, wanted, MSG_NOSIGNAL);
        if (count > 0) {
            sent += count;
            continue;
        }
        if (count < 0 && errno != EAGAIN && errno != EINTR)
            fatal("send after %lld bytes", sent);
        struct pollfd watched = { .fd = fd, .events = POLLOUT };
        int ready = poll(&watched, 1, STALL_MS);
        if (ready == 0)
            break; /* no progress for STALL_MS: stalled */
        if (ready < 0 && errno != EINTR)
            fatal("poll");
    }
    if (stop_requested)
        return 0;
    if (sent < bytes)
        printf("flood: stalled after %lld bytes\n", sent);
    else
        printf("flood: sent all %lld bytes\n", sent);

    while (!stop_requested)
        pause();
    close(fd);
    return 0;
}
