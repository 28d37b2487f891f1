/*
 * echo.c - one echo connection and the listener; read echo.h first.
 */
#define _GNU_SOURCE

#include "echo.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"

static long long monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- One connection ------------------------------------------------------ */

void echo_start(struct echo_connection *connection, int fd, const struct echo_words *words)
{
    *connection = (struct echo_connection){ .fd = fd, .words = words };
    /* Echo goes back in pieces as it arrives; with Nagle's algorithm a small
     * piece waits for the ACK of the last, which the client delays: 40 ms
     * stalls per message. Send each piece at once. (On a Unix socket this
     * fails with EOPNOTSUPP, and there is no Nagle to turn off.) */
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

size_t echo_unsent(const struct echo_connection *connection)
{
    return connection->pending_length - connection->pending_offset;
}

bool echo_wants_read(const struct echo_connection *connection)
{
    return !connection->input_closed && !connection->reading_paused;
}

bool echo_wants_write(const struct echo_connection *connection)
{
    return echo_unsent(connection) > 0;
}

void echo_release(struct echo_connection *connection)
{
    free(connection->pending);
    connection->pending = NULL;
    connection->pending_length = connection->pending_offset = connection->pending_capacity = 0;
}

/* Reading never takes the buffer past ECHO_PENDING_LIMIT; only
 * echo_send_back() may, by its own short length. */
bool echo_keep_pending(struct echo_connection *connection, const char *data, size_t length)
{
    size_t unsent = echo_unsent(connection);
    if (connection->pending_offset > 0
        && connection->pending_length + length > connection->pending_capacity) {
        memmove(connection->pending, connection->pending + connection->pending_offset, unsent);
        connection->pending_offset = 0;
        connection->pending_length = unsent;
    }
    size_t needed = connection->pending_length + length;
    if (needed > connection->pending_capacity) {
        size_t new_capacity = connection->pending_capacity > 0 ? connection->pending_capacity : 4096;
        while (new_capacity < needed)
            new_capacity *= 2;
        if (new_capacity > ECHO_PENDING_LIMIT)
            new_capacity = needed > ECHO_PENDING_LIMIT ? needed : ECHO_PENDING_LIMIT;
        char *grown = realloc(connection->pending, new_capacity);
        if (grown == NULL)
            return false;
        connection->pending = grown;
        connection->pending_capacity = new_capacity;
    }
    memcpy(connection->pending + connection->pending_length, data, length);
    connection->pending_length += length;
    return true;
}

/* Stop reading from a client whose output buffer is full; read again once
 * it has drained to half. Without this, a client that sends and never
 * reads would make us buffer without end. */
static void decide_reading_pause(struct echo_connection *connection)
{
    if (connection->input_closed)
        return;
    size_t unsent = echo_unsent(connection);
    if (!connection->reading_paused && unsent >= ECHO_PENDING_LIMIT) {
        connection->reading_paused = true;
        narrate("fd %d: %zu bytes of echo wait for it to read; no more reading from it "
                "until it does (%s)", connection->fd, unsent, connection->words->reading_off);
    } else if (connection->reading_paused && unsent <= ECHO_RESUME_LEVEL) {
        connection->reading_paused = false;
        narrate("fd %d: its echo drained to %zu bytes; reading from it again",
                connection->fd, unsent);
    }
}

static enum echo_verdict close_after_error(const struct echo_connection *connection,
                                           const char *call)
{
    warn_errno("%s(fd %d) failed; close(fd %d) after %llu bytes echoed",
               call, connection->fd, connection->fd, connection->echoed);
    return ECHO_CLOSE;
}

static void count_sent(struct echo_connection *connection, struct echo_shared *shared,
                       size_t sent)
{
    connection->echoed += sent;
    shared->bytes_echoed += sent;
}

size_t echo_read_size(const struct echo_connection *connection)
{
    size_t unsent = echo_unsent(connection);
    size_t room = unsent < ECHO_PENDING_LIMIT ? ECHO_PENDING_LIMIT - unsent : 0;
    return room < ECHO_READ_SIZE ? room : ECHO_READ_SIZE; /* > 0: a full client is not read */
}

enum echo_verdict echo_on_readable(struct echo_connection *connection, struct echo_shared *shared)
{
    ssize_t received = recv(connection->fd, shared->read_buffer, echo_read_size(connection), 0);
    return echo_on_received(connection, shared, "recv", received);
}

enum echo_verdict echo_on_received(struct echo_connection *connection, struct echo_shared *shared,
                                   const char *call, ssize_t received)
{
    if (received < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return ECHO_KEEP; /* nothing after all; the next wakeup will tell */
        return close_after_error(connection, call);
    }
    size_t unsent = echo_unsent(connection);
    if (received == 0) {
        if (unsent == 0) {
            narrate("%s(fd %d) -> 0: the client closed; close(fd %d) after %llu bytes echoed",
                    call, connection->fd, connection->fd, connection->echoed);
            return ECHO_CLOSE;
        }
        narrate_detail("%s(fd %d) -> 0: the client closed its side; %zu bytes still to send",
                       call, connection->fd, unsent);
        connection->input_closed = true;
        connection->reading_paused = false;
        return ECHO_KEEP;
    }
    narrate_detail("%s(fd %d) -> %zd bytes", call, connection->fd, received);
    return echo_send_back(connection, shared, shared->read_buffer, (size_t)received);
}

enum echo_verdict echo_send_back(struct echo_connection *connection, struct echo_shared *shared,
                                 const char *data, size_t length)
{
    /* Send at once what the socket takes, so the common case needs no copy
     * and no wait for writability. Earlier echo still waiting must go
     * first, so then everything joins the queue. */
    size_t unsent = echo_unsent(connection);
    size_t sent = 0;
    if (unsent == 0) {
        ssize_t written = send(connection->fd, data, length, MSG_NOSIGNAL);
        if (written < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return close_after_error(connection, "send");
            written = 0;
        }
        sent = (size_t)written;
        count_sent(connection, shared, sent);
        narrate_detail("send(fd %d) -> %zu of %zu bytes", connection->fd, sent, length);
    }
    if (sent < length) {
        if (!echo_keep_pending(connection, data + sent, length - sent)) {
            warn_errno("fd %d: no memory to keep its echo; close(fd %d) after %llu bytes echoed",
                       connection->fd, connection->fd, connection->echoed);
            return ECHO_CLOSE;
        }
        narrate_detail("fd %d: %zu bytes wait in its output buffer (%s)",
                       connection->fd, echo_unsent(connection), connection->words->writing_on);
    }
    decide_reading_pause(connection);
    return ECHO_KEEP;
}

enum echo_verdict echo_on_writable(struct echo_connection *connection, struct echo_shared *shared)
{
    size_t unsent = echo_unsent(connection);
    if (unsent == 0)
        return ECHO_KEEP;
    ssize_t written = send(connection->fd, connection->pending + connection->pending_offset,
                           unsent, MSG_NOSIGNAL);
    if (written < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return ECHO_KEEP;
        return close_after_error(connection, "send");
    }
    connection->pending_offset += (size_t)written;
    count_sent(connection, shared, (size_t)written);
    narrate_detail("send(fd %d) -> %zd of %zu waiting bytes", connection->fd, written, unsent);
    if (echo_unsent(connection) == 0) {
        echo_release(connection); /* an idle client holds no buffer */
        if (connection->input_closed) {
            narrate("fd %d: all echoed after the client closed its side; "
                    "close(fd %d) after %llu bytes echoed", connection->fd, connection->fd,
                    connection->echoed);
            return ECHO_CLOSE;
        }
    }
    decide_reading_pause(connection);
    return ECHO_KEEP;
}

/* ---- The listener -------------------------------------------------------- */

void listener_start(struct listener *listener, int listening_fd)
{
    *listener = (struct listener){ .fd = listening_fd };
    /* Non-blocking, so an accept() after a client gave up returns EAGAIN
     * instead of hanging the whole server. */
    if (set_nonblocking(listening_fd) < 0)
        fatal("fcntl O_NONBLOCK on the listening socket");
}

static void pause_listener(struct listener *listener)
{
    if (!listener->shortage_reported) {
        warn_errno("accept() failed; trying again every %d ms until a descriptor is free",
                   LISTENER_PAUSE_MS);
        listener->shortage_reported = true;
    } else {
        narrate_detail("accept() failed again (%s); pausing another %d ms",
                       errno_name(errno), LISTENER_PAUSE_MS);
    }
    listener->paused = true;
    listener->resume_ms = monotonic_ms() + LISTENER_PAUSE_MS;
}

int listener_accept(struct listener *listener, char *peer_text, size_t peer_text_size)
{
    for (;;) {
        struct sockaddr_storage peer = { .ss_family = AF_UNSPEC }; /* filled by accept4() */
        socklen_t peer_length = sizeof peer;
        int fd = accept4(listener->fd, (struct sockaddr *)&peer, &peer_length,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            format_address((struct sockaddr *)&peer, peer_length, peer_text, peer_text_size);
            return fd;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            /* Linux takes the new descriptor before it looks at the queue,
             * so EAGAIN says both: a descriptor was free, and nobody waits.
             * Nothing less ends the shortage: a client taken may fill the
             * table again, and an empty queue may still answer EMFILE. */
            if (listener->shortage_reported) {
                narrate("accept() -> EAGAIN: every waiting client is in; "
                        "the descriptor shortage is over");
                listener->shortage_reported = false;
            }
            errno = EAGAIN;
            return -1;
        }
        if (errno == ECONNABORTED || errno == EPROTO) {
            /* The client gave up while queued: nothing to serve. */
            narrate_detail("accept() -> %s: that client left before we took it",
                           errno_name(errno));
            continue;
        }
        int shortage = errno; /* EMFILE, ENFILE, ENOBUFS, ENOMEM... */
        pause_listener(listener);
        errno = shortage;
        return -1;
    }
}

bool listener_resume_if_due(struct listener *listener)
{
    if (!listener->paused || monotonic_ms() < listener->resume_ms)
        return false;
    /* Only accept()'s EAGAIN ends the shortage (listener_accept). */
    listener->paused = false;
    return true;
}

int listener_timeout_ms(const struct listener *listener)
{
    if (!listener->paused)
        return -1;
    long long left = listener->resume_ms - monotonic_ms();
    return left > 0 ? (int)left : 0;
}
