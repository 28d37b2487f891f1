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
 *          rule, so a client can watch an edge-triggered server fall behind.
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
#include <time.h>
#include <unistd.h>

#include "lab.h"

#define DEFAULT_PORT 9006
#define DEFAULT_BYTES 20
#define DEFAULT_CHUNK 4
#define MAXIMUM_SIZE 65536        /* the largest BYTES and CHUNK accepted */
#define QUIET_PERIOD_MS 200       /* a phase ends after this long without a wakeup */
#define PHASE_TWO_TEXT "12345"    /* the new event of phase 2: unlike the letters */
#define PREVIEW_LIMIT 40          /* bytes of data shown in a narration line */

/* Server mode */
#define BACKLOG 64
#define MAX_EVENTS 64
#define PENDING_CAPACITY 65536    /* echo output a client may leave unread */
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
    size_t shown = length < PREVIEW_LIMIT ? length : PREVIEW_LIMIT;
    for (size_t i = 0; i < shown && used + 8 < text_size; i++) {
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
    snprintf(text + used, text_size - used, "\"%s", shown < length ? "..." : "");
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
            while (read_chunk(experiment, counts) > 0)
                continue;
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

/* One connected client. Reads land at the end of `pending` and leave from
 * its start as they are echoed; its fixed size bounds the memory a client
 * that never reads its echo can cost. */
struct client {
    int fd;
    char peer[ADDRESS_TEXT_SIZE];
    uint32_t watched;            /* the interest set registered with epoll now */
    bool input_closed;           /* read() returned 0: the client sent EOF */
    bool input_ready;            /* et-drain: told readable, EAGAIN not yet seen */
    unsigned long long echoed;
    size_t pending_start;
    size_t pending_length;
    struct client *previous;
    struct client *next;
    char pending[PENDING_CAPACITY];
};

struct server {
    enum trigger_mode mode;
    size_t chunk;
    int listening_fd;
    int epoll_fd;
    struct client *clients;      /* every open client, for shutdown and drain turns */
    unsigned long clients_accepted;
    unsigned long long bytes_echoed;
};

static size_t pending_free(const struct client *client)
{
    return PENDING_CAPACITY - client->pending_length;
}

enum close_reason { CLOSE_FINISHED, CLOSE_ERROR, CLOSE_SHUTDOWN };

static void close_client(struct server *server, struct client *client, enum close_reason reason)
{
    if (reason == CLOSE_FINISHED) {
        narrate("close(fd %d): the client closed, and all %llu bytes it sent were echoed",
                client->fd, client->echoed);
    } else if (reason == CLOSE_ERROR) {
        narrate("close(fd %d) after an error; %llu bytes echoed", client->fd, client->echoed);
    } else {
        long unread = client->input_closed ? 0 : queued_bytes(client->fd);
        if (unread > 0) /* the kernel answers a close() with unread input by a reset */
            narrate("close(fd %d) at shutdown; %llu bytes echoed; %ld bytes it sent were "
                    "never read (so the client gets a reset, not an EOF)", client->fd,
                    client->echoed, unread);
        else
            narrate("close(fd %d) at shutdown; %llu bytes echoed", client->fd, client->echoed);
    }
    close(client->fd); /* also removes it from the epoll set */
    if (client->previous != NULL)
        client->previous->next = client->next;
    else
        server->clients = client->next;
    if (client->next != NULL)
        client->next->previous = client->previous;
    free(client);
}

/* The interest set this client needs now: EPOLLOUT only while output is
 * pending (a writable socket is almost always writable: watching it all the
 * time would wake us for nothing); EPOLLIN while the client may still send,
 * except that level-triggering must stop watching input while the pending
 * buffer is full, or epoll would report the unread data again and again. */
static uint32_t wanted_events(const struct server *server, const struct client *client)
{
    uint32_t events = 0;
    if (!client->input_closed && (server->mode != MODE_LEVEL || pending_free(client) > 0))
        events |= EPOLLIN;
    if (client->pending_length > 0)
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
    uint32_t wanted = wanted_events(server, client);
    if (wanted == client->watched)
        return 0;
    struct epoll_event interest = { .events = wanted, .data.ptr = client };
    if (epoll_ctl(server->epoll_fd, EPOLL_CTL_MOD, client->fd, &interest) < 0) {
        warn_errno("epoll_ctl(EPOLL_CTL_MOD, fd %d) failed; closing it", client->fd);
        return -1;
    }
    char mask[96];
    narrate_detail("epoll_ctl(EPOLL_CTL_MOD, fd %d, %s)", client->fd,
                   describe_events(wanted, mask, sizeof mask));
    if (!client->input_closed && ((client->watched ^ wanted) & EPOLLIN)) {
        if (wanted & EPOLLIN)
            narrate("fd %d: its echo is draining; watching EPOLLIN again", client->fd);
        else
            narrate("fd %d: %d bytes of echo wait unsent (buffer full); no longer watching "
                    "EPOLLIN until it drains", client->fd, PENDING_CAPACITY);
    }
    client->watched = wanted;
    return 0;
}

/* Write pending output until it is all out or the socket is full (EAGAIN).
 * Writing is drained properly in every mode: the lesson is about reading. */
static int flush_pending(struct server *server, struct client *client)
{
    while (client->pending_length > 0) {
        ssize_t written = write(client->fd, client->pending + client->pending_start,
                                client->pending_length);
        if (written < 0) {
            if (errno == EINTR && !stop_requested)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                narrate("write(fd %d, %zu) -> -1 EAGAIN: its socket is full; %zu bytes wait "
                        "for EPOLLOUT", client->fd, client->pending_length,
                        client->pending_length);
                return 0;
            }
            if (errno != EINTR)
                warn_errno("write(fd %d) failed; closing it", client->fd);
            return -1;
        }
        narrate("write(fd %d, %zu) -> %zd %s echoed", client->fd, client->pending_length,
                written, bytes_unit(written));
        client->pending_start += (size_t)written;
        client->pending_length -= (size_t)written;
        client->echoed += (unsigned long long)written;
        server->bytes_echoed += (unsigned long long)written;
    }
    client->pending_start = 0;
    return 0;
}

enum read_result { READ_DATA, READ_AGAIN, READ_END, READ_NO_ROOM, READ_FAILED };

/* One read() of at most CHUNK bytes into the pending buffer, narrated. */
static enum read_result read_once(struct server *server, struct client *client)
{
    size_t room = pending_free(client);
    if (room == 0) {
        narrate("fd %d: %d bytes of echo wait unsent; not reading until it drains",
                client->fd, PENDING_CAPACITY);
        return READ_NO_ROOM;
    }
    size_t wanted = server->chunk < room ? server->chunk : room;
    if (client->pending_start + client->pending_length + wanted > PENDING_CAPACITY) {
        memmove(client->pending, client->pending + client->pending_start,
                client->pending_length);
        client->pending_start = 0;
    }
    char *tail = client->pending + client->pending_start + client->pending_length;
    ssize_t got = read(client->fd, tail, wanted);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            narrate("read(fd %d, %zu) -> -1 EAGAIN (drained)", client->fd, wanted);
            return READ_AGAIN;
        }
        warn_errno("read(fd %d) failed; closing it", client->fd);
        return READ_FAILED;
    }
    if (got == 0) {
        narrate("read(fd %d, %zu) -> 0: the client closed its side", client->fd, wanted);
        client->input_closed = true;
        return READ_END;
    }
    char quoted[QUOTED_SIZE];
    narrate("read(fd %d, %zu) -> %zd %s %s", client->fd, wanted, got, bytes_unit(got),
            quote_bytes(tail, (size_t)got, quoted, sizeof quoted));
    client->pending_length += (size_t)got;
    return READ_DATA;
}

/* et-drain: read until EAGAIN, but at most DRAIN_READS_PER_TURN reads per
 * turn. Without the cap, one client that sends faster than we read would
 * keep this loop busy forever and every other client would starve. When
 * the cap stops us, input_ready stays set and the main loop gives every
 * such client another turn, round-robin, without waiting for an event that
 * edge-triggering would never send. Returns -1 if the client failed. */
static int drain_turn(struct server *server, struct client *client)
{
    for (int reads = 0; reads < DRAIN_READS_PER_TURN; reads++) {
        switch (read_once(server, client)) {
        case READ_DATA:
            if (flush_pending(server, client) < 0)
                return -1;
            continue;
        case READ_AGAIN:
        case READ_END:
            client->input_ready = false;
            return 0;
        case READ_NO_ROOM:
            return 0; /* input_ready stays set: resumed once the echo drains */
        case READ_FAILED:
            return -1;
        }
    }
    narrate("fd %d: %d reads this turn and still no EAGAIN; the rest waits for its next "
            "turn (fairness cap)", client->fd, DRAIN_READS_PER_TURN);
    return 0;
}

/* After reading or writing: close the client if it is finished, else make
 * sure epoll watches what it now needs. */
static void settle_client(struct server *server, struct client *client, bool failed)
{
    if (failed)
        close_client(server, client, CLOSE_ERROR);
    else if (client->input_closed && client->pending_length == 0)
        close_client(server, client, CLOSE_FINISHED);
    else if (update_interest(server, client) < 0)
        close_client(server, client, CLOSE_ERROR);
}

static void serve_client_event(struct server *server, struct client *client, uint32_t events)
{
    bool failed = false;
    if (events & EPOLLERR) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(client->fd, SOL_SOCKET, SO_ERROR, &error, &length);
        errno = error;
        warn_errno("fd %d reported EPOLLERR; closing it", client->fd);
        close_client(server, client, CLOSE_ERROR);
        return;
    }
    if (events & EPOLLOUT)
        failed = flush_pending(server, client) < 0;

    if (!failed && (events & (EPOLLIN | EPOLLHUP)) && !client->input_closed) {
        if (server->mode == MODE_EDGE_DRAIN) {
            client->input_ready = true; /* read in this loop's drain turns */
        } else {
            /* lt and et: exactly one read per wakeup. The client's EOF (a
             * half-close) is a new event too, so an et server gets one more
             * read then - not a catch-up: bytes queued before the EOF stay
             * unread, and the EOF behind them is never seen. */
            enum read_result result = read_once(server, client);
            if (result == READ_FAILED)
                failed = true;
            else if (result == READ_DATA)
                failed = flush_pending(server, client) < 0;
            if (!failed && server->mode == MODE_EDGE && !client->input_closed) {
                long unread = queued_bytes(client->fd);
                if (unread > 0)
                    narrate("ioctl(fd %d, FIONREAD) -> %ld bytes still unread; "
                            "edge-triggered: no reminder until the next new event",
                            client->fd, unread);
            }
        }
    }
    settle_client(server, client, failed);
}

static void accept_client(struct server *server)
{
    struct sockaddr_storage peer;
    socklen_t peer_length = sizeof peer;
    int client_fd = accept4(server->listening_fd, (struct sockaddr *)&peer, &peer_length,
                            SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client_fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return; /* gone before we got to it, or a signal: the loop decides */
        if (errno == ECONNABORTED || errno == EPROTO) {
            narrate("accept() -> %s: a client left before we accepted it",
                    errno_name(errno));
            return;
        }
        warn_errno("accept() failed");
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The connection stays queued and the level-triggered listening
             * socket would wake us at once: pause instead of spinning. */
            nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
        }
        return;
    }

    struct client *client = calloc(1, sizeof *client);
    if (client == NULL) {
        warn_errno("no memory for the client on fd %d; closing it", client_fd);
        close(client_fd);
        return;
    }
    client->fd = client_fd;
    format_address((struct sockaddr *)&peer, peer_length, client->peer, sizeof client->peer);
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
    narrate("accept() -> fd %d from %s; epoll_ctl(EPOLL_CTL_ADD, fd %d, %s)", client_fd,
            client->peer, client_fd, describe_events(client->watched, mask, sizeof mask));
}

/* et-drain: one capped drain turn for every client still owed one. */
static void run_drain_turns(struct server *server)
{
    struct client *next;
    for (struct client *client = server->clients; client != NULL; client = next) {
        next = client->next; /* the client may be closed below */
        if (client->input_ready && pending_free(client) > 0)
            settle_client(server, client, drain_turn(server, client) < 0);
    }
}

static bool drain_turn_owed(const struct server *server)
{
    for (const struct client *client = server->clients; client != NULL; client = client->next)
        if (client->input_ready && pending_free(client) > 0)
            return true;
    return false;
}

static int run_server(enum trigger_mode mode, size_t chunk, const char *host, int port)
{
    /* SIGINT and SIGTERM get in only during epoll_pwait(): never in the gap
     * between the loop's check of stop_requested and the wait. */
    sigset_t wait_mask;
    block_stop_signals(&wait_mask);
    struct server server = { .mode = mode, .chunk = chunk };

    server.listening_fd = listen_on(host, port, BACKLOG);
    announce_listening(server.listening_fd);
    /* The listening socket stays level-triggered in every mode (one
     * accept per wakeup; epoll reminds us of any other queued
     * connection): the trigger mode applies to the clients. Non-blocking,
     * so an accept after the client already left cannot hang the loop. */
    if (set_nonblocking(server.listening_fd) < 0)
        fatal("fcntl(fd %d, O_NONBLOCK)", server.listening_fd);

    server.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (server.epoll_fd < 0)
        fatal("epoll_create1");
    struct epoll_event interest = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(server.epoll_fd, EPOLL_CTL_ADD, server.listening_fd, &interest) < 0)
        fatal("epoll_ctl(EPOLL_CTL_ADD, fd %d)", server.listening_fd);
    narrate("fd %d is the listening socket; epoll fd %d; clients are %s, %s",
            server.listening_fd, server.epoll_fd,
            mode == MODE_LEVEL ? "level-triggered (水平触发)" : "edge-triggered (边缘触发)",
            mode == MODE_EDGE_DRAIN ? "read until EAGAIN on every wakeup"
                                    : "read once per wakeup");

    struct epoll_event events[MAX_EVENTS];
    while (!stop_requested) {
        /* Wait without limit, unless an et-drain client is owed a turn:
         * then only look for new events and come straight back. */
        int timeout = drain_turn_owed(&server) ? 0 : -1;
        narrate_detail("epoll_pwait(fd %d, timeout %d) - waiting", server.epoll_fd, timeout);
        int ready = epoll_pwait(server.epoll_fd, events, MAX_EVENTS, timeout, &wait_mask);
        if (ready < 0) {
            if (errno == EINTR)
                continue; /* EINTR policy: the loop condition checks stop_requested */
            fatal("epoll_pwait(fd %d)", server.epoll_fd);
        }
        if (ready > 0) {
            char line[512];
            size_t used = (size_t)snprintf(line, sizeof line, "epoll_pwait() -> %d ready:", ready);
            for (int i = 0; i < ready && used < sizeof line; i++) {
                const struct client *client = events[i].data.ptr;
                char mask[96];
                used += (size_t)snprintf(line + used, sizeof line - used, "%s fd %d %s",
                                         i > 0 ? "," : "",
                                         client == NULL ? server.listening_fd : client->fd,
                                         describe_events(events[i].events, mask, sizeof mask));
            }
            narrate("%s", line);
        }
        for (int i = 0; i < ready; i++) {
            if (events[i].data.ptr == NULL)
                accept_client(&server);
            else
                serve_client_event(&server, events[i].data.ptr, events[i].events);
        }
        if (mode == MODE_EDGE_DRAIN)
            run_drain_turns(&server);
    }

    while (server.clients != NULL)
        close_client(&server, server.clients, CLOSE_SHUTDOWN);
    close(server.epoll_fd);
    close(server.listening_fd);
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
