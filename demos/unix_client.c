/*
 * unix_client.c - the client for unix_server: local sockets, passing a
 * descriptor, and a throughput test.
 *
 * Shows:   the client side of a local socket (本地套接字): socket(AF_UNIX,
 *          SOCK_STREAM) and connect() to a path instead of an address and
 *          port, then the same send()/recv() as over TCP. --pass FILE opens
 *          FILE and sends the open descriptor itself with sendmsg() and
 *          SCM_RIGHTS, something no TCP connection can carry. --count N
 *          --size BYTES sends N messages of BYTES, one round trip each,
 *          checks every byte that comes back, and prints the throughput in
 *          the same line as tcp_client's, to compare the two transports.
 *
 * Usage:   unix_client [-s PATH] [-m MESSAGE] [--pass FILE] [--count N --size BYTES]
 *                      [-q] [-v]
 *
 * Try:     build/unix_server              (in one terminal)
 *          build/unix_client -v           (in another; type lines, Ctrl-D ends)
 *          build/unix_client --pass /etc/hostname </dev/null
 *          build/unix_client --count 20000 --size 64
 *
 * Observe: stdout carries only the bytes the server sent back (or the one
 *          throughput line); notes go to stderr. With --pass the reply is
 *          "pass FILE" and then FILE's first line, read by the server
 *          through the descriptor we sent.
 *
 * The protocol (unix_server.c says it in full): the message that carries
 * the descriptor is the text "pass FILE\n"; it is echoed like any bytes,
 * then the server sends the file's first line and closes its copy.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"

#define BUFFER_SIZE 65536
#define PASS_MAXIMUM 16
#define COUNT_MAXIMUM 1000000000L
#define SIZE_MAXIMUM (16L * 1024 * 1024)
/* Message k of --count starts at byte k % PATTERN_SHIFT of one pattern, so
 * a reply that is misplaced, repeated or reordered does not compare equal. */
#define PATTERN_SHIFT 251

static const char usage_text[] =
    "usage: unix_client [-s PATH] [-m MESSAGE] [--pass FILE] [--count N --size BYTES] [-q] [-v]\n"
    "  -s PATH        server socket (default $XDG_RUNTIME_DIR/lab3.sock, else\n"
    "                 /tmp/lab3-UID.sock); @NAME for an abstract name\n"
    "  -m MESSAGE     send MESSAGE and a newline, half-close, print the reply, exit\n"
    "  --pass FILE    first open FILE and send its descriptor (SCM_RIGHTS) with the\n"
    "                 text 'pass FILE'; given several times, all go in one message\n"
    "                 (which unix_server refuses: one at a time)\n"
    "  --count N --size BYTES\n"
    "                 send N messages of BYTES (1..16777216) one after another, check\n"
    "                 every echoed byte, print one 'throughput:' line\n"
    "  -q             quiet: no notes on stderr, only errors\n"
    "  -v             verbose: narrate every system call on stderr\n"
    "  -h             this help\n"
    "Without -m or --count it copies stdin to the server and the server's replies\n"
    "to stdout, byte for byte; at end of stdin it half-closes (shutdown SHUT_WR)\n"
    "and prints what still comes back until the server closes.\n"
    "Exit status: 0 done, 1 connect or I/O error (or a wrong echo), 2 bad usage.\n";

/* Notes and errors go to stderr (note(), complain() in common/lab.h):
 * stdout carries the server's bytes. */

/* ---- --pass: a descriptor in the ancillary data ------------------------- */

/* Open every FILE and send the descriptors with the text "pass FILE...\n"
 * in one sendmsg(). Our copies are closed at once: the server's are its
 * own, pointing at the same open files. Any text the socket did not take
 * is left in *rest for the session loop. Returns 0, or 1 after an error. */
static int pass_descriptors(int socket_fd, char *const files[], int file_count, char *text,
                            size_t text_size, size_t *rest_start, size_t *rest_end)
{
    int fds[PASS_MAXIMUM] = { 0 }; /* main() passes 1 to PASS_MAXIMUM; none is read unset */
    size_t length = (size_t)snprintf(text, text_size, "pass");
    for (int i = 0; i < file_count; i++) {
        fds[i] = open(files[i], O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) {
            int status = complain(errno, "open(%s) for --pass", files[i]);
            while (i-- > 0)
                close(fds[i]);
            return status;
        }
        length += (size_t)snprintf(text + length, text_size - length, " %s", files[i]);
    }
    length += (size_t)snprintf(text + length, text_size - length, "\n");

    union { /* aligned for struct cmsghdr */
        struct cmsghdr header;
        char bytes[CMSG_SPACE(sizeof(int) * PASS_MAXIMUM)];
    } control;
    memset(&control, 0, sizeof control);
    struct iovec data = { .iov_base = text, .iov_len = length };
    struct msghdr message = { .msg_iov = &data, .msg_iovlen = 1, .msg_control = control.bytes,
                              .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)file_count) };
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)file_count);
    memcpy(CMSG_DATA(header), fds, sizeof(int) * (size_t)file_count);

    ssize_t sent;
    do
        sent = sendmsg(socket_fd, &message, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR && !stop_requested);
    int status = sent < 0 ? complain(errno, "sendmsg() with SCM_RIGHTS") : 0;
    for (int i = 0; i < file_count; i++) {
        if (status == 0)
            note(NARRATE_NORMAL, "sendmsg(fd %d): %zd bytes and SCM_RIGHTS carrying our "
                    "fd %d (%s); close(fd %d): the server has its own copy now", socket_fd,
                    sent, fds[i], files[i], fds[i]);
        close(fds[i]);
    }
    *rest_start = status == 0 ? (size_t)sent : length;
    *rest_end = length;
    return status;
}

/* ---- Default and -m: one poll() loop over stdin and the socket ---------- */

/* The bytes waiting to go out are a struct outgoing (common/lab.h): bounded,
 * and while it holds anything stdin rests, but the socket is always read. */
static int run_session(int socket_fd, struct outgoing *out)
{
    char incoming[BUFFER_SIZE];
    bool write_side_open = true;
    unsigned long long sent = 0, received = 0;

    while (!stop_requested) {
        bool pending = out->start < out->end;
        if (!out->more_coming && !pending && write_side_open) {
            note(NARRATE_VERBOSE, "shutdown(fd %d, SHUT_WR) after %llu bytes: "
                    "no more data from us; still reading", socket_fd, sent);
            if (shutdown(socket_fd, SHUT_WR) < 0)
                return complain(errno, "shutdown(SHUT_WR)");
            write_side_open = false;
        }
        struct pollfd watched[2] = {
            { .fd = socket_fd, .events = (short)(POLLIN | (pending ? POLLOUT : 0)) },
            { .fd = out->more_coming && !pending ? STDIN_FILENO : -1, .events = POLLIN },
        };
        if (poll(watched, 2, -1) < 0) {
            if (errno == EINTR)
                continue; /* the loop condition checks stop_requested */
            return complain(errno, "poll()");
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
            } else if (errno != EINTR && errno != EAGAIN) {
                return complain(errno, "read(stdin)");
            }
        }
        if ((watched[0].revents & POLLOUT) && out->start < out->end) {
            /* MSG_DONTWAIT: send what fits now, never sleep in send() while
             * the server may be waiting for us to read. */
            ssize_t count = send(socket_fd, out->data + out->start, out->end - out->start,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
            if (count >= 0) {
                note(NARRATE_VERBOSE, "send() -> %zd of %zu bytes", count,
                        out->end - out->start);
                out->start += (size_t)count;
                sent += (unsigned long long)count;
            } else if (errno != EINTR && errno != EAGAIN) {
                return complain(errno, "send() to the server");
            }
        }
        if (watched[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t count = recv(socket_fd, incoming, sizeof incoming, MSG_DONTWAIT);
            if (count == 0) {
                note(NARRATE_VERBOSE, "recv() -> 0: the server closed; %llu bytes sent, "
                        "%llu received", sent, received);
                return check_nothing_unsent(out, sent);
            }
            if (count < 0) {
                if (errno == EINTR || errno == EAGAIN)
                    continue;
                return complain(errno, "recv() from the server");
            }
            note(NARRATE_VERBOSE, "recv() -> %zd bytes; writing them to stdout", count);
            received += (unsigned long long)count;
            if (write_all(STDOUT_FILENO, incoming, (size_t)count) < 0 && !stop_requested)
                return complain(errno, "write to stdout");
        }
    }
    return 0;
}

/* ---- --count N --size BYTES: round trips, every byte checked ------------- */

/* One message out and its whole echo back. The first send() is tried at
 * once (it fits in the socket buffer, unless BYTES is large); while some
 * is still unsent we poll() both ways, so a large message never deadlocks
 * against the echo coming back. Returns 0, 1 after an error, or -1 when a
 * stop was requested. */
static int round_trip(int fd, const char *expected, char *received, size_t size)
{
    size_t sent = 0, got = 0;
    while (got < size) {
        if (stop_requested)
            return -1;
        if (sent < size) {
            ssize_t count = send(fd, expected + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (count > 0)
                sent += (size_t)count;
            else if (count < 0 && errno != EAGAIN && errno != EINTR)
                return complain(errno, "send() to the server");
        }
        int flags = 0; /* all sent: just wait for the echo, in recv() */
        if (sent < size) {
            struct pollfd watched = { .fd = fd, .events = POLLIN | POLLOUT };
            if (poll(&watched, 1, -1) < 0) {
                if (errno == EINTR)
                    continue;
                return complain(errno, "poll()");
            }
            if (!(watched.revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            flags = MSG_DONTWAIT;
        }
        ssize_t count = recv(fd, received + got, size - got, flags);
        if (count == 0) {
            fprintf(stderr, "unix_client: the server closed after %zu of %zu echoed bytes\n",
                    got, size);
            return 1;
        }
        if (count < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return complain(errno, "recv() from the server");
        }
        got += (size_t)count;
    }
    return 0;
}

static int measure_throughput(int fd, long count, long size)
{
    size_t bytes = (size_t)size;
    char *pattern = malloc(bytes + PATTERN_SHIFT);
    char *received = malloc(bytes);
    if (pattern == NULL || received == NULL) {
        free(pattern);
        free(received);
        return complain(errno, "malloc");
    }
    unsigned state = 12345; /* any fixed bytes that are not all alike */
    for (size_t i = 0; i < bytes + PATTERN_SHIFT; i++) {
        state = state * 1103515245u + 12345u;
        pattern[i] = (char)(state >> 16);
    }

    int status = 0;
    long done = 0;
    double started = monotonic_seconds();
    for (; done < count; done++) {
        const char *expected = pattern + done % PATTERN_SHIFT;
        status = round_trip(fd, expected, received, bytes);
        if (status != 0)
            break;
        if (memcmp(received, expected, bytes) != 0) {
            size_t at = 0;
            while (received[at] == expected[at])
                at++;
            fprintf(stderr, "unix_client: wrong echo: message %ld, byte %zu is 0x%02x, "
                    "expected 0x%02x\n", done + 1, at, (unsigned char)received[at],
                    (unsigned char)expected[at]);
            status = 1;
            break;
        }
    }
    double seconds = monotonic_seconds() - started;

    if (status == -1) {
        note(NARRATE_NORMAL, "stopped after %ld of %ld messages; nothing measured", done,
                count);
        status = 0;
    } else if (status == 0) {
        /* The server must have nothing more to say: half-close, expect 0. */
        ssize_t extra = 0;
        if (shutdown(fd, SHUT_WR) == 0) {
            do
                extra = recv(fd, received, bytes, 0);
            while (extra < 0 && errno == EINTR && !stop_requested);
        }
        if (extra > 0) {
            fprintf(stderr, "unix_client: wrong echo: %zd bytes more than we sent\n", extra);
            status = 1;
        } else {
            if (seconds <= 0)
                seconds = 1e-9;
            printf("throughput: %ld x %ld bytes echoed and checked in %.3f s: %.1f MiB/s, "
                   "%.0f round trips/s\n", count, size, seconds,
                   (double)count * (double)size / (1024.0 * 1024.0) / seconds,
                   (double)count / seconds);
        }
    }
    free(pattern);
    free(received);
    return status;
}

/* ---- main --------------------------------------------------------------- */

enum { OPTION_PASS = 256, OPTION_COUNT, OPTION_SIZE };

int main(int argc, char *argv[])
{
    char default_path[PATH_MAX];
    const char *path = default_unix_socket_path(default_path, sizeof default_path);
    const char *message = NULL;
    char *pass_files[PASS_MAXIMUM];
    int pass_count = 0;
    long count = 0, size = 0;

    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "pass", required_argument, NULL, OPTION_PASS },
        { "count", required_argument, NULL, OPTION_COUNT },
        { "size", required_argument, NULL, OPTION_SIZE },
        { NULL, 0, NULL, 0 },
    };
    int option;
    while ((option = getopt_long(argc, argv, "+:s:m:qvh", long_options, NULL)) != -1) {
        switch (option) {
        case 's': path = optarg; break;
        case 'm': message = optarg; break;
        case OPTION_PASS:
            if (pass_count == PASS_MAXIMUM)
                usage_error(usage_text, "at most %d --pass options", PASS_MAXIMUM);
            pass_files[pass_count++] = optarg;
            break;
        case OPTION_COUNT:
            if (parse_number(optarg, 1, COUNT_MAXIMUM, &count) < 0)
                usage_error(usage_text, "bad --count '%s': expected a number from 1 to %ld",
                            optarg, COUNT_MAXIMUM);
            break;
        case OPTION_SIZE:
            if (parse_number(optarg, 1, SIZE_MAXIMUM, &size) < 0)
                usage_error(usage_text, "bad --size '%s': expected bytes from 1 to %ld",
                            optarg, SIZE_MAXIMUM);
            break;
        case 'q': narration_level = NARRATE_QUIET; break;
        case 'v': narration_level = NARRATE_VERBOSE; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: reject_option(option, argv, usage_text);
        }
    }
    if (optind < argc)
        usage_error(usage_text, "unexpected argument '%s'", argv[optind]);
    if ((count > 0) != (size > 0))
        usage_error(usage_text, "--count and --size go together");
    if (count > 0 && (message != NULL || pass_count > 0))
        usage_error(usage_text, "--count/--size measure on their own: no -m or --pass");
    struct sockaddr_un address;
    socklen_t address_length = unix_address_or_exit(path, &address, usage_text);

    ensure_standard_descriptors();
    install_signal_handlers();

    int socket_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (socket_fd < 0)
        fatal("socket(AF_UNIX, SOCK_STREAM)");
    note(NARRATE_VERBOSE, "connect(fd %d, %s)", socket_fd, path);
    if (connect(socket_fd, (struct sockaddr *)&address, address_length) < 0) {
        const char *hint = errno == ECONNREFUSED ? " (a socket file, but no server behind it)"
                         : errno == ENOENT       ? " (no server has made that socket)"
                         : errno == EACCES       ? " (the socket file's mode keeps you out)"
                                                 : "";
        int error = errno;
        fprintf(stderr, "unix_client: connect to %s%s: %s (%s)\n", path, hint, strerror(error),
                errno_name(error));
        close(socket_fd);
        return stop_requested ? 0 : 1;
    }
    note(NARRATE_VERBOSE, "connect() -> 0: fd %d connected to %s", socket_fd, path);

    if (count > 0) {
        int status = measure_throughput(socket_fd, count, size);
        close(socket_fd);
        return status;
    }

    /* The buffer the session sends from: what sendmsg() did not take of
     * the --pass text (nearly always nothing), then the message or stdin. */
    size_t pass_length = pass_count > 0 ? strlen("pass\n") : 0;
    for (int i = 0; i < pass_count; i++)
        pass_length += 1 + strlen(pass_files[i]);
    size_t message_length = message != NULL ? strlen(message) + 1 : 0;
    size_t capacity = pass_length + message_length + 1; /* and snprintf()'s NUL */
    if (capacity < BUFFER_SIZE)
        capacity = BUFFER_SIZE;
    struct outgoing out = { .data = malloc(capacity), .capacity = capacity, .more_coming = true };
    if (out.data == NULL) {
        complain(errno, "malloc");
        close(socket_fd);
        return 1;
    }
    int status = 0;
    if (pass_count > 0)
        status = pass_descriptors(socket_fd, pass_files, pass_count, out.data, pass_length + 1,
                                  &out.start, &out.end);
    if (status == 0 && message != NULL) {
        memmove(out.data, out.data + out.start, out.end - out.start);
        out.end -= out.start;
        out.start = 0;
        memcpy(out.data + out.end, message, message_length - 1);
        out.data[out.end + message_length - 1] = '\n';
        out.end += message_length;
        out.more_coming = false;
    }
    if (status == 0)
        status = run_session(socket_fd, &out);
    free(out.data);
    close(socket_fd);
    return status;
}
