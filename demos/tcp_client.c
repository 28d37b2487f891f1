/*
 * tcp_client.c - a small TCP client for trying (and testing) the servers.
 *
 * Shows:   three client-side lessons. (1) One poll() loop over stdin and the
 *          socket: a client that first sends everything and only then reads
 *          can deadlock against an echo server once both socket buffers are
 *          full; this one keeps reading replies while its own data waits.
 *          (2) A connect with a timeout (-t), the client side of 超时检测:
 *          a non-blocking connect() returns EINPROGRESS, poll() waits for
 *          writability with a deadline, getsockopt(SO_ERROR) tells how the
 *          handshake ended. (3) Many idle connections (--idle N), to show
 *          what a server does when N clients sit and wait.
 *
 * Usage:   tcp_client [-H ADDR] [-p PORT] [-m MESSAGE] [--idle N] [-t SECONDS]
 *                     [-q] [-v]
 *
 * Try:     build/blocking_echo            (in one terminal)
 *          build/tcp_client -v            (in another; type lines, Ctrl-D ends)
 *          build/tcp_client -m hello
 *          build/tcp_client -t 2 -p 9 -m hi    (nothing listens on port 9)
 *
 * Observe: stdout carries only the bytes the server sent back (or, with
 *          --idle, the one line "holding N connections"); everything the
 *          client says about itself goes to stderr, so `tcp_client < file >
 *          copy` gives an exact copy.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"

#define DEFAULT_PORT 9001
#define BUFFER_SIZE 65536
#define IDLE_MAXIMUM 1000000
#define TIMEOUT_MAXIMUM_SECONDS 86400.0

static const char usage_text[] =
    "usage: tcp_client [-H ADDR] [-p PORT] [-m MESSAGE] [--idle N] [-t SECONDS] [-q] [-v]\n"
    "  -H ADDR      server address (default 127.0.0.1)\n"
    "  -p PORT      server port (default 9001, blocking_echo's)\n"
    "  -m MESSAGE   send MESSAGE and a newline, half-close, print the reply, exit\n"
    "  --idle N     open N connections (1..1000000), print 'holding N connections'\n"
    "               on stdout, keep them until SIGINT/SIGTERM or end of stdin\n"
    "               (a background job's stdin is /dev/null: give it a fifo opened\n"
    "               read-write, e.g. 0<>fifo, to keep it holding)\n"
    "  -t SECONDS   connect with a timeout (e.g. 2 or 0.5), narrated on stderr\n"
    "  -q           quiet: no notes on stderr, only errors\n"
    "  -v           verbose: narrate every system call on stderr\n"
    "  -h           this help\n"
    "Without -m or --idle it copies stdin to the server and the server's replies\n"
    "to stdout, byte for byte; at end of stdin it half-closes (shutdown SHUT_WR)\n"
    "and prints what still comes back until the server closes.\n"
    "Exit status: 0 done, 1 connect or I/O error (or timeout), 2 bad usage.\n";

/* ---- Notes on stderr: stdout carries the server's bytes ----------------- */

static void note_at(int level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void note_at(int level, const char *format, ...)
{
    if (narration_level < level)
        return;
    va_list arguments;
    va_start(arguments, format);
    fprintf(stderr, "tcp_client: ");
    vfprintf(stderr, format, arguments);
    fputc('\n', stderr);
    va_end(arguments);
}

/* An error that ends the program, reported like fatal() but leaving the
 * caller to free what it holds (so the sanitizers see no leak). */
static void complain(int error, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void complain(int error, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    fprintf(stderr, "tcp_client: ");
    vfprintf(stderr, format, arguments);
    fprintf(stderr, ": %s (%s)\n", strerror(error), errno_name(error));
    va_end(arguments);
}

/* ---- Arguments ---------------------------------------------------------- */

/* Positive seconds, decimals allowed ("2", "0.5"); 0 on success. */
static int parse_seconds(const char *text, double *seconds)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(value))
        return -1;
    if (value <= 0 || value > TIMEOUT_MAXIMUM_SECONDS)
        return -1;
    *seconds = value;
    return 0;
}

/* If the caller started us with stdin, stdout or stderr closed, our first
 * socket would take that number and the data would go astray: fill the
 * gaps with /dev/null (a closed stdin then reads as end of input). */
static void ensure_standard_descriptors(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int opened = open("/dev/null", O_RDWR);
        if (opened < 0)
            exit(1);
        if (opened != fd) {
            /* Cannot happen (the lowest free number is fd), but be sure. */
            close(opened);
            exit(1);
        }
    }
}

/* ---- Connecting --------------------------------------------------------- */

struct target {
    const char *host;
    int port;
    struct addrinfo *addresses; /* one getaddrinfo(), reused by --idle */
    double timeout_seconds;     /* 0: a plain blocking connect() */
};

/* Why a connection could not be made. */
struct connect_failure {
    const char *call; /* "socket", "connect", "poll", "fcntl", "getsockopt" */
    int error;        /* errno value */
    bool timed_out;   /* our own -t deadline passed (error is ETIMEDOUT) */
};

static double monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Close the half-made socket and keep why it failed, for the one error
 * line the caller prints (or, for --idle, the "opened K of N" line). */
static int record_failure(struct connect_failure *failure, int fd, const char *call, int error)
{
    failure->call = call;
    failure->error = error;
    failure->timed_out = false;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* The timeout lesson, the C behind Python's create_connection(timeout=):
 * connect() on a non-blocking socket starts the handshake and returns at
 * once with EINPROGRESS; poll() for POLLOUT waits, with a deadline, until
 * the handshake has finished one way or the other; SO_ERROR says which. */
static int finish_connect_with_timeout(int fd, double seconds, int level,
                                       struct connect_failure *failure)
{
    note_at(level, "connect() -> EINPROGRESS: the handshake goes on without us");
    double deadline = monotonic_seconds() + seconds;
    struct pollfd watched = { .fd = fd, .events = POLLOUT };
    for (;;) {
        double remaining = deadline - monotonic_seconds();
        int milliseconds = remaining > 0 ? (int)ceil(remaining * 1000) : 0;
        note_at(level, "poll(fd %d, POLLOUT, %d ms) - waits until the handshake ends",
                fd, milliseconds);
        int ready = poll(&watched, 1, milliseconds);
        if (ready > 0)
            break;
        if (ready == 0) {
            note_at(level, "poll() -> 0: still no answer after %g second%s", seconds,
                    seconds == 1 ? "" : "s");
            record_failure(failure, fd, "poll", ETIMEDOUT);
            failure->timed_out = true;
            return -1;
        }
        /* EINTR: a stop request ends the wait; anything else retries with
         * what is left of the deadline. */
        if (errno != EINTR || stop_requested)
            return record_failure(failure, fd, "poll", errno);
    }

    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0)
        return record_failure(failure, fd, "getsockopt", errno);
    if (error != 0) {
        note_at(level, "poll() -> POLLOUT; getsockopt(SO_ERROR) -> %s: the connect failed",
                errno_name(error));
        return record_failure(failure, fd, "connect", error);
    }
    note_at(level, "poll() -> POLLOUT; getsockopt(SO_ERROR) -> 0: connected");
    return fd;
}

/* One connect to one address; the socket comes back blocking either way. */
static int connect_one(const struct addrinfo *address, double timeout_seconds, int level,
                       struct connect_failure *failure)
{
    char text[ADDRESS_TEXT_SIZE];
    format_address(address->ai_addr, address->ai_addrlen, text, sizeof text);

    int fd = socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC,
                    address->ai_protocol);
    if (fd < 0)
        return record_failure(failure, -1, "socket", errno);

    if (timeout_seconds <= 0) {
        note_at(NARRATE_VERBOSE, "connect(fd %d, %s) - blocks until the handshake ends",
                fd, text);
        if (connect(fd, address->ai_addr, address->ai_addrlen) < 0)
            return record_failure(failure, fd, "connect", errno);
        note_at(NARRATE_VERBOSE, "connect() -> 0: fd %d connected to %s", fd, text);
        return fd;
    }

    if (set_nonblocking(fd) < 0)
        return record_failure(failure, fd, "fcntl", errno);
    note_at(level, "fcntl(fd %d, F_SETFL, O_NONBLOCK): connect() will not wait", fd);
    note_at(level, "connect(fd %d, %s)", fd, text);
    if (connect(fd, address->ai_addr, address->ai_addrlen) == 0) {
        note_at(level, "connect() -> 0: connected at once");
    } else if (errno != EINPROGRESS) {
        return record_failure(failure, fd, "connect", errno);
    } else if (finish_connect_with_timeout(fd, timeout_seconds, level, failure) < 0) {
        return -1;
    }

    /* The rest of the program reads and writes in the ordinary way. */
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
        return record_failure(failure, fd, "fcntl", errno);
    note_at(level, "fcntl(fd %d, F_SETFL, flags without O_NONBLOCK): blocking again", fd);
    return fd;
}

/* Try each address getaddrinfo() gave (localhost may be ::1 and 127.0.0.1)
 * until one connects. Returns the fd, or -1 with the last failure. */
static int open_connection(const struct target *target, int level,
                           struct connect_failure *failure)
{
    for (const struct addrinfo *address = target->addresses; address != NULL;
         address = address->ai_next) {
        int fd = connect_one(address, target->timeout_seconds, level, failure);
        if (fd >= 0 || stop_requested)
            return fd;
    }
    return -1;
}

/* "connect to 127.0.0.1 port 9001: Connection refused (ECONNREFUSED)" or
 * "connect to 127.0.0.1 port 9001 timed out after 2 seconds", after prefix. */
static void report_connect_failure(const struct target *target,
                                   const struct connect_failure *failure, const char *prefix)
{
    if (failure->timed_out) {
        fprintf(stderr, "tcp_client: %sconnect to %s port %d timed out after %g second%s\n",
                prefix, target->host, target->port, target->timeout_seconds,
                target->timeout_seconds == 1 ? "" : "s");
    } else if (strcmp(failure->call, "connect") == 0) {
        complain(failure->error, "%sconnect to %s port %d", prefix, target->host,
                 target->port);
    } else {
        complain(failure->error, "%s%s() while connecting to %s port %d", prefix,
                 failure->call, target->host, target->port);
    }
}

/* ---- Default and -m: one poll() loop over stdin and the socket ---------- */

/* Bytes read from stdin (or the -m message) that the socket has not taken
 * yet. Bounded: while it holds anything we stop reading stdin, but we never
 * stop reading the socket, so an echo server can always hand its replies
 * back and neither side waits for the other forever. */
struct outgoing {
    char *data;
    size_t capacity;
    size_t start, end;  /* data[start..end) is still to be sent */
    bool more_coming;   /* stdin is still open */
};

/* write() to stdout until all is written; a non-blocking stdout (shared
 * with another program) is waited for with poll() rather than spun on. */
static int write_to_stdout(const char *data, size_t length)
{
    while (length > 0) {
        ssize_t written = write(STDOUT_FILENO, data, length);
        if (written >= 0) {
            data += written;
            length -= (size_t)written;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd watched = { .fd = STDOUT_FILENO, .events = POLLOUT };
            if (poll(&watched, 1, -1) < 0 && errno != EINTR)
                return -1;
        } else if (errno != EINTR) {
            return -1;
        }
        if (stop_requested)
            return 0;
    }
    return 0;
}

/* "POLLIN|POLLHUP" for a revents mask, "none" for none. */
static const char *event_names(short events, char *text, size_t size)
{
    static const struct named_bit names[] = {
        { POLLIN, "POLLIN" }, { POLLPRI, "POLLPRI" }, { POLLOUT, "POLLOUT" },
        { POLLERR, "POLLERR" }, { POLLHUP, "POLLHUP" }, { POLLNVAL, "POLLNVAL" },
    };
    return describe_mask((unsigned short)events, names, sizeof names / sizeof names[0], text, size);
}

/* Returns the exit status. */
static int run_session(int socket_fd, struct outgoing *out)
{
    char incoming[BUFFER_SIZE];
    bool write_side_open = true;
    unsigned long long sent = 0, received = 0;

    while (!stop_requested) {
        if (!out->more_coming && out->start == out->end && write_side_open) {
            /* Everything is sent: tell the server we are done (it reads 0)
             * but keep our read side open for what it still sends. */
            note_at(NARRATE_VERBOSE, "shutdown(fd %d, SHUT_WR) after %llu bytes: "
                    "no more data from us; still reading", socket_fd, sent);
            if (shutdown(socket_fd, SHUT_WR) < 0) {
                complain(errno, "shutdown(SHUT_WR)");
                return 1;
            }
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
        if (ready < 0) {
            if (errno == EINTR)
                continue; /* the loop condition checks stop_requested */
            complain(errno, "poll()");
            return 1;
        }
        if (narration_level >= NARRATE_VERBOSE) {
            char socket_events[64], stdin_events[64];
            note_at(NARRATE_VERBOSE, "poll() -> %d ready: socket %s, stdin %s", ready,
                    event_names(watched[0].revents, socket_events, sizeof socket_events),
                    event_names(watched[1].revents, stdin_events, sizeof stdin_events));
        }

        if (watched[1].revents != 0) {
            ssize_t count = read(STDIN_FILENO, out->data, out->capacity);
            if (count > 0) {
                out->start = 0;
                out->end = (size_t)count;
                note_at(NARRATE_VERBOSE, "read(stdin) -> %zd bytes", count);
            } else if (count == 0) {
                out->more_coming = false;
                note_at(NARRATE_VERBOSE, "read(stdin) -> 0: end of input");
            } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
                complain(errno, "read(stdin)");
                return 1;
            }
        }

        if ((watched[0].revents & POLLOUT) && out->start < out->end) {
            /* MSG_DONTWAIT: send what fits now, never sleep in send() while
             * the server may be waiting for us to read. */
            ssize_t count = send(socket_fd, out->data + out->start, out->end - out->start,
                                 MSG_DONTWAIT);
            if (count >= 0) {
                note_at(NARRATE_VERBOSE, "send() -> %zd of %zu bytes", count,
                        out->end - out->start);
                out->start += (size_t)count;
                sent += (unsigned long long)count;
            } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
                complain(errno, "send() to the server");
                return 1;
            }
        }

        if (watched[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t count = recv(socket_fd, incoming, sizeof incoming, MSG_DONTWAIT);
            if (count == 0) {
                note_at(NARRATE_VERBOSE, "recv() -> 0: the server closed; %llu bytes sent, "
                        "%llu received", sent, received);
                return 0;
            }
            if (count < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                    continue;
                complain(errno, "recv() from the server");
                return 1;
            }
            note_at(NARRATE_VERBOSE, "recv() -> %zd bytes; writing them to stdout", count);
            received += (unsigned long long)count;
            if (write_to_stdout(incoming, (size_t)count) < 0) {
                complain(errno, "write to stdout");
                return 1;
            }
        }
    }
    return 0;
}

/* ---- --idle N ----------------------------------------------------------- */

/* N connections need N descriptors: raise the soft limit as far as needed
 * (not further) and the hard limit allows. setrlimit directly, because
 * stdout is reserved for the "holding" line. */
static void raise_limit_for(long connections)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
        return; /* the connects will report EMFILE if it matters */
    rlim_t wanted = (rlim_t)connections + 16; /* stdio and a few spare */
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= wanted)
        return;
    rlim_t before = limit.rlim_cur;
    limit.rlim_cur = wanted < limit.rlim_max ? wanted : limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) < 0)
        return;
    note_at(NARRATE_VERBOSE, "setrlimit(RLIMIT_NOFILE): soft limit %llu -> %llu",
            (unsigned long long)before, (unsigned long long)limit.rlim_cur);
}

/* Sleep until SIGINT/SIGTERM or end of stdin; anything typed is ignored. */
static void wait_for_release(void)
{
    char ignored[4096];
    while (!stop_requested) {
        struct pollfd watched = { .fd = STDIN_FILENO, .events = POLLIN };
        if (poll(&watched, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            complain(errno, "poll(stdin)");
            return;
        }
        ssize_t count = read(STDIN_FILENO, ignored, sizeof ignored);
        if (count == 0) {
            note_at(NARRATE_VERBOSE, "read(stdin) -> 0: end of input, letting go");
            return;
        }
        if (count < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            complain(errno, "read(stdin)");
            return;
        }
    }
    note_at(NARRATE_VERBOSE, "stop requested (SIGINT/SIGTERM), letting go");
}

static int hold_idle_connections(const struct target *target, long count)
{
    raise_limit_for(count);
    int *fds = calloc((size_t)count, sizeof *fds);
    if (fds == NULL) {
        complain(errno, "calloc for %ld descriptors", count);
        return 1;
    }

    int status = 0;
    long opened = 0;
    while (opened < count && !stop_requested) {
        struct connect_failure failure;
        int fd = open_connection(target, NARRATE_VERBOSE, &failure);
        if (fd < 0) {
            if (!stop_requested) {
                char prefix[96];
                snprintf(prefix, sizeof prefix, "opened %ld of %ld connections; ", opened,
                         count);
                report_connect_failure(target, &failure, prefix);
                status = 1;
            }
            break;
        }
        fds[opened++] = fd;
    }

    if (opened == count && !stop_requested) {
        /* The one line on stdout: tests and scripts wait for it. */
        printf("holding %ld connections\n", count);
        if (fflush(stdout) == EOF) {
            complain(errno, "write to stdout");
            status = 1;
        } else {
            wait_for_release();
        }
    }

    for (long index = 0; index < opened; index++)
        close(fds[index]);
    note_at(NARRATE_VERBOSE, "closed %ld connections", opened);
    free(fds);
    return status;
}

/* ---- main --------------------------------------------------------------- */

enum { OPTION_IDLE = 256 };

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1";
    int port = DEFAULT_PORT;
    const char *message = NULL;
    long idle_count = 0;
    double timeout_seconds = 0;

    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "idle", required_argument, NULL, OPTION_IDLE },
        { NULL, 0, NULL, 0 },
    };
    int option;
    while ((option = getopt_long(argc, argv, "+:H:p:m:t:qvh", long_options, NULL)) != -1) {
        switch (option) {
        case 'H': host = parse_host_or_exit(optarg, usage_text); break;
        case 'p': port = parse_port_or_exit(optarg, usage_text); break;
        case 'm': message = optarg; break;
        case OPTION_IDLE:
            if (parse_number(optarg, 1, IDLE_MAXIMUM, &idle_count) < 0)
                usage_error(usage_text, "bad --idle '%s': expected a number from 1 to %d",
                            optarg, IDLE_MAXIMUM);
            break;
        case 't':
            if (parse_seconds(optarg, &timeout_seconds) < 0)
                usage_error(usage_text, "bad timeout '%s': expected seconds above 0 "
                            "(e.g. 2 or 0.5), at most %g", optarg, TIMEOUT_MAXIMUM_SECONDS);
            break;
        case 'q': narration_level = NARRATE_QUIET; break;
        case 'v': narration_level = NARRATE_VERBOSE; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: reject_option(option, argv, usage_text);
        }
    }
    if (optind < argc)
        usage_error(usage_text, "unexpected argument '%s'", argv[optind]);
    if (message != NULL && idle_count > 0)
        usage_error(usage_text, "-m and --idle do not go together");
    if (port == 0)
        usage_error(usage_text, "port 0 is for servers; a client needs the server's port");

    ensure_standard_descriptors();
    install_signal_handlers();

    struct target target = {
        .host = host,
        .port = port,
        .timeout_seconds = timeout_seconds,
        .addresses = resolve_or_exit(host, port, 0), /* getaddrinfo() */
    };

    if (idle_count > 0) {
        int status = hold_idle_connections(&target, idle_count);
        freeaddrinfo(target.addresses);
        return status;
    }

    /* -t narrates its steps at the normal level: that is its lesson. */
    struct connect_failure failure;
    int socket_fd = open_connection(&target, timeout_seconds > 0 ? NARRATE_NORMAL
                                                                 : NARRATE_VERBOSE,
                                    &failure);
    if (socket_fd < 0) {
        if (!stop_requested)
            report_connect_failure(&target, &failure, "");
        freeaddrinfo(target.addresses);
        return stop_requested ? 0 : 1;
    }
    freeaddrinfo(target.addresses);

    struct outgoing out = { .more_coming = true };
    if (message != NULL) {
        /* The message as if typed: its bytes and a newline, then the end. */
        size_t length = strlen(message);
        out.capacity = length + 1;
        out.end = length + 1;
        out.more_coming = false;
        out.data = malloc(out.capacity);
        if (out.data != NULL) {
            memcpy(out.data, message, length);
            out.data[length] = '\n';
        }
    } else {
        out.capacity = BUFFER_SIZE;
        out.data = malloc(out.capacity);
    }
    if (out.data == NULL) {
        complain(errno, "malloc");
        close(socket_fd);
        return 1;
    }

    int status = run_session(socket_fd, &out);
    free(out.data);
    close(socket_fd);
    return status;
}
