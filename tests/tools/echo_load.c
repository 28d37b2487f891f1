/*
 * echo_load.c - a test tool that drives the lab's echo servers hard and
 * checks every byte that comes back.
 *
 * It is not a demo: it prints no narration, only one result line per run
 * (more with -v), so a test can match that line. Exit status: 0 when the
 * check passed, 1 when it failed (the line says why: which client, which
 * offset, expected and received byte, or a timeout), 2 for a bad command
 * line.
 *
 * Usage:   echo_load [-H ADDR] -p PORT [OPTIONS] SUBCOMMAND [OPTIONS]
 *          (options may come before or after the subcommand)
 *
 * Subcommands:
 *
 *   concurrent -n CLIENTS -b BYTES [-s SEED]
 *       Opens CLIENTS non-blocking connections at once (all connected
 *       before any data moves), then drives them from one poll() loop. Each
 *       sends BYTES of a pseudo-random stream (reproducible from SEED and the
 *       client's number) in chunks of random size (1..16384 bytes) while
 *       reading its echo back at the same time. Every byte read is compared
 *       with the stream regenerated at that offset, so nothing is kept in
 *       memory. After its last byte a client half-closes (shutdown SHUT_WR)
 *       and then expects end-of-file once every byte has come back.
 *       Prints "ok clients=N bytes=TOTAL" (TOTAL = CLIENTS * BYTES).
 *
 *   flood -b BYTES
 *       One connection that sends up to BYTES and never reads: the client
 *       that fills the server's buffers. Prints "flood: sent all N bytes",
 *       or "flood: stalled after N bytes" once no byte has gone out for
 *       500 ms. Then it holds the connection, still never reading, until
 *       SIGTERM/SIGINT or end-of-file on stdin (stdin counts only when it is
 *       a pipe, FIFO, socket or terminal; /dev/null or a file is ignored so
 *       a background job still holds). Exit 0.
 *
 *   churn -n CYCLES [--reset-every K]
 *       CYCLES connections one after another: connect, send a short line,
 *       read the echo back and check it, close. Every Kth close is an abort
 *       (SO_LINGER {1, 0}: the kernel sends RST instead of FIN).
 *       Prints "ok cycles=N resets=M".
 *
 *   reset -b BYTES
 *       Connects, sends up to BYTES (as far as it goes with no more than
 *       200 ms without progress), then aborts with RST without reading a
 *       byte: the client that vanishes in the middle of its echo.
 *       Prints "reset after sending N bytes". Exit 0.
 *
 *       --flip-expected-at OFFSET (for the tool's own test) flips that byte
 *       of client 0's expected stream, so a perfect echo must be reported
 *       as wrong at exactly that offset: proof that the check can fail.
 *
 *   rtt -n ROUNDS -b BYTES
 *       One connection (TCP_NODELAY), a few warm-up rounds, then ROUNDS
 *       round trips of BYTES each: send BYTES, read exactly BYTES back
 *       (checked). Prints "rtt: rounds=N median_us=X p90_us=Y".
 *
 *   storm -n CLIENTS -b BYTES [-s SEED] [--allow-refused]
 *       The hostile crowd. CLIENTS connections at once, each starting to
 *       send as soon as it is up (so a server that serves one client at a
 *       time still sees every client queued). Each has a role drawn from
 *       SEED: most echo BYTES in random chunks and check every byte; one in
 *       ten resets (SO_LINGER 0) at a random point of its stream, one in
 *       ten closes there without reading the rest (it vanishes), and one in
 *       ten reads slowly (at most 512 bytes every 2 ms). Prints
 *       "ok clients=N survivors=S resets=R vanished=V refused=F bytes=B",
 *       where every survivor (the echoing and the slow ones) got exactly
 *       its BYTES back. With --allow-refused, a client closed or reset by
 *       the server before any byte of echo came back counts as refused
 *       (select_server turns away descriptors past FD_SETSIZE; a server
 *       with a short listen queue has the kernel reset the overflow, via
 *       SYN cookies); without it, that is a failure.
 *
 * -U PATH talks to a Unix domain stream socket instead of TCP.
 *
 * Every subcommand gives up after -t SECONDS (default 30) of connecting and
 * moving data, so a broken server fails a test instead of hanging it;
 * flood's holding phase is the one wait without a time limit.
 *
 * Try:     build/poll_server -p 9004 -q &
 *          build/tools/echo_load -p 9004 concurrent -n 200 -b 1M
 */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"

#define MAX_CHUNK 16384           /* concurrent: largest single send() */
#define READ_SIZE 65536           /* largest single recv() */
#define STALL_MS 500              /* flood: no progress this long = stalled */
#define RESET_STALL_MS 200        /* reset: "without blocking long" */
#define WARMUP_ROUNDS 5           /* rtt: rounds run but not counted */
#define SPARE_DESCRIPTORS 16      /* stdio and friends, beside the clients */

static const char usage_text[] =
    "usage: echo_load [-H ADDR] -p PORT [OPTIONS] SUBCOMMAND [OPTIONS]\n"
    "subcommands:\n"
    "  concurrent   -n CLIENTS at once, each echoes -b BYTES of seeded random data\n"
    "  flood        send up to -b BYTES without reading, then hold the connection\n"
    "  churn        -n CYCLES of connect/echo/close, every --reset-every K with RST\n"
    "  reset        send up to -b BYTES, then close with RST without reading\n"
    "  rtt          -n ROUNDS round trips of -b BYTES; median and 90th percentile\n"
    "  storm        -n CLIENTS: echoing, resetting, vanishing and slow clients at once\n"
    "options:\n"
    "  -H ADDR            server address (default 127.0.0.1)\n"
    "  -p PORT            server port (required, unless -U)\n"
    "  -U PATH            a Unix domain stream socket instead of TCP\n"
    "  -n COUNT           clients (concurrent, default 10), cycles (churn, default 100),\n"
    "                     rounds (rtt, default 1000)\n"
    "  -b BYTES           bytes per client or round; suffix K or M for KiB, MiB\n"
    "                     (concurrent 64K, flood 8M, reset 1M, rtt 64)\n"
    "  -s SEED            seed of the random data and chunk sizes (default 1)\n"
    "  -t SECONDS         give up after this long (default 30)\n"
    "  --reset-every K    churn: every Kth close sends RST (default 0: never)\n"
    "  --flip-expected-at OFFSET   concurrent: self-test, expect a wrong byte there\n"
    "  --allow-refused    storm: clients the server turns away are counted, not failures\n"
    "  -v                 verbose: progress lines before the result line\n"
    "  -h                 this help\n";

struct settings {
    const char *host;
    int port;
    long count;              /* -1 until given: each subcommand has its default */
    long long bytes;         /* -1 until given */
    uint64_t seed;
    long timeout_seconds;
    long reset_every;
    long long flip_expected_at; /* self-test of the checker; -1: off */
    const char *unix_path;      /* -U: AF_UNIX instead of TCP; NULL: TCP */
    bool allow_refused;         /* storm: refused clients are not failures */
};

/* The server's address, resolved once and reused for every connection. */
struct server {
    struct sockaddr_storage address;
    socklen_t length;
    char text[ADDRESS_TEXT_SIZE];
};

/* ---- Time ---------------------------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* A poll() timeout in ms until deadline_ns, rounded up, never negative. */
static int milliseconds_until(int64_t deadline_ns)
{
    int64_t left = deadline_ns - now_ns();
    if (left <= 0)
        return 0;
    int64_t milliseconds = (left + 999999) / 1000000;
    return milliseconds > INT32_MAX ? INT32_MAX : (int)milliseconds;
}

/* ---- The pseudo-random byte stream ---------------------------------------
 *
 * Byte i of a stream is byte (i % 8) of mix64(key + i / 8): any offset can be
 * regenerated on its own, so the checker never stores what it sent. mix64 is
 * the output function of splitmix64, a cheap and well-mixed 64-bit hash. */

static uint64_t mix64(uint64_t value)
{
    value += 0x9e3779b97f4a7c15u;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9u;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebu;
    return value ^ (value >> 31);
}

static uint64_t stream_key(uint64_t seed, uint64_t client_number)
{
    return mix64(mix64(seed) + client_number);
}

static void fill_stream(uint64_t key, uint64_t offset, unsigned char *out, size_t length)
{
    while (length > 0) {
        uint64_t word = mix64(key + (offset >> 3));
        for (unsigned byte = (unsigned)(offset & 7); byte < 8 && length > 0; byte++) {
            *out++ = (unsigned char)(word >> (8 * byte));
            offset++;
            length--;
        }
    }
}

/* The next chunk size, 1..MAX_CHUNK, from a per-client sequence. */
static size_t next_chunk_size(uint64_t *state)
{
    *state = mix64(*state);
    return 1 + (size_t)(*state % MAX_CHUNK);
}

/* ---- Reporting -----------------------------------------------------------
 * A failure is one line on stdout, "SUBCOMMAND failed: reason", and exit 1. */

static int fail(const char *subcommand, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(const char *subcommand, const char *format, ...)
{
    printf("%s failed: ", subcommand);
    va_list arguments;
    va_start(arguments, format);
    vprintf(format, arguments);
    va_end(arguments);
    putchar('\n');
    return 1;
}

/* The same with ": strerror (ERRNO_NAME)" for error_number appended. */
static int fail_errno(int error_number, const char *subcommand, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_errno(int error_number, const char *subcommand, const char *format, ...)
{
    printf("%s failed: ", subcommand);
    va_list arguments;
    va_start(arguments, format);
    vprintf(format, arguments);
    va_end(arguments);
    printf(": %s (%s)\n", strerror(error_number), errno_name(error_number));
    return 1;
}

/* ---- Connections --------------------------------------------------------- */

static void resolve_server(const char *host, int port, struct server *server)
{
    if (port < 0) { /* -U PATH: host holds the path */
        struct sockaddr_un *local = (struct sockaddr_un *)&server->address;
        memset(local, 0, sizeof *local);
        local->sun_family = AF_UNIX;
        size_t length = strlen(host);
        if (length >= sizeof local->sun_path)
            usage_error(usage_text, "socket path too long: %s", host);
        memcpy(local->sun_path, host, length);
        server->length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length + 1);
        snprintf(server->text, sizeof server->text, "%.*s", (int)(sizeof server->text - 1), host);
        return;
    }
    struct addrinfo *found = resolve_or_exit(host, port, 0);
    memcpy(&server->address, found->ai_addr, found->ai_addrlen);
    server->length = found->ai_addrlen;
    format_address(found->ai_addr, found->ai_addrlen, server->text, sizeof server->text);
    freeaddrinfo(found);
}

/* A non-blocking socket with connect() started. Returns the descriptor, or
 * -1 with errno. The connection may still be in progress: wait for POLLOUT,
 * then connect_result() tells how it ended. */
static int start_connect(const struct server *server)
{
    int fd = socket(server->address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* EINTR from a non-blocking connect() leaves the handshake running in
     * the background, exactly like EINPROGRESS. */
    if (connect(fd, (const struct sockaddr *)&server->address, server->length) == 0
        || errno == EINPROGRESS || errno == EINTR)
        return fd;
    int saved_errno = errno;
    close(fd);
    errno = saved_errno;
    return -1;
}

/* 0 if the connection started by start_connect() is up, else its errno. */
static int connect_result(int fd)
{
    int error_number = 0;
    socklen_t length = sizeof error_number;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error_number, &length) < 0)
        return errno;
    return error_number;
}

/* poll() one descriptor until one of events (or an error) or the deadline.
 * EINTR policy: a signal that did not ask us to stop restarts the wait.
 * Returns revents, 0 at the deadline, -1 when a stop was requested. */
static int wait_for(int fd, short events, int64_t deadline_ns)
{
    for (;;) {
        if (stop_requested)
            return -1;
        struct pollfd watched = { .fd = fd, .events = events };
        int ready = poll(&watched, 1, milliseconds_until(deadline_ns));
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            fatal("poll");
        }
        if (ready == 0)
            return 0;
        return watched.revents;
    }
}

/* Connect one socket within the deadline. Returns the descriptor or -1
 * after printing why. */
static int connect_one(const struct server *server, const char *subcommand, int64_t deadline_ns)
{
    int fd = start_connect(server);
    if (fd < 0) {
        fail_errno(errno, subcommand, "connect to %s", server->text);
        return -1;
    }
    int events = wait_for(fd, POLLOUT, deadline_ns);
    int error_number = events > 0 ? connect_result(fd) : 0;
    if (events <= 0 || error_number != 0) {
        if (events == 0)
            fail(subcommand, "timeout connecting to %s", server->text);
        else if (events < 0)
            fail(subcommand, "interrupted by a signal");
        else
            fail_errno(error_number, subcommand, "connect to %s", server->text);
        close(fd);
        return -1;
    }
    narrate_detail("connect() -> fd %d to %s", fd, server->text);
    return fd;
}

/* close() with SO_LINGER {on, 0 seconds}: the kernel discards unsent data
 * and sends RST instead of FIN, as when a client crashes. */
static void close_with_reset(int fd)
{
    struct linger abort_on_close = { .l_onoff = 1, .l_linger = 0 };
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close) < 0)
        warn_errno("setsockopt(SO_LINGER) on fd %d", fd);
    close(fd);
}

/* Make room for `needed` descriptors if the soft limit is lower. */
static int ensure_descriptors(long needed, const char *subcommand)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
        fatal("getrlimit RLIMIT_NOFILE");
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < (rlim_t)needed) {
        long raised = raise_descriptor_limit();
        if (raised < needed)
            return fail(subcommand, "needs about %ld descriptors but the limit is %ld (ulimit -n)",
                        needed, raised);
    }
    return 0;
}

/* ---- concurrent ---------------------------------------------------------- */

struct load_client {
    int fd;
    uint64_t key;               /* this client's byte stream */
    uint64_t chunk_state;       /* this client's chunk-size sequence */
    size_t chunk_left;          /* bytes of the current chunk not yet sent */
    unsigned long long sent;
    unsigned long long received;
    bool finished;              /* end-of-file seen after every byte */
};

/* send_some(): the server closed or reset the connection; nothing printed. */
#define SEND_REFUSED 2

/* Send the next piece of the current chunk. 0, or 1 after printing a failure;
 * with refusal_allowed, SEND_REFUSED instead of a failure for EPIPE or
 * ECONNRESET (a server that closes at once can be seen first by send()). */
static int send_some(const char *subcommand, struct load_client *client, size_t number,
                     unsigned long long bytes, unsigned char *scratch, bool refusal_allowed)
{
    unsigned long long left = bytes - client->sent;
    size_t length = client->chunk_left < left ? client->chunk_left : (size_t)left;
    fill_stream(client->key, client->sent, scratch, length);
    ssize_t written = send(client->fd, scratch, length, MSG_NOSIGNAL);
    if (written < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0; /* poll() will say when there is room */
        if (refusal_allowed && (errno == EPIPE || errno == ECONNRESET))
            return SEND_REFUSED;
        return fail_errno(errno, subcommand, "client %zu: send() at offset %llu", number,
                          client->sent);
    }
    client->sent += (unsigned long long)written;
    client->chunk_left -= (size_t)written;
    if (client->chunk_left == 0)
        client->chunk_left = next_chunk_size(&client->chunk_state);
    if (client->sent == bytes) {
        narrate_detail("client %zu: all %llu bytes sent; shutdown(SHUT_WR)", number, bytes);
        if (shutdown(client->fd, SHUT_WR) < 0)
            return fail_errno(errno, subcommand, "client %zu: shutdown(SHUT_WR)", number);
    }
    return 0;
}

/* Read what has come back and check it. 0, or 1 after printing a failure. */
static int receive_some(const char *subcommand, struct load_client *client, size_t number,
                        size_t wanted, unsigned long long bytes,
                        long long flip_expected_at, unsigned char *received_bytes,
                        unsigned char *expected_bytes)
{
    ssize_t got = recv(client->fd, received_bytes, wanted, 0); /* wanted <= READ_SIZE */
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        return fail_errno(errno, subcommand, "client %zu: recv() at offset %llu of %llu",
                          number, client->received, bytes);
    }
    if (got == 0) {
        if (client->received < bytes)
            return fail(subcommand, "client %zu: end-of-file after %llu of %llu bytes",
                        number, client->received, bytes);
        client->finished = true;
        narrate_detail("client %zu: all %llu bytes back, then end-of-file", number, bytes);
        return 0;
    }
    if (client->received + (unsigned long long)got > bytes)
        return fail(subcommand, "client %zu: %llu bytes came back but only %llu were sent",
                    number, client->received + (unsigned long long)got, bytes);

    fill_stream(client->key, client->received, expected_bytes, (size_t)got);
    unsigned long long flip = (unsigned long long)flip_expected_at;
    if (number == 0 && flip_expected_at >= 0 && flip >= client->received
        && flip < client->received + (unsigned long long)got)
        expected_bytes[flip - client->received] ^= 0xff;
    if (memcmp(received_bytes, expected_bytes, (size_t)got) != 0) {
        size_t at = 0;
        while (received_bytes[at] == expected_bytes[at])
            at++;
        return fail(subcommand, "client %zu: byte at offset %llu: expected 0x%02x, got 0x%02x",
                    number, client->received + at, expected_bytes[at], received_bytes[at]);
    }
    client->received += (unsigned long long)got;
    return 0;
}

/* After the deadline: say which clients were still going. */
static int report_timeout(const struct load_client *clients, size_t count,
                          unsigned long long bytes, long timeout_seconds)
{
    size_t unfinished = 0, first = count;
    for (size_t i = 0; i < count; i++) {
        if (!clients[i].finished) {
            unfinished++;
            if (first == count)
                first = i;
        }
    }
    return fail("concurrent",
                "timeout after %ld s: %zu of %zu clients unfinished; client %zu sent %llu of "
                "%llu bytes and got %llu back",
                timeout_seconds, unfinished, count, first, clients[first].sent, bytes,
                clients[first].received);
}

/* Phase 1: every connection up before any data moves, so the server sees
 * all the clients at once. */
static int connect_all(struct load_client *clients, struct pollfd *watched, size_t count,
                       const struct server *server, int64_t deadline_ns)
{
    for (size_t i = 0; i < count; i++) {
        clients[i].fd = start_connect(server);
        if (clients[i].fd < 0)
            return fail_errno(errno, "concurrent", "client %zu: connect to %s", i, server->text);
        watched[i] = (struct pollfd){ .fd = clients[i].fd, .events = POLLOUT };
    }
    size_t pending = count;
    while (pending > 0) {
        if (stop_requested)
            return fail("concurrent", "interrupted by a signal");
        int ready = poll(watched, count, milliseconds_until(deadline_ns));
        if (ready < 0) {
            if (errno == EINTR)
                continue; /* the loop condition checks stop_requested */
            fatal("poll");
        }
        if (ready == 0)
            return fail("concurrent", "timeout: %zu of %zu connections still not up",
                        pending, count);
        for (size_t i = 0; i < count; i++) {
            if (watched[i].fd < 0 || watched[i].revents == 0)
                continue;
            int error_number = connect_result(clients[i].fd);
            if (error_number != 0)
                return fail_errno(error_number, "concurrent", "client %zu: connect to %s", i,
                                  server->text);
            watched[i].fd = -1; /* poll() skips negative descriptors */
            pending--;
        }
    }
    narrate_detail("all %zu connections are up", count);
    return 0;
}

static int run_concurrent(const struct settings *settings, const struct server *server)
{
    size_t count = (size_t)(settings->count < 0 ? 10 : settings->count);
    unsigned long long bytes = (unsigned long long)(settings->bytes < 0 ? 65536 : settings->bytes);
    if (ensure_descriptors((long)count + SPARE_DESCRIPTORS, "concurrent") != 0)
        return 1;

    struct load_client *clients = calloc(count, sizeof *clients);
    struct pollfd *watched = calloc(count, sizeof *watched);
    unsigned char *scratch = malloc(MAX_CHUNK);
    unsigned char *received_bytes = malloc(READ_SIZE);
    unsigned char *expected_bytes = malloc(READ_SIZE);
    if (clients == NULL || watched == NULL || scratch == NULL || received_bytes == NULL
        || expected_bytes == NULL)
        fatal("malloc for %zu clients", count);
    for (size_t i = 0; i < count; i++) {
        clients[i].fd = -1;
        clients[i].key = stream_key(settings->seed, i);
        clients[i].chunk_state = clients[i].key ^ 0x5bd1e9955bd1e995u;
        clients[i].chunk_left = next_chunk_size(&clients[i].chunk_state);
    }

    int64_t deadline_ns = now_ns() + (int64_t)settings->timeout_seconds * 1000000000;
    int status = connect_all(clients, watched, count, server, deadline_ns);

    /* An empty stream: nothing to send, so half-close at once. */
    for (size_t i = 0; status == 0 && bytes == 0 && i < count; i++) {
        if (shutdown(clients[i].fd, SHUT_WR) < 0)
            status = fail_errno(errno, "concurrent", "client %zu: shutdown(SHUT_WR)", i);
    }

    /* Phase 2: one poll() loop; each client writes while it has bytes left
     * and reads until end-of-file. */
    size_t unfinished = count;
    while (status == 0 && unfinished > 0) {
        if (stop_requested) {
            status = fail("concurrent", "interrupted by a signal");
            break;
        }
        for (size_t i = 0; i < count; i++) {
            bool done = clients[i].finished;
            watched[i].fd = done ? -1 : clients[i].fd;
            watched[i].events = (short)(POLLIN | (clients[i].sent < bytes ? POLLOUT : 0));
            watched[i].revents = 0;
        }
        int ready = poll(watched, count, milliseconds_until(deadline_ns));
        if (ready < 0) {
            if (errno == EINTR)
                continue; /* the loop top checks stop_requested */
            fatal("poll");
        }
        if (ready == 0) {
            status = report_timeout(clients, count, bytes, settings->timeout_seconds);
            break;
        }
        for (size_t i = 0; status == 0 && i < count; i++) {
            short events = watched[i].revents;
            if (events == 0)
                continue;
            /* POLLERR/POLLHUP: the recv() or send() below reports the error. */
            if ((events & (POLLOUT | POLLERR)) && clients[i].sent < bytes)
                status = send_some("concurrent", &clients[i], i, bytes, scratch, false);
            if (status == 0 && (events & (POLLIN | POLLERR | POLLHUP)))
                status = receive_some("concurrent", &clients[i], i, READ_SIZE, bytes, settings->flip_expected_at,
                                      received_bytes, expected_bytes);
            if (clients[i].finished)
                unfinished--;
        }
    }
    if (status == 0)
        printf("ok clients=%zu bytes=%llu\n", count, bytes * count);

    for (size_t i = 0; i < count; i++) {
        if (clients[i].fd >= 0)
            close(clients[i].fd);
    }
    free(expected_bytes);
    free(received_bytes);
    free(scratch);
    free(watched);
    free(clients);
    return status;
}

/* ---- storm ---------------------------------------------------------------- */

#define SLOW_READ_BYTES 512
#define SLOW_READ_EVERY_NS 2000000 /* 2 ms */

enum storm_role { ROLE_ECHO, ROLE_RESET, ROLE_VANISH, ROLE_SLOW };

struct storm_client {
    struct load_client load;    /* fd, stream, counters, finished */
    enum storm_role role;
    unsigned long long quit_at; /* reset and vanish: where in the stream */
    bool connecting;
    bool gone;                  /* closed by us (reset, vanish) or refused */
    int64_t next_read_ns;       /* slow readers: not before this */
};

/* What became of the crowd. */
struct storm_tally {
    size_t survivors, resets, vanished, refused;
};

/* The server closed or reset a client before any echo came back. */
static bool looks_refused(const struct storm_client *client)
{
    return client->load.received == 0;
}

/* A client the server turned away: counted and closed. Returns 0. */
static int count_refused(struct storm_client *client, struct storm_tally *tally)
{
    tally->refused++;
    close(client->load.fd);
    client->load.fd = -1;
    client->gone = true;
    return 0;
}

/* One round of work for a client poll() reported. 0, or 1 after a failure. */
static int storm_step(struct storm_client *client, size_t number, short events,
                      const struct settings *settings, unsigned long long bytes,
                      unsigned char *scratch, unsigned char *received_bytes,
                      unsigned char *expected_bytes, struct storm_tally *tally)
{
    struct load_client *load = &client->load;
    if (client->connecting) {
        int error_number = connect_result(load->fd);
        if (error_number != 0)
            return fail_errno(error_number, "storm", "client %zu: connect", number);
        client->connecting = false;
        return 0;
    }
    int status = 0;
    bool refusal_allowed = settings->allow_refused && looks_refused(client);
    if ((events & (POLLOUT | POLLERR)) && load->sent < bytes) {
        unsigned long long limit = client->role == ROLE_RESET || client->role == ROLE_VANISH
                                 ? client->quit_at : bytes;
        if (load->sent < limit) {
            /* Stop exactly at quit_at: the chunk is cut short there. */
            if ((unsigned long long)load->chunk_left > limit - load->sent)
                load->chunk_left = (size_t)(limit - load->sent);
            status = send_some("storm", load, number, bytes, scratch, refusal_allowed);
            if (status == SEND_REFUSED)
                return count_refused(client, tally);
        }
        if (status == 0 && load->sent >= limit && limit < bytes) {
            if (client->role == ROLE_RESET) {
                close_with_reset(load->fd);
                tally->resets++;
            } else {
                close(load->fd);
                tally->vanished++;
            }
            load->fd = -1;
            client->gone = true;
            return 0;
        }
    }
    if (status == 0 && (events & (POLLIN | POLLERR | POLLHUP))) {
        ssize_t got;
        size_t wanted = client->role == ROLE_SLOW ? SLOW_READ_BYTES : READ_SIZE;
        /* Peek at the end or an error first: a refusal is not a failure when
         * allowed, and it must not be reported as a wrong byte. */
        if (refusal_allowed)
            got = recv(load->fd, received_bytes, wanted, MSG_PEEK);
        else
            got = 1; /* not asked: let the reads below report it */
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return count_refused(client, tally);
        /* A slow reader takes a small taste, then waits its turn. */
        status = receive_some("storm", load, number, wanted, bytes, -1, received_bytes,
                              expected_bytes);
        if (client->role == ROLE_SLOW)
            client->next_read_ns = now_ns() + SLOW_READ_EVERY_NS;
    }
    return status;
}

static int run_storm(const struct settings *settings, const struct server *server)
{
    size_t count = (size_t)(settings->count < 0 ? 1000 : settings->count);
    unsigned long long bytes = (unsigned long long)(settings->bytes < 0 ? 65536 : settings->bytes);
    if (bytes == 0)
        return fail("storm", "-b must be at least 1");
    if (ensure_descriptors((long)count + SPARE_DESCRIPTORS, "storm") != 0)
        return 1;
    struct storm_client *clients = calloc(count, sizeof *clients);
    struct pollfd *watched = calloc(count, sizeof *watched);
    unsigned char *scratch = malloc(MAX_CHUNK);
    unsigned char *received_bytes = malloc(READ_SIZE);
    unsigned char *expected_bytes = malloc(READ_SIZE);
    if (clients == NULL || watched == NULL || scratch == NULL || received_bytes == NULL
        || expected_bytes == NULL)
        fatal("malloc for %zu clients", count);

    struct storm_tally tally = { 0 };
    int status = 0;
    for (size_t i = 0; i < count && status == 0; i++) {
        struct storm_client *client = &clients[i];
        client->load.key = stream_key(settings->seed, i);
        client->load.chunk_state = client->load.key ^ 0x5bd1e9955bd1e995u;
        client->load.chunk_left = next_chunk_size(&client->load.chunk_state);
        uint64_t draw = mix64(client->load.key ^ 0x2545f4914f6cdd1du);
        unsigned percent = (unsigned)(draw % 100);
        client->role = percent < 10 ? ROLE_RESET : percent < 20 ? ROLE_VANISH
                     : percent < 30 ? ROLE_SLOW : ROLE_ECHO;
        client->quit_at = (draw >> 8) % bytes;
        client->connecting = true;
        client->load.fd = start_connect(server);
        if (client->load.fd < 0)
            status = fail_errno(errno, "storm", "client %zu: connect to %s", i, server->text);
    }

    int64_t deadline_ns = now_ns() + (int64_t)settings->timeout_seconds * 1000000000;
    size_t unfinished = count;
    while (status == 0 && unfinished > 0) {
        if (stop_requested) {
            status = fail("storm", "interrupted by a signal");
            break;
        }
        int64_t now = now_ns(), next_due = deadline_ns;
        for (size_t i = 0; i < count; i++) {
            struct storm_client *client = &clients[i];
            struct load_client *load = &client->load;
            bool done = client->gone || load->finished;
            short events = 0;
            if (!done && client->connecting)
                events = POLLOUT;
            else if (!done) {
                if (load->sent < bytes)
                    events |= POLLOUT;
                if (client->role != ROLE_SLOW || now >= client->next_read_ns)
                    events |= POLLIN;
                else if (client->next_read_ns < next_due)
                    next_due = client->next_read_ns;
            }
            watched[i] = (struct pollfd){ .fd = done ? -1 : load->fd, .events = events };
        }
        int ready = poll(watched, count, milliseconds_until(next_due));
        if (ready < 0) {
            if (errno == EINTR)
                continue; /* the loop top checks stop_requested */
            fatal("poll");
        }
        if (ready == 0 && now_ns() >= deadline_ns) {
            status = fail("storm", "timeout after %ld s: %zu of %zu clients unfinished",
                          settings->timeout_seconds, unfinished, count);
            break;
        }
        for (size_t i = 0; status == 0 && i < count; i++) {
            if (watched[i].revents == 0)
                continue;
            struct storm_client *client = &clients[i];
            status = storm_step(client, i, watched[i].revents, settings, bytes, scratch,
                                received_bytes, expected_bytes, &tally);
            if (client->gone || client->load.finished)
                unfinished--;
            if (client->load.finished)
                tally.survivors++;
        }
    }
    if (status == 0)
        printf("ok clients=%zu survivors=%zu resets=%zu vanished=%zu refused=%zu bytes=%llu\n",
               count, tally.survivors, tally.resets, tally.vanished, tally.refused,
               bytes * tally.survivors);
    for (size_t i = 0; i < count; i++)
        if (clients[i].load.fd >= 0)
            close(clients[i].load.fd);
    free(expected_bytes);
    free(received_bytes);
    free(scratch);
    free(watched);
    free(clients);
    return status;
}

/* ---- flood ---------------------------------------------------------------- */

/* Hold the connection, never reading, until a signal or end-of-file on a
 * stdin that can deliver one. */
static void hold_connection(int fd)
{
    struct stat stdin_status;
    bool watch_stdin = fstat(STDIN_FILENO, &stdin_status) == 0
                    && (S_ISFIFO(stdin_status.st_mode) || S_ISSOCK(stdin_status.st_mode)
                        || isatty(STDIN_FILENO));
    /* events 0 on the socket: not reading, but poll() still reports
     * POLLHUP/POLLERR when the server drops us. */
    struct pollfd watched[2] = {
        { .fd = fd, .events = 0 },
        { .fd = watch_stdin ? STDIN_FILENO : -1, .events = POLLIN },
    };
    narrate_detail("holding fd %d without reading%s", fd,
                   watch_stdin ? " until end-of-file on stdin or a signal" : " until a signal");
    while (!stop_requested) {
        int ready = poll(watched, 2, -1);
        if (ready < 0) {
            if (errno == EINTR)
                continue; /* the loop condition checks stop_requested */
            fatal("poll");
        }
        if (watched[0].revents & (POLLHUP | POLLERR)) {
            printf("flood: the server closed the connection\n");
            watched[0].fd = -1;
        }
        if (watched[1].revents != 0) {
            char discarded[512];
            ssize_t got = read(STDIN_FILENO, discarded, sizeof discarded);
            if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
                return;
        }
    }
}

enum send_outcome { SENT_ALL, STALLED, INTERRUPTED, SEND_FAILED };

/* Send up to bytes of the stream of key, never reading: until all is sent,
 * or the socket takes nothing for stall_ms (the peer has stopped reading),
 * or a signal. *sent says how far it got; SEND_FAILED has said why. */
static enum send_outcome send_without_reading(int fd, uint64_t key, unsigned long long bytes,
                                              int stall_ms, const char *subcommand,
                                              unsigned long long *sent)
{
    unsigned char *scratch = malloc(READ_SIZE);
    if (scratch == NULL)
        fatal("malloc");
    enum send_outcome outcome = SENT_ALL;
    int64_t last_progress_ns = now_ns();
    *sent = 0;
    while (*sent < bytes) {
        int events = wait_for(fd, POLLOUT, last_progress_ns + (int64_t)stall_ms * 1000000);
        if (events <= 0) {
            outcome = events == 0 ? STALLED : INTERRUPTED;
            break;
        }
        size_t length = bytes - *sent < READ_SIZE ? (size_t)(bytes - *sent) : READ_SIZE;
        fill_stream(key, *sent, scratch, length);
        ssize_t written = send(fd, scratch, length, MSG_NOSIGNAL);
        if (written < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            fail_errno(errno, subcommand, "send() after %llu bytes", *sent);
            outcome = SEND_FAILED;
            break;
        }
        *sent += (unsigned long long)written;
        last_progress_ns = now_ns();
    }
    free(scratch);
    return outcome;
}

static int run_flood(const struct settings *settings, const struct server *server)
{
    unsigned long long bytes =
        (unsigned long long)(settings->bytes < 0 ? 8LL * 1024 * 1024 : settings->bytes);
    int64_t deadline_ns = now_ns() + (int64_t)settings->timeout_seconds * 1000000000;
    int fd = connect_one(server, "flood", deadline_ns);
    if (fd < 0)
        return 1;

    unsigned long long sent;
    enum send_outcome outcome = send_without_reading(fd, stream_key(settings->seed, 0), bytes,
                                                     STALL_MS, "flood", &sent);
    int status = 0;
    if (outcome == INTERRUPTED) {
        status = fail("flood", "interrupted by a signal after %llu bytes", sent);
    } else if (outcome == SEND_FAILED) {
        status = 1;
    } else {
        if (outcome == STALLED)
            printf("flood: stalled after %llu bytes\n", sent);
        else
            printf("flood: sent all %llu bytes\n", sent);
        hold_connection(fd);
    }
    close(fd);
    return status;
}

/* ---- churn ---------------------------------------------------------------- */

/* One connect / echo / close cycle. 0, or 1 after printing a failure. */
static int churn_once(const struct server *server, unsigned long cycle, bool with_reset,
                      int64_t deadline_ns)
{
    int fd = connect_one(server, "churn", deadline_ns);
    if (fd < 0)
        return 1;
    char message[64], echoed[64];
    int length = snprintf(message, sizeof message, "churn cycle %lu\n", cycle);
    if (send(fd, message, (size_t)length, MSG_NOSIGNAL) != length) {
        /* A few dozen bytes into an empty socket buffer always fit. */
        int status = fail_errno(errno, "churn", "cycle %lu: send()", cycle);
        close(fd);
        return status;
    }
    int got = 0;
    while (got < length) {
        int events = wait_for(fd, POLLIN, deadline_ns);
        if (events <= 0) {
            close(fd);
            return events == 0 ? fail("churn", "cycle %lu: timeout waiting for the echo "
                                      "(%d of %d bytes back)", cycle, got, length)
                               : fail("churn", "interrupted by a signal");
        }
        ssize_t part = recv(fd, echoed + got, (size_t)(length - got), 0);
        if (part < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (part <= 0) {
            int status = part == 0
                ? fail("churn", "cycle %lu: end-of-file after %d of %d bytes", cycle, got, length)
                : fail_errno(errno, "churn", "cycle %lu: recv()", cycle);
            close(fd);
            return status;
        }
        got += (int)part;
    }
    if (memcmp(message, echoed, (size_t)length) != 0) {
        close(fd);
        return fail("churn", "cycle %lu: sent '%.*s' but got back '%.*s'", cycle, length - 1,
                    message, length - 1, echoed);
    }
    if (with_reset)
        close_with_reset(fd);
    else
        close(fd);
    return 0;
}

static int run_churn(const struct settings *settings, const struct server *server)
{
    unsigned long cycles = (unsigned long)(settings->count < 0 ? 100 : settings->count);
    unsigned long resets = 0;
    int64_t deadline_ns = now_ns() + (int64_t)settings->timeout_seconds * 1000000000;
    for (unsigned long cycle = 1; cycle <= cycles; cycle++) {
        bool with_reset = settings->reset_every > 0
                       && cycle % (unsigned long)settings->reset_every == 0;
        if (churn_once(server, cycle, with_reset, deadline_ns) != 0)
            return 1;
        resets += with_reset;
    }
    printf("ok cycles=%lu resets=%lu\n", cycles, resets);
    return 0;
}

/* ---- reset ---------------------------------------------------------------- */

static int run_reset(const struct settings *settings, const struct server *server)
{
    unsigned long long bytes =
        (unsigned long long)(settings->bytes < 0 ? 1024LL * 1024 : settings->bytes);
    int64_t deadline_ns = now_ns() + (int64_t)settings->timeout_seconds * 1000000000;
    int fd = connect_one(server, "reset", deadline_ns);
    if (fd < 0)
        return 1;
    /* Full for a while, or a signal: either way, vanish now. */
    unsigned long long sent;
    int status = send_without_reading(fd, stream_key(settings->seed, 0), bytes, RESET_STALL_MS,
                                      "reset", &sent) == SEND_FAILED;
    close_with_reset(fd);
    if (status == 0)
        printf("reset after sending %llu bytes\n", sent);
    return status;
}

/* ---- rtt ------------------------------------------------------------------ */

static int compare_doubles(const void *left, const void *right)
{
    double a = *(const double *)left, b = *(const double *)right;
    return (a > b) - (a < b);
}

/* One round trip: send `bytes` from the stream at `offset`, read exactly as
 * many back and check them. 0, or 1 after printing a failure. */
static int round_trip(int fd, uint64_t key, unsigned long long offset, unsigned long long bytes,
                      unsigned char *scratch, unsigned char *expected_bytes, int64_t deadline_ns)
{
    unsigned long long sent = 0, received = 0;
    while (received < bytes) {
        short wanted = (short)(POLLIN | (sent < bytes ? POLLOUT : 0));
        int events = wait_for(fd, wanted, deadline_ns);
        if (events <= 0)
            return events == 0 ? fail("rtt", "timeout: %llu of %llu bytes back", received, bytes)
                               : fail("rtt", "interrupted by a signal");
        if ((events & (POLLOUT | POLLERR)) && sent < bytes) {
            size_t length = bytes - sent < READ_SIZE ? (size_t)(bytes - sent) : READ_SIZE;
            fill_stream(key, offset + sent, scratch, length);
            ssize_t written = send(fd, scratch, length, MSG_NOSIGNAL);
            if (written < 0 && errno != EAGAIN && errno != EINTR)
                return fail_errno(errno, "rtt", "send() at offset %llu", offset + sent);
            if (written > 0)
                sent += (unsigned long long)written;
        }
        if (events & (POLLIN | POLLERR | POLLHUP)) {
            size_t length = bytes - received < READ_SIZE ? (size_t)(bytes - received) : READ_SIZE;
            ssize_t got = recv(fd, scratch, length, 0);
            if (got == 0)
                return fail("rtt", "end-of-file at offset %llu", offset + received);
            if (got < 0 && errno != EAGAIN && errno != EINTR)
                return fail_errno(errno, "rtt", "recv() at offset %llu", offset + received);
            if (got > 0) {
                fill_stream(key, offset + received, expected_bytes, (size_t)got);
                if (memcmp(scratch, expected_bytes, (size_t)got) != 0)
                    return fail("rtt", "wrong echo near offset %llu", offset + received);
                received += (unsigned long long)got;
                /* A tail still to come: ACK at once. Otherwise our delayed
                 * ACK and the server's Nagle algorithm can hold that tail
                 * back for 40 ms, and we would time that timer. */
                int on = 1;
                if (received < bytes)
                    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
            }
        }
    }
    return 0;
}

static int run_rtt(const struct settings *settings, const struct server *server)
{
    size_t rounds = (size_t)(settings->count < 0 ? 1000 : settings->count);
    unsigned long long bytes = (unsigned long long)(settings->bytes < 0 ? 64 : settings->bytes);
    if (bytes == 0)
        usage_error(usage_text, "rtt needs -b of at least 1 byte");
    int64_t deadline_ns = now_ns() + (int64_t)settings->timeout_seconds * 1000000000;
    int fd = connect_one(server, "rtt", deadline_ns);
    if (fd < 0)
        return 1;
    /* Without TCP_NODELAY, Nagle's algorithm may hold a short tail back
     * waiting for an ACK, and we would time the kernel, not the server. */
    int on = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0)
        warn_errno("setsockopt(TCP_NODELAY)");

    double *microseconds = malloc(rounds * sizeof *microseconds);
    unsigned char *scratch = malloc(READ_SIZE);
    unsigned char *expected_bytes = malloc(READ_SIZE);
    if (microseconds == NULL || scratch == NULL || expected_bytes == NULL)
        fatal("malloc for %zu rounds", rounds);

    uint64_t key = stream_key(settings->seed, 0);
    unsigned long long offset = 0;
    int status = 0;
    for (size_t round = 0; status == 0 && round < rounds + WARMUP_ROUNDS; round++) {
        int64_t start_ns = now_ns();
        status = round_trip(fd, key, offset, bytes, scratch, expected_bytes, deadline_ns);
        int64_t elapsed_ns = now_ns() - start_ns;
        offset += bytes;
        if (round >= WARMUP_ROUNDS)
            microseconds[round - WARMUP_ROUNDS] = (double)elapsed_ns / 1000.0;
    }
    if (status == 0) {
        qsort(microseconds, rounds, sizeof *microseconds, compare_doubles);
        double median = rounds % 2 ? microseconds[rounds / 2]
                                   : (microseconds[rounds / 2 - 1] + microseconds[rounds / 2]) / 2;
        size_t p90_index = (rounds * 9 + 9) / 10 - 1; /* ceil(0.9 n) - 1 */
        printf("rtt: rounds=%zu median_us=%.1f p90_us=%.1f\n", rounds, median,
               microseconds[p90_index]);
    }
    close(fd);
    free(expected_bytes);
    free(scratch);
    free(microseconds);
    return status;
}

/* ---- Command line ---------------------------------------------------------- */

/* A byte count with an optional K or M suffix (KiB, MiB). */
static long long parse_bytes_or_exit(const char *text)
{
    char digits[32];
    size_t length = strlen(text);
    long long unit = 1;
    if (length > 0 && length < sizeof digits) {
        char last = text[length - 1];
        if (last == 'K' || last == 'k')
            unit = 1024;
        else if (last == 'M' || last == 'm')
            unit = 1024LL * 1024;
    }
    if (length == 0 || length >= sizeof digits)
        usage_error(usage_text, "bad byte count '%s'", text);
    memcpy(digits, text, length + 1);
    if (unit != 1)
        digits[length - 1] = '\0';
    long value;
    if (parse_number(digits, 0, (1L << 40) / unit, &value) < 0)
        usage_error(usage_text, "bad byte count '%s': expected 0 to 1T, suffix K or M allowed",
                    text);
    return (long long)value * unit;
}

static long parse_or_exit(const char *text, long minimum, long maximum, const char *what)
{
    long value;
    if (parse_number(text, minimum, maximum, &value) < 0)
        usage_error(usage_text, "bad %s '%s': expected a number from %ld to %ld", what, text,
                    minimum, maximum);
    return value;
}

enum { OPTION_RESET_EVERY = 256, OPTION_FLIP_EXPECTED_AT, OPTION_ALLOW_REFUSED };

/* One getopt pass; stops at the first word that is not an option. */
static void parse_options(int argc, char *argv[], struct settings *settings)
{
    static const struct option long_options[] = {
        { "reset-every", required_argument, NULL, OPTION_RESET_EVERY },
        { "flip-expected-at", required_argument, NULL, OPTION_FLIP_EXPECTED_AT },
        { "allow-refused", no_argument, NULL, OPTION_ALLOW_REFUSED },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int option;
    while ((option = getopt_long(argc, argv, "+:H:p:U:n:b:s:t:vh", long_options, NULL)) != -1) {
        switch (option) {
        case 'H': settings->host = parse_host_or_exit(optarg, usage_text); break;
        case 'p': settings->port = parse_port_or_exit(optarg, usage_text); break;
        case 'U': settings->unix_path = optarg; break;
        case 'n': settings->count = parse_or_exit(optarg, 1, 1000000, "count"); break;
        case 'b': settings->bytes = parse_bytes_or_exit(optarg); break;
        case 's': settings->seed = (uint64_t)parse_or_exit(optarg, 0, INT32_MAX, "seed"); break;
        case 't': settings->timeout_seconds = parse_or_exit(optarg, 1, 86400, "timeout"); break;
        case OPTION_RESET_EVERY:
            settings->reset_every = parse_or_exit(optarg, 0, 1000000, "--reset-every value");
            break;
        case OPTION_FLIP_EXPECTED_AT:
            settings->flip_expected_at = parse_bytes_or_exit(optarg);
            break;
        case OPTION_ALLOW_REFUSED: settings->allow_refused = true; break;
        case 'v': narration_level = NARRATE_VERBOSE; break;
        case 'h': fputs(usage_text, stdout); exit(0);
        default: reject_option(option, argv, usage_text);
        }
    }
}

int main(int argc, char *argv[])
{
    struct settings settings = {
        .host = "127.0.0.1",
        .port = -1,
        .count = -1,
        .bytes = -1,
        .seed = 1,
        .timeout_seconds = 30,
        .reset_every = 0,
        .flip_expected_at = -1,
    };
    /* The result line is the output; narration only with -v. */
    narration_level = NARRATE_QUIET;

    /* Options before the subcommand, the subcommand, options after it. */
    parse_options(argc, argv, &settings);
    if (optind >= argc)
        usage_error(usage_text, "missing subcommand");
    const char *subcommand = argv[optind++];
    parse_options(argc, argv, &settings);
    if (optind < argc)
        usage_error(usage_text, "unexpected argument '%s'", argv[optind]);
    if (settings.port < 0 && settings.unix_path == NULL)
        usage_error(usage_text, "missing -p PORT");
    if (settings.port == 0 && settings.unix_path == NULL)
        usage_error(usage_text, "port 0 is not a server's port");

    int (*run)(const struct settings *, const struct server *) = NULL;
    if (strcmp(subcommand, "concurrent") == 0)
        run = run_concurrent;
    else if (strcmp(subcommand, "flood") == 0)
        run = run_flood;
    else if (strcmp(subcommand, "churn") == 0)
        run = run_churn;
    else if (strcmp(subcommand, "reset") == 0)
        run = run_reset;
    else if (strcmp(subcommand, "rtt") == 0)
        run = run_rtt;
    else if (strcmp(subcommand, "storm") == 0)
        run = run_storm;
    else
        usage_error(usage_text, "unknown subcommand '%s'", subcommand);

    start_narration();
    install_signal_handlers();
    struct server server;
    if (settings.unix_path != NULL)
        resolve_server(settings.unix_path, -1, &server);
    else
        resolve_server(settings.host, settings.port, &server);
    return run(&settings, &server);
}
