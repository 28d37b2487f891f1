/*
 * epoll_server.c - one thread serves many echo clients with epoll.
 *
 * Shows:   I/O multiplexing (IO多路复用) with epoll, under Python's select.epoll():
 *          register/modify/unregister -> epoll_ctl(ADD/MOD/DEL), poll() ->
 *          epoll_wait(). The kernel keeps the interest list (a wait is O(ready))
 *          and hands back our data.ptr ({fileno: obj}); level-triggered (水平触发).
 *
 * Usage:   epoll_server [-H ADDR] [-p PORT] [-q] [-v]
 * Try:     build/epoll_server -v      then, twice:  build/tcp_client -p 9005
 * Observe: both clients are echoed at once, by one thread; -v prints every
 *          wakeup, e.g. "epoll_wait() -> 1 ready: fd 6 EPOLLIN|EPOLLRDHUP".
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "echo.h"
#include "lab.h"

#define DEFAULT_PORT 9005
#define MAX_EVENTS 256 /* per epoll_wait(); the rest come next time (level-triggered) */

static const char usage_text[] =
    "usage: epoll_server [-H ADDR] [-p PORT] [-q] [-v]\n"
    "  -H ADDR   address to listen on (default 127.0.0.1)\n"
    "  -p PORT   port to listen on (default 9005; 0 = any free port)\n"
    "  -q        quiet: only the listening line, errors and the summary\n"
    "  -v        verbose: also every wakeup with its decoded events, and byte counts\n"
    "  -h        this help\n";

static const struct echo_words epoll_words = { "EPOLLIN off", "EPOLLOUT on" };

struct client {
    struct echo_connection echo; /* its descriptor, pending echo, counters */
    uint32_t watched_events;     /* what epoll is asked to report for it now */
};

struct server {
    struct listener listener;
    int stop_fd; /* the signalfd: readable once SIGINT or SIGTERM came */
    /* 3 查找字典 - the notes' {fileno: obj} dictionary: clients_by_fd[fd] is
     * the client on fd, or NULL. The program's one per-descriptor table; it
     * grows with the highest descriptor in use. */
    struct client **clients_by_fd;
    size_t table_size;
    /* 2 注册 - the interest list lives in the kernel, behind this fd. */
    int epoll_fd;
    size_t client_count;
    unsigned long clients_served;
    struct echo_shared echo; /* the read buffer and the byte total */
};

/* ---- What the wait reported, for -v ---------------------------------------- */

static const char *describe_events(uint32_t events, char *text, size_t size)
{
    static const struct named_bit names[] = {
        { EPOLLIN, "EPOLLIN" },   { EPOLLPRI, "EPOLLPRI" }, { EPOLLOUT, "EPOLLOUT" },
        { EPOLLERR, "EPOLLERR" }, { EPOLLHUP, "EPOLLHUP" }, { EPOLLRDHUP, "EPOLLRDHUP" },
    };
    return describe_mask(events, names, sizeof names / sizeof names[0], text, size);
}

/* "epoll_wait() -> 1 ready: fd 6 EPOLLIN|EPOLLRDHUP": only the ready ones. */
static void narrate_wakeup(const struct epoll_event *events, int ready)
{
    if (narration_level < NARRATE_VERBOSE)
        return;
    printf("epoll_wait() -> %d ready:%s", ready,
           ready == 0 ? " the timeout expired (time to try accept() again)" : "");
    const char *separator = " ";
    for (int i = 0; i < ready; i++) {
        /* Each owner starts with its fd: listener.fd, stop_fd, echo.fd. */
        char text[96];
        printf("%sfd %d %s", separator, *(const int *)events[i].data.ptr,
               describe_events(events[i].events, text, sizeof text));
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
    struct client *client = calloc(1, sizeof *client);
    if (client == NULL)
        return NULL;
    echo_start(&client->echo, fd, &epoll_words);
    /* ep.register(fd, EPOLLIN | EPOLLRDHUP), with the client as the event's
     * data: whatever epoll_wait() reports for fd brings the client along. */
    client->watched_events = EPOLLIN | EPOLLRDHUP;
    struct epoll_event event = { .events = client->watched_events, .data.ptr = client };
    if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0) {
        free(client);
        return NULL;
    }
    server->clients_by_fd[fd] = client;
    server->client_count++;
    server->clients_served++;
    return client;
}

/* The one place a client is let go. ep.unregister: epoll_ctl(EPOLL_CTL_DEL). */
static void close_client(struct server *server, struct client *client)
{
    epoll_ctl(server->epoll_fd, EPOLL_CTL_DEL, client->echo.fd, NULL);
    server->clients_by_fd[client->echo.fd] = NULL;
    server->client_count--;
    close(client->echo.fd);
    echo_release(&client->echo);
    free(client);
}

/* Reading while the client may send more and has room; writing only while
 * echo waits. Errors and hang-ups come anyway. The kernel keeps the
 * interest, so EPOLL_CTL_MOD (a system call) only when it changes. */
static enum echo_verdict update_interest(struct server *server, struct client *client)
{
    uint32_t events = 0;
    if (echo_wants_read(&client->echo))
        events |= EPOLLIN | EPOLLRDHUP;
    if (echo_wants_write(&client->echo))
        events |= EPOLLOUT;
    if (events == client->watched_events)
        return ECHO_KEEP;
    struct epoll_event event = { .events = events, .data.ptr = client };
    if (epoll_ctl(server->epoll_fd, EPOLL_CTL_MOD, client->echo.fd, &event) < 0) {
        warn_errno("epoll_ctl(EPOLL_CTL_MOD) failed; close(fd %d)", client->echo.fd);
        return ECHO_CLOSE;
    }
    client->watched_events = events;
    char text[96];
    narrate_detail("epoll_ctl(EPOLL_CTL_MOD, fd %d, %s)", client->echo.fd,
                   describe_events(events, text, sizeof text));
    return ECHO_KEEP;
}

/* ---- The listening socket ---------------------------------------------------- */

static void watch_listener(struct server *server, uint32_t events)
{
    struct epoll_event event = { .events = events, .data.ptr = &server->listener };
    if (epoll_ctl(server->epoll_fd, EPOLL_CTL_MOD, server->listener.fd, &event) < 0)
        fatal("epoll_ctl(EPOLL_CTL_MOD) on the listening socket");
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
static enum echo_verdict handle_client_events(struct client *client, uint32_t events,
                                              struct echo_shared *shared)
{
    enum echo_verdict verdict = ECHO_KEEP;
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && echo_wants_read(&client->echo))
        verdict = echo_on_readable(&client->echo, shared);
    if (verdict == ECHO_KEEP && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
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

    /* 2 注册 - register the listening socket and the signalfd; their data.ptr
     * tells them apart from the clients. */
    server.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event listening = { .events = EPOLLIN, .data.ptr = &server.listener };
    struct epoll_event stopping = { .events = EPOLLIN, .data.ptr = &server.stop_fd };
    if (server.epoll_fd < 0
        || epoll_ctl(server.epoll_fd, EPOLL_CTL_ADD, server.listener.fd, &listening) < 0
        || epoll_ctl(server.epoll_fd, EPOLL_CTL_ADD, server.stop_fd, &stopping) < 0)
        fatal("epoll_create1 / epoll_ctl(EPOLL_CTL_ADD)");
    narrate("epoll_create1() -> fd %d; epoll_ctl(EPOLL_CTL_ADD, fd %d and fd %d, EPOLLIN) "
            "(2 注册: register)", server.epoll_fd, server.listener.fd, server.stop_fd);

    /* 4 循环监控 - loop on the wait. EINTR policy: the stop signals are
     * blocked (they arrive through the signalfd), but epoll_wait() is not
     * restarted after SIGSTOP/SIGCONT (signal(7)): then we wait again. */
    struct epoll_event events[MAX_EVENTS];
    while (!stop_requested) {
        if (listener_resume_if_due(&server.listener)) {
            watch_listener(&server, EPOLLIN);
            narrate_detail("epoll_ctl(EPOLL_CTL_MOD, fd %d, EPOLLIN): accept() again",
                           server.listener.fd);
        }
        int ready = epoll_wait(server.epoll_fd, events, MAX_EVENTS,
                               listener_timeout_ms(&server.listener));
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            fatal("epoll_wait"); /* only with bad arguments: a bug, not a client */
        }
        narrate_wakeup(events, ready);

        /* 5 处理 - handle what is ready; a stop ends the round: however busy
         * the clients keep us, a Ctrl-C is taken in the round it arrives.
         * Only the ready ones came back, each with its owner: no search.
         * New clients have no event in this batch, for the next round. */
        for (int i = 0; i < ready && !stop_requested; i++) {
            void *owner = events[i].data.ptr;
            if (owner == &server.stop_fd)
                take_stop_signal(server.stop_fd); /* sets stop_requested */
            else if (owner == &server.listener)
                accept_new_clients(&server);
            /* 3 查找字典 - the lookup is done: data.ptr is the client. */
            else if (handle_client_events(owner, events[i].events, &server.echo) == ECHO_CLOSE
                     || update_interest(&server, owner) == ECHO_CLOSE)
                close_client(&server, owner);
        }
    }

    /* SIGINT or SIGTERM: every client closed, everything freed. */
    if (server.client_count > 0)
        narrate("stopping: close() on the %zu clients still connected", server.client_count);
    for (size_t fd = 0; fd < server.table_size; fd++)
        if (server.clients_by_fd[fd] != NULL)
            close_client(&server, server.clients_by_fd[fd]);
    free(server.clients_by_fd);
    close(server.epoll_fd);
    close(server.stop_fd);
    close(server.listener.fd);
    announce("summary: clients=%lu bytes=%llu", server.clients_served, server.echo.bytes_echoed);
    return 0;
}
