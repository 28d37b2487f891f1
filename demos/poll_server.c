/*
 * poll_server.c - one thread serves many echo clients with poll().
 *
 * Shows:   I/O multiplexing (IO多路复用) with poll(), the C call under
 *          Python's select.poll(): p.register(fd, POLLIN | POLLERR),
 *          p.unregister(fd), p.poll() -> [(fileno, event), ...]. Unlike
 *          select() there is no FD_SETSIZE: the array of struct pollfd holds
 *          any descriptor and grows with the clients. Each client is
 *          registered for POLLIN (POLLOUT too, only while echo waits to be
 *          sent); POLLERR and POLLHUP come back whether asked for or not.
 *          Like select(), every call hands the kernel the whole array and
 *          we scan it all for the few ready entries: O(n) per wakeup.
 *
 * Usage:   poll_server [-H ADDR] [-p PORT] [-q] [-v]
 *
 * Try:     build/poll_server -v
 *          then in two more terminals:  build/tcp_client -p 9004
 *
 * Observe: both clients are echoed at once, by one thread. With -v every
 *          wakeup prints the ready entries and their decoded events, e.g.
 *          "ppoll() -> 2 ready: fd 3 POLLIN, fd 5 POLLIN|POLLHUP".
 *
 * The five steps of a poll server in the course notes (poll_server步骤)
 * are marked in main(): 1 创建套接字 create the socket, 2 注册 register it,
 * 3 查找字典 keep the lookup table, 4 循环监控 loop on poll(), 5 处理
 * handle each event. select_server.c and epoll_server.c have the same
 * shape; `diff` any two to see what the multiplexing changes.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"

#define DEFAULT_PORT 9004
/* Connections the kernel completes and queues before we accept() them (it
 * caps this at net.core.somaxconn). Large, so a burst of clients waits in
 * the queue instead of having its SYNs dropped and retried a second later. */
#define BACKLOG 1024
/* One recv() reads at most this much, into the one buffer all clients share. */
#define READ_BUFFER_SIZE (16 * 1024)
/* At most this much echo waits per client for the client to read it. When
 * it is full we stop reading from that client; we read again once it has
 * drained to half, so a slow reader does not flip us on and off per send. */
#define PENDING_LIMIT (64 * 1024)
#define PENDING_RESUME_LEVEL (PENDING_LIMIT / 2)
/* accept() at most this many per wakeup, so a crowd of newcomers cannot
 * starve the clients already connected. The rest wait for the next round. */
#define ACCEPTS_PER_WAKEUP 64
/* How long we stop watching the listening socket when accept() runs out of
 * descriptors or memory (see pause_accepting). */
#define ACCEPT_PAUSE_MS 100

static const char usage_text[] =
    "usage: poll_server [-H ADDR] [-p PORT] [-q] [-v]\n"
    "  -H ADDR   address to listen on (default 127.0.0.1)\n"
    "  -p PORT   port to listen on (default 9004; 0 = any free port)\n"
    "  -q        quiet: only the listening line, errors and the summary\n"
    "  -v        verbose: also every wakeup with its decoded events, and byte counts\n"
    "  -h        this help\n";

/* One connected client. An idle client costs this struct, its slot in the
 * table and its struct pollfd: the output buffer exists only while echo is
 * waiting to go. */
struct client {
    int fd;
    char *pending;           /* echo not yet sent back (malloc'd), or NULL */
    size_t pending_length;   /* bytes stored in pending */
    size_t pending_offset;   /* of which this many are already sent */
    size_t pending_capacity; /* bytes allocated for pending */
    bool input_closed;       /* recv() returned 0: send the rest, then close */
    bool reading_paused;     /* output buffer full: not watched for reading */
    unsigned long long echoed; /* bytes sent back to it so far */
    size_t slot;             /* its entry in server->watched */
};

struct server {
    int listening_fd;
    /* 3 查找字典 - the lookup table, the notes' {fileno: obj} dictionary in
     * C: clients_by_fd[fd] is the client on descriptor fd, or NULL. It is
     * the one per-descriptor table of this program and grows on demand with
     * the highest descriptor in use (never sized by the descriptor limit,
     * which some hosts set to a billion). */
    struct client **clients_by_fd;
    size_t table_size;
    /* 2 注册 - what poll() watches: one struct pollfd per descriptor, the
     * listening socket in slot 0, then the clients in no order. Growing on
     * demand like the table; poll() gets the whole array every call. */
    struct pollfd *watched;
    size_t watched_count;
    size_t watched_capacity;
    size_t client_count;
    bool accepting_paused;       /* out of descriptors: listener not watched */
    long long accept_resume_ms;  /* when to watch it again (CLOCK_MONOTONIC) */
    bool shortage_reported;      /* accept() failed and we said so: once */
    unsigned long clients_served;
    unsigned long long bytes_echoed;
    char read_buffer[READ_BUFFER_SIZE]; /* every recv() lands here first */
};

static long long monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static size_t unsent_bytes(const struct client *client)
{
    return client->pending_length - client->pending_offset;
}

/* ---- What poll() reported, for -v ------------------------------------------ */

/* "POLLIN|POLLHUP": the bits of an events or revents mask, by name. */
static const char *describe_events(short events, char *text, size_t size)
{
    static const struct named_bit names[] = {
        { POLLIN, "POLLIN" },   { POLLPRI, "POLLPRI" }, { POLLOUT, "POLLOUT" },
        { POLLERR, "POLLERR" }, { POLLHUP, "POLLHUP" }, { POLLNVAL, "POLLNVAL" },
        { POLLRDHUP, "POLLRDHUP" },
    };
    return describe_mask((unsigned short)events, names, sizeof names / sizeof names[0], text, size);
}

/* "ppoll() -> 2 ready: fd 3 POLLIN, fd 5 POLLIN|POLLHUP", printed in pieces
 * so a line naming a thousand descriptors needs no buffer of its own. */
static void narrate_wakeup(const struct server *server, int ready)
{
    if (narration_level < NARRATE_VERBOSE)
        return;
    if (ready == 0) {
        printf("ppoll() -> 0 ready: the timeout expired (time to try accept() again)\n");
        return;
    }
    printf("ppoll() -> %d ready:", ready);
    const char *separator = " ";
    for (size_t slot = 0; slot < server->watched_count; slot++) {
        const struct pollfd *entry = &server->watched[slot];
        if (entry->revents == 0)
            continue;
        char text[96];
        printf("%sfd %d %s", separator, entry->fd,
               describe_events(entry->revents, text, sizeof text));
        separator = ", ";
    }
    putchar('\n');
}

/* ---- 3 查找字典: the table from descriptor to client ------------------------ */

/* Make clients_by_fd long enough to hold fd; false (errno set) if memory
 * runs out. Doubling keeps the number of reallocations small. */
static bool make_room_in_table(struct server *server, int fd)
{
    size_t needed = (size_t)fd + 1;
    if (needed <= server->table_size)
        return true;
    size_t new_size = server->table_size > 0 ? server->table_size : 64;
    while (new_size < needed)
        new_size *= 2;
    struct client **grown = reallocarray(server->clients_by_fd, new_size, sizeof *grown);
    if (grown == NULL)
        return false;
    memset(grown + server->table_size, 0, (new_size - server->table_size) * sizeof *grown);
    server->clients_by_fd = grown;
    server->table_size = new_size;
    return true;
}

/* The same for the pollfd array: room for one more entry. */
static bool make_room_in_watched(struct server *server)
{
    if (server->watched_count < server->watched_capacity)
        return true;
    size_t new_capacity = server->watched_capacity > 0 ? server->watched_capacity * 2 : 64;
    struct pollfd *grown = reallocarray(server->watched, new_capacity, sizeof *grown);
    if (grown == NULL)
        return false;
    server->watched = grown;
    server->watched_capacity = new_capacity;
    return true;
}

/* ---- Clients coming and going ---------------------------------------------- */

/* A new client on fd, watched for reading; NULL (errno set) without memory. */
static struct client *add_client(struct server *server, int fd)
{
    if (!make_room_in_table(server, fd) || !make_room_in_watched(server))
        return NULL;
    struct client *client = calloc(1, sizeof *client);
    if (client == NULL)
        return NULL;
    client->fd = fd;
    /* p.register(fd, POLLIN | POLLERR | POLLHUP). revents 0: it was not
     * part of the poll() whose results are being handled. */
    client->slot = server->watched_count++;
    server->watched[client->slot] = (struct pollfd){
        .fd = fd, .events = POLLIN | POLLERR | POLLHUP, .revents = 0 };
    server->clients_by_fd[fd] = client;
    server->client_count++;
    server->clients_served++;
    return client;
}

/* The caller has said why, in one line; this only lets go. p.unregister(fd):
 * the last entry moves into the freed slot, so the array stays dense. */
static void close_client(struct server *server, struct client *client)
{
    size_t last = --server->watched_count;
    if (client->slot != last) {
        server->watched[client->slot] = server->watched[last];
        server->clients_by_fd[server->watched[last].fd]->slot = client->slot;
    }
    server->clients_by_fd[client->fd] = NULL;
    server->client_count--;
    close(client->fd);
    free(client->pending);
    free(client);
}

/* Keep echo the client could not take yet. The caller never lets
 * unsent_bytes() pass PENDING_LIMIT. false (errno ENOMEM) without memory. */
static bool keep_pending(struct client *client, const char *data, size_t length)
{
    size_t unsent = unsent_bytes(client);
    if (client->pending_offset > 0 && client->pending_length + length > client->pending_capacity) {
        memmove(client->pending, client->pending + client->pending_offset, unsent);
        client->pending_offset = 0;
        client->pending_length = unsent;
    }
    size_t needed = client->pending_length + length;
    if (needed > client->pending_capacity) {
        size_t new_capacity = client->pending_capacity > 0 ? client->pending_capacity : 4096;
        while (new_capacity < needed)
            new_capacity *= 2;
        if (new_capacity > PENDING_LIMIT)
            new_capacity = PENDING_LIMIT;
        char *grown = realloc(client->pending, new_capacity);
        if (grown == NULL)
            return false;
        client->pending = grown;
        client->pending_capacity = new_capacity;
    }
    memcpy(client->pending + client->pending_length, data, length);
    client->pending_length += length;
    return true;
}

static void forget_pending(struct client *client)
{
    free(client->pending);
    client->pending = NULL;
    client->pending_length = client->pending_offset = client->pending_capacity = 0;
}

/* ---- What each client is watched for --------------------------------------- */

/* Stop reading from a client whose output buffer is full; read again once
 * it has drained to half. Without this, a client that sends and never
 * reads would make us buffer without end. */
static void decide_reading_pause(struct client *client)
{
    if (client->input_closed)
        return;
    size_t unsent = unsent_bytes(client);
    if (!client->reading_paused && unsent >= PENDING_LIMIT) {
        client->reading_paused = true;
        narrate("fd %d: %zu bytes of echo wait for it to read; no more reading from it "
                "until it does (POLLIN off)", client->fd, unsent);
    } else if (client->reading_paused && unsent <= PENDING_RESUME_LEVEL) {
        client->reading_paused = false;
        narrate("fd %d: its echo drained to %zu bytes; reading from it again", client->fd, unsent);
    }
}

static bool wants_input(const struct client *client)
{
    return !client->input_closed && !client->reading_paused;
}

/* The client's pollfd entry asks for POLLIN while it may send us more and
 * POLLOUT only while echo waits: asking for POLLOUT all the time would wake
 * us on every call, since a socket is nearly always writable. POLLERR and
 * POLLHUP are reported whether asked for or not; they are written here as
 * in the notes' p.register(fd, POLLIN | POLLERR). Returns false if the
 * client had to be closed (never, for poll; epoll_server can fail here). */
static bool update_interest(struct server *server, struct client *client)
{
    decide_reading_pause(client);
    short events = POLLERR | POLLHUP;
    if (wants_input(client))
        events |= POLLIN;
    if (unsent_bytes(client) > 0)
        events |= POLLOUT;
    server->watched[client->slot].events = events;
    return true;
}

/* ---- The listening socket ---------------------------------------------------- */

/* accept() failed for want of descriptors (EMFILE: this process is at its
 * limit; ENFILE: the whole system is) or kernel memory. The connections stay
 * queued, so the listening socket stays readable and watching it would wake
 * us at once, again and again: a busy loop. So we stop watching it for
 * ACCEPT_PAUSE_MS (the wait gets a timeout), then try again; meanwhile the
 * queued clients simply wait, and are served as soon as a client leaves.
 * The other known cure - keep a spare descriptor, and on EMFILE close it,
 * accept, close that client at once and reopen the spare - turns the
 * waiting clients away instead of letting them wait; we prefer waiting.
 * Logged once per shortage - from the first failure until the queue is
 * empty again - not once per try. */
static void pause_accepting(struct server *server)
{
    if (!server->shortage_reported) {
        warn_errno("accept() failed; trying again every %d ms until a descriptor is free",
                   ACCEPT_PAUSE_MS);
        server->shortage_reported = true;
    } else {
        narrate_detail("accept() failed again (%s); pausing another %d ms",
                       errno_name(errno), ACCEPT_PAUSE_MS);
    }
    server->accepting_paused = true;
    server->accept_resume_ms = monotonic_ms() + ACCEPT_PAUSE_MS;
    server->watched[0].events = 0; /* still in the array, asking for nothing */
}

static void resume_accepting_if_due(struct server *server)
{
    if (!server->accepting_paused || monotonic_ms() < server->accept_resume_ms)
        return;
    server->accepting_paused = false;
    server->watched[0].events = POLLIN;
    narrate_detail("fd %d: asking for POLLIN again, to try accept() again", server->listening_fd);
}

/* How long the wait may sleep: for ever (-1), unless accepting is paused. */
static int wait_timeout_ms(const struct server *server)
{
    if (!server->accepting_paused)
        return -1;
    long long left = server->accept_resume_ms - monotonic_ms();
    return left > 0 ? (int)left : 0;
}

/* Take the new connections the kernel has queued, until it has no more
 * (EAGAIN: the listening socket is non-blocking) or this round's share. */
static void accept_new_clients(struct server *server)
{
    for (int accepted = 0; accepted < ACCEPTS_PER_WAKEUP; accepted++) {
        struct sockaddr_storage peer;
        socklen_t peer_length = sizeof peer;
        int fd = accept4(server->listening_fd, (struct sockaddr *)&peer, &peer_length,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (server->shortage_reported) {
                    narrate("accept() -> EAGAIN: every waiting client is in; "
                            "the descriptor shortage is over");
                    server->shortage_reported = false;
                }
                return; /* the queue is empty */
            }
            if (errno == EINTR) {
                if (stop_requested)
                    return;
                continue;
            }
            if (errno == ECONNABORTED || errno == EPROTO) {
                /* The client gave up while queued: nothing to serve. */
                narrate_detail("accept() -> %s: that client left before we took it",
                               errno_name(errno));
                continue;
            }
            pause_accepting(server); /* EMFILE, ENFILE, ENOBUFS, ENOMEM... */
            return;
        }
        char peer_text[ADDRESS_TEXT_SIZE];
        format_address((struct sockaddr *)&peer, peer_length, peer_text, sizeof peer_text);
        struct client *client = add_client(server, fd);
        if (client == NULL) {
            warn_errno("accept() -> fd %d from %s: cannot keep track of it; close(fd %d)",
                       fd, peer_text, fd);
            close(fd);
            continue;
        }
        narrate("accept() -> fd %d from %s (%zu connected)", fd, peer_text, server->client_count);
    }
}

/* ---- Echo: read, send what the client takes now, keep the rest --------------- */

/* Returns false if the client is gone (closed here). */
static bool read_from_client(struct server *server, struct client *client)
{
    size_t unsent = unsent_bytes(client);
    size_t room = PENDING_LIMIT - unsent;
    if (room == 0)
        return true; /* cannot happen: a full client is not watched for reading */
    size_t wanted = room < READ_BUFFER_SIZE ? room : READ_BUFFER_SIZE;
    ssize_t received = recv(client->fd, server->read_buffer, wanted, 0);
    if (received < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return true; /* nothing after all; the next wakeup will tell */
        warn_errno("recv(fd %d) failed; close(fd %d) after %llu bytes echoed",
                   client->fd, client->fd, client->echoed);
        close_client(server, client);
        return false;
    }
    if (received == 0) {
        if (unsent == 0) {
            narrate("recv(fd %d) -> 0: the client closed; close(fd %d) after %llu bytes echoed",
                    client->fd, client->fd, client->echoed);
            close_client(server, client);
            return false;
        }
        narrate_detail("recv(fd %d) -> 0: the client closed its side; %zu bytes still to send",
                       client->fd, unsent);
        client->input_closed = true;
        return update_interest(server, client);
    }
    narrate_detail("recv(fd %d) -> %zd bytes", client->fd, received);

    /* Echo at once what the socket takes, so the common case needs no copy
     * and no wait for writability. Earlier echo still waiting must go
     * first, so then everything joins the queue. */
    size_t sent = 0;
    if (unsent == 0) {
        ssize_t written = send(client->fd, server->read_buffer, (size_t)received, MSG_NOSIGNAL);
        if (written < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                warn_errno("send(fd %d) failed; close(fd %d) after %llu bytes echoed",
                           client->fd, client->fd, client->echoed);
                close_client(server, client);
                return false;
            }
            written = 0;
        }
        sent = (size_t)written;
        client->echoed += sent;
        server->bytes_echoed += sent;
        narrate_detail("send(fd %d) -> %zu of %zd bytes", client->fd, sent, received);
    }
    if (sent < (size_t)received) {
        if (!keep_pending(client, server->read_buffer + sent, (size_t)received - sent)) {
            warn_errno("fd %d: no memory to keep its echo; close(fd %d) after %llu bytes echoed",
                       client->fd, client->fd, client->echoed);
            close_client(server, client);
            return false;
        }
        narrate_detail("fd %d: %zu bytes wait in its output buffer (POLLOUT on)",
                       client->fd, unsent_bytes(client));
    }
    return update_interest(server, client);
}

/* The client can take more: send what waits. false if it is gone. */
static bool write_to_client(struct server *server, struct client *client)
{
    size_t unsent = unsent_bytes(client);
    ssize_t written = send(client->fd, client->pending + client->pending_offset, unsent,
                           MSG_NOSIGNAL);
    if (written < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return true;
        warn_errno("send(fd %d) failed; close(fd %d) after %llu bytes echoed",
                   client->fd, client->fd, client->echoed);
        close_client(server, client);
        return false;
    }
    client->pending_offset += (size_t)written;
    client->echoed += (size_t)written;
    server->bytes_echoed += (size_t)written;
    narrate_detail("send(fd %d) -> %zd of %zu waiting bytes", client->fd, written, unsent);
    if (unsent_bytes(client) == 0) {
        forget_pending(client); /* an idle client holds no buffer */
        if (client->input_closed) {
            narrate("fd %d: all echoed after the client closed its side; "
                    "close(fd %d) after %llu bytes echoed", client->fd, client->fd,
                    client->echoed);
            close_client(server, client);
            return false;
        }
    }
    return update_interest(server, client);
}

/* What poll() said about one client. POLLHUP and POLLERR need no code of
 * their own: the recv() or send() they lead to returns the EOF or the
 * error (ECONNRESET...), which closes the client. Returns false if the
 * client is gone. */
static bool handle_client_events(struct server *server, struct client *client, short revents)
{
    if (revents & POLLNVAL) { /* not an open descriptor: a bug, said loudly */
        announce("fd %d: POLLNVAL; dropping it", client->fd);
        close_client(server, client);
        return false;
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && wants_input(client)
        && !read_from_client(server, client))
        return false;
    if ((revents & (POLLOUT | POLLHUP | POLLERR)) && unsent_bytes(client) > 0)
        return write_to_client(server, client);
    return true;
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
    sigset_t wait_mask; /* SIGINT and SIGTERM get in only during ppoll() */
    block_stop_signals(&wait_mask);

    /* All the server's state, the shared read buffer included, lives here
     * in main and is passed down: no global variables. */
    struct server server = { .listening_fd = -1 };

    /* 1 创建套接字 - create the listening socket. Non-blocking, so an
     * accept() after a client gave up returns EAGAIN instead of hanging. */
    server.listening_fd = listen_on(host, port, BACKLOG);
    if (set_nonblocking(server.listening_fd) < 0)
        fatal("fcntl O_NONBLOCK on the listening socket");
    announce_listening(server.listening_fd);
    narrate("fd %d is the listening socket, non-blocking (1 创建套接字: create the socket)",
            server.listening_fd);
    raise_descriptor_limit();

    /* 2 注册 - register the listening socket: slot 0 of the array. */
    if (!make_room_in_watched(&server))
        fatal("allocating the pollfd array");
    server.watched[0] = (struct pollfd){ .fd = server.listening_fd, .events = POLLIN };
    server.watched_count = 1;
    narrate("fd %d registered for POLLIN in the pollfd array (2 注册: register)",
            server.listening_fd);

    /* 4 循环监控 - loop on the wait. EINTR policy: SIGINT and SIGTERM are
     * blocked except inside ppoll() - poll() with a signal mask - so they
     * interrupt the wait (EINTR, no SA_RESTART) and never slip in between
     * the check of stop_requested and the wait, where a plain poll() would
     * sleep on. We go round; the loop condition decides. */
    while (!stop_requested) {
        resume_accepting_if_due(&server);

        int timeout_ms = wait_timeout_ms(&server);
        struct timespec timeout = { .tv_sec = timeout_ms / 1000,
                                    .tv_nsec = (timeout_ms % 1000) * 1000000L };
        int ready = ppoll(server.watched, server.watched_count,
                          timeout_ms < 0 ? NULL : &timeout, &wait_mask);
        if (ready < 0) {
            if (errno == EINTR)
                continue; /* a signal: the loop condition decides */
            fatal("ppoll"); /* only with bad arguments: a bug, not a client */
        }
        narrate_wakeup(&server, ready);

        /* 5 处理 - handle each ready entry. poll() only marks them (revents):
         * finding them means walking the array, O(n), stopping once all
         * `ready` are found. New clients join the end with revents 0 and
         * wait for the next round. */
        int left = ready;
        if (server.watched[0].revents != 0) {
            left--;
            if (server.watched[0].revents & POLLIN)
                accept_new_clients(&server);
        }
        for (size_t slot = 1; slot < server.watched_count && left > 0;) {
            struct pollfd *entry = &server.watched[slot];
            if (entry->revents == 0) {
                slot++;
                continue;
            }
            left--;
            short revents = entry->revents;
            /* 3 查找字典 - the lookup table: fileno -> client. */
            struct client *client = server.clients_by_fd[entry->fd];
            if (handle_client_events(&server, client, revents))
                slot++;
            /* else the last entry moved into this slot: look at it next */
        }
    }

    /* SIGINT or SIGTERM: every client closed, everything freed. */
    if (server.client_count > 0)
        narrate("stopping: close() on the %zu clients still connected", server.client_count);
    for (size_t fd = 0; fd < server.table_size; fd++) {
        if (server.clients_by_fd[fd] != NULL)
            close_client(&server, server.clients_by_fd[fd]);
    }
    free(server.clients_by_fd);
    free(server.watched);
    close(server.listening_fd);
    announce("summary: clients=%lu bytes=%llu", server.clients_served, server.bytes_echoed);
    return 0;
}
