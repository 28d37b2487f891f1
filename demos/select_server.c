/*
 * select_server.c - one thread serves many echo clients with select().
 *
 * Shows:   I/O multiplexing (IO多路复用) with select(), under Python's
 *          select.select(rlist, wlist, xlist, timeout): one wait for every
 *          descriptor. On Linux xlist means TCP urgent data, not errors. No
 *          descriptor >= FD_SETSIZE (1024) fits the sets: such a client is
 *          refused. Each call hands over three bitmaps, then we scan: O(n).
 *
 * Usage:   select_server [-H ADDR] [-p PORT] [-q] [-v]
 * Try:     build/select_server -v      then, twice:  build/tcp_client -p 9003
 * Observe: both clients are echoed at once, by one thread; -v prints every
 *          wakeup, e.g. "select() -> 1 ready: read {5} write {} except {}".
 *          Ctrl-C arrives as one more ready descriptor: the signalfd.
 *
 * The five steps of a poll server in the notes (poll_server步骤) are marked:
 * 1 创建套接字 create the socket, 2 注册 register, 3 查找字典 the lookup table,
 * 4 循环监控 the loop, 5 处理 handle each event. The echo itself (bounded
 * output, backpressure, half-close) is in common/echo.c.
 * select_server.c, poll_server.c and epoll_server.c share one shape: diff two.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include "echo.h"
#include "lab.h"

#define DEFAULT_PORT 9003

static const char usage_text[] =
    "usage: select_server [-H ADDR] [-p PORT] [-q] [-v]\n"
    "  -H ADDR   address to listen on (default 127.0.0.1)\n"
    "  -p PORT   port to listen on (default 9003; 0 = any free port)\n"
    "  -q        quiet: only the listening line, errors and the summary\n"
    "  -v        verbose: also every wakeup with its ready sets, and byte counts\n"
    "  -h        this help\n";

static const struct echo_words select_words = { "left out of rlist", "watched for writing" };

struct client {
    struct echo_connection echo; /* its descriptor, pending echo, counters */
};

struct server {
    struct listener listener;
    int stop_fd; /* the signalfd: readable once SIGINT or SIGTERM came */
    /* 3 查找字典 - the notes' {fileno: obj} dictionary: clients_by_fd[fd] is
     * the client on fd, or NULL. The program's one per-descriptor table; it
     * grows with the highest descriptor in use, never past FD_SETSIZE. */
    struct client **clients_by_fd;
    size_t table_size;
    size_t client_count;
    unsigned long clients_served;
    struct echo_shared echo; /* the read buffer and the byte total */
};

/* ---- What the wait reported, for -v ---------------------------------------- */

static void print_fd_set(const char *name, const fd_set *set, int highest_fd)
{
    printf(" %s {", name);
    const char *separator = "";
    for (int fd = 0; fd <= highest_fd; fd++) {
        if (FD_ISSET(fd, set)) {
            printf("%s%d", separator, fd);
            separator = ", ";
        }
    }
    putchar('}');
}

/* "select() -> 2 ready: read {3, 5} write {} except {}", printed in pieces. */
static void narrate_wakeup(int ready, const fd_set *readable, const fd_set *writable,
                           const fd_set *urgent, int highest_fd)
{
    if (narration_level < NARRATE_VERBOSE)
        return;
    printf("select() -> %d ready:%s", ready,
           ready == 0 ? " the timeout expired (time to try accept() again)" : "");
    print_fd_set("read", readable, highest_fd);
    print_fd_set("write", writable, highest_fd);
    print_fd_set("except", urgent, highest_fd);
    putchar('\n');
}

/* ---- Clients coming and going ---------------------------------------------- */

/* A new client on fd, watched for reading; NULL (errno set) without memory. */
static struct client *add_client(struct server *server, int fd)
{
    struct client **table = grow_table(server->clients_by_fd, &server->table_size,
                                       (size_t)fd + 1, sizeof *table);
    if (table == NULL)
        return NULL;
    server->clients_by_fd = table;
    struct client *client = calloc(1, sizeof *client);
    if (client == NULL)
        return NULL;
    echo_start(&client->echo, fd, &select_words);
    server->clients_by_fd[fd] = client;
    server->client_count++;
    server->clients_served++;
    return client;
}

/* The one place a client is let go. Nothing to unregister: sets are rebuilt. */
static void close_client(struct server *server, struct client *client)
{
    server->clients_by_fd[client->echo.fd] = NULL;
    server->client_count--;
    close(client->echo.fd);
    echo_release(&client->echo);
    free(client);
}

/* 2 注册 - select() keeps nothing between calls: the three sets are refilled
 * before every call. rlist: the signalfd, the listener unless paused, every
 * client that may send more and has room; wlist: clients whose echo waits;
 * xlist: every client. O(highest fd), select()'s own cost, on our side too.
 * Returns the highest descriptor set. */
static int fill_sets(const struct server *server, fd_set *readable, fd_set *writable,
                     fd_set *urgent)
{
    FD_ZERO(readable);
    FD_ZERO(writable);
    FD_ZERO(urgent);
    FD_SET(server->stop_fd, readable);
    if (!server->listener.paused) /* out of descriptors: see echo.h */
        FD_SET(server->listener.fd, readable);
    int highest_fd = server->stop_fd > server->listener.fd ? server->stop_fd : server->listener.fd;
    for (size_t fd = 0; fd < server->table_size; fd++) {
        const struct client *client = server->clients_by_fd[fd];
        if (client == NULL)
            continue;
        if (echo_wants_read(&client->echo))
            FD_SET(client->echo.fd, readable);
        if (echo_wants_write(&client->echo))
            FD_SET(client->echo.fd, writable);
        FD_SET(client->echo.fd, urgent);
        highest_fd = client->echo.fd > highest_fd ? client->echo.fd : highest_fd;
    }
    return highest_fd;
}

/* ---- The listening socket ---------------------------------------------------- */

/* Take the connections the kernel has queued, up to this round's share. */
static void accept_new_clients(struct server *server)
{
    for (int accepted = 0; accepted < ACCEPTS_PER_WAKEUP; accepted++) {
        char peer_text[ADDRESS_TEXT_SIZE];
        int fd = listener_accept(&server->listener, peer_text, sizeof peer_text);
        if (fd < 0)
            return; /* none left, or paused: fill_sets() leaves it out */
        if (fd >= FD_SETSIZE) {
            /* FD_SET(fd) would write past the end of the fd_set: undefined
             * behaviour. The only safe answer is to turn this client away. */
            announce("accept() -> fd %d from %s: refused, select() cannot watch a descriptor "
                     ">= FD_SETSIZE (%d); close(fd %d)", fd, peer_text, FD_SETSIZE, fd);
            close(fd);
            continue;
        }
        if (add_client(server, fd) == NULL) {
            warn_errno("accept() -> fd %d from %s: cannot keep track of it; close(fd %d)",
                       fd, peer_text, fd);
            close(fd);
            continue;
        }
        narrate("accept() -> fd %d from %s (%zu connected)", fd, peer_text, server->client_count);
    }
}

/* What the wait said about one client. A hang-up or an error needs no code
 * of its own (it shows in rlist): the recv() or send() it leads to returns
 * the EOF or the error (ECONNRESET...), and the echo module says ECHO_CLOSE.
 * xlist is not about errors on Linux: it reports TCP urgent data, the one
 * byte a peer marks "out of band" with send(MSG_OOB). recv(MSG_OOB) takes
 * it, which also stops select() reporting it; it is not part of the echo. */
static enum echo_verdict handle_client_events(struct client *client, bool readable,
                                              bool writable, bool urgent,
                                              struct echo_shared *shared)
{
    unsigned char byte;
    if (urgent && recv(client->echo.fd, &byte, 1, MSG_OOB) == 1)
        narrate("fd %d is in xlist: TCP urgent data; recv(MSG_OOB) -> byte 0x%02x "
                "(out of band, not echoed)", client->echo.fd, byte);
    enum echo_verdict verdict = ECHO_KEEP;
    if (readable && echo_wants_read(&client->echo))
        verdict = echo_on_readable(&client->echo, shared);
    if (verdict == ECHO_KEEP && writable && echo_wants_write(&client->echo))
        verdict = echo_on_writable(&client->echo, shared);
    return verdict;
}

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1";
    int port = DEFAULT_PORT;

    static const struct option long_options[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
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

    /* All the server's state lives here in main and is passed down. */
    struct server server = { 0 };

    /* 1 创建套接字 - create the listening socket (non-blocking). */
    listener_start(&server.listener, listen_on(host, port, LISTEN_BACKLOG));
    announce_listening(server.listener.fd);
    narrate("fd %d is the listening socket, non-blocking (1 创建套接字: create the socket)",
            server.listener.fd);
    raise_descriptor_limit();
    narrate("select() can watch only descriptors below FD_SETSIZE = %d; "
            "clients beyond that are refused", FD_SETSIZE);
    server.stop_fd = open_stop_signal_fd();
    narrate("signalfd() -> fd %d: SIGINT and SIGTERM arrive there, as data", server.stop_fd);

    /* 2 注册 - register: select() has none; fill_sets() refills the three
     * sets before every call. */
    narrate("select() keeps no registrations (2 注册: register): rlist, wlist and xlist "
            "are refilled before every call");

    /* 4 循环监控 - loop on the wait. EINTR policy: the stop signals are
     * blocked (they arrive through the signalfd), and after SIGSTOP/SIGCONT
     * the kernel restarts select() itself (signal(7)): no EINTR to handle. */
    while (!stop_requested) {
        if (listener_resume_if_due(&server.listener))
            narrate_detail("fd %d: back in rlist, trying accept() again", server.listener.fd);
        fd_set readable, writable, urgent;
        int highest_fd = fill_sets(&server, &readable, &writable, &urgent);
        int timeout_ms = listener_timeout_ms(&server.listener);
        struct timeval timeout = { .tv_sec = timeout_ms / 1000,
                                   .tv_usec = (long)(timeout_ms % 1000) * 1000 };
        int ready = select(highest_fd + 1, &readable, &writable, &urgent,
                           timeout_ms < 0 ? NULL : &timeout);
        if (ready < 0)
            fatal("select"); /* only with bad arguments: a bug, not a client */
        narrate_wakeup(ready, &readable, &writable, &urgent, highest_fd);

        /* 5 处理 - handle what is ready; a stop ends the round: however busy
         * the clients keep us, a Ctrl-C is taken in the round it arrives.
         * select() only marks bits: finding them is a walk up to the highest.
         * New clients get descriptors that were free when select() was
         * called, so their bits are clear: they wait for the next round. */
        if (FD_ISSET(server.stop_fd, &readable)) {
            take_stop_signal(server.stop_fd);
            break;
        }
        if (FD_ISSET(server.listener.fd, &readable))
            accept_new_clients(&server);
        for (int fd = 0; fd <= highest_fd && (size_t)fd < server.table_size; fd++) {
            /* 3 查找字典 - the lookup table: fileno -> client. */
            struct client *client = server.clients_by_fd[fd];
            if (client != NULL
                && handle_client_events(client, FD_ISSET(fd, &readable), FD_ISSET(fd, &writable),
                                        FD_ISSET(fd, &urgent), &server.echo) == ECHO_CLOSE)
                close_client(&server, client);
        }
    }

    /* SIGINT or SIGTERM: every client closed, everything freed. */
    if (server.client_count > 0)
        narrate("stopping: close() on the %zu clients still connected", server.client_count);
    for (size_t fd = 0; fd < server.table_size; fd++)
        if (server.clients_by_fd[fd] != NULL)
            close_client(&server, server.clients_by_fd[fd]);
    free(server.clients_by_fd);
    close(server.stop_fd);
    close(server.listener.fd);
    announce("summary: clients=%lu bytes=%llu", server.clients_served, server.echo.bytes_echoed);
    return 0;
}
