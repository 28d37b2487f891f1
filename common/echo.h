/*
 * echo.h - one echo connection, and the listening socket in front of them.
 *
 * What every multiplexing echo server of the lab does the same way lives
 * here, once: the bounded output buffer per client, backpressure (stop
 * reading from a client whose echo piles up), half-close (send the rest,
 * then close), and accept() that survives running out of descriptors.
 * What differs between the servers stays in each demo: its table of
 * clients, the wait (select, poll, epoll) and what it asks the kernel to
 * watch. A demo asks echo_wants_read() / echo_wants_write() and turns the
 * answers into its own interest (FD_SET, pollfd.events, EPOLL_CTL_MOD).
 *
 * The handlers never close or free a client: they return ECHO_CLOSE, after
 * narrating why, and the server's loop closes it in one visible place.
 *
 * No EINTR handling here, on purpose: every descriptor is non-blocking,
 * and the servers keep SIGINT and SIGTERM blocked (they arrive through a
 * signalfd), so recv(), send() and accept() never return EINTR.
 */
#ifndef ECHO_H
#define ECHO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* One recv() reads at most this much, into the server's shared buffer. */
#define ECHO_READ_SIZE ((size_t)16 * 1024)
/* At most this much echo waits per client for the client to read it. When
 * it is full we stop reading from that client; we read again once it has
 * drained to half, so a slow reader does not flip us on and off per send. */
#define ECHO_PENDING_LIMIT ((size_t)64 * 1024)
#define ECHO_RESUME_LEVEL (ECHO_PENDING_LIMIT / 2)

/* How a server names its interest in narration: "POLLIN off" and
 * "POLLOUT on" for poll_server, "left out of rlist" for select_server... */
struct echo_words {
    const char *reading_off; /* said when reading from a client pauses */
    const char *writing_on;  /* said when echo starts to wait in the buffer */
};

/* One connected client. An idle one costs just this struct: the output
 * buffer is allocated only while echo waits to go, and freed when it has. */
struct echo_connection {
    int fd;
    char *pending;             /* echo not yet sent back (malloc'd), or NULL */
    size_t pending_length;     /* bytes stored in pending */
    size_t pending_offset;     /* of which this many are already sent */
    size_t pending_capacity;   /* bytes allocated for pending */
    bool input_closed;         /* recv() returned 0: send the rest, then close */
    bool reading_paused;       /* output buffer full: not watched for reading */
    unsigned long long echoed; /* bytes sent back to it so far */
    const struct echo_words *words;
};

/* What all the connections of one server share: the buffer each recv()
 * lands in first (one for all, since a handler runs to the end before the
 * next starts) and the server's running total for its summary line. */
struct echo_shared {
    unsigned long long bytes_echoed;
    char read_buffer[ECHO_READ_SIZE];
};

enum echo_verdict { ECHO_KEEP, ECHO_CLOSE };

/* A connection on fd (already non-blocking), with nothing pending. */
void echo_start(struct echo_connection *connection, int fd, const struct echo_words *words);

/* The wait said fd is readable (or hung up, or has an error): recv() once,
 * send back at once what the socket takes, keep the rest. */
enum echo_verdict echo_on_readable(struct echo_connection *connection, struct echo_shared *shared);

/* The same in two halves, for a server that must read with its own call
 * (unix_server uses recvmsg() to see the descriptors a client passes):
 * read at most echo_read_size() bytes into shared->read_buffer, then hand
 * what the call returned (bytes, 0 for the end, -1 with errno) and its
 * name, for the narration, to echo_on_received(), which echoes it exactly
 * as echo_on_readable() does. */
size_t echo_read_size(const struct echo_connection *connection);
enum echo_verdict echo_on_received(struct echo_connection *connection, struct echo_shared *shared,
                                   const char *call, ssize_t received);

/* Send the client bytes of the server's own, behind any echo still waiting
 * (unix_server's line read from a passed file). They share the bounded
 * buffer, which they may take past ECHO_PENDING_LIMIT by their length, so
 * keep them short; reading from the client pauses until it drains. */
enum echo_verdict echo_send_back(struct echo_connection *connection, struct echo_shared *shared,
                                 const char *data, size_t length);

/* The wait said fd is writable: send what is pending. */
enum echo_verdict echo_on_writable(struct echo_connection *connection, struct echo_shared *shared);

/* What to ask the kernel to watch the connection for, now. Reading: while
 * the client may still send and its buffer is not full. Writing: only while
 * echo is pending (a socket is nearly always writable; asking all the time
 * would wake the server on every wait). */
bool echo_wants_read(const struct echo_connection *connection);
bool echo_wants_write(const struct echo_connection *connection);

/* Keep echo the client could not take yet, behind what already waits; the
 * buffer is allocated here, and grows, only as far as needed. For a server
 * that reads in its own way (epoll_et_demo reads CHUNK bytes at a time);
 * the caller never lets echo_unsent() pass ECHO_PENDING_LIMIT. false (errno
 * ENOMEM) without memory. */
bool echo_keep_pending(struct echo_connection *connection, const char *data, size_t length);

/* Bytes received from the client and not yet sent back. */
size_t echo_unsent(const struct echo_connection *connection);

/* Free what the connection holds. The caller closes the descriptor. */
void echo_release(struct echo_connection *connection);

/* ---- The listening socket ------------------------------------------------ */

/* Connections the kernel completes and queues before we accept() them (it
 * caps this at net.core.somaxconn). Large, so a burst of clients waits in
 * the queue instead of having its SYNs dropped and retried a second later. */
#define LISTEN_BACKLOG 1024
/* A level-triggered server accept()s at most this many per wakeup, so a
 * crowd of newcomers cannot starve the clients already connected; the rest
 * are still queued, and still announced, at the next wait. */
#define ACCEPTS_PER_WAKEUP 64

/* accept() with the shortage rule. When accept() fails for want of
 * descriptors (EMFILE: this process is at its limit; ENFILE: the whole
 * system is) or of kernel memory (ENOBUFS, ENOMEM), the connections stay
 * queued, so the listening socket stays readable and watching it would wake
 * us at once, again and again: a busy loop. So the listener is paused: the
 * server stops watching it for LISTENER_PAUSE_MS (its wait gets a timeout,
 * from listener_timeout_ms()), then tries again. Meanwhile the queued
 * clients wait, and are served as soon as a client leaves. (The other known
 * cure, a spare descriptor closed to accept and drop the newcomer, turns the
 * waiting clients away; we prefer that they wait.) The shortage is reported
 * once, from the first failure until accept() says EAGAIN: a descriptor
 * was free and nobody is left waiting. */
#define LISTENER_PAUSE_MS 100

struct listener {
    int fd;                  /* the listening socket, non-blocking */
    bool paused;             /* out of descriptors: not watched */
    long long resume_ms;     /* when to watch it again (CLOCK_MONOTONIC) */
    bool shortage_reported;  /* the shortage was said once already */
};

/* Set up the listener on a listening socket: made non-blocking (fatal()
 * if that fails: setup errors end the program), not paused. */
void listener_start(struct listener *listener, int listening_fd);

/* accept4() one connection, non-blocking and close-on-exec; the peer's
 * address as text ("127.0.0.1:50412") in peer_text, which has room for
 * ADDRESS_TEXT_SIZE bytes (lab.h). Returns the new descriptor, or -1 when
 * there is none to take now:
 * errno EAGAIN (the queue is empty), or a shortage, which pauses the
 * listener (listener->paused: stop watching it). A client that gave up
 * while queued (ECONNABORTED, EPROTO) is skipped. */
int listener_accept(struct listener *listener, char *peer_text, size_t peer_text_size);

/* If the listener is paused and its pause is over, unpause it and return
 * true: the server then watches it again (and says so in its own words). */
bool listener_resume_if_due(struct listener *listener);

/* The timeout for the server's wait: -1 (none) unless the listener is
 * paused, else the milliseconds until it is due (0 if it is). */
int listener_timeout_ms(const struct listener *listener);

#endif
