/*
 * blocking_echo.c - an iterative TCP echo server built on blocking calls.
 *
 * Shows:   blocking I/O (阻塞IO), the default. accept() and recv() put the
 *          whole program to sleep until something happens, so it serves one
 *          client at a time. While it sits in recv() for the first client, a
 *          second client's connect() still succeeds - the kernel finishes the
 *          handshake and queues the connection in the listen backlog - but
 *          nobody reads that client's data until the first one leaves.
 *
 * Usage:   blocking_echo [-H ADDR] [-p PORT] [-q] [-v]
 *
 * Try:     build/blocking_echo
 *          then in two more terminals:  build/tcp_client -p 9001
 *
 * Observe: type into both clients. Only the first gets its lines back; the
 *          second's come back all at once when the first presses Ctrl-D.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"

#define DEFAULT_PORT 9001
#define BACKLOG 16

static const char usage_text[] =
    "usage: blocking_echo [-H ADDR] [-p PORT] [-q] [-v]\n"
    "  -H ADDR   address to listen on (default 127.0.0.1)\n"
    "  -p PORT   port to listen on (default 9001; 0 = any free port)\n"
    "  -q        quiet: only the listening line, errors and the summary\n"
    "  -v        verbose: also every blocking call as it is entered\n"
    "  -h        this help\n";

/* Echo everything the client sends until it closes; returns bytes echoed. */
static unsigned long long echo_until_closed(int client_fd)
{
    char buffer[16384];
    unsigned long long echoed = 0;

    narrate("recv() - blocks until fd %d sends data or closes", client_fd);
    while (!stop_requested) {
        narrate_detail("recv(fd %d) - waiting", client_fd);
        ssize_t received = recv(client_fd, buffer, sizeof buffer, 0);
        if (received < 0) {
            if (errno == EINTR)
                continue; /* a signal: the loop condition decides */
            warn_errno("recv() on fd %d failed; closing it", client_fd);
            return echoed;
        }
        if (received == 0) {
            narrate("recv(fd %d) -> 0: the client closed its side", client_fd);
            return echoed;
        }
        narrate("recv(fd %d) -> %zd bytes; sending them back", client_fd, received);

        /* A blocking write may still be short (a signal, a full buffer):
         * write_all() loops until every byte is out, or a stop is asked.
         * Under a client that never reads, this is where Ctrl-C finds us. */
        if (write_all(client_fd, buffer, (size_t)received) < 0) {
            if (!stop_requested)
                warn_errno("write() to fd %d failed; closing it", client_fd);
            return echoed;
        }
        echoed += (unsigned long long)received;
    }
    return echoed;
}

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1";
    int port = DEFAULT_PORT;

    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int option;
    while ((option = getopt_long(argc, argv, "+:H:p:qvh", long_options, NULL)) != -1) {
        switch (option) {
        case 'H': host = parse_host_or_exit(optarg, usage_text); break;
        case 'p': port = parse_port_or_exit(optarg, usage_text); break;
        case 'q': narration_level = NARRATE_QUIET; break;
        case 'v': narration_level = NARRATE_VERBOSE; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: reject_option(option, argv, usage_text);
        }
    }
    if (optind < argc)
        usage_error(usage_text, "unexpected argument '%s'", argv[optind]);

    start_narration();
    install_signal_handlers();

    int listening_fd = listen_on(host, port, BACKLOG);
    announce_listening(listening_fd);
    narrate("fd %d is the listening socket (socket + bind + listen, backlog %d)",
            listening_fd, BACKLOG);

    unsigned long clients = 0;
    unsigned long long bytes = 0;
    bool shortage_said = false; /* out of descriptors: said once, not every try */
    while (!stop_requested) {
        if (!shortage_said)
            narrate("accept() - blocks until a client connects");
        struct sockaddr_storage peer;
        socklen_t peer_length = sizeof peer;
        int client_fd = accept4(listening_fd, (struct sockaddr *)&peer, &peer_length,
                                SOCK_CLOEXEC);
        if (client_fd < 0) {
            if (errno == EINTR)
                continue; /* a signal: the loop condition decides */
            if (!wait_out_accept_shortage(&shortage_said)) /* EMFILE...: sleep, try again */
                warn_errno("accept() failed");
            continue;
        }
        end_accept_shortage(&shortage_said);

        char peer_text[ADDRESS_TEXT_SIZE];
        narrate("accept() -> fd %d from %s", client_fd,
                format_address((struct sockaddr *)&peer, peer_length, peer_text,
                               sizeof peer_text));
        clients++;

        unsigned long long echoed = echo_until_closed(client_fd);
        bytes += echoed;
        close(client_fd);
        narrate("close(fd %d) after echoing %llu bytes; the next client can be served",
                client_fd, echoed);
    }

    close(listening_fd);
    announce("summary: clients=%lu bytes=%llu", clients, bytes);
    return 0;
}
