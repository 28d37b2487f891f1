/*
 * poll_server.c - one thread serves many echo clients with poll().
 *
 * Shows:   I/O multiplexing (IO多路复用) with poll(), under Python's select.poll():
 *          p.register(fd, POLLIN | POLLERR), p.unregister(fd), p.poll(). No
 *          FD_SETSIZE: the pollfd array takes any descriptor. Like select(),
 *          each call hands over the whole array, then we scan it: O(n).
 *
 * Usage:   poll_server [-H ADDR] [-p PORT] [-q] [-v]
 * Try:     build/poll_server -v      then, twice:  build/tcp_client -p 9004
 * Observe: both clients are echoed at once, by one thread; -v prints every
 *          wakeup, e.g. "poll() -> 2 ready: fd 5 POLLIN, fd 6 POLLIN|POLLHUP".
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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echo.h"
#include "lab.h"

#define DEFAULT_PORT 9004
enum { LISTENER_SLOT, STOP_SLOT, FIRST_CLIENT_SLOT }; /* the pollfd array, in order */

static const char usage_text[] =
    "usage: poll_server [-H ADDR] [-p PORT] [-q] [-v]\n"
    "  -H ADDR   address to listen on (default 127.0.0.1)\n"
    "  -p PORT   port to listen on (default 9004; 0 = any free port)\n"
    "  -q        quiet: only the listening line, errors and the summary\n"
    "  -v        verbose: also every wakeup with its decoded events, and byte counts\n"
    "  -h        this help\n";

static const struct echo_words poll_words = { "POLLIN off", "POLLOUT on" };

struct client {
    struct echo_connection echo; /* its descriptor, pending echo, counters */
    size_t slot;                 /* its entry in server->watched */
};

struct server {
    struct listener listener;
    int stop_fd; /* the signalfd: readable once SIGINT or SIGTERM came */
    /* 3 查找字典 - the notes' {fileno: obj} dictionary: clients_by_fd[fd] is
     * the client on fd, or NULL. The program's one per-descriptor table; it
     * grows with the highest descriptor in use. */
    struct client **clients_by_fd;
    size_t table_size;
    /* 2 注册 - what poll() watches, handed over whole on every call. */
    struct pollfd *watched;
    size_t watched_count;
    size_t watched_capacity;
    size_t client_count;
    unsigned long clients_served;
    struct echo_shared echo; /* the read buffer and the byte total */
};

/* ---- What the wait reported, for -v ---------------------------------------- */

static const char *describe_events(short events, char *text, size_t size)
{
    static const struct named_bit names[] = {
        { POLLIN, "POLLIN" },   { POLLPRI, "POLLPRI" }, { POLLOUT, "POLLOUT" },
        { POLLERR, "POLLERR" }, { POLLHUP, "POLLHUP" }, { POLLNVAL, "POLLNVAL" },
        { POLLRDHUP, "POLLRDHUP" },
    };
    return describe_mask((unsigned short)events, names, sizeof names / sizeof names[0], text, size);
}

/* "poll() -> 2 ready: fd 5 POLLIN, fd 6 POLLIN|POLLHUP", printed in pieces. */
static void narrate_wakeup(const struct server *server, int ready)
{
    if (narration_level < NARRATE_VERBOSE)
        return;
    printf("poll() -> %d ready:%s", ready,
           ready == 0 ? " the timeout expired (time to try accept() again)" : "");
    const char *separator = " ";
    for (size_t slot = 0; slot < server->watched_count; slot++) {
        if (server->watched[slot].revents == 0)
            continue;
        char text[96];
        printf("%sfd %d %s", separator, server->watched[slot].fd,
               describe_events(server->watched[slot].revents, text, sizeof text));
        separator = ", ";
    }
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
    struct pollfd *watched = grow_table(server->watched, &server->watched_capacity,
                                        server->watched_count + 1, sizeof *watched);
    if (watched == NULL)
        return NULL;
    server->watched = watched;
    struct client *client = calloc(1, sizeof *client);
    if (client == NULL)
        return NULL;
    echo_start(&client->echo, fd, &poll_words);
    /* p.register(fd, POLLIN | POLLERR | POLLHUP), at the end of the array,
     * with revents 0: it was not part of the poll() being handled. */
    client->slot = server->watched_count++;
    watched[client->slot] = (struct pollfd){ .fd = fd, .events = POLLIN | POLLERR | POLLHUP };
    server->clients_by_fd[fd] = client;
    server->client_count++;
    server->clients_served++;
    return client;
}

/* The one place a client is let go. p.unregister: the last entry fills its slot. */
static void close_client(struct server *server, struct client *client)
{
    size_t last = --server->watched_count;
    if (client->slot != last) {
        server->watched[client->slot] = server->watched[last];
        server->clients_by_fd[server->watched[last].fd]->slot = client->slot;
    }
    server->clients_by_fd[client->echo.fd] = NULL;
    server->client_count--;
    close(client->echo.fd);
    echo_release(&client->echo);
    free(client);
}

/* Reading while the client may send more and has room; writing only while
 * echo waits. Errors and hang-ups come anyway (written out here as in the
 * notes' p.register(fd, POLLIN | POLLERR)). */
static enum echo_verdict update_interest(struct server *server, struct client *client)
{
    short events = POLLERR | POLLHUP;
    if (echo_wants_read(&client->echo))
        events |= POLLIN;
    if (echo_wants_write(&client->echo))
        events |= POLLOUT;
    server->watched[client->slot].events = events;
    return ECHO_KEEP;
}

/* ---- The listening socket ---------------------------------------------------- */

static void watch_listener(struct server *server, short events)
{
    server->watched[LISTENER_SLOT].events = events; /* 0 while accepting is paused */
}

/* Take the connections the kernel has queued, up to this round's share. */
static void accept_new_clients(struct server *server)
{
    for (int accepted = 0; accepted < ACCEPTS_PER_WAKEUP; accepted++) {
        char peer_text[ADDRESS_TEXT_SIZE];
        int fd = listener_accept(&server->listener, peer_text, sizeof peer_text);
        if (fd < 0) {
            if (server->listener.paused) /* out of descriptors: see echo.h */
                watch_listener(server, 0);
            return;
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
 * of its own: the recv() or send() it leads to returns the EOF or the error
 * (ECONNRESET...), and the echo module says ECHO_CLOSE. */
static enum echo_verdict handle_client_events(struct client *client, short events,
                                              struct echo_shared *shared)
{
    enum echo_verdict verdict = ECHO_KEEP;
    if ((events & (POLLIN | POLLHUP | POLLERR)) && echo_wants_read(&client->echo))
        verdict = echo_on_readable(&client->echo, shared);
    if (verdict == ECHO_KEEP && (events & (POLLOUT | POLLHUP | POLLERR))
        && echo_wants_write(&client->echo))
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
    server.stop_fd = open_stop_signal_fd();
    narrate("signalfd() -> fd %d: SIGINT and SIGTERM arrive there, as data", server.stop_fd);

    /* 2 注册 - register the listening socket and the signalfd. */
    server.watched = grow_table(NULL, &server.watched_capacity, FIRST_CLIENT_SLOT,
                                sizeof *server.watched);
    if (server.watched == NULL)
        fatal("allocating the pollfd array");
    server.watched[LISTENER_SLOT] = (struct pollfd){ .fd = server.listener.fd, .events = POLLIN };
    server.watched[STOP_SLOT] = (struct pollfd){ .fd = server.stop_fd, .events = POLLIN };
    server.watched_count = FIRST_CLIENT_SLOT;
    narrate("fd %d and fd %d registered for POLLIN in the pollfd array (2 注册: register)",
            server.listener.fd, server.stop_fd);

    /* 4 循环监控 - loop on the wait. EINTR policy: the stop signals are
     * blocked (they arrive through the signalfd), and after SIGSTOP/SIGCONT
     * the kernel restarts poll() itself (signal(7)): no EINTR to handle. */
    while (!stop_requested) {
        if (listener_resume_if_due(&server.listener)) {
            watch_listener(&server, POLLIN);
            narrate_detail("fd %d: POLLIN again, to try accept() again", server.listener.fd);
        }
        int ready = poll(server.watched, server.watched_count,
                         listener_timeout_ms(&server.listener));
        if (ready < 0)
            fatal("poll"); /* only with bad arguments: a bug, not a client */
        narrate_wakeup(&server, ready);

        /* 5 处理 - handle what is ready; a stop ends the round: however busy
         * the clients keep us, a Ctrl-C is taken in the round it arrives.
         * poll() only marks entries: finding them is a walk of the array.
         * New clients join the end with revents 0, for the next round. */
        if (server.watched[STOP_SLOT].revents & POLLIN) {
            take_stop_signal(server.stop_fd);
            break;
        }
        if (server.watched[LISTENER_SLOT].revents & POLLIN)
            accept_new_clients(&server);
        for (size_t slot = FIRST_CLIENT_SLOT; slot < server.watched_count; slot++) {
            struct pollfd *entry = &server.watched[slot];
            if (entry->revents == 0)
                continue;
            /* 3 查找字典 - the lookup table: fileno -> client. */
            struct client *client = server.clients_by_fd[entry->fd];
            if (handle_client_events(client, entry->revents, &server.echo) == ECHO_CLOSE
                || update_interest(&server, client) == ECHO_CLOSE) {
                close_client(&server, client);
                slot--; /* the last entry moved into this slot: look at it next */
            }
        }
    }

    /* SIGINT or SIGTERM: every client closed, everything freed. */
    if (server.client_count > 0)
        narrate("stopping: close() on the %zu clients still connected", server.client_count);
    for (size_t fd = 0; fd < server.table_size; fd++)
        if (server.clients_by_fd[fd] != NULL)
            close_client(&server, server.clients_by_fd[fd]);
    free(server.clients_by_fd);
    free(server.watched);
    close(server.stop_fd);
    close(server.listener.fd);
    announce("summary: clients=%lu bytes=%llu", server.clients_served, server.echo.bytes_echoed);
    return 0;
}
