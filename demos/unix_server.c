/*
 * unix_server.c - an echo server on a local (Unix domain) socket.
 *
 * Shows:   local sockets (本地套接字) between two programs on one machine:
 *          socket(AF_UNIX, SOCK_STREAM), bind() to a path, listen(), then
 *          recv()/send() as with TCP - Python's socket(AF_UNIX) and
 *          bind(path). Then what TCP cannot do: the socket file's mode is
 *          its access control (-m); SO_PEERCRED names the process at the
 *          other end (pid, uid, gid), checked by the kernel; and a client
 *          can hand the server an open file (SCM_RIGHTS), which the server
 *          reads although it never opened it. Also what a path brings with
 *          it: a stale file left by a server that died, a live server that
 *          must not be pushed aside, a path that is not a socket at all.
 *          Many clients at once, on epoll and the lab's echo module.
 *
 * Usage:   unix_server [-s PATH] [-m MODE] [-q] [-v]
 *
 * Try:     build/unix_server -v
 *          then in another terminal:
 *            build/unix_client -m hello
 *            build/unix_client --pass /etc/hostname </dev/null
 *            ls -l "${XDG_RUNTIME_DIR:-/tmp}"/lab3*.sock
 *
 * Observe: each client is named by its pid, uid and gid; the passed
 *          descriptor arrives as a new fd number in the server, which
 *          reads the file's first line through it and sends it back; the
 *          `s` at the start of `ls -l`; the file is gone after Ctrl-C.
 *
 * Protocol: echo, as every echo server of the lab. One message may carry
 *          a descriptor: the bytes of the recvmsg() that brought it are
 *          echoed as usual, then the first line of the file (up to and
 *          including its newline, at most FIRST_LINE_MAX bytes) is sent
 *          back, and the descriptor is closed. Exactly one descriptor, of a
 *          regular file open for reading; anything else (several, a
 *          truncated control message, a directory, a socket, a pipe) is
 *          refused by closing that client. unix_client --pass sends
 *          "pass FILE\n" with the descriptor. docs/unix_server.md has more.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "echo.h"
#include "lab.h"

#define MAX_EVENTS 256 /* per epoll_wait(); the rest come next time (level-triggered) */
/* Room in the control buffer for this many descriptors in one message. One
 * is allowed; the rest of the room lets us see (and close) a few more.
 * Beyond it the kernel sets MSG_CTRUNC and closes what did not fit. */
#define DESCRIPTOR_ROOM 4
/* How much of a passed file is sent back: its first line, at most this. */
#define FIRST_LINE_MAX 4096
/* "/path/to/socket" or "@name", and its NUL. */
#define SOCKET_TEXT_SIZE (sizeof ((struct sockaddr_un *)0)->sun_path + 2)

static const char usage_text[] =
    "usage: unix_server [-s PATH] [-m MODE] [-q] [-v]\n"
    "  -s PATH   socket path (default $XDG_RUNTIME_DIR/lab3.sock, else\n"
    "            /tmp/lab3-UID.sock); @NAME for Linux's abstract namespace (no file)\n"
    "  -m MODE   permissions of the socket file, octal (default 0600: only you)\n"
    "  -q        quiet: only the listening line, errors and the summary\n"
    "  -v        verbose: also every wakeup with its decoded events, and byte counts\n"
    "  -h        this help\n";

static const struct echo_words epoll_words = { "EPOLLIN off", "EPOLLOUT on" };

struct client {
    struct echo_connection echo; /* its descriptor, pending echo, counters */
    uint32_t watched_events;     /* what epoll is asked to report for it now */
};

/* Where the socket lives in the file system, and the lock beside it. */
struct socket_file {
    const char *path;          /* as given; "@name" for an abstract one */
    bool abstract;             /* no file, no lock, no mode */
    char lock_path[PATH_MAX];  /* PATH.lock */
    int lock_fd;               /* flock()ed while we serve, or -1 */
    bool stale_removed;        /* a dead server's file was there: told after listening */
    bool bound;                /* bind() made the file: remove it on the way out */
    dev_t device;              /* the file bind() made, so that we remove */
    ino_t inode;               /* only that one, never a successor's */
};

struct server {
    struct listener listener;
    int stop_fd; /* the signalfd: readable once SIGINT or SIGTERM came */
    /* 3 查找字典 - the notes' {fileno: obj} dictionary: clients_by_fd[fd] is
     * the client on fd, or NULL. The program's one per-descriptor table; it
     * grows with the highest descriptor in use. */
    struct client **clients_by_fd;
    size_t table_size;
    /* 2 注册 - the interest list lives in the kernel, behind this fd. */
    int epoll_fd;
    size_t client_count;
    unsigned long clients_served;
    unsigned long descriptors_received; /* every one of them closed again */
    struct echo_shared echo; /* the read buffer and the byte total */
    struct socket_file file; /* the path, its lock: removed on the way out */
};

/* ---- Leaving: the socket file goes with us --------------------------------- */

/* Remove the socket file if bind() made it and it is still that file (a
 * server started after ours died may have replaced it), then the lock. */
static void remove_socket_file(struct socket_file *file)
{
    if (file->bound) {
        struct stat now;
        if (lstat(file->path, &now) == 0 && S_ISSOCK(now.st_mode)
            && now.st_dev == file->device && now.st_ino == file->inode) {
            if (unlink(file->path) == 0)
                narrate("unlink(%s): the socket file is gone", file->path);
            else
                warn_errno("unlink(%s)", file->path);
        } else {
            narrate("%s is no longer the file we bound; leaving it alone", file->path);
        }
        file->bound = false;
    }
    if (file->lock_fd >= 0) {
        /* We hold the lock, so the lock file is ours to remove. */
        unlink(file->lock_path);
        close(file->lock_fd);
        file->lock_fd = -1;
    }
}

/* A setup failure once the lock is taken: clean up what we made, then end
 * like fatal() (error != 0) or fatal_message() (error == 0), exit 1. */
static void give_up(struct socket_file *file, int error, const char *format, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static void give_up(struct socket_file *file, int error, const char *format, ...)
{
    char text[PATH_MAX + 256];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    remove_socket_file(file);
    if (error == 0)
        fatal_message("%s", text);
    errno = error;
    fatal("%s", text);
}

/* ---- Before bind(): the lock, then what is already at the path -------------- */

/* Does a server answer at this address? 1 yes, 0 no (ECONNREFUSED: a
 * socket file with nobody listening behind it), -1 with errno if we cannot
 * tell. Non-blocking, so a live server with a full backlog answers EAGAIN
 * (it is alive) instead of keeping us waiting. */
static int someone_answers(const struct sockaddr_un *address, socklen_t length)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int answer = 1;
    if (connect(fd, (const struct sockaddr *)address, length) < 0) {
        if (errno == ECONNREFUSED)
            answer = 0;
        else if (errno != EAGAIN)
            answer = -1;
    }
    int saved_errno = errno;
    close(fd);
    errno = saved_errno;
    return answer;
}

/* Two servers started at once on one path must not both find it stale,
 * both remove it and both bind (the second would remove the first's fresh
 * socket). So each first takes an exclusive flock() on PATH.lock and keeps
 * it while it serves. Returns false if another process holds it. */
static bool take_lock(struct socket_file *file)
{
    for (;;) {
        int fd = open(file->lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            fatal("open(%s)", file->lock_path);
        struct stat held, at_path;
        if (fstat(fd, &held) < 0)
            fatal("fstat(%s)", file->lock_path);
        if (!S_ISREG(held.st_mode))
            fatal_message("%s exists and is not a regular file; leaving it alone",
                          file->lock_path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int error = errno;
            close(fd);
            if (error == EWOULDBLOCK)
                return false;
            errno = error;
            fatal("flock(%s)", file->lock_path);
        }
        /* A server leaving removes its lock file; if that happened between
         * our open() and flock(), we hold a lock nobody else will see. */
        if (lstat(file->lock_path, &at_path) == 0 && at_path.st_dev == held.st_dev
            && at_path.st_ino == held.st_ino) {
            file->lock_fd = fd;
            char pid_text[32];
            int length = snprintf(pid_text, sizeof pid_text, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) < 0 || write(fd, pid_text, (size_t)length) < 0)
                give_up(file, errno, "writing our pid into %s", file->lock_path);
            return true;
        }
        close(fd);
    }
}

static const char *kind_of_file(mode_t mode)
{
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISLNK(mode)) return "a symbolic link";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
    return "not a socket";
}

/* Make way for bind(): nothing at the path is fine; a socket nobody answers
 * on (stale, left by a server that died) is removed; anything else ends the
 * program and is left exactly as it was. lstat(), not stat(): a symbolic
 * link is refused for what it is, never followed. */
static void clear_the_way(struct socket_file *file, const struct sockaddr_un *address,
                          socklen_t length)
{
    struct stat found;
    if (lstat(file->path, &found) < 0) {
        if (errno == ENOENT)
            return;
        give_up(file, errno, "lstat(%s)", file->path);
    }
    if (!S_ISSOCK(found.st_mode))
        give_up(file, 0, "%s exists and is %s, not a socket; leaving it alone "
                "(remove it yourself, or choose another path with -s)",
                file->path, kind_of_file(found.st_mode));
    switch (someone_answers(address, length)) {
    case 1:
        give_up(file, 0, "%s: a server is listening there already; not taking it over",
                file->path);
    case 0:
        if (unlink(file->path) < 0 && errno != ENOENT)
            give_up(file, errno, "unlink(%s) of the stale socket file", file->path);
        file->stale_removed = true;
        return;
    default:
        give_up(file, errno, "connect(%s) to see whether a server is there", file->path);
    }
}

/* ---- Clients coming and going ---------------------------------------------- */

/* A new client on fd, watched for reading; NULL (errno set) without memory. */
static struct client *add_client(struct server *server, int fd)
{
    struct client **table = grow_table(server->clients_by_fd, &server->table_size,
                                       (size_t)fd + 1, sizeof *table);
    if (table == NULL)
        return NULL;
    server->clients_by_fd = table;
    struct client *client = calloc(1, sizeof *client);
    if (client == NULL)
        return NULL;
    echo_start(&client->echo, fd, &epoll_words);
    client->watched_events = EPOLLIN | EPOLLRDHUP;
    struct epoll_event event = { .events = client->watched_events, .data.ptr = client };
    if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0) {
        free(client);
        return NULL;
    }
    server->clients_by_fd[fd] = client;
    server->client_count++;
    server->clients_served++;
    return client;
}

/* The one place a client is let go. ep.unregister: epoll_ctl(EPOLL_CTL_DEL). */
static void close_client(struct server *server, struct client *client)
{
    epoll_ctl(server->epoll_fd, EPOLL_CTL_DEL, client->echo.fd, NULL);
    server->clients_by_fd[client->echo.fd] = NULL;
    server->client_count--;
    close(client->echo.fd);
    echo_release(&client->echo);
    free(client);
}

/* "pid 4242 uid 1000 gid 1000": who is at the other end. The kernel filled
 * this in at connect() time; the client cannot choose what it says. */
static const char *describe_peer(int fd, char *text, size_t size)
{
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) < 0)
        snprintf(text, size, "credentials unknown (SO_PEERCRED: %s)", errno_name(errno));
    else
        snprintf(text, size, "pid %ld uid %u gid %u", (long)credentials.pid,
                 (unsigned)credentials.uid, (unsigned)credentials.gid);
    return text;
}

static void watch_listener(struct server *server, uint32_t events)
{
    struct epoll_event event = { .events = events, .data.ptr = &server->listener };
    if (epoll_ctl(server->epoll_fd, EPOLL_CTL_MOD, server->listener.fd, &event) < 0)
        give_up(&server->file, errno, "epoll_ctl(EPOLL_CTL_MOD) on the listening socket");
}

/* Take the connections the kernel has queued, up to this round's share. */
static void accept_new_clients(struct server *server)
{
    for (int accepted = 0; accepted < ACCEPTS_PER_WAKEUP; accepted++) {
        /* A client that never bind()s has no name of its own: "(unnamed)". */
        char peer_text[SOCKET_TEXT_SIZE];
        int fd = listener_accept(&server->listener, peer_text, sizeof peer_text);
        if (fd < 0) {
            if (server->listener.paused) /* out of descriptors: see echo.h */
                watch_listener(server, 0);
            return;
        }
        if (add_client(server, fd) == NULL) {
            warn_errno("accept() -> fd %d from %s: cannot keep track of it; close(fd %d)",
                       fd, peer_text, fd);
            close(fd);
            continue;
        }
        char credentials_text[96];
        narrate("accept() -> fd %d from %s, connected to %s (%zu connected)", fd, peer_text,
                server->file.path, server->client_count);
        narrate("fd %d: SO_PEERCRED says %s", fd,
                describe_peer(fd, credentials_text, sizeof credentials_text));
    }
}

/* ---- Interest: what epoll watches each client for --------------------------- */

static const char *describe_events(uint32_t events, char *text, size_t size)
{
    static const struct named_bit names[] = {
        { EPOLLIN, "EPOLLIN" },   { EPOLLPRI, "EPOLLPRI" }, { EPOLLOUT, "EPOLLOUT" },
        { EPOLLERR, "EPOLLERR" }, { EPOLLHUP, "EPOLLHUP" }, { EPOLLRDHUP, "EPOLLRDHUP" },
    };
    return describe_mask(events, names, sizeof names / sizeof names[0], text, size);
}

/* "epoll_wait() -> 1 ready: fd 7 EPOLLIN|EPOLLRDHUP": only the ready ones. */
static void narrate_wakeup(const struct epoll_event *events, int ready)
{
    if (narration_level < NARRATE_VERBOSE)
        return;
    printf("epoll_wait() -> %d ready:%s", ready,
           ready == 0 ? " the timeout expired (time to try accept() again)" : "");
    for (int i = 0; i < ready; i++) {
        /* Each owner starts with its fd (listener.fd, stop_fd, echo.fd): C
         * lets a pointer to a struct be read as one to its first member. */
        char text[96];
        printf("%sfd %d %s", i == 0 ? " " : ", ", *(const int *)events[i].data.ptr,
               describe_events(events[i].events, text, sizeof text));
    }
    putchar('\n');
}

/* Reading while the client may send more and has room; writing only while
 * echo waits. Errors and hang-ups come anyway. The kernel keeps the
 * interest, so EPOLL_CTL_MOD (a system call) only when it changes. */
static enum echo_verdict update_interest(struct server *server, struct client *client)
{
    uint32_t events = 0;
    if (echo_wants_read(&client->echo))
        events |= EPOLLIN | EPOLLRDHUP;
    if (echo_wants_write(&client->echo))
        events |= EPOLLOUT;
    if (events == client->watched_events)
        return ECHO_KEEP;
    struct epoll_event event = { .events = events, .data.ptr = client };
    if (epoll_ctl(server->epoll_fd, EPOLL_CTL_MOD, client->echo.fd, &event) < 0) {
        warn_errno("epoll_ctl(EPOLL_CTL_MOD, fd %d) failed; close(fd %d)", client->echo.fd,
                   client->echo.fd);
        return ECHO_CLOSE;
    }
    client->watched_events = events;
    char text[96];
    narrate_detail("epoll_ctl(EPOLL_CTL_MOD, fd %d, %s)", client->echo.fd,
                   describe_events(events, text, sizeof text));
    return ECHO_KEEP;
}

/* ---- A passed descriptor ------------------------------------------------------ */

/* Close every descriptor a message brought, and refuse the client: one
 * line, then ECHO_CLOSE. Nothing received is ever left open. */
static enum echo_verdict refuse(struct client *client, const int *fds, size_t count,
                                const char *reason)
{
    for (size_t i = 0; i < count; i++)
        close(fds[i]);
    announce("fd %d: refused: %s; closed the %zu descriptor%s it sent, and close(fd %d) "
             "after %llu bytes echoed", client->echo.fd, reason, count, count == 1 ? "" : "s",
             client->echo.fd, client->echo.echoed);
    return ECHO_CLOSE;
}

/* Is the passed descriptor one we read? Only a regular file open for
 * reading: reading a pipe or a socket could block the whole server. NULL
 * if so, else why not (checked before its message is echoed, so that a
 * refused client gets nothing back). */
static const char *why_not_readable(int fd, char *reason, size_t size)
{
    struct stat about;
    if (fstat(fd, &about) < 0) {
        snprintf(reason, size, "fstat() on the passed descriptor failed: %s", errno_name(errno));
        return reason;
    }
    if (!S_ISREG(about.st_mode)) {
        snprintf(reason, size, "the passed descriptor is %s, not a regular file",
                 S_ISSOCK(about.st_mode) ? "a socket" : kind_of_file(about.st_mode));
        return reason;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && ((flags & O_ACCMODE) == O_WRONLY || (flags & O_PATH))) {
        snprintf(reason, size, "the passed descriptor is open %s",
                 (flags & O_PATH) ? "with O_PATH (a name, no reading)" : "for writing only");
        return reason;
    }
    if (narration_level >= NARRATE_NORMAL) {
        /* The kernel knows which file it is; the server never opened it. */
        char link[64], name[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t length = readlink(link, name, sizeof name - 1);
        name[length > 0 ? length : 0] = '\0';
        narrate("fd %d: fstat() says a regular file of %lld bytes, owner uid %u, mode %04o; "
                "readlink(%s) -> %s", fd, (long long)about.st_size, (unsigned)about.st_uid,
                (unsigned)(about.st_mode & 07777), link, length > 0 ? name : "?");
    }
    return NULL;
}

/* Send back the first line of the passed file, and close it. The received
 * descriptor shares its open file, offset included, with the sender's: so
 * pread() at offset 0, which moves no offset. */
static enum echo_verdict echo_first_line(struct server *server, struct client *client, int fd)
{
    char line[FIRST_LINE_MAX];
    ssize_t got = pread(fd, line, sizeof line, 0);
    if (got < 0) {
        char reason[128];
        snprintf(reason, sizeof reason, "pread() on the passed descriptor failed: %s (%s)",
                 strerror(errno), errno_name(errno));
        return refuse(client, &fd, 1, reason);
    }
    close(fd);
    char *newline = memchr(line, '\n', (size_t)got);
    size_t length = newline != NULL ? (size_t)(newline - line) + 1 : (size_t)got;
    narrate("pread(fd %d, offset 0) -> %zd bytes; close(fd %d); its first line (%zu bytes) "
            "goes back to fd %d", fd, got, fd, length, client->echo.fd);
    if (length == 0)
        return ECHO_KEEP;
    return echo_send_back(&client->echo, &server->echo, line, length);
}

/* The client is readable: recvmsg() instead of recv(), with room for
 * ancillary data, so that a descriptor it passes is seen (recv() would
 * make the kernel discard it). MSG_CMSG_CLOEXEC: a received descriptor is
 * close-on-exec from its first moment. */
static enum echo_verdict read_from_client(struct server *server, struct client *client)
{
    union { /* aligned for struct cmsghdr */
        struct cmsghdr header;
        char bytes[CMSG_SPACE(sizeof(int) * DESCRIPTOR_ROOM)];
    } control;
    struct iovec data = { .iov_base = server->echo.read_buffer,
                          .iov_len = echo_read_size(&client->echo) };
    struct msghdr message = { .msg_iov = &data, .msg_iovlen = 1,
                              .msg_control = control.bytes, .msg_controllen = sizeof control };
    ssize_t received = recvmsg(client->echo.fd, &message, MSG_CMSG_CLOEXEC);
    if (received <= 0 || message.msg_controllen == 0)
        return echo_on_received(&client->echo, &server->echo, "recvmsg", received);

    /* Ancillary data came. Collect every descriptor in it first, so that
     * whatever is wrong, each one is closed. */
    int fds[DESCRIPTOR_ROOM];
    size_t count = 0;
    bool unexpected = false;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL;
         header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS
            || header->cmsg_len < CMSG_LEN(0)) {
            unexpected = true;
            continue;
        }
        size_t in_this = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < in_this && count < DESCRIPTOR_ROOM; i++)
            memcpy(&fds[count++], CMSG_DATA(header) + i * sizeof(int), sizeof(int));
    }
    server->descriptors_received += count;
    char reason[128];
    if (message.msg_flags & MSG_CTRUNC) {
        snprintf(reason, sizeof reason, "its control message did not fit (MSG_CTRUNC: room "
                 "for %d descriptors; the kernel closed the rest)", DESCRIPTOR_ROOM);
        return refuse(client, fds, count, reason);
    }
    if (unexpected)
        return refuse(client, fds, count, "a control message other than SCM_RIGHTS");
    if (count != 1) {
        snprintf(reason, sizeof reason, "%zu descriptors in one message; one at a time", count);
        return refuse(client, fds, count, reason);
    }
    narrate("recvmsg(fd %d) -> %zd bytes and SCM_RIGHTS: a descriptor, now our fd %d",
            client->echo.fd, received, fds[0]);
    if (why_not_readable(fds[0], reason, sizeof reason) != NULL)
        return refuse(client, fds, count, reason);
    /* Its bytes first, echoed like any others; then the file's line. */
    if (echo_on_received(&client->echo, &server->echo, "recvmsg", received) == ECHO_CLOSE) {
        close(fds[0]);
        return ECHO_CLOSE;
    }
    return echo_first_line(server, client, fds[0]);
}

/* What epoll said about one client. EPOLLRDHUP, EPOLLHUP and EPOLLERR need
 * no code of their own: the recvmsg() or send() they lead to returns the
 * end of file or the error, and the verdict closes the client. */
static enum echo_verdict handle_client_events(struct server *server, struct client *client,
                                              uint32_t events)
{
    enum echo_verdict verdict = ECHO_KEEP;
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && echo_wants_read(&client->echo))
        verdict = read_from_client(server, client);
    if (verdict == ECHO_KEEP && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        && echo_wants_write(&client->echo))
        verdict = echo_on_writable(&client->echo, &server->echo);
    return verdict;
}

/* ---- Command line ------------------------------------------------------------- */

/* An octal mode such as 0600 or 660, at most 0777. */
static mode_t parse_mode_or_exit(const char *text)
{
    char *end;
    errno = 0;
    unsigned long mode = strtoul(text, &end, 8);
    if (text[0] < '0' || text[0] > '7' || *end != '\0' || errno == ERANGE || mode > 0777)
        usage_error(usage_text, "bad mode '%s': expected octal permissions such as 0600 or "
                    "0660, at most 0777", text);
    return (mode_t)mode;
}

int main(int argc, char *argv[])
{
    char default_path[PATH_MAX];
    const char *path = default_unix_socket_path(default_path, sizeof default_path);
    mode_t mode = 0600;
    bool mode_given = false;

    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int option;
    while ((option = getopt_long(argc, argv, "+:s:m:qvh", long_options, NULL)) != -1) {
        switch (option) {
        case 's': path = optarg; break;
        case 'm': mode = parse_mode_or_exit(optarg); mode_given = true; break;
        case 'q': narration_level = NARRATE_QUIET; break;
        case 'v': narration_level = NARRATE_VERBOSE; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: reject_option(option, argv, usage_text);
        }
    }
    if (optind < argc)
        usage_error(usage_text, "unexpected argument '%s'", argv[optind]);

    struct sockaddr_un address;
    socklen_t address_length = unix_address_or_exit(path, &address, usage_text);
    if (path[0] == '@' && mode_given)
        usage_error(usage_text, "-m: an abstract name has no file, so no mode to set");
    start_narration();

    /* All the server's state lives here in main and is passed down. */
    struct server server = { .file = { .path = path, .abstract = path[0] == '@', .lock_fd = -1 } };
    struct socket_file *file = &server.file;
    if (!file->abstract && snprintf(file->lock_path, sizeof file->lock_path, "%s.lock", path)
                               >= (int)sizeof file->lock_path)
        usage_error(usage_text, "socket path '%s' is too long for its lock file", path);
    server.stop_fd = open_stop_signal_fd();

    /* Before bind(): the lock, then whatever is at the path already. */
    if (!file->abstract && !take_lock(file)) {
        if (someone_answers(&address, address_length) == 1)
            fatal_message("%s: a server is listening there already; not taking it over", path);
        fatal_message("%s: another unix_server holds %s (it is starting or stopping); "
                      "not taking it over", path, file->lock_path);
    }
    if (!file->abstract)
        clear_the_way(file, &address, address_length);

    /* 1 创建套接字 - create, bind, listen: as for TCP, with a path. */
    int listening_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listening_fd < 0)
        give_up(file, errno, "socket(AF_UNIX, SOCK_STREAM)");
    listener_start(&server.listener, listening_fd);
    /* bind() creates the file with mode 0777 less the umask: narrow the
     * umask first, so there is no moment in which others could connect. */
    mode_t old_umask = umask(~mode & 0777);
    int bound = bind(listening_fd, (struct sockaddr *)&address, address_length);
    int bind_errno = errno;
    umask(old_umask);
    if (bound < 0) {
        if (bind_errno == EADDRINUSE)
            give_up(file, 0, "%s: a server is listening there already (bind: EADDRINUSE); "
                    "not taking it over", path);
        give_up(file, bind_errno, "bind(%s)", path);
    }
    if (!file->abstract) {
        struct stat made;
        if (lstat(path, &made) < 0)
            give_up(file, errno, "lstat(%s) after bind()", path);
        file->bound = true;
        file->device = made.st_dev;
        file->inode = made.st_ino;
        if (chmod(path, mode) < 0)
            give_up(file, errno, "chmod(%s, %04o)", path, (unsigned)mode);
    }
    if (listen(listening_fd, LISTEN_BACKLOG) < 0)
        give_up(file, errno, "listen(%s)", path);
    announce("listening on %s", path);
    /* What happened before bind(), told now: the first line is the contract's. */
    if (!file->abstract)
        narrate("flock(%s, LOCK_EX): no other unix_server is at this path", file->lock_path);
    if (file->stale_removed)
        narrate("%s: a stale socket file was there (connect() -> ECONNREFUSED: nobody "
                "listened); unlink()ed it before bind()", path);
    if (file->abstract)
        narrate("fd %d: socket(AF_UNIX, SOCK_STREAM), bind() to the abstract name %s "
                "(sun_path begins with a NUL byte: no file at all; the name goes when the "
                "socket closes), listen() (1 创建套接字: create the socket)", listening_fd, path);
    else
        narrate("fd %d: socket(AF_UNIX, SOCK_STREAM), bind(%s) made a socket file with mode "
                "%04o, listen() (1 创建套接字: create the socket)", listening_fd, path,
                (unsigned)mode);

    /* 2 注册 - register the listening socket and the signalfd; their data.ptr
     * tells them apart from the clients. After bind(), so that a failure
     * here is one the socket file must not outlive. */
    server.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (server.epoll_fd < 0)
        give_up(file, errno, "epoll_create1");
    struct epoll_event listening = { .events = EPOLLIN, .data.ptr = &server.listener };
    struct epoll_event stopping = { .events = EPOLLIN, .data.ptr = &server.stop_fd };
    if (epoll_ctl(server.epoll_fd, EPOLL_CTL_ADD, listening_fd, &listening) < 0
        || epoll_ctl(server.epoll_fd, EPOLL_CTL_ADD, server.stop_fd, &stopping) < 0)
        give_up(file, errno, "epoll_ctl(EPOLL_CTL_ADD)");
    narrate_detail("epoll_create1() -> fd %d; epoll_ctl(EPOLL_CTL_ADD, fd %d and fd %d "
                   "(signalfd), EPOLLIN) (2 注册: register)", server.epoll_fd, listening_fd,
                   server.stop_fd);

    /* 4 循环监控 - loop on the wait. EINTR policy: the stop signals are
     * blocked and arrive through the signalfd, so the wait returns EINTR only
     * after SIGSTOP/SIGCONT (signal(7)); then we simply wait again. */
    struct epoll_event events[MAX_EVENTS];
    while (!stop_requested) {
        if (listener_resume_if_due(&server.listener)) {
            watch_listener(&server, EPOLLIN);
            narrate_detail("epoll_ctl(EPOLL_CTL_MOD, fd %d, EPOLLIN): trying accept() again",
                           listening_fd);
            /* At once: if the queue emptied during the pause, the socket is
             * not readable, and only accept()'s EAGAIN ends the shortage. */
            accept_new_clients(&server);
        }
        int ready = epoll_wait(server.epoll_fd, events, MAX_EVENTS,
                               listener_timeout_ms(&server.listener));
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            give_up(file, errno, "epoll_wait"); /* only with bad arguments: a bug */
        }
        narrate_wakeup(events, ready);

        /* 5 处理 - handle what is ready; a stop ends the round: however busy
         * the clients keep us, a Ctrl-C is taken in the round it arrives.
         * Only the ready ones came back, each with its owner: no search. */
        for (int i = 0; i < ready && !stop_requested; i++) {
            void *owner = events[i].data.ptr;
            if (owner == &server.stop_fd)
                take_stop_signal(server.stop_fd); /* sets stop_requested */
            else if (owner == &server.listener)
                accept_new_clients(&server);
            /* 3 查找字典 - the lookup is done: data.ptr is the client. */
            else if (handle_client_events(&server, owner, events[i].events) == ECHO_CLOSE
                     || update_interest(&server, owner) == ECHO_CLOSE)
                close_client(&server, owner);
        }
    }

    /* SIGINT or SIGTERM: every client closed, everything freed, the file gone. */
    if (server.client_count > 0)
        narrate("stopping: close() on the %zu clients still connected", server.client_count);
    for (size_t fd = 0; fd < server.table_size; fd++)
        if (server.clients_by_fd[fd] != NULL)
            close_client(&server, server.clients_by_fd[fd]);
    free(server.clients_by_fd);
    close(server.epoll_fd);
    close(server.stop_fd);
    close(listening_fd);
    remove_socket_file(file);
    announce("summary: clients=%lu bytes=%llu descriptors=%lu", server.clients_served,
             server.echo.bytes_echoed, server.descriptors_received);
    return 0;
}
