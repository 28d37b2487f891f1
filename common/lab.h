/*
 * lab.h - the few helpers every Lab 3 demo would otherwise repeat.
 *
 * Error exits that name the errno, listen/connect, non-blocking mode,
 * write-all, signal setup, narration and argument checks. Nothing here
 * hides a system call that a demo is about: each demo still calls
 * accept(), recv(), select(), poll() or epoll_wait() itself.
 *
 * Every .c file defines _GNU_SOURCE before its first #include, so the
 * POSIX and GNU declarations used here are visible.
 */
#ifndef LAB_H
#define LAB_H

#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/* ---- The two globals a demo may have (besides its own descriptor table) */

/* Set by the SIGINT/SIGTERM handler; every wait loop checks it. */
extern volatile sig_atomic_t stop_requested;

/* -q sets NARRATE_QUIET, -v sets NARRATE_VERBOSE. */
enum narration_level { NARRATE_QUIET = 0, NARRATE_NORMAL = 1, NARRATE_VERBOSE = 2 };
extern int narration_level;

/* ---- Narration: stdout, one event per line, line-buffered -------------- */

/* Line-buffer stdout so pipes and tests see every line at once. */
void start_narration(void);

void narrate(const char *format, ...)        /* shown unless -q */
    __attribute__((format(printf, 1, 2)));
void narrate_detail(const char *format, ...) /* shown only with -v */
    __attribute__((format(printf, 1, 2)));
void announce(const char *format, ...)       /* always shown: listening, errors, summary */
    __attribute__((format(printf, 1, 2)));

/* announce() the message followed by ": strerror (ERRNO_NAME)" for errno.
 * For a failure that ends one client, not the program. */
void warn_errno(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

/* One bit of an event mask and its name, for describe_mask(). */
struct named_bit {
    unsigned bit;
    const char *name;
};

/* "POLLIN|POLLHUP": the names of the bits set in mask, any bits not in
 * names as hex, "none" for an empty mask. Returns text. */
const char *describe_mask(unsigned mask, const struct named_bit *names, size_t name_count,
                          char *text, size_t text_size);

/* "POLLIN|POLLHUP" for a poll() events or revents mask: describe_mask()
 * with the names of poll(2). Returns text. */
const char *describe_poll_events(short events, char *text, size_t text_size);

/* ---- Errors that end the program --------------------------------------- */

/* "ECONNRESET" for ECONNRESET; "errno 123" for one it does not know. */
const char *errno_name(int error_number);

/* stderr: "PROGRAM: message: strerror (ERRNO_NAME)", then exit 1. */
void fatal(const char *format, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* The same without an errno, for failures that have none. */
void fatal_message(const char *format, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* stderr: "PROGRAM: reason" and the usage text, then exit 2. */
void usage_error(const char *usage_text, const char *format, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* ---- Notes and errors on stderr, for a client whose stdout is its data - */

/* A client started with stdin, stdout or stderr closed would give that
 * number to its first socket, and data would go astray: open /dev/null on
 * each one closed (a closed stdin then reads as end of input), or exit 1. */
void ensure_standard_descriptors(void);

/* stderr: "PROGRAM: message", shown when narration_level >= level. */
void note(int level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* stderr: "PROGRAM: message: strerror (ERRNO_NAME)" for error_number, or
 * "PROGRAM: message" alone when it is 0. Like fatal(), but it returns, so
 * the caller can free what it holds before it exits: returns 1, the exit
 * status of a failure, for `return complain(...)`. */
int complain(int error_number, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Command-line values ----------------------------------------------- */

/* The default: branch of a getopt loop whose optstring starts with "+:"
 * (stop at the first non-option; let us print the message): prints
 * "unknown option '-x'" or "option '-p' needs a value" and the usage,
 * then exit 2. */
void reject_option(int option, char *const argv[], const char *usage_text)
    __attribute__((noreturn));

/* Whole decimal number in [minimum, maximum]; 0 on success, -1 if not. */
int parse_number(const char *text, long minimum, long maximum, long *value);

/* Seconds, decimals allowed ("3", "0.5"), in [minimum, maximum]; 0 on
 * success, -1 if not. */
int parse_seconds(const char *text, double minimum, double maximum, double *seconds);

/* Port 0..65535 (0: the kernel picks one), or usage_error(). */
int parse_port_or_exit(const char *text, const char *usage_text);

/* A numeric address (127.0.0.1, ::1, 0.0.0.0) or localhost, or usage_error():
 * never a name that would need DNS. */
const char *parse_host_or_exit(const char *text, const char *usage_text);

/* ---- Sockets ----------------------------------------------------------- */

/* Room for "[ffff:...:ffff]:65535" and its NUL. */
#define ADDRESS_TEXT_SIZE 64

/* "127.0.0.1:50412", "[::1]:50412" or "PATH" for a Unix socket. */
const char *format_address(const struct sockaddr *address, socklen_t length,
                           char *text, size_t text_size);

/* getaddrinfo() for host:port (TCP, port as a number; flags such as
 * AI_PASSIVE), or fatal(). Free the list with freeaddrinfo(). */
struct addrinfo *resolve_or_exit(const char *host, int port, int flags);

/* socket() + SO_REUSEADDR + bind() + listen() on host:port, the first
 * address that works; fatal() on failure (setup errors end the program). */
int listen_on(const char *host, int port, int backlog);

/* Print the contract line "listening on ADDR:PORT" with the real port. */
void announce_listening(int listening_fd);

/* The per-user default of unix_server and unix_client:
 * "$XDG_RUNTIME_DIR/lab3.sock", else "/tmp/lab3-UID.sock". Returns text. */
const char *default_unix_socket_path(char *text, size_t text_size);

/* Fill *address for PATH, or for Linux's abstract namespace when PATH is
 * "@NAME" (sun_path = NUL, then NAME); returns the address length to give
 * bind()/connect(). A path that does not fit sun_path (107 bytes and its
 * NUL) is usage_error(), exit 2. */
socklen_t unix_address_or_exit(const char *path, struct sockaddr_un *address,
                               const char *usage_text);

/* socket() + connect() to host:port; fatal() on failure. */
int connect_to(const char *host, int port);

/* Add O_NONBLOCK; -1 with errno on failure. */
int set_nonblocking(int fd);

/* write() until every byte is written, through short writes and EINTR
 * (and EAGAIN, on a non-blocking descriptor such as a stdout shared with
 * another program: it waits in poll() for room instead of spinning), but
 * never past a stop request: once stop_requested is set it gives up,
 * after a short write too. Returns length, or -1 with errno (EINTR when
 * it gave up for a stop). */
ssize_t write_all(int fd, const void *buffer, size_t length);

/* ---- The clients' outgoing bytes --------------------------------------- */

/* Bytes read from stdin (or a -m message) that the socket has not taken
 * yet, in tcp_client and unix_client. While it holds any, stdin rests, but
 * the socket is always read, so the echo always drains and neither side
 * waits for the other for ever (docs/tcp_client.md tells the deadlock). */
struct outgoing {
    char *data;
    size_t capacity;
    size_t start, end; /* data[start..end) is still to be sent */
    bool more_coming;  /* stdin is still open */
};

/* The server closed its side, `sent` bytes into the conversation. If data
 * of ours was still waiting, that is no normal end (`client < file > copy`
 * would come out short, silently): say how much was left and return 1. Of
 * a regular file we know the rest; of a pipe, at least what we hold and
 * what it holds now. Returns 0 if nothing was left. */
int check_nothing_unsent(struct outgoing *out, unsigned long long sent);

/* ---- Tables that grow -------------------------------------------------- */

/* The array (of *count entries of entry_size bytes) grown to hold at least
 * `needed` entries, doubling, the new entries zeroed; *count updated.
 * Returns the array to use from now on, or NULL (errno ENOMEM; the old
 * array and *count untouched) if memory runs out. The servers' tables from
 * descriptor to client grow this way, with the highest descriptor in use. */
void *grow_table(void *array, size_t *count, size_t needed, size_t entry_size);

/* CLOCK_MONOTONIC in seconds, for deadlines and timing runs. */
double monotonic_seconds(void);

/* ---- Signals and limits ------------------------------------------------ */

/* SIGINT/SIGTERM set stop_requested (no SA_RESTART, so a blocked call
 * returns EINTR); SIGPIPE is ignored, so a write to a closed peer fails
 * with EPIPE instead of killing the demo. */
void install_signal_handlers(void);

/* For servers that sleep in a multiplexing wait: the stop signals as a
 * descriptor. Installs the handlers above, then blocks SIGINT and SIGTERM
 * for good and returns a signalfd (non-blocking, close-on-exec) that turns
 * readable when one of them arrives. The server watches it like any client
 * (FD_SET, a pollfd, an epoll registration), so a stop is one more event
 * in the loop: no load can hide it, and no gap between a check of a flag
 * and the wait can lose it. fatal() on failure. */
int open_stop_signal_fd(void);

/* Read the signalfd after the wait reported it readable: narrates which
 * signal came ("signalfd: SIGINT arrived; stopping"), sets stop_requested
 * and returns the signal number, or 0 if there was nothing to read. */
int take_stop_signal(int stop_fd);

/* For a blocking accept() loop, after accept() failed: if errno says the
 * process or the system is short of descriptors or memory (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM), say so once per shortage (*shortage_said remembers),
 * sleep 100 ms (so the loop does not spin: Linux fails accept() at once,
 * queue or no queue, while no descriptor is free) and return true. A stop
 * signal cuts the sleep short. Any other errno: false, nothing said. */
bool wait_out_accept_shortage(bool *shortage_said);

/* After an accept() that worked: if a shortage was said, say it is over. */
void end_accept_shortage(bool *shortage_said);

/* Raise the soft RLIMIT_NOFILE to the hard limit, narrated; returns the
 * soft limit now in force. */
long raise_descriptor_limit(void);

/* The same without a word, for a program whose stdout is not for narration:
 * raise the soft limit to wanted descriptors, or as near as the hard limit
 * allows, never lower. *before gets the soft limit found. Returns the soft
 * limit now in force (-1 if getrlimit fails). */
long raise_descriptor_limit_to(long wanted, long *before);

#endif
