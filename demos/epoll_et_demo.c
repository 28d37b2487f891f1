/*
 * epoll_et_demo.c - level-triggered vs edge-triggered epoll, made visible.
 *
 * Shows:   the notes' two trigger modes. Level-triggered (水平触发, the
 *          default of select, poll and epoll) keeps reminding you while data
 *          waits unread. Edge-triggered (边缘触发, EPOLLET) reminds you once
 *          when data arrives; if you leave some unread it says nothing more
 *          until the next new event, and then you find the old bytes first.
 *
 *          Experiment mode (the default) needs no network: it writes BYTES
 *          into one end of a socketpair in one write, then waits with
 *          epoll_wait() on the other end and reads CHUNK bytes per wakeup.
 *          When nothing new comes for 200 ms, phase 1 ends with a summary
 *          line. Phase 2 writes 5 more bytes (a new event) and does the same.
 *            lt        one read per wakeup; epoll keeps waking it: all read
 *            et        one read per wakeup; one wakeup only: the rest is stuck
 *            et-drain  read until EAGAIN on every wakeup: the right way to
 *                      use edge-triggering
 *
 *          Server mode (--serve) is an echo server with the same reading
 *          rule, so a client can watch an edge-triggered server fall behind
 *          (and, in et, lose clients: it names each one). Ctrl-C reaches it
 *          through a signalfd, watched in the epoll set like a client.
 *
 * Usage:   epoll_et_demo [--mode lt|et|et-drain] [-n BYTES] [-c CHUNK] [-q] [-v]
 *          epoll_et_demo --serve [-H ADDR] [-p PORT] [--mode lt|et|et-drain]
 *                        [-c CHUNK] [-q] [-v]
 *
 * Try:     build/epoll_et_demo --mode lt
 *          build/epoll_et_demo --mode et
 *          build/epoll_et_demo --mode et-drain
 *          build/epoll_et_demo --serve --mode et -c 4
 *          then in another terminal:  build/tcp_client -p 9006
 *
 * Observe: lt wakes 5 times for 20 bytes read 4 at a time; et wakes once,
 *          reads "abcd" and leaves 16 bytes unread with no further wakeup.
 *          In phase 2 the 5 new bytes "12345" wake et once more, and the
 *          read returns "efgh": the oldest stuck bytes, not the new ones.
 *          In server mode, type "hello world" into tcp_client: the et server
 *          echoes "hell"; your next line makes it echo "o wo".
 */
#define _GNU_SOURCE

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo.h"
#include "lab.h"

#define DEFAULT_PORT 9006
#define DEFAULT_BYTES 20
#define DEFAULT_CHUNK 4
#define MAXIMUM_SIZE 65536        /* the largest BYTES and CHUNK accepted */
#define QUIET_PERIOD_MS 200       /* a phase ends after this long without a wakeup */
#define PHASE_TWO_TEXT "12345"    /* the new event of phase 2: unlike the letters */
#define PREVIEW_LIMIT 40          /* bytes of data shown in a narration line */

/* Server mode (the backlog, the per-client echo limit and the accept cap
 * come from common/echo.h) */
#define MAX_EVENTS 64
#define DRAIN_READS_PER_TURN 64   /* et-drain fairness cap, see drain_turn() */

static const char usage_text[] =
    "usage: epoll_et_demo [--mode lt|et|et-drain] [-n BYTES] [-c CHUNK] [-q] [-v]\n"
    "       epoll_et_demo --serve [-H ADDR] [-p PORT] [--mode lt|et|et-drain]\n"
    "                     [-c CHUNK] [-q] [-v]\n"
    "  --mode MODE  lt: level-triggered, one read of CHUNK per wakeup (default)\n"
    "               et: edge-triggered (EPOLLET), one read of CHUNK per wakeup\n"
    "               et-drain: edge-triggered, read CHUNK at a time until EAGAIN\n"
    "  -n BYTES     experiment: bytes written before the first wait (1..65536, default 20)\n"
    "  -c CHUNK     bytes asked for in each read() (1..65536, default 4)\n"
    "  --serve      be an echo server with the same reading rule instead\n"
    "  -H ADDR      server: address to listen on (default 127.0.0.1)\n"
    "  -p PORT      server: port to listen on (default 9006; 0 = any free port)\n"
    "  -q           quiet: only the summary lines (and a server's listening line, errors)\n"
    "  -v           verbose: also each wait as it starts and the kernel's queue length\n"
    "  -h           this help\n";

enum trigger_mode { MODE_LEVEL, MODE_EDGE, MODE_EDGE_DRAIN };

static const char *const mode_names[] = {
    [MODE_LEVEL] = "lt",
    [MODE_EDGE] = "et",
    [MODE_EDGE_DRAIN] = "et-drain",
};

/* ---- Narration helpers -------------------------------------------------- */

/* "EPOLLIN|EPOLLOUT" for an event mask, with any unnamed bits in hex. */
static const char *describe_events(uint32_t events, char *text, size_t text_size)
{
    static const struct named_bit names[] = {
        { EPOLLIN, "EPOLLIN" },     { EPOLLPRI, "EPOLLPRI" },     { EPOLLOUT, "EPOLLOUT" },
        { EPOLLERR, "EPOLLERR" },   { EPOLLHUP, "EPOLLHUP" },     { EPOLLRDHUP, "EPOLLRDHUP" },
        { EPOLLET, "EPOLLET" },
    };
    return describe_mask(events, names, sizeof names / sizeof names[0], text, text_size);
}

/* The data as a quoted string a student can read: printable bytes as they
 * are, the rest escaped, at most PREVIEW_LIMIT bytes then "...". */
static const char *quote_bytes(const char *data, size_t length, char *text, size_t text_size)
{
    size_t used = 0;
    text[used++] = '"';
    for (size_t i = 0; i < length && i < PREVIEW_LIMIT && used + 8 < text_size; i++) {
        unsigned char byte = (unsigned char)data[i];
        if (byte == '\n') {
            used += (size_t)snprintf(text + used, text_size - used, "\\n");
        } else if (byte == '"' || byte == '\\') {
            used += (size_t)snprintf(text + used, text_size - used, "\\%c", byte);
        } else if (isprint(byte)) {
            text[used++] = (char)byte;
        } else {
            used += (size_t)snprintf(text + used, text_size - used, "\\x%02x", byte);
        }
    }
    snprintf(text + used, text_size - used, "\"%s", length > PREVIEW_LIMIT ? "..." : "");
    return text;
}

#define QUOTED_SIZE (PREVIEW_LIMIT * 4 + 8)

/* "1 byte", "4 bytes": the unit for a count in a narration line. */
static const char *bytes_unit(long long count)
{
    return count == 1 ? "byte" : "bytes";
}

/* How many bytes the kernel still holds in fd's receive queue, or -1. */
static long queued_bytes(int fd)
{
    int queued;
    if (ioctl(fd, FIONREAD, &queued) < 0)
        return -1;
    return queued;
}

/* ---- Experiment mode ---------------------------------------------------- */

struct experiment {
    enum trigger_mode mode;
    size_t chunk;
    int writer_fd;
    int reader_fd;
    int epoll_fd;
    char *buffer;                    /* CHUNK bytes, for reads */
    unsigned long long total_written;
    unsigned long long total_read;
};

struct phase_counts {
    unsigned long wakeups;
    unsigned long long bytes_read;
};

/* One write() of all the phase's bytes. The writer is non-blocking, so a
 * socket buffer too small for them shows up as a short write (reported)
 * rather than a program that sleeps forever with nobody to read. */
static void write_phase_data(struct experiment *experiment, const char *data, size_t length)
{
    ssize_t written = write(experiment->writer_fd, data, length);
    if (written < 0)
        fatal("write(fd %d, %zu)", experiment->writer_fd, length);
    char quoted[QUOTED_SIZE];
    narrate("write(fd %d, %zu) -> %zd bytes %s", experiment->writer_fd, length, written,
            quote_bytes(data, (size_t)written, quoted, sizeof quoted));
    if ((size_t)written != length)
        fatal_message("write(fd %d) took only %zd of %zu bytes: the socket buffer is too "
                      "small for the experiment", experiment->writer_fd, written, length);
    experiment->total_written += (unsigned long long)written;
}

/* One read() of at most CHUNK bytes, narrated. Returns the byte count, 0 at
 * end of stream, -1 when nothing is queued (EAGAIN). */
static ssize_t read_chunk(struct experiment *experiment, struct phase_counts *counts)
{
    int fd = experiment->reader_fd;
    ssize_t got = read(fd, experiment->buffer, experiment->chunk);
    if (got < 0) {
        /* The reader is non-blocking, so read() never sleeps and so is
         * never interrupted: EAGAIN is the only failure expected here. */
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            fatal("read(fd %d, %zu)", fd, experiment->chunk);
        narrate("read(fd %d, %zu) -> -1 EAGAIN (the queue is empty: drained)",
                fd, experiment->chunk);
        return -1;
    }
    if (got == 0) {
        narrate("read(fd %d, %zu) -> 0 (end of stream)", fd, experiment->chunk);
        return 0;
    }
    char quoted[QUOTED_SIZE];
    narrate("read(fd %d, %zu) -> %zd %s %s", fd, experiment->chunk, got, bytes_unit(got),
            quote_bytes(experiment->buffer, (size_t)got, quoted, sizeof quoted));
    counts->bytes_read += (unsigned long long)got;
    experiment->total_read += (unsigned long long)got;
    narrate_detail("ioctl(fd %d, FIONREAD) -> %ld bytes still queued", fd, queued_bytes(fd));
    return got;
}

/* Wait, and read by the mode's rule after each wakeup, until QUIET_PERIOD_MS
 * pass without one. Returns false if a stop was requested. */
static bool run_phase(struct experiment *experiment, struct phase_counts *counts)
{
    while (!stop_requested) {
        narrate_detail("epoll_wait(fd %d, timeout %d ms) - waiting", experiment->epoll_fd,
                       QUIET_PERIOD_MS);
        struct epoll_event event;
        int ready = epoll_wait(experiment->epoll_fd, &event, 1, QUIET_PERIOD_MS);
        if (ready < 0) {
            /* EINTR policy: a signal ends the wait; a stop request ends the
             * experiment, anything else just waits again. */
            if (errno == EINTR) {
                if (stop_requested)
                    return false;
                continue;
            }
            fatal("epoll_wait(fd %d)", experiment->epoll_fd);
        }
        if (ready == 0) {
            narrate("epoll_wait() -> 0 (nothing new for %d ms)", QUIET_PERIOD_MS);
            return true;
        }
        counts->wakeups++;
        char mask[96];
        narrate("epoll_wait() -> %d ready: fd %d %s", ready, event.data.fd,
                describe_events(event.events, mask, sizeof mask));

        if (experiment->mode == MODE_EDGE_DRAIN) {
            /* Drain to EAGAIN: the only way to be sure no byte is left that
             * edge-triggering will never mention again. */
            ssize_t got;
            do
                got = read_chunk(experiment, counts);
            while (got > 0);
        } else {
            /* lt and et read once per wakeup on purpose: the difference
             * between the two modes is then how often epoll wakes us. */
            if (read_chunk(experiment, counts) == 0)
                return true; /* end of stream: nothing more can come */
        }
    }
    return false;
}

static void announce_phase(const struct experiment *experiment, int phase, size_t sent,
                           const struct phase_counts *counts)
{
    /* Left is counted, not predicted: bytes written so far minus bytes read. */
    unsigned long long left = experiment->total_written - experiment->total_read;
    announce("phase=%d mode=%s sent=%zu chunk=%zu wakeups=%lu read=%llu left=%llu", phase,
             mode_names[experiment->mode], sent, experiment->chunk, counts->wakeups,
             counts->bytes_read, left);
    narrate_detail("ioctl(fd %d, FIONREAD) -> %ld bytes queued in the kernel (left=%llu)",
                   experiment->reader_fd, queued_bytes(experiment->reader_fd), left);
}

/* Ask for a send buffer that surely holds all the bytes of both phases, so
 * that the single write() of phase 1 puts everything in the reader's queue
 * before the first wait. (On Linux an AF_UNIX stream write is limited by
 * the writer's SO_SNDBUF, 208 KiB by default: enough already; this makes
 * it hold where the default is smaller.) */
static void make_room_for(int writer_fd, size_t bytes)
{
    int wanted = (int)(4 * bytes + 65536); /* room for the kernel's per-buffer overhead */
    int current;
    socklen_t length = sizeof current;
    if (getsockopt(writer_fd, SOL_SOCKET, SO_SNDBUF, &current, &length) < 0)
        fatal("getsockopt(fd %d, SO_SNDBUF)", writer_fd);
    if (current < wanted && setsockopt(writer_fd, SOL_SOCKET, SO_SNDBUF, &wanted,
                                       sizeof wanted) < 0)
        fatal("setsockopt(fd %d, SO_SNDBUF, %d)", writer_fd, wanted);
    length = sizeof current;
    if (getsockopt(writer_fd, SOL_SOCKET, SO_SNDBUF, &current, &length) < 0)
        fatal("getsockopt(fd %d, SO_SNDBUF)", writer_fd);
    narrate_detail("getsockopt(fd %d, SO_SNDBUF) -> %d bytes of send buffer", writer_fd, current);
}

static int run_experiment(enum trigger_mode mode, size_t bytes, size_t chunk)
{
    struct experiment experiment = { .mode = mode, .chunk = chunk };

    /* A socketpair, not TCP: a TCP pair may split one write into segments
     * that arrive (and wake epoll) at different times. */
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        fatal("socketpair(AF_UNIX, SOCK_STREAM)");
    experiment.writer_fd = pair[0];
    experiment.reader_fd = pair[1];
    narrate("socketpair(AF_UNIX, SOCK_STREAM) -> fd %d (writer) and fd %d (reader)",
            experiment.writer_fd, experiment.reader_fd);

    /* The reader is non-blocking in every mode. et-drain needs it: reading
     * until EAGAIN means one read finds the queue empty, and a blocking
     * read would sleep there forever, since only this program writes. In
     * lt and et a read follows a wakeup, so it finds data, but keeping the
     * same descriptor in all three modes makes the mode the only
     * difference. */
    if (set_nonblocking(experiment.reader_fd) < 0 || set_nonblocking(experiment.writer_fd) < 0)
        fatal("fcntl(O_NONBLOCK)");
    narrate("fcntl(fd %d, F_SETFL, O_NONBLOCK): an empty read returns EAGAIN instead of "
            "sleeping", experiment.reader_fd);
    make_room_for(experiment.writer_fd, bytes + sizeof PHASE_TWO_TEXT);

    experiment.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (experiment.epoll_fd < 0)
        fatal("epoll_create1");
    struct epoll_event interest = {
        .events = EPOLLIN | (mode == MODE_LEVEL ? 0 : EPOLLET),
        .data.fd = experiment.reader_fd,
    };
    if (epoll_ctl(experiment.epoll_fd, EPOLL_CTL_ADD, experiment.reader_fd, &interest) < 0)
        fatal("epoll_ctl(EPOLL_CTL_ADD, fd %d)", experiment.reader_fd);
    char mask[96];
    narrate("epoll_create1() -> fd %d; epoll_ctl(EPOLL_CTL_ADD, fd %d, %s): %s",
            experiment.epoll_fd, experiment.reader_fd,
            describe_events(interest.events, mask, sizeof mask),
            mode == MODE_LEVEL ? "level-triggered (水平触发)" : "edge-triggered (边缘触发)");

    experiment.buffer = malloc(chunk);
    char *letters = malloc(bytes);
    if (experiment.buffer == NULL || letters == NULL)
        fatal("malloc");
    for (size_t i = 0; i < bytes; i++)
        letters[i] = (char)('a' + i % 26); /* recognisable, so the transcript shows order */

    struct phase_counts counts = { 0 };
    int phase = 1;
    narrate("-- phase 1: write %zu bytes at once, then wait; %s", bytes,
            mode == MODE_EDGE_DRAIN ? "after each wakeup read until EAGAIN"
                                    : "after each wakeup read once");
    write_phase_data(&experiment, letters, bytes);
    bool finished = run_phase(&experiment, &counts);
    if (finished) {
        announce_phase(&experiment, 1, bytes, &counts);

        size_t new_length = sizeof PHASE_TWO_TEXT - 1;
        counts = (struct phase_counts){ 0 };
        phase = 2;
        narrate("-- phase 2: write %zu new bytes (a new event), then wait the same way",
                new_length);
        write_phase_data(&experiment, PHASE_TWO_TEXT, new_length);
        finished = run_phase(&experiment, &counts);
        if (finished)
            announce_phase(&experiment, 2, new_length, &counts);
    }
    if (!finished) /* SIGINT/SIGTERM: say where it stopped, exit 0 */
        announce("summary: interrupted phase=%d wakeups=%lu read=%llu left=%llu", phase,
                 counts.wakeups, counts.bytes_read,
                 experiment.total_written - experiment.total_read);

    free(letters);
    free(experiment.buffer);
    close(experiment.epoll_fd);
    close(experiment.reader_fd);
    close(experiment.writer_fd);
    return 0;
}

/* ---- Server mode -------------------------------------------------------- */

/* Every client socket is non-blocking, and SIGINT and SIGTERM are blocked
 * (they arrive on the signalfd), so read(), write() and accept() never
 * sleep and no signal can interrupt them: they have no EINTR branch. Only
 * the wait has one (SIGSTOP then SIGCONT end it with EINTR, signal(7)). */

static const struct echo_words epoll_words = { "EPOLLIN off", "EPOLLOUT on" };

/* One connected client. Its echo waits in the echo module's buffer
 * (common/echo.h), which exists only while some echo is waiting: an idle
 * client costs this struct and nothing more. The reading is the demo's
 * own, because it is the lesson: CHUNK bytes per read(), and how many
 * read()s each wakeup gets. */
struct client {
    struct echo_connection echo; /* first: its fd is the struct's first int */
    uint32_t watched;            /* the interest set registered with epoll now */
    bool input_ready;            /* et-drain: told readable, EAGAIN not yet seen */
    bool turn_queued;            /* et-drain: waiting in the queue of drain turns */
    bool lost;                   /* et: its EOF will never be read (said once) */
    struct client *previous;     /* the list of every open client */
    struct client *next;
    struct client *queued_before; /* et-drain: the queue of drain turns */
    struct client *queued_after;
};

struct server {
    enum trigger_mode mode;
    size_t chunk;
    struct listener listener;    /* the listening socket and its EMFILE pause */
    int stop_fd;                 /* the signalfd: readable once SIGINT or SIGTERM came */
    int epoll_fd;
    uint32_t listener_events;    /* EPOLLIN, with EPOLLET in the et modes */
    bool accept_owed;            /* the listener said readable, no EAGAIN seen since */
    struct client *clients;      /* every open client, for shutdown */
    struct client *first_queued; /* et-drain: clients owed a drain turn, oldest first */
    struct client *last_queued;
    unsigned long clients_accepted;
    unsigned long long bytes_echoed;
    char read_buffer[MAXIMUM_SIZE]; /* every read() lands here first */
};

/* ---- The drain-turn queue (et-drain) ------------------------------------ */

/* Edge-triggering will not remind us of a client we stopped reading before
 * EAGAIN, so the server keeps its own list of them: this queue. */
static void queue_drain_turn(struct server *server, struct client *client)
{
    if (client->turn_queued)
        return;
    client->turn_queued = true;
    client->queued_before = server->last_queued;
    client->queued_after = NULL;
    if (server->last_queued != NULL)
        server->last_queued->queued_after = client;
    else
        server->first_queued = client;
    server->last_queued = client;
}

static void unqueue_drain_turn(struct server *server, struct client *client)
{
    if (!client->turn_queued)
        return;
    client->turn_queued = false;
    if (client->queued_before != NULL)
        client->queued_before->queued_after = client->queued_after;
    else
        server->first_queued = client->queued_after;
    if (client->queued_after != NULL)
        client->queued_after->queued_before = client->queued_before;
    else
        server->last_queued = client->queued_before;
}

/* ---- Clients going, and what epoll watches for them --------------------- */

enum close_reason { CLOSE_FINISHED, CLOSE_ERROR, CLOSE_SHUTDOWN };

static void close_client(struct server *server, struct client *client, enum close_reason reason)
{
    struct echo_connection *echo = &client->echo;
    if (reason == CLOSE_FINISHED) {
        narrate("close(fd %d): the client closed, and all %llu bytes it sent were echoed",
                echo->fd, echo->echoed);
    } else if (reason == CLOSE_ERROR) {
        narrate("close(fd %d) after an error; %llu bytes echoed", echo->fd, echo->echoed);
    } else {
        long unread = echo->input_closed ? 0 : queued_bytes(echo->fd);
        if (unread > 0) /* the kernel answers a close() with unread input by a reset */
            narrate("close(fd %d) at shutdown; %llu bytes echoed; %ld bytes it sent were "
                    "never read (so the client gets a reset, not an EOF)", echo->fd,
                    echo->echoed, unread);
        else
            narrate("close(fd %d) at shutdown; %llu bytes echoed", echo->fd, echo->echoed);
    }
    close(echo->fd); /* also removes it from the epoll set */
    unqueue_drain_turn(server, client);
    if (client->previous != NULL)
        client->previous->next = client->next;
    else
        server->clients = client->next;
    if (client->next != NULL)
        client->next->previous = client->previous;
    echo_release(echo);
    free(client);
}

/* The interest set this client needs now: EPOLLOUT only while echo waits
 * (a socket is almost always writable: watching it all the time would wake
 * us for nothing); EPOLLIN while the client may still send, except that
 * level-triggering must stop watching input while the echo buffer is full,
 * or epoll would report the unread data again and again. The et mode also
 * asks for EPOLLRDHUP, to learn which clients it has lost (note_if_lost). */
static uint32_t wanted_events(const struct server *server, const struct client *client)
{
    const struct echo_connection *echo = &client->echo;
    uint32_t events = 0;
    if (!echo->input_closed && (server->mode != MODE_LEVEL || !echo->reading_paused))
        events |= EPOLLIN | (server->mode == MODE_EDGE ? EPOLLRDHUP : 0);
    if (echo_unsent(echo) > 0)
        events |= EPOLLOUT;
    if (server->mode != MODE_LEVEL)
        events |= EPOLLET;
    return events;
}

/* Note for the edge-triggered modes: EPOLL_CTL_MOD checks readiness afresh,
 * so changing the set re-arms the edge; if input is still queued, the next
 * epoll_wait reports it once more. Echo output is rarely left pending on
 * loopback, so this seldom happens here; the docs page mentions it. */
static int update_interest(struct server *server, struct client *client)
{
    int fd = client->echo.fd;
    uint32_t wanted = wanted_events(server, client);
    if (wanted == client->watched)
        return 0;
    struct epoll_event interest = { .events = wanted, .data.ptr = client };
    if (epoll_ctl(server->epoll_fd, EPOLL_CTL_MOD, fd, &interest) < 0) {
        warn_errno("epoll_ctl(EPOLL_CTL_MOD, fd %d) failed; closing it", fd);
        return -1;
    }
    char mask[96];
    narrate_detail("epoll_ctl(EPOLL_CTL_MOD, fd %d, %s)", fd,
                   describe_events(wanted, mask, sizeof mask));
    if (!client->echo.input_closed && ((client->watched ^ wanted) & EPOLLIN)) {
        if (wanted & EPOLLIN)
            narrate("fd %d: its echo is draining; watching EPOLLIN again", fd);
        else
            narrate("fd %d: %zu bytes of echo wait unsent (buffer full); no longer watching "
                    "EPOLLIN until it drains", fd, ECHO_PENDING_LIMIT);
    }
    client->watched = wanted;
    return 0;
}

/* ---- Echo: write what the socket takes, keep the rest -------------------- */

/* Backpressure, the module's rule: stop reading from a client whose echo
 * buffer is full; read again once it has drained to half. */
static void decide_reading(struct client *client)
{
    struct echo_connection *echo = &client->echo;
    size_t unsent = echo_unsent(echo);
    if (!echo->reading_paused && unsent >= ECHO_PENDING_LIMIT)
        echo->reading_paused = true;
    else if (echo->reading_paused && unsent <= ECHO_RESUME_LEVEL)
        echo->reading_paused = false;
}

/* write() until all LENGTH bytes are out or the socket is full (EAGAIN).
 * Returns the bytes written, or -1 if the client failed. Writing is done
 * properly in every mode: the lesson is about reading. */
static ssize_t write_echo(struct server *server, struct client *client, const char *data,
                          size_t length)
{
    struct echo_connection *echo = &client->echo;
    size_t done = 0;
    while (done < length) {
        size_t left = length - done;
        ssize_t written = write(echo->fd, data + done, left);
        if (written < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                warn_errno("write(fd %d) failed; closing it", echo->fd);
                return -1;
            }
            narrate("write(fd %d, %zu) -> -1 EAGAIN: its socket is full; %zu bytes wait "
                    "for EPOLLOUT", echo->fd, left, left);
            break;
        }
        narrate("write(fd %d, %zu) -> %zd %s echoed", echo->fd, left, written,
                bytes_unit(written));
        done += (size_t)written;
        echo->echoed += (unsigned long long)written;
        server->bytes_echoed += (unsigned long long)written;
    }
    return (ssize_t)done;
}

/* Send what waits in the client's buffer; once it is empty, free it. */
static int flush_pending(struct server *server, struct client *client)
{
    struct echo_connection *echo = &client->echo;
    size_t unsent = echo_unsent(echo);
    if (unsent == 0)
        return 0;
    ssize_t written = write_echo(server, client, echo->pending + echo->pending_offset, unsent);
    if (written < 0)
        return -1;
    echo->pending_offset += (size_t)written;
    if (echo_unsent(echo) == 0)
        echo_release(echo); /* an idle client holds no buffer */
    decide_reading(client);
    return 0;
}

/* Echo bytes just read: straight from the read buffer when nothing waits
 * before them (no copy), else behind what waits. What the socket does not
 * take now is kept in the client's buffer. */
static int echo_back(struct server *server, struct client *client, const char *data,
                     size_t length)
{
    struct echo_connection *echo = &client->echo;
    bool earlier_echo_waits = echo_unsent(echo) > 0;
    size_t sent = 0;
    if (!earlier_echo_waits) {
        ssize_t written = write_echo(server, client, data, length);
        if (written < 0)
            return -1;
        sent = (size_t)written;
    }
    if (sent < length && !echo_keep_pending(echo, data + sent, length - sent)) {
        warn_errno("fd %d: no memory to keep its echo; closing it", echo->fd);
        return -1;
    }
    if (earlier_echo_waits)
        return flush_pending(server, client);
    decide_reading(client);
    return 0;
}

/* ---- Reading: the rule each mode differs in ----------------------------- */

enum read_result { READ_DATA, READ_AGAIN, READ_END, READ_NO_ROOM, READ_FAILED };

/* One read() of at most CHUNK bytes, narrated, and its echo. */
static enum read_result read_once(struct server *server, struct client *client)
{
    struct echo_connection *echo = &client->echo;
    size_t room = ECHO_PENDING_LIMIT - echo_unsent(echo);
    if (room == 0) {
        narrate("fd %d: %zu bytes of echo wait unsent; not reading until it drains",
                echo->fd, ECHO_PENDING_LIMIT);
        return READ_NO_ROOM;
    }
    size_t wanted = server->chunk < room ? server->chunk : room;
    ssize_t got = read(echo->fd, server->read_buffer, wanted);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            narrate("read(fd %d, %zu) -> -1 EAGAIN (drained)", echo->fd, wanted);
            return READ_AGAIN;
        }
        warn_errno("read(fd %d) failed; closing it", echo->fd);
        return READ_FAILED;
    }
    if (got == 0) {
        narrate("read(fd %d, %zu) -> 0: the client closed its side", echo->fd, wanted);
        echo->input_closed = true;
        return READ_END;
    }
    char quoted[QUOTED_SIZE];
    narrate("read(fd %d, %zu) -> %zd %s %s", echo->fd, wanted, got, bytes_unit(got),
            quote_bytes(server->read_buffer, (size_t)got, quoted, sizeof quoted));
    if (echo_back(server, client, server->read_buffer, (size_t)got) < 0)
        return READ_FAILED;
    return READ_DATA;
}

/* et-drain: read until EAGAIN, but at most DRAIN_READS_PER_TURN reads per
 * turn. Without the cap, one client that sends faster than we read would
 * keep this loop busy forever and every other client would starve. When
 * the cap stops us, input_ready stays set and the client goes to the back
 * of the queue of drain turns, taken round-robin in the next rounds,
 * without waiting for an event that edge-triggering would never send. A
 * full echo buffer stops the turn the same way: input_ready stays set, and
 * the turn is queued again once the echo has drained (settle_client).
 * Returns -1 if the client failed. */
static int drain_turn(struct server *server, struct client *client)
{
    for (int reads = 0; reads < DRAIN_READS_PER_TURN; reads++) {
        switch (read_once(server, client)) {
        case READ_DATA:
            continue;
        case READ_AGAIN:
        case READ_END:
            client->input_ready = false;
            return 0;
        case READ_NO_ROOM:
            return 0;
        case READ_FAILED:
            return -1;
        }
    }
    narrate("fd %d: %d reads this turn and still no EAGAIN; the rest waits for its next "
            "turn (fairness cap)", client->echo.fd, DRAIN_READS_PER_TURN);
    return 0;
}

/* After an event or a drain turn: close the client if it failed or is
 * finished, else make epoll watch what it needs now, and (et-drain) queue
 * its next drain turn if one is due: still unread input, and room for its
 * echo. Returns false if the client was closed. */
static bool settle_client(struct server *server, struct client *client, bool failed)
{
    struct echo_connection *echo = &client->echo;
    if (failed) {
        close_client(server, client, CLOSE_ERROR);
        return false;
    }
    if (echo->input_closed && echo_unsent(echo) == 0) {
        close_client(server, client, CLOSE_FINISHED);
        return false;
    }
    if (update_interest(server, client) < 0) {
        close_client(server, client, CLOSE_ERROR);
        return false;
    }
    if (client->input_ready && !echo->reading_paused)
        queue_drain_turn(server, client);
    return true;
}

/* et: a client that has closed its side (EPOLLRDHUP) sends nothing new, so
 * no new edge will come for its input. If its EOF is still unread, no echo
 * waits (which would bring an EPOLLOUT event, and a read with it) and its
 * interest set did not just change (EPOLL_CTL_MOD would report it once
 * more), then this server has lost it: the descriptor stays open until
 * shutdown (or a reset from the client). Say so, once, by its number. */
static void note_if_lost(struct client *client)
{
    const struct echo_connection *echo = &client->echo;
    if (client->lost || echo->input_closed || echo_unsent(echo) > 0)
        return;
    client->lost = true;
    long unread = queued_bytes(echo->fd);
    narrate("fd %d: lost: the client closed its side (EPOLLRDHUP), and its EOF is behind %ld "
            "unread %s; edge-triggered, no event will come again: fd %d stays open until "
            "shutdown", echo->fd, unread, bytes_unit(unread), echo->fd);
}

/* EPOLLERR: name the socket's error. getsockopt(SO_ERROR) takes it (and
 * clears it); if it fails, or there is none left to take, say that instead
 * of strerror(0), "Success". */
static void report_socket_error(int fd)
{
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) {
        warn_errno("fd %d reported EPOLLERR; getsockopt(SO_ERROR) failed; closing it", fd);
    } else if (error == 0) {
        announce("fd %d reported EPOLLERR, but SO_ERROR holds no error now; closing it", fd);
    } else {
        errno = error;
        warn_errno("fd %d reported EPOLLERR; closing it", fd);
    }
}

static void serve_client_event(struct server *server, struct client *client, uint32_t events)
{
    struct echo_connection *echo = &client->echo;
    if (events & EPOLLERR) {
        report_socket_error(echo->fd);
        close_client(server, client, CLOSE_ERROR);
        return;
    }
    bool failed = false;
    if (events & EPOLLOUT)
        failed = flush_pending(server, client) < 0;

    if (!failed && (events & (EPOLLIN | EPOLLHUP)) && !echo->input_closed) {
        if (server->mode == MODE_EDGE_DRAIN) {
            client->input_ready = true; /* read in this round's drain turns */
        } else {
            /* lt and et: exactly one read per wakeup. The client's EOF (a
             * half-close) is a new event too, so an et server gets one more
             * read then - not a catch-up: bytes queued before the EOF stay
             * unread, and the EOF behind them is never seen. */
            failed = read_once(server, client) == READ_FAILED;
            if (!failed && server->mode == MODE_EDGE && !echo->input_closed) {
                long unread = queued_bytes(echo->fd);
                if (unread > 0)
                    narrate("ioctl(fd %d, FIONREAD) -> %ld bytes still unread; "
                            "edge-triggered: no reminder until the next new event",
                            echo->fd, unread);
            }
        }
    }
    uint32_t watched_before = client->watched;
    if (settle_client(server, client, failed) && server->mode == MODE_EDGE
        && (events & EPOLLRDHUP) && client->watched == watched_before)
        note_if_lost(client);
}

/* ---- The listening socket ------------------------------------------------ */

static void watch_listener(struct server *server, uint32_t events)
{
    struct epoll_event interest = { .events = events, .data.ptr = &server->listener };
    if (epoll_ctl(server->epoll_fd, EPOLL_CTL_MOD, server->listener.fd, &interest) < 0)
        fatal("epoll_ctl(EPOLL_CTL_MOD, fd %d)", server->listener.fd);
}

static void add_client(struct server *server, int client_fd, const char *peer)
{
    struct client *client = calloc(1, sizeof *client);
    if (client == NULL) {
        warn_errno("no memory for the client on fd %d; closing it", client_fd);
        close(client_fd);
        return;
    }
    echo_start(&client->echo, client_fd, &epoll_words);
    client->watched = wanted_events(server, client);
    struct epoll_event interest = { .events = client->watched, .data.ptr = client };
    if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, client_fd, &interest) < 0) {
        warn_errno("epoll_ctl(EPOLL_CTL_ADD, fd %d) failed; closing it", client_fd);
        close(client_fd);
        free(client);
        return;
    }
    client->next = server->clients;
    if (server->clients != NULL)
        server->clients->previous = client;
    server->clients = client;
    server->clients_accepted++;
    char mask[96];
    narrate("accept() -> fd %d from %s; epoll_ctl(EPOLL_CTL_ADD, fd %d, %s)", client_fd, peer,
            client_fd, describe_events(client->watched, mask, sizeof mask));
}

/* One turn at the listening socket: at most ACCEPTS_PER_WAKEUP accept()s
 * (echo.h), so a crowd of newcomers cannot starve the clients already
 * connected. Level-triggered, epoll reports the listener again at the next
 * wait while connections are queued. Edge-triggered it does not: no new
 * connection, no new edge, however many still wait. So in the et modes a
 * turn that ends at the cap, not at EAGAIN, leaves the listener owed
 * another turn, taken in the next round without waiting: the listener is
 * drained to EAGAIN like any edge-triggered descriptor. */
static void accept_turn(struct server *server)
{
    bool edge = server->mode != MODE_LEVEL;
    for (int accepted = 0; accepted < ACCEPTS_PER_WAKEUP; accepted++) {
        char peer[ADDRESS_TEXT_SIZE];
        int client_fd = listener_accept(&server->listener, peer, sizeof peer);
        if (client_fd < 0) {
            server->accept_owed = false;
            if (server->listener.paused)
                watch_listener(server, 0); /* out of descriptors: see echo.h */
            else if (edge)
                narrate("accept() -> -1 EAGAIN (drained: no more connections queued)");
            return;
        }
        add_client(server, client_fd, peer);
    }
    server->accept_owed = edge;
    if (edge)
        narrate("accept(): %d this turn and still no EAGAIN; the rest wait for the next turn",
                ACCEPTS_PER_WAKEUP);
}

/* et-drain: one capped drain turn for each client owed one, oldest first
 * (round-robin). A client whose turn ends at the cap is queued again, at
 * the back, for the next round. */
static void run_drain_turns(struct server *server)
{
    struct client *last = server->last_queued; /* the turns owed as this round began */
    while (server->first_queued != NULL) {
        struct client *client = server->first_queued;
        bool was_last = client == last;
        unqueue_drain_turn(server, client);
        settle_client(server, client, drain_turn(server, client) < 0); /* may queue it again */
        if (was_last)
            break;
    }
}

/* "epoll_wait() -> 2 ready: fd 3 EPOLLIN, fd 6 EPOLLIN" */
static void narrate_wakeup(const struct epoll_event *events, int ready)
{
    if (narration_level < NARRATE_NORMAL || ready <= 0)
        return;
    char line[512];
    size_t used = (size_t)snprintf(line, sizeof line, "epoll_wait() -> %d ready:", ready);
    for (int i = 0; i < ready && used < sizeof line; i++) {
        /* Each owner starts with its descriptor (listener.fd, stop_fd, a
         * client's echo.fd): a pointer to a struct may be read as a pointer
         * to its first member. */
        char mask[96];
        used += (size_t)snprintf(line + used, sizeof line - used, "%s fd %d %s",
                                 i > 0 ? "," : "", *(const int *)events[i].data.ptr,
                                 describe_events(events[i].events, mask, sizeof mask));
    }
    narrate("%s", line);
}

static int run_server(enum trigger_mode mode, size_t chunk, const char *host, int port)
{
    struct server server = { .mode = mode, .chunk = chunk };

    listener_start(&server.listener, listen_on(host, port, LISTEN_BACKLOG));
    server.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (server.epoll_fd < 0)
        fatal("epoll_create1");
    /* The stop (lab.h): from here on SIGINT and SIGTERM stay blocked and
     * arrive on stop_fd as data, so a stop is one more ready descriptor.
     * (With the signals let in only during epoll_pwait(), a wait that
     * finds clients ready returns without running the handler, and under
     * load the stop waited as long as the load lasted.) */
    server.stop_fd = open_stop_signal_fd();
    /* The listener follows the mode; see accept_turn(). */
    server.listener_events = EPOLLIN | (mode == MODE_LEVEL ? 0 : EPOLLET);
    struct epoll_event listening = { .events = server.listener_events,
                                     .data.ptr = &server.listener };
    /* The signalfd is level-triggered in every mode, et too: take_stop_signal()
     * reads one signal, not until EAGAIN, and edge-triggering is safe only
     * on a descriptor drained to EAGAIN. Level-triggered, a stop that is
     * not yet taken is reported again on every wait, however busy. */
    struct epoll_event stopping = { .events = EPOLLIN, .data.ptr = &server.stop_fd };
    if (epoll_ctl(server.epoll_fd, EPOLL_CTL_ADD, server.listener.fd, &listening) < 0)
        fatal("epoll_ctl(EPOLL_CTL_ADD, fd %d)", server.listener.fd);
    if (epoll_ctl(server.epoll_fd, EPOLL_CTL_ADD, server.stop_fd, &stopping) < 0)
        fatal("epoll_ctl(EPOLL_CTL_ADD, fd %d)", server.stop_fd);

    announce_listening(server.listener.fd);
    narrate("fd %d is the listening socket; epoll fd %d; clients are %s, %s",
            server.listener.fd, server.epoll_fd,
            mode == MODE_LEVEL ? "level-triggered (水平触发)" : "edge-triggered (边缘触发)",
            mode == MODE_EDGE_DRAIN ? "read until EAGAIN on every wakeup"
                                    : "read once per wakeup");
    char mask[96];
    if (mode == MODE_LEVEL)
        narrate("epoll_ctl(EPOLL_CTL_ADD, fd %d, %s): the listener is level-triggered: up to "
                "%d accept()s per wakeup, and epoll reminds us of the rest", server.listener.fd,
                describe_events(server.listener_events, mask, sizeof mask), ACCEPTS_PER_WAKEUP);
    else
        narrate("epoll_ctl(EPOLL_CTL_ADD, fd %d, %s): the listener is edge-triggered too, so "
                "it is drained: accept() until EAGAIN, %d per turn", server.listener.fd,
                describe_events(server.listener_events, mask, sizeof mask), ACCEPTS_PER_WAKEUP);
    narrate("signalfd() -> fd %d: SIGINT and SIGTERM arrive there as data; "
            "epoll_ctl(EPOLL_CTL_ADD, fd %d, EPOLLIN): level-triggered in every mode",
            server.stop_fd, server.stop_fd);
    raise_descriptor_limit();

    struct epoll_event events[MAX_EVENTS];
    while (!stop_requested) {
        if (listener_resume_if_due(&server.listener)) {
            watch_listener(&server, server.listener_events);
            narrate_detail("epoll_ctl(EPOLL_CTL_MOD, fd %d, %s): trying accept() again",
                           server.listener.fd,
                           describe_events(server.listener_events, mask, sizeof mask));
        }
        /* Wait without limit (or until a paused listener is due), unless a
         * turn is owed: then only look for new events and come straight back. */
        bool turn_owed = server.accept_owed || server.first_queued != NULL;
        int timeout = turn_owed ? 0 : listener_timeout_ms(&server.listener);
        narrate_detail("epoll_wait(fd %d, timeout %d) - waiting", server.epoll_fd, timeout);
        int ready = epoll_wait(server.epoll_fd, events, MAX_EVENTS, timeout);
        if (ready < 0) {
            if (errno == EINTR)
                continue; /* SIGSTOP/SIGCONT: nothing to do but wait again */
            fatal("epoll_wait(fd %d)", server.epoll_fd);
        }
        narrate_wakeup(events, ready);
        /* A stop ends the round where it is found: however busy the clients
         * keep us, a Ctrl-C is taken in the round it arrives. */
        for (int i = 0; i < ready && !stop_requested; i++) {
            void *owner = events[i].data.ptr;
            if (owner == &server.stop_fd)
                take_stop_signal(server.stop_fd); /* sets stop_requested */
            else if (owner == &server.listener)
                server.accept_owed = true;
            else
                serve_client_event(&server, owner, events[i].events);
        }
        if (stop_requested)
            break;
        if (server.accept_owed)
            accept_turn(&server);
        if (mode == MODE_EDGE_DRAIN)
            run_drain_turns(&server);
    }

    struct client *next;
    for (struct client *client = server.clients; client != NULL; client = next) {
        next = client->next; /* saved: close_client() frees the client */
        close_client(&server, client, CLOSE_SHUTDOWN);
    }
    close(server.epoll_fd);
    close(server.stop_fd);
    close(server.listener.fd);
    announce("summary: clients=%lu bytes=%llu", server.clients_accepted, server.bytes_echoed);
    return 0;
}

/* ---- Command line ------------------------------------------------------- */

static size_t parse_size_or_exit(const char *name, const char *text)
{
    long value;
    if (parse_number(text, 1, MAXIMUM_SIZE, &value) < 0)
        usage_error(usage_text, "bad %s '%s': expected a whole number from 1 to %d", name,
                    text, MAXIMUM_SIZE);
    return (size_t)value;
}

int main(int argc, char *argv[])
{
    enum trigger_mode mode = MODE_LEVEL;
    size_t bytes = DEFAULT_BYTES;
    size_t chunk = DEFAULT_CHUNK;
    bool serve = false;
    bool bytes_given = false;
    const char *host = NULL;
    int port = -1;

    enum { OPTION_MODE = 256, OPTION_SERVE };
    static const struct option long_options[] = {
        { "mode", required_argument, NULL, OPTION_MODE },
        { "serve", no_argument, NULL, OPTION_SERVE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int option;
    while ((option = getopt_long(argc, argv, "+:n:c:H:p:qvh", long_options, NULL)) != -1) {
        switch (option) {
        case OPTION_MODE:
            if (strcmp(optarg, "lt") == 0)
                mode = MODE_LEVEL;
            else if (strcmp(optarg, "et") == 0)
                mode = MODE_EDGE;
            else if (strcmp(optarg, "et-drain") == 0)
                mode = MODE_EDGE_DRAIN;
            else
                usage_error(usage_text, "bad mode '%s': expected lt, et or et-drain", optarg);
            break;
        case OPTION_SERVE: serve = true; break;
        case 'n': bytes = parse_size_or_exit("BYTES", optarg); bytes_given = true; break;
        case 'c': chunk = parse_size_or_exit("CHUNK", optarg); break;
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
    if (serve && bytes_given)
        usage_error(usage_text, "-n BYTES is for the experiment, not --serve");
    if (!serve && (host != NULL || port >= 0))
        usage_error(usage_text, "-H and -p need --serve (the experiment is not a server)");

    start_narration();
    install_signal_handlers();
    if (serve)
        return run_server(mode, chunk, host != NULL ? host : "127.0.0.1",
                          port >= 0 ? port : DEFAULT_PORT);
    return run_experiment(mode, bytes, chunk);
}
