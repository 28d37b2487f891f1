/*
 * tcp_client.c - a small TCP client for trying (and testing) the servers.
 *
 * Shows:   four client-side lessons. (1) One poll() loop over stdin and the
 *          socket: a client that first sends everything and only then reads
 *          can deadlock against an echo server once both socket buffers are
 *          full; this one keeps reading replies while its own data waits.
 *          (2) A connect with a timeout (-t), the client side of 超时检测:
 *          a non-blocking connect() returns EINPROGRESS, poll() waits for
 *          writability with a deadline, getsockopt(SO_ERROR) tells how the
 *          handshake ended. (3) Many idle connections (--idle N), to show
 *          what a server does when N clients sit and wait. (4) Throughput
 *          (--count N --size BYTES): N messages echoed one at a time, every
 *          byte checked, the run timed.
 *
 * Usage:   tcp_client [-H ADDR] [-p PORT] [-m MESSAGE | --idle N |
 *                     --count N --size BYTES [--deadline SECONDS]]
 *                     [-t SECONDS] [-q] [-v]
 *
 * Try:     build/blocking_echo            (in one terminal)
 *          build/tcp_client -v            (in another; type lines, Ctrl-D ends)
 *          build/tcp_client -m hello
 *          build/tcp_client -t 2 -p 9 -m hi    (nothing listens on port 9)
 *          build/tcp_client --count 1000 --size 65536
 *
 * Observe: stdout carries only the bytes the server sent back (or the one
 *          line "holding N connections" of --idle, or the one throughput
 *          line of --count); everything the client says about itself goes
 *          to stderr, so `tcp_client < file > copy` gives an exact copy.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lab.h"

#define DEFAULT_PORT 9001
#define BUFFER_SIZE 65536
#define IDLE_MAXIMUM 1000000
#define COUNT_MAXIMUM 1000000000
#define SIZE_MAXIMUM 1073741824 /* 1 GiB */
#define TIMEOUT_MAXIMUM_SECONDS 86400.0

static const char usage_text[] =
    "usage: tcp_client [-H ADDR] [-p PORT] [-m MESSAGE] [--idle N] [-t SECONDS] [-q] [-v]\n"
    "                  [--count N --size BYTES [--deadline SECONDS]]\n"
    "  -H ADDR      server address (default 127.0.0.1)\n"
    "  -p PORT      server port (default 9001, blocking_echo's)\n"
    "  -m MESSAGE   send MESSAGE and a newline, half-close, print the reply, exit\n"
    "  --idle N     open N connections (1..1000000), print 'holding N connections'\n"
    "               on stdout, keep them until SIGINT/SIGTERM or end of stdin\n"
    "               (a background job's stdin is /dev/null: give it a fifo opened\n"
    "               read-write, e.g. 0<>fifo, to keep it holding)\n"
    "  --count N --size BYTES   throughput: N messages (1..1000000000) of BYTES\n"
    "               (1..1073741824), one at a time: send, read back, check every\n"
    "               byte; then one line 'throughput: ...' on stdout\n"
    "  --deadline SECONDS   with --count: give up (exit 1) after this long (default 60)\n"
    "  -t SECONDS   connect with a timeout (e.g. 2 or 0.5), narrated on stderr\n"
    "  -q           quiet: no notes on stderr, only errors\n"
    "  -v           verbose: narrate every system call on stderr\n"
    "  -h           this help\n"
    "Without -m, --idle or --count it copies stdin to the server and the server's\n"
    "replies to stdout, byte for byte; at end of stdin it half-closes (shutdown\n"
    "SHUT_WR) and prints what still comes back until the server closes.\n"
    "Exit status: 0 done, 1 connect or I/O error, timeout, data left unsent when\n"
    "the server closed, or a wrong echo; 2 bad usage.\n";

/* No EINTR branch on the socket's send() and recv() in this file: each is
 * MSG_DONTWAIT, never sleeps, so no signal can cut one short. The waits
 * (poll, a blocking connect) and the blocking stdin and stdout keep theirs. */

/* What poll() may wait before deadline (monotonic_seconds()), rounded up. */
static int milliseconds_until(double deadline)
{
    double remaining = deadline - monotonic_seconds();
    return remaining > 0 ? (int)ceil(remaining * 1000) : 0;
}

/* ---- Connecting --------------------------------------------------------- */

struct target {
    const char *host;
    int port;
    struct addrinfo *addresses; /* one getaddrinfo(), reused by --idle */
    double timeout_seconds;     /* 0: a plain blocking connect() */
    int level;                  /* the narration level of the -t steps */
    const char *failed_call;    /* after a failure, with errno: which call */
};

/* Close the half-made socket, and keep errno and the call that failed for
 * the one error line. Returns -1. */
static int give_up(struct target *target, int fd, const char *call)
{
    int saved_errno = errno;
    if (fd >= 0)
        close(fd);
    target->failed_call = call;
    errno = saved_errno;
    return -1;
}

/* The timeout lesson, the C behind Python's create_connection(timeout=):
 * connect() on a non-blocking socket starts the handshake and returns at
 * once with EINPROGRESS; poll() for POLLOUT waits, with a deadline, until
 * the handshake has finished one way or the other; SO_ERROR says which. */
static int finish_connect(struct target *target, int fd)
{
    int level = target->level;
    double seconds = target->timeout_seconds, deadline = monotonic_seconds() + seconds;
    note(level, "connect() -> EINPROGRESS: the handshake goes on without us");
    struct pollfd watched = { .fd = fd, .events = POLLOUT };
    int ready;
    do { /* EINTR: a stop request ends the wait, else poll again for the rest */
        int milliseconds = milliseconds_until(deadline);
        note(level, "poll(fd %d, POLLOUT, %d ms) - waits until the handshake ends", fd,
             milliseconds);
        ready = poll(&watched, 1, milliseconds);
    } while (ready < 0 && errno == EINTR && !stop_requested);
    if (ready == 0) {
        note(level, "poll() -> 0: still no answer after %g second%s", seconds,
             seconds == 1 ? "" : "s");
        errno = ETIMEDOUT; /* never poll()'s own error: this marks our deadline */
    }
    if (ready <= 0)
        return give_up(target, fd, "poll");

    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0)
        return give_up(target, fd, "getsockopt");
    if (error != 0) {
        note(level, "poll() -> POLLOUT; getsockopt(SO_ERROR) -> %s: the connect failed",
             errno_name(error));
        errno = error;
        return give_up(target, fd, "connect");
    }
    note(level, "poll() -> POLLOUT; getsockopt(SO_ERROR) -> 0: connected");
    return fd;
}

/* One connect to one address; the socket comes back blocking either way. */
static int connect_one(struct target *target, const struct addrinfo *address)
{
    char text[ADDRESS_TEXT_SIZE];
    format_address(address->ai_addr, address->ai_addrlen, text, sizeof text);
    int fd = socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC,
                    address->ai_protocol);
    if (fd < 0)
        return give_up(target, -1, "socket");

    if (target->timeout_seconds <= 0) {
        note(NARRATE_VERBOSE, "connect(fd %d, %s) - blocks until the handshake ends", fd, text);
        if (connect(fd, address->ai_addr, address->ai_addrlen) < 0)
            return give_up(target, fd, "connect");
        note(NARRATE_VERBOSE, "connect() -> 0: fd %d connected to %s", fd, text);
        return fd;
    }

    if (set_nonblocking(fd) < 0)
        return give_up(target, fd, "fcntl");
    note(target->level, "fcntl(fd %d, F_SETFL, O_NONBLOCK): connect() will not wait", fd);
    note(target->level, "connect(fd %d, %s)", fd, text);
    if (connect(fd, address->ai_addr, address->ai_addrlen) == 0)
        note(target->level, "connect() -> 0: connected at once");
    else if (errno != EINPROGRESS)
        return give_up(target, fd, "connect");
    else if (finish_connect(target, fd) < 0)
        return -1;

    /* The rest of the program reads and writes in the ordinary way. */
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
        return give_up(target, fd, "fcntl");
    note(target->level, "fcntl(fd %d, F_SETFL, flags without O_NONBLOCK): blocking again", fd);
    return fd;
}

/* Try each address getaddrinfo() gave (localhost may be ::1 and 127.0.0.1)
 * until one connects. On failure, unless a stop was asked, say why in one
 * line, after "opened K of N connections; " for --idle (count > 0):
 * "connect to 127.0.0.1 port 9001: Connection refused (ECONNREFUSED)" or
 * "... timed out after 2 seconds". Returns the fd or -1. */
static int open_connection(struct target *target, long opened, long count)
{
    for (const struct addrinfo *address = target->addresses; address != NULL;
         address = address->ai_next) {
        int fd = connect_one(target, address);
        if (fd >= 0 || stop_requested)
            return fd;
    }
    int error = errno;
    char prefix[96] = "";
    if (count > 0)
        snprintf(prefix, sizeof prefix, "opened %ld of %ld connections; ", opened, count);
    const char *call = target->failed_call != NULL ? target->failed_call : "connect";
    double seconds = target->timeout_seconds;
    if (strcmp(call, "poll") == 0 && error == ETIMEDOUT)
        complain(0, "%sconnect to %s port %d timed out after %g second%s", prefix,
                 target->host, target->port, seconds, seconds == 1 ? "" : "s");
    else if (strcmp(call, "connect") == 0)
        complain(error, "%sconnect to %s port %d", prefix, target->host, target->port);
    else
        complain(error, "%s%s() while connecting to %s port %d", prefix, call, target->host,
                 target->port);
    return -1;
}

/* ---- Default and -m: one poll() loop over stdin and the socket ---------- */

/* The bytes waiting to go out are a struct outgoing (common/lab.h): bounded,
 * and while it holds anything stdin rests, but the socket is always read. */

/* Returns the exit status. */
static int converse(int socket_fd, struct outgoing *out)
{
    char incoming[BUFFER_SIZE];
    bool write_side_open = true;
    unsigned long long sent = 0, received = 0;

    while (!stop_requested) {
        if (!out->more_coming && out->start == out->end && write_side_open) {
            /* Everything is sent: tell the server we are done (it reads 0)
             * but keep our read side open for what it still sends. */
            note(NARRATE_VERBOSE, "shutdown(fd %d, SHUT_WR) after %llu bytes: "
                 "no more data from us; still reading", socket_fd, sent);
            if (shutdown(socket_fd, SHUT_WR) < 0)
                return complain(errno, "shutdown(SHUT_WR)");
            write_side_open = false;
        }

        bool pending = out->start < out->end;
        struct pollfd watched[2] = {
            { .fd = socket_fd, .events = (short)(POLLIN | (pending ? POLLOUT : 0)) },
            /* A negative fd is skipped by poll(): stdin rests while the
             * buffer holds data or after its end. */
            { .fd = out->more_coming && !pending ? STDIN_FILENO : -1, .events = POLLIN },
        };
        int ready = poll(watched, 2, -1);
        if (ready < 0 && errno == EINTR)
            continue; /* the loop condition checks stop_requested */
        if (ready < 0)
            return complain(errno, "poll()");
        if (narration_level >= NARRATE_VERBOSE) {
            char socket_events[64], stdin_events[64];
            note(NARRATE_VERBOSE, "poll() -> %d ready: socket %s, stdin %s", ready,
                 describe_poll_events(watched[0].revents, socket_events, sizeof socket_events),
                 describe_poll_events(watched[1].revents, stdin_events, sizeof stdin_events));
        }

        if (watched[1].revents != 0) {
            ssize_t count = read(STDIN_FILENO, out->data, out->capacity);
            if (count > 0) {
                out->start = 0;
                out->end = (size_t)count;
                note(NARRATE_VERBOSE, "read(stdin) -> %zd bytes", count);
            } else if (count == 0) {
                out->more_coming = false;
                note(NARRATE_VERBOSE, "read(stdin) -> 0: end of input");
            } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
                return complain(errno, "read(stdin)");
            }
        }

        if ((watched[0].revents & POLLOUT) && out->start < out->end) {
            /* MSG_DONTWAIT: send what fits now, never sleep in send() while
             * the server may be waiting for us to read. */
            ssize_t count = send(socket_fd, out->data + out->start, out->end - out->start,
                                 MSG_DONTWAIT);
            if (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                return complain(errno, "send() to the server");
            if (count > 0) {
                note(NARRATE_VERBOSE, "send() -> %zd of %zu bytes", count, out->end - out->start);
                out->start += (size_t)count;
                sent += (unsigned long long)count;
            }
        }

        if (watched[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t count = recv(socket_fd, incoming, sizeof incoming, MSG_DONTWAIT);
            if (count == 0) {
                note(NARRATE_VERBOSE, "recv() -> 0: the server closed; %llu bytes sent, "
                     "%llu received", sent, received);
                return check_nothing_unsent(out, sent);
            }
            if (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                return complain(errno, "recv() from the server");
            if (count < 0)
                continue;
            note(NARRATE_VERBOSE, "recv() -> %zd bytes; writing them to stdout", count);
            received += (unsigned long long)count;
            if (write_all(STDOUT_FILENO, incoming, (size_t)count) < 0 && !stop_requested)
                return complain(errno, "write to stdout");
        }
    }
    return 0;
}

/* ---- --idle N ----------------------------------------------------------- */

/* Sleep until SIGINT/SIGTERM or end of stdin; anything typed is ignored. */
static void wait_for_release(void)
{
    char ignored[4096];
    while (!stop_requested) {
        struct pollfd watched = { .fd = STDIN_FILENO, .events = POLLIN };
        ssize_t count = poll(&watched, 1, -1);
        if (count > 0)
            count = read(STDIN_FILENO, ignored, sizeof ignored);
        if (count == 0) {
            note(NARRATE_VERBOSE, "read(stdin) -> 0: end of input, letting go");
            return;
        }
        if (count < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            complain(errno, "poll() or read() on stdin");
            return;
        }
    }
    note(NARRATE_VERBOSE, "stop requested (SIGINT/SIGTERM), letting go");
}

static int hold_idle_connections(struct target *target, long count)
{
    /* N connections need N descriptors, and stdio and a few spare. */
    long before, limit = raise_descriptor_limit_to(count + 16, &before);
    if (limit > before)
        note(NARRATE_VERBOSE, "setrlimit(RLIMIT_NOFILE): soft limit %ld -> %ld", before, limit);
    int *fds = calloc((size_t)count, sizeof *fds);
    if (fds == NULL)
        return complain(errno, "calloc for %ld descriptors", count);

    int status = 0;
    long opened = 0;
    while (opened < count && !stop_requested) {
        int fd = open_connection(target, opened, count);
        if (fd < 0) {
            status = stop_requested ? 0 : 1;
            break;
        }
        fds[opened++] = fd;
    }
    if (opened == count && !stop_requested) {
        /* The one line on stdout: tests and scripts wait for it. */
        printf("holding %ld connections\n", count);
        if (fflush(stdout) == EOF)
            status = complain(errno, "write to stdout");
        else
            wait_for_release();
    }

    for (long index = 0; index < opened; index++)
        close(fds[index]);
    note(NARRATE_VERBOSE, "closed %ld connections", opened);
    free(fds);
    return status;
}

/* ---- --count N --size BYTES: throughput --------------------------------- */

/* Message number `number`: a xorshift stream seeded by that number, so no
 * two messages are alike and a byte out of place, or from another message,
 * shows. Eight bytes a step: making it costs far less than echoing it. */
static void fill_pattern(unsigned char *data, size_t size, long number)
{
    uint64_t state = 0x9E3779B97F4A7C15u * (uint64_t)number;
    for (size_t offset = 0; offset < size; offset += sizeof state) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        size_t left = size - offset;
        memcpy(data + offset, &state, left < sizeof state ? left : sizeof state);
    }
}

/* One message of `size` bytes, sent (its echo read as it comes, so that a
 * big message cannot deadlock us: lesson 1) and read back whole. Returns
 * 0, or 1 after saying what went wrong, and where. */
static int echo_one_message(int socket_fd, const unsigned char *message, size_t size,
                            long number, long count, double deadline)
{
    unsigned char incoming[BUFFER_SIZE];
    size_t sent = 0, checked = 0;
    while (checked < size) {
        struct pollfd watched = {
            .fd = socket_fd, .events = (short)(POLLIN | (sent < size ? POLLOUT : 0)) };
        int milliseconds = milliseconds_until(deadline);
        int ready = milliseconds > 0 ? poll(&watched, 1, milliseconds) : 0;
        if (stop_requested || ready == 0)
            return complain(0, "%s with %ld of %ld messages echoed; nothing measured",
                            stop_requested ? "stopped" : "--deadline passed", number - 1, count);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0)
            return complain(errno, "poll()");
        if ((watched.revents & POLLOUT) && sent < size) {
            ssize_t taken = send(socket_fd, message + sent, size - sent, MSG_DONTWAIT);
            if (taken < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                return complain(errno, "send() to the server");
            sent += taken > 0 ? (size_t)taken : 0;
        }
        if (!(watched.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        size_t wanted = size - checked < sizeof incoming ? size - checked : sizeof incoming;
        ssize_t got = recv(socket_fd, incoming, wanted, MSG_DONTWAIT);
        if (got == 0)
            return complain(0, "the server closed the connection %zu bytes into message "
                            "%ld of %ld", checked, number, count);
        if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return complain(errno, "recv() from the server");
        if (got < 0)
            continue;
        if (memcmp(incoming, message + checked, (size_t)got) != 0) {
            size_t at = 0;
            while (incoming[at] == message[checked + at])
                at++;
            return complain(0, "message %ld of %ld came back wrong at offset %zu: "
                            "sent 0x%02x, got 0x%02x", number, count, checked + at,
                            message[checked + at], incoming[at]);
        }
        checked += (size_t)got;
        /* More to come: ACK at once (the option resets itself), so that our
         * delayed ACK does not hold the server's tail back (Nagle). */
        int on = 1;
        if (checked < size)
            setsockopt(socket_fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
    }
    return 0;
}

/* Message after message, each whole and checked before the next; then the
 * one line, in the format unix_client prints too: a benchmark compares the
 * two. Returns the exit status. */
static int measure_throughput(int socket_fd, long count, size_t size, double deadline_seconds)
{
    unsigned char *message = malloc(size);
    if (message == NULL)
        return complain(errno, "malloc(%zu) for one message", size);
    /* Nagle's algorithm would hold our short tails back until an ACK came,
     * and we would time that wait instead of the echo. */
    int on = 1;
    setsockopt(socket_fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    double started = monotonic_seconds(), deadline = started + deadline_seconds;
    int status = 0;
    for (long number = 1; number <= count && status == 0; number++) {
        fill_pattern(message, size, number);
        status = echo_one_message(socket_fd, message, size, number, count, deadline);
        if (status == 0)
            note(NARRATE_VERBOSE, "message %ld of %ld: %zu bytes sent, echoed and checked",
                 number, count, size);
    }
    free(message);
    if (status != 0)
        return status;
    double seconds = monotonic_seconds() - started;
    printf("throughput: %ld x %zu bytes echoed and checked in %.3f s: %.1f MiB/s, "
           "%.0f round trips/s\n", count, size, seconds,
           (double)count * (double)size / 1048576.0 / seconds, (double)count / seconds);
    return fflush(stdout) == EOF ? complain(errno, "write to stdout") : 0;
}

/* ---- main --------------------------------------------------------------- */

enum { OPTION_IDLE = 256, OPTION_COUNT, OPTION_SIZE, OPTION_DEADLINE };

/* A whole number from 1 to maximum, or usage_error() naming the option. */
static long count_or_exit(const char *text, const char *option, long maximum)
{
    long value;
    if (parse_number(text, 1, maximum, &value) < 0)
        usage_error(usage_text, "bad %s '%s': expected a number from 1 to %ld", option, text,
                    maximum);
    return value;
}

/* The conversation of the default mode and of -m: stdin through a bounded
 * buffer, or the message as if typed, its bytes and a newline, then the end. */
static int run_session(int socket_fd, const char *message)
{
    struct outgoing out = { .capacity = BUFFER_SIZE, .more_coming = message == NULL };
    if (message != NULL)
        out.capacity = out.end = strlen(message) + 1;
    out.data = malloc(out.capacity);
    if (out.data == NULL)
        return complain(errno, "malloc");
    if (message != NULL) {
        memcpy(out.data, message, out.end - 1);
        out.data[out.end - 1] = '\n';
    }
    int status = converse(socket_fd, &out);
    free(out.data);
    return status;
}

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1";
    int port = DEFAULT_PORT;
    const char *message = NULL;
    long idle_count = 0, message_count = 0, message_size = 0;
    double timeout_seconds = 0, deadline_seconds = 60;
    bool deadline_given = false;

    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "idle", required_argument, NULL, OPTION_IDLE },
        { "count", required_argument, NULL, OPTION_COUNT },
        { "size", required_argument, NULL, OPTION_SIZE },
        { "deadline", required_argument, NULL, OPTION_DEADLINE },
        { NULL, 0, NULL, 0 },
    };
    int option;
    while ((option = getopt_long(argc, argv, "+:H:p:m:t:qvh", long_options, NULL)) != -1) {
        switch (option) {
        case 'H': host = parse_host_or_exit(optarg, usage_text); break;
        case 'p': port = parse_port_or_exit(optarg, usage_text); break;
        case 'm': message = optarg; break;
        case OPTION_IDLE: idle_count = count_or_exit(optarg, "--idle", IDLE_MAXIMUM); break;
        case OPTION_COUNT: message_count = count_or_exit(optarg, "--count", COUNT_MAXIMUM); break;
        case OPTION_SIZE: message_size = count_or_exit(optarg, "--size", SIZE_MAXIMUM); break;
        case 't':
        case OPTION_DEADLINE:
            if (parse_seconds(optarg, 0.001, TIMEOUT_MAXIMUM_SECONDS,
                              option == 't' ? &timeout_seconds : &deadline_seconds) < 0)
                usage_error(usage_text, "bad %s '%s': expected seconds above 0 (e.g. 2 or "
                            "0.5), at most %g", option == 't' ? "timeout" : "--deadline",
                            optarg, TIMEOUT_MAXIMUM_SECONDS);
            deadline_given |= option == OPTION_DEADLINE;
            break;
        case 'q': narration_level = NARRATE_QUIET; break;
        case 'v': narration_level = NARRATE_VERBOSE; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: reject_option(option, argv, usage_text);
        }
    }
    if (optind < argc)
        usage_error(usage_text, "unexpected argument '%s'", argv[optind]);
    if ((message != NULL) + (idle_count > 0) + (message_count > 0 || message_size > 0) > 1)
        usage_error(usage_text, "-m, --idle and --count do not go together");
    if ((message_count > 0) != (message_size > 0))
        usage_error(usage_text, "--count and --size go together");
    if (deadline_given && message_count == 0)
        usage_error(usage_text, "--deadline is for a throughput run (--count, --size)");
    if (port == 0)
        usage_error(usage_text, "port 0 is for servers; a client needs the server's port");

    ensure_standard_descriptors();
    install_signal_handlers();

    struct target target = {
        .host = host,
        .port = port,
        .addresses = resolve_or_exit(host, port, 0), /* getaddrinfo() */
        .timeout_seconds = timeout_seconds,
        /* -t narrates its steps at the normal level: that is its lesson. */
        .level = timeout_seconds > 0 && idle_count == 0 ? NARRATE_NORMAL : NARRATE_VERBOSE,
    };
    int socket_fd = -1, status;
    if (idle_count > 0)
        status = hold_idle_connections(&target, idle_count);
    else if ((socket_fd = open_connection(&target, 0, 0)) < 0)
        status = stop_requested ? 0 : 1;
    else if (message_count > 0)
        status = measure_throughput(socket_fd, message_count, (size_t)message_size,
                                    deadline_seconds);
    else
        status = run_session(socket_fd, message);
    if (socket_fd >= 0)
        close(socket_fd);
    freeaddrinfo(target.addresses);
    return status;
}
