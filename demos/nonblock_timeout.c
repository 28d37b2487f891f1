/*
 * nonblock_timeout.c - an echo server that never waits blindly: either it
 * never blocks at all (non-blocking sockets), or it blocks with a deadline
 * (receive timeouts).
 *
 * Shows:   非阻塞IO and 超时检测, the two answers to "blocking I/O can
 *          sleep forever".
 *          --mode nonblock, the C twin of Python's sock.setblocking(False):
 *          O_NONBLOCK on every socket, so accept() and recv() return at once
 *          with EAGAIN when nothing is there. The program must keep asking;
 *          between rounds it does "other work" (here: it says so and sleeps
 *          -i milliseconds, so it never spins on the CPU). Even the stop is
 *          asked: SIGINT and SIGTERM arrive on a descriptor (a signalfd)
 *          that each round reads like the sockets, and the sleep watches.
 *          --mode timeout, the twin of sock.settimeout(3): ordinary blocking
 *          sockets with SO_RCVTIMEO, so accept() and recv() give up after
 *          -t seconds with EAGAIN; the program notes the timeout and decides
 *          what to do (here: wait again, or stop after -n timeouts).
 *
 * Usage:   nonblock_timeout [--mode nonblock|timeout] [-i MS] [-t SECONDS]
 *                           [-n COUNT] [-H ADDR] [-p PORT] [-q] [-v]
 *
 * Try:     build/nonblock_timeout
 *          then in another terminal:  build/tcp_client -p 9002
 *          and later:  build/nonblock_timeout --mode timeout -t 3 -n 5
 *
 * Observe: in nonblock mode a line per idle round - accept() and recv() said
 *          EAGAIN, so it does other work - yet whatever you type still comes
 *          back (up to -i ms late: the price of asking instead of being
 *          told). In timeout mode, a "timed out after 3 seconds" line every
 *          3 seconds while nobody talks to it.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "echo.h"
#include "lab.h"

#define DEFAULT_PORT 9002
#define BACKLOG 16
#define BUFFER_SIZE 16384
#define MAX_CLIENTS 64
#define TIMEOUT_MAXIMUM_SECONDS 3600.0

static const char usage_text[] =
    "usage: nonblock_timeout [--mode nonblock|timeout] [-i MS] [-t SECONDS] [-n COUNT]\n"
    "                        [-H ADDR] [-p PORT] [-q] [-v]\n"
    "  --mode nonblock  (default) O_NONBLOCK sockets: accept()/recv() return EAGAIN\n"
    "                   at once; like Python's sock.setblocking(False)\n"
    "  --mode timeout   blocking sockets with SO_RCVTIMEO: accept()/recv() give up\n"
    "                   after -t seconds; like Python's sock.settimeout(SECONDS)\n"
    "  -i MS        nonblock: milliseconds of \"other work\" when nothing is ready\n"
    "               (1..60000, default 1000)\n"
    "  -t SECONDS   timeout: the receive timeout, e.g. 3 or 0.5 (default 3)\n"
    "  -n COUNT     stop (status 0, with the summary) after COUNT timeouts, or in\n"
    "               nonblock mode after COUNT ticks of other work\n"
    "  -H ADDR      address to listen on (default 127.0.0.1)\n"
    "  -p PORT      port to listen on (default 9002; 0 = any free port)\n"
    "  -q           quiet: only the listening line, errors and the summary\n"
    "  -v           verbose: also every complete send and, in busy rounds, what\n"
    "               said EAGAIN\n"
    "  -h           this help\n";

struct totals {
    unsigned long clients;
    unsigned long long bytes; /* bytes echoed back */
    unsigned long ticks;      /* nonblock: idle rounds spent on other work */
    unsigned long timeouts;   /* timeout: accept() or recv() gave up */
};

/* ---- Non-blocking mode --------------------------------------------------- */

/* No EINTR branch on accept(), recv() or send() in this mode: every socket
 * is non-blocking, so none of these calls ever sleeps, and SIGINT and
 * SIGTERM are blocked (they arrive on the stop descriptor), so no handler
 * runs to interrupt one. Only the sleep of the other work is a wait. */

/* One client of the non-blocking server. Bytes received wait in pending
 * until send() has taken them all; while any wait, we do not recv() more,
 * so a client that sends much and reads little costs at most BUFFER_SIZE. */
struct client {
    int fd; /* -1: a free slot */
    char pending[BUFFER_SIZE];
    size_t pending_start, pending_end;
    unsigned long long echoed;
};

/* What returned EAGAIN in one round, collected into one line so an idle
 * server says "nothing is ready" once per round, not once per call. */
struct round_report {
    char text[240];
    size_t length;
};

static void report_add(struct round_report *report, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void report_add(struct round_report *report, const char *format, ...)
{
    if (report->length > 0 && report->length + 2 < sizeof report->text) {
        memcpy(report->text + report->length, "; ", 3);
        report->length += 2;
    }
    size_t room = sizeof report->text - report->length;
    if (room <= 1)
        return;
    va_list arguments;
    va_start(arguments, format);
    int written = vsnprintf(report->text + report->length, room, format, arguments);
    va_end(arguments);
    if (written < 0)
        return;
    if ((size_t)written >= room) {
        /* Full: end the line with "..." instead of a cut-off word. */
        report->length = sizeof report->text - 1;
        memcpy(report->text + sizeof report->text - 4, "...", 4);
        return;
    }
    report->length += (size_t)written;
}

static void close_client(struct client *client)
{
    close(client->fd);
    client->fd = -1;
    client->pending_start = client->pending_end = 0;
}

/* One accept() try. Returns true if something happened. */
static bool try_accept(struct listener *listener, struct client *clients, struct totals *totals,
                       struct round_report *report)
{
    struct client *free_slot = NULL;
    for (int index = 0; index < MAX_CLIENTS && free_slot == NULL; index++)
        if (clients[index].fd < 0)
            free_slot = &clients[index];
    if (free_slot == NULL) {
        /* Further clients wait in the kernel's backlog until one leaves. */
        report_add(report, "all %d client slots busy, accept() not called", MAX_CLIENTS);
        return false;
    }
    /* Out of descriptors, the listener (common/echo.h) said so once and
     * pauses: no accept() for LISTENER_PAUSE_MS, however busy the rounds. */
    if (listener->paused && !listener_resume_if_due(listener)) {
        report_add(report, "accept() paused (no descriptor free)");
        return false;
    }

    char peer_text[ADDRESS_TEXT_SIZE];
    int client_fd = listener_accept(listener, peer_text, sizeof peer_text); /* accept4, NONBLOCK */
    if (client_fd < 0) {
        if (errno == EAGAIN)
            report_add(report, "accept() -> EAGAIN (no client waiting)");
        else
            report_add(report, "accept() -> %s", errno_name(errno));
        return false;
    }

    narrate("accept() -> fd %d from %s (SOCK_NONBLOCK: its recv() will not wait either)",
            client_fd, peer_text);
    free_slot->fd = client_fd;
    free_slot->pending_start = free_slot->pending_end = 0;
    free_slot->echoed = 0;
    totals->clients++;
    return true;
}

/* One send() or one recv() try for a client. Returns true if something
 * happened (bytes moved, or the client went away). */
static bool try_client(struct client *client, struct totals *totals,
                       struct round_report *report)
{
    int fd = client->fd;
    if (client->pending_start < client->pending_end) {
        size_t waiting = client->pending_end - client->pending_start;
        ssize_t sent = send(fd, client->pending + client->pending_start, waiting, 0);
        if (sent < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* The client is not reading: its data waits for a later round. */
                report_add(report, "send(fd %d) -> EAGAIN (%zu bytes kept)", fd, waiting);
                return false;
            }
            warn_errno("send() to fd %d failed; closing it", fd);
            close_client(client);
            return true;
        }
        client->pending_start += (size_t)sent;
        client->echoed += (unsigned long long)sent;
        totals->bytes += (unsigned long long)sent;
        if ((size_t)sent < waiting)
            narrate("send(fd %d) -> %zd of %zu bytes; the rest waits for a later round",
                    fd, sent, waiting);
        else
            narrate_detail("send(fd %d) -> %zd bytes, all of them", fd, sent);
        if (client->pending_start == client->pending_end)
            client->pending_start = client->pending_end = 0;
        return true;
    }

    ssize_t received = recv(fd, client->pending, sizeof client->pending, 0);
    if (received < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            report_add(report, "recv(fd %d) -> EAGAIN (no data yet)", fd);
            return false;
        }
        warn_errno("recv() on fd %d failed; closing it", fd);
        close_client(client);
        return true;
    }
    if (received == 0) {
        /* Nothing is pending (we only recv() when all was sent), so every
         * byte of this client has been echoed. */
        narrate("recv(fd %d) -> 0: the client closed; close(fd %d) after echoing %llu bytes",
                fd, fd, client->echoed);
        close_client(client);
        return true;
    }
    narrate("recv(fd %d) -> %zd bytes; sending them back", fd, received);
    client->pending_start = 0;
    client->pending_end = (size_t)received;
    return true;
}

/* The "other work", here a sleep of -i ms. It sleeps in poll() on the stop
 * descriptor alone (the sockets are the rounds' business): a pending stop
 * signal makes it readable, so Ctrl-C ends the sleep at once, even one that
 * came an instant before the sleep began. An EINTR (SIGSTOP, then SIGCONT:
 * see signal(7)) only ends the sleep early; the next round asks again. */
static void do_other_work(int stop_fd, long milliseconds)
{
    struct pollfd stop = { .fd = stop_fd, .events = POLLIN };
    poll(&stop, 1, (int)milliseconds);
}

static void serve_nonblocking(int listening_fd, long interval_ms, long tick_limit,
                              struct totals *totals)
{
    struct listener listener;
    listener_start(&listener, listening_fd); /* fcntl O_NONBLOCK, or fatal() */
    narrate("fcntl(fd %d, F_SETFL, O_NONBLOCK) - Python: sock.setblocking(False); "
            "accept() will never wait", listening_fd);
    int stop_fd = open_stop_signal_fd();
    narrate("signalfd() -> fd %d: SIGINT and SIGTERM now arrive as data on it; "
            "every round reads it too", stop_fd);

    struct client *clients = calloc(MAX_CLIENTS, sizeof *clients);
    if (clients == NULL)
        fatal("calloc for %d clients", MAX_CLIENTS);
    for (int index = 0; index < MAX_CLIENTS; index++)
        clients[index].fd = -1;

    /* Each round asks every socket once. A round in which something
     * happened is followed at once by another; only a round in which
     * everything said EAGAIN is followed by other work - so the server
     * neither spins nor lets data wait while it has work. */
    while (!stop_requested) {
        /* The stop is asked like a socket: read() on the signalfd says
         * EAGAIN until a stop signal has come. Once a round, so no run of
         * busy rounds can put the stop off. */
        if (take_stop_signal(stop_fd) != 0)
            break;
        struct round_report report = { .length = 0 };
        bool progress = try_accept(&listener, clients, totals, &report);
        for (int index = 0; index < MAX_CLIENTS; index++)
            if (clients[index].fd >= 0)
                progress |= try_client(&clients[index], totals, &report);
        if (progress) {
            if (report.length > 0)
                narrate_detail("busy round, but also: %s", report.text);
            continue;
        }

        totals->ticks++;
        narrate("tick %lu: %s", totals->ticks,
                report.length > 0 ? report.text : "nothing ready");
        if (tick_limit > 0 && totals->ticks >= (unsigned long)tick_limit) {
            narrate("-n %ld: that was the last tick; stopping", tick_limit);
            break;
        }
        narrate("doing other work (tick %lu) for %ld ms while nothing is ready",
                totals->ticks, interval_ms);
        do_other_work(stop_fd, interval_ms);
    }

    for (int index = 0; index < MAX_CLIENTS; index++)
        if (clients[index].fd >= 0)
            close_client(&clients[index]);
    free(clients);
    close(stop_fd);
}

/* ---- Timeout mode -------------------------------------------------------- */

/* SO_RCVTIMEO of seconds on fd; -1 with errno on failure. */
static int set_receive_timeout(int fd, double seconds)
{
    /* Whole microseconds first, so 0.1 is 100000 us and never 1000000. */
    long long microseconds = llround(seconds * 1e6);
    struct timeval timeout = {
        .tv_sec = (time_t)(microseconds / 1000000),
        .tv_usec = (suseconds_t)(microseconds % 1000000),
    };
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

/* Note one timeout. Returns true when -n says it was the last one. */
static bool note_timeout(struct totals *totals, long timeout_limit, const char *call,
                         const char *seconds_text)
{
    totals->timeouts++;
    if (timeout_limit > 0 && totals->timeouts >= (unsigned long)timeout_limit) {
        narrate("%s timed out after %s (EAGAIN); that is timeout %lu of %ld: stopping",
                call, seconds_text, totals->timeouts, timeout_limit);
        return true;
    }
    narrate("%s timed out after %s (EAGAIN); waiting again", call, seconds_text);
    return false;
}

/* Echo one client until it closes. Returns true if the server must stop
 * (the -n limit was reached while waiting for this client). */
static bool echo_with_timeouts(int client_fd, long timeout_limit, const char *seconds_text,
                               struct totals *totals)
{
    char buffer[BUFFER_SIZE];
    char call[32];
    snprintf(call, sizeof call, "recv(fd %d)", client_fd);
    unsigned long long echoed = 0;
    bool limit_reached = false;

    while (!stop_requested && !limit_reached) {
        narrate_detail("recv(fd %d) - blocks for at most %s", client_fd, seconds_text);
        ssize_t received = recv(client_fd, buffer, sizeof buffer, 0);
        if (received < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                limit_reached = note_timeout(totals, timeout_limit, call, seconds_text);
                continue;
            }
            if (errno == EINTR)
                continue; /* the loop condition checks stop_requested */
            warn_errno("recv() on fd %d failed; closing it", client_fd);
            break;
        }
        if (received == 0) {
            narrate("recv(fd %d) -> 0: the client closed", client_fd);
            break;
        }
        narrate("recv(fd %d) -> %zd bytes; sending them back", client_fd, received);
        /* Only receives time out (SO_RCVTIMEO); send waits as long as the
         * client needs to make room, through short writes, until a stop is
         * asked: write_all() gives up then, even half-way through. */
        if (write_all(client_fd, buffer, (size_t)received) < 0) {
            if (!stop_requested)
                warn_errno("write() to fd %d failed; closing it", client_fd);
            break;
        }
        echoed += (unsigned long long)received;
        totals->bytes += (unsigned long long)received;
    }
    close(client_fd);
    narrate("close(fd %d) after echoing %llu bytes", client_fd, echoed);
    return limit_reached;
}

static void serve_with_timeouts(int listening_fd, double seconds, long timeout_limit,
                                struct totals *totals)
{
    char seconds_text[32];
    snprintf(seconds_text, sizeof seconds_text, "%g second%s", seconds,
             seconds == 1 ? "" : "s");
    if (set_receive_timeout(listening_fd, seconds) < 0)
        fatal("setsockopt SO_RCVTIMEO on fd %d", listening_fd);
    narrate("setsockopt(fd %d, SO_RCVTIMEO, %s) - Python: sock.settimeout(%g); "
            "accept() waits at most that long", listening_fd, seconds_text, seconds);

    bool limit_reached = false;
    bool shortage_said = false; /* out of descriptors: said once, not every try */
    while (!stop_requested && !limit_reached) {
        if (!shortage_said)
            narrate("accept() - blocks for at most %s", seconds_text);
        struct sockaddr_storage peer;
        socklen_t peer_length = sizeof peer;
        int client_fd = accept4(listening_fd, (struct sockaddr *)&peer, &peer_length,
                                SOCK_CLOEXEC);
        if (client_fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                limit_reached = note_timeout(totals, timeout_limit, "accept()", seconds_text);
                continue;
            }
            if (errno == EINTR || errno == ECONNABORTED)
                continue; /* the loop condition checks stop_requested */
            if (!wait_out_accept_shortage(&shortage_said)) /* EMFILE...: sleep, try again */
                warn_errno("accept() failed");
            continue;
        }
        end_accept_shortage(&shortage_said);

        char peer_text[ADDRESS_TEXT_SIZE];
        narrate("accept() -> fd %d from %s", client_fd,
                format_address((struct sockaddr *)&peer, peer_length, peer_text,
                               sizeof peer_text));
        totals->clients++;
        /* Linux copies the listener's SO_RCVTIMEO to accepted sockets; set
         * it anyway, so the lesson does not hang on that detail. */
        if (set_receive_timeout(client_fd, seconds) < 0) {
            warn_errno("setsockopt SO_RCVTIMEO on fd %d failed; closing it", client_fd);
            close(client_fd);
            continue;
        }
        narrate("setsockopt(fd %d, SO_RCVTIMEO, %s): recv() waits at most that long",
                client_fd, seconds_text);
        limit_reached = echo_with_timeouts(client_fd, timeout_limit, seconds_text, totals);
    }
}

/* ---- main ---------------------------------------------------------------- */

enum { OPTION_MODE = 256 };

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1";
    int port = DEFAULT_PORT;
    bool timeout_mode = false;
    long interval_ms = 1000;
    double timeout_seconds = 3;
    long count_limit = 0;
    bool interval_given = false, timeout_given = false;

    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "mode", required_argument, NULL, OPTION_MODE },
        { NULL, 0, NULL, 0 },
    };
    int option;
    while ((option = getopt_long(argc, argv, "+:i:t:n:H:p:qvh", long_options, NULL)) != -1) {
        switch (option) {
        case OPTION_MODE:
            if (strcmp(optarg, "nonblock") == 0)
                timeout_mode = false;
            else if (strcmp(optarg, "timeout") == 0)
                timeout_mode = true;
            else
                usage_error(usage_text, "bad --mode '%s': expected nonblock or timeout", optarg);
            break;
        case 'i':
            if (parse_number(optarg, 1, 60000, &interval_ms) < 0)
                usage_error(usage_text, "bad -i '%s': expected milliseconds from 1 to 60000",
                            optarg);
            interval_given = true;
            break;
        case 't':
            /* Below a millisecond the kernel's timer cannot tell the difference. */
            if (parse_seconds(optarg, 0.001, TIMEOUT_MAXIMUM_SECONDS, &timeout_seconds) < 0)
                usage_error(usage_text, "bad -t '%s': expected seconds from 0.001 to %g "
                            "(e.g. 3 or 0.5)", optarg, TIMEOUT_MAXIMUM_SECONDS);
            timeout_given = true;
            break;
        case 'n':
            if (parse_number(optarg, 1, 1000000, &count_limit) < 0)
                usage_error(usage_text, "bad -n '%s': expected a count from 1 to 1000000",
                            optarg);
            break;
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
    if (timeout_mode && interval_given)
        usage_error(usage_text, "-i is for --mode nonblock (timeout mode waits in the kernel)");
    if (!timeout_mode && timeout_given)
        usage_error(usage_text, "-t is for --mode timeout (nonblock mode never waits)");

    start_narration();
    install_signal_handlers();

    int listening_fd = listen_on(host, port, BACKLOG);
    announce_listening(listening_fd);
    narrate("fd %d is the listening socket (socket + bind + listen, backlog %d)",
            listening_fd, BACKLOG);

    struct totals totals = { 0 };
    if (timeout_mode) {
        serve_with_timeouts(listening_fd, timeout_seconds, count_limit, &totals);
        close(listening_fd);
        announce("summary: clients=%lu bytes=%llu timeouts=%lu", totals.clients, totals.bytes,
                 totals.timeouts);
    } else {
        serve_nonblocking(listening_fd, interval_ms, count_limit, &totals);
        close(listening_fd);
        announce("summary: clients=%lu bytes=%llu ticks=%lu", totals.clients, totals.bytes,
                 totals.ticks);
    }
    return 0;
}
