/*
 * lab.c - the helpers declared in lab.h. Read lab.h first.
 */
#define _GNU_SOURCE

#include "lab.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t stop_requested = 0;
int narration_level = NARRATE_NORMAL;

/* ---- Narration ---------------------------------------------------------- */

void start_narration(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
}

static void print_line(const char *format, va_list arguments)
{
    vprintf(format, arguments);
    putchar('\n');
}

void narrate(const char *format, ...)
{
    if (narration_level < NARRATE_NORMAL)
        return;
    va_list arguments;
    va_start(arguments, format);
    print_line(format, arguments);
    va_end(arguments);
}

void narrate_detail(const char *format, ...)
{
    if (narration_level < NARRATE_VERBOSE)
        return;
    va_list arguments;
    va_start(arguments, format);
    print_line(format, arguments);
    va_end(arguments);
}

void announce(const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    print_line(format, arguments);
    va_end(arguments);
}

void warn_errno(const char *format, ...)
{
    int saved_errno = errno;
    va_list arguments;
    va_start(arguments, format);
    vprintf(format, arguments);
    va_end(arguments);
    printf(": %s (%s)\n", strerror(saved_errno), errno_name(saved_errno));
}

const char *describe_mask(unsigned mask, const struct named_bit *names, size_t name_count,
                          char *text, size_t text_size)
{
    if (mask == 0) {
        snprintf(text, text_size, "none");
        return text;
    }
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < name_count && used < text_size; i++) {
        if (!(mask & names[i].bit))
            continue;
        mask &= ~names[i].bit;
        used += (size_t)snprintf(text + used, text_size - used, "%s%s", used > 0 ? "|" : "",
                                 names[i].name);
    }
    if (mask != 0 && used < text_size)
        snprintf(text + used, text_size - used, "%s0x%x", used > 0 ? "|" : "", mask);
    return text;
}

const char *describe_poll_events(short events, char *text, size_t text_size)
{
    static const struct named_bit names[] = {
        { POLLIN, "POLLIN" },   { POLLPRI, "POLLPRI" }, { POLLOUT, "POLLOUT" },
        { POLLERR, "POLLERR" }, { POLLHUP, "POLLHUP" }, { POLLNVAL, "POLLNVAL" },
        { POLLRDHUP, "POLLRDHUP" },
    };
    return describe_mask((unsigned short)events, names, sizeof names / sizeof names[0], text,
                         text_size);
}

/* ---- Errors ------------------------------------------------------------- */

const char *errno_name(int error_number)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *name = strerrorname_np(error_number);
    if (name != NULL)
        return name;
#else
    /* Older C libraries: the names this lab can meet. */
    switch (error_number) {
    case EACCES: return "EACCES";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case ECONNABORTED: return "ECONNABORTED";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case EINPROGRESS: return "EINPROGRESS";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENETUNREACH: return "ENETUNREACH";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOENT: return "ENOENT";
    case ENOMEM: return "ENOMEM";
    case ENOTCONN: return "ENOTCONN";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    }
#endif
    /* Unknown numbers: a static buffer is enough, the program is ending
     * or printing one line. */
    static char unknown[32];
    snprintf(unknown, sizeof unknown, "errno %d", error_number);
    return unknown;
}

static void print_error_prefix(void)
{
    fflush(stdout); /* keep stdout's narration ahead of the error */
    fprintf(stderr, "%s: ", program_invocation_short_name);
}

void fatal(const char *format, ...)
{
    int saved_errno = errno;
    print_error_prefix();
    va_list arguments;
    va_start(arguments, format);
    vfprintf(stderr, format, arguments);
    va_end(arguments);
    fprintf(stderr, ": %s (%s)\n", strerror(saved_errno), errno_name(saved_errno));
    exit(1);
}

void fatal_message(const char *format, ...)
{
    print_error_prefix();
    va_list arguments;
    va_start(arguments, format);
    vfprintf(stderr, format, arguments);
    va_end(arguments);
    fputc('\n', stderr);
    exit(1);
}

void usage_error(const char *usage_text, const char *format, ...)
{
    print_error_prefix();
    va_list arguments;
    va_start(arguments, format);
    vfprintf(stderr, format, arguments);
    va_end(arguments);
    fprintf(stderr, "\n%s", usage_text);
    exit(2);
}

void ensure_standard_descriptors(void)
{
    /* open() takes the lowest free number: fd itself, or it failed. */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
            exit(1);
}

void note(int level, const char *format, ...)
{
    if (narration_level < level)
        return;
    fprintf(stderr, "%s: ", program_invocation_short_name);
    va_list arguments;
    va_start(arguments, format);
    vfprintf(stderr, format, arguments);
    va_end(arguments);
    fputc('\n', stderr);
}

int complain(int error_number, const char *format, ...)
{
    print_error_prefix();
    va_list arguments;
    va_start(arguments, format);
    vfprintf(stderr, format, arguments);
    va_end(arguments);
    if (error_number != 0)
        fprintf(stderr, ": %s (%s)", strerror(error_number), errno_name(error_number));
    fputc('\n', stderr);
    return 1;
}

/* ---- Command-line values ------------------------------------------------ */

void reject_option(int option, char *const argv[], const char *usage_text)
{
    /* getopt leaves the offending word just before optind. */
    const char *word = optind > 0 ? argv[optind - 1] : "?";
    if (option == ':')
        usage_error(usage_text, "option '%s' needs a value", word);
    if (optopt != 0 && optopt != '?')
        usage_error(usage_text, "unknown option '-%c'", optopt);
    usage_error(usage_text, "unknown option '%s'", word);
}

int parse_number(const char *text, long minimum, long maximum, long *value)
{
    char *end;
    errno = 0;
    long number = strtol(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE)
        return -1;
    if (number < minimum || number > maximum)
        return -1;
    *value = number;
    return 0;
}

int parse_seconds(const char *text, double minimum, double maximum, double *seconds)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(value))
        return -1;
    if (value < minimum || value > maximum)
        return -1;
    *seconds = value;
    return 0;
}

int parse_port_or_exit(const char *text, const char *usage_text)
{
    long port;
    if (parse_number(text, 0, 65535, &port) < 0)
        usage_error(usage_text, "bad port '%s': expected a number from 0 to 65535", text);
    return (int)port;
}

const char *parse_host_or_exit(const char *text, const char *usage_text)
{
    /* Numeric addresses only (and localhost, from /etc/hosts): a name would
     * make getaddrinfo() ask DNS, and the lab stays on this machine. */
    if (strcmp(text, "localhost") == 0)
        return text;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICHOST,
    };
    struct addrinfo *found;
    int status = getaddrinfo(text, NULL, &hints, &found);
    if (status != 0)
        usage_error(usage_text, "bad address '%s': expected a numeric address such as "
                    "127.0.0.1 or ::1, or localhost", text);
    freeaddrinfo(found);
    return text;
}

/* ---- Sockets ------------------------------------------------------------ */

const char *format_address(const struct sockaddr *address, socklen_t length,
                           char *text, size_t text_size)
{
    char host[INET6_ADDRSTRLEN];
    /* The callers' addresses come filled by accept4/getsockname/recvfrom. */
    if (address->sa_family == AF_INET) { // NOLINT(clang-analyzer-core.UndefinedBinaryOperatorResult)
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)address;
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        snprintf(text, text_size, "%s:%u", host, ntohs(v4->sin_port));
    } else if (address->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)address;
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
        snprintf(text, text_size, "[%s]:%u", host, ntohs(v6->sin6_port));
    } else if (address->sa_family == AF_UNIX) {
        const struct sockaddr_un *local = (const struct sockaddr_un *)address;
        size_t path_length = length > offsetof(struct sockaddr_un, sun_path)
                           ? length - offsetof(struct sockaddr_un, sun_path) : 0;
        if (path_length == 0)
            snprintf(text, text_size, "(unnamed)");
        else if (local->sun_path[0] == '\0') /* Linux's abstract namespace, written @NAME */
            snprintf(text, text_size, "@%.*s", (int)path_length - 1, local->sun_path + 1);
        else
            snprintf(text, text_size, "%.*s", (int)strnlen(local->sun_path, path_length),
                     local->sun_path);
    } else {
        snprintf(text, text_size, "(address family %d)", address->sa_family);
    }
    return text;
}

/* port is a number (AI_NUMERICSERV), so the service lookup never touches
 * /etc/services. */
struct addrinfo *resolve_or_exit(const char *host, int port, int flags)
{
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = flags | AI_NUMERICSERV,
    };
    struct addrinfo *found;
    int status = getaddrinfo(host, service, &hints, &found);
    if (status == EAI_SYSTEM)
        fatal("getaddrinfo %s", host);
    if (status != 0) /* getaddrinfo does not set errno for these */
        fatal_message("getaddrinfo %s: %s", host, gai_strerror(status));
    return found;
}

int listen_on(const char *host, int port, int backlog)
{
    struct addrinfo *found = resolve_or_exit(host, port, AI_PASSIVE);
    int listening_fd = -1;
    int saved_errno = 0;
    const char *failed_call = "socket";
    for (struct addrinfo *candidate = found; candidate != NULL; candidate = candidate->ai_next) {
        listening_fd = socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC,
                              candidate->ai_protocol);
        if (listening_fd < 0) {
            failed_call = "socket";
            saved_errno = errno;
            continue;
        }
        /* Restarting a server must not wait out TIME_WAIT on its port. */
        int on = 1;
        setsockopt(listening_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (bind(listening_fd, candidate->ai_addr, candidate->ai_addrlen) == 0) {
            if (listen(listening_fd, backlog) == 0)
                break;
            failed_call = "listen";
        } else {
            failed_call = "bind";
        }
        saved_errno = errno;
        close(listening_fd);
        listening_fd = -1;
    }
    freeaddrinfo(found);
    if (listening_fd < 0) {
        errno = saved_errno;
        fatal("%s %s port %d", failed_call, host, port);
    }
    return listening_fd;
}

void announce_listening(int listening_fd)
{
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    if (getsockname(listening_fd, (struct sockaddr *)&address, &length) < 0)
        fatal("getsockname");
    char text[ADDRESS_TEXT_SIZE];
    announce("listening on %s",
             format_address((struct sockaddr *)&address, length, text, sizeof text));
}

const char *default_unix_socket_path(char *text, size_t text_size)
{
    const char *runtime_folder = getenv("XDG_RUNTIME_DIR");
    if (runtime_folder != NULL && runtime_folder[0] != '\0')
        snprintf(text, text_size, "%s/lab3.sock", runtime_folder);
    else
        snprintf(text, text_size, "/tmp/lab3-%u.sock", (unsigned)getuid());
    return text;
}

socklen_t unix_address_or_exit(const char *path, struct sockaddr_un *address,
                               const char *usage_text)
{
    *address = (struct sockaddr_un){ .sun_family = AF_UNIX };
    size_t length = strlen(path);
    if (path[0] == '@') {
        /* The abstract namespace: sun_path starts with a NUL byte, and the
         * name is exactly the bytes after it (no NUL at the end), so the
         * address length says where it stops. */
        if (length < 2)
            usage_error(usage_text, "bad socket name '@': an abstract name needs a name after @");
        if (length > sizeof address->sun_path)
            usage_error(usage_text, "abstract name '%s' is %zu bytes long; sun_path holds "
                        "at most %zu after its leading NUL", path, length - 1,
                        sizeof address->sun_path - 1);
        memcpy(address->sun_path + 1, path + 1, length - 1);
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);
    }
    if (length == 0)
        usage_error(usage_text, "bad socket path '': empty");
    if (length >= sizeof address->sun_path)
        usage_error(usage_text, "socket path '%s' is %zu bytes long; sun_path holds at most "
                    "%zu and its NUL", path, length, sizeof address->sun_path - 1);
    memcpy(address->sun_path, path, length + 1);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length + 1);
}

int connect_to(const char *host, int port)
{
    struct addrinfo *found = resolve_or_exit(host, port, 0);
    int fd = -1;
    int saved_errno = 0;
    for (struct addrinfo *candidate = found; candidate != NULL; candidate = candidate->ai_next) {
        fd = socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC,
                    candidate->ai_protocol);
        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        if (connect(fd, candidate->ai_addr, candidate->ai_addrlen) == 0)
            break;
        saved_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    if (fd < 0) {
        errno = saved_errno;
        fatal("connect to %s port %d", host, port);
    }
    return fd;
}

int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

double monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* A stop request ends the loop wherever it finds one: before a write, after
 * an EINTR, and after a short write. The last matters most: a signal that
 * lands while write() sleeps on a full socket makes it return what it had
 * copied so far, a short count and no EINTR. Writing the rest would sleep
 * again, for as long as the peer does not read, with the stop already asked. */
ssize_t write_all(int fd, const void *buffer, size_t length)
{
    const char *next = buffer;
    size_t left = length;
    while (left > 0) {
        if (stop_requested) {
            errno = EINTR;
            return -1;
        }
        ssize_t written = write(fd, next, left);
        if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd room = { .fd = fd, .events = POLLOUT };
            if (poll(&room, 1, -1) < 0 && errno != EINTR)
                return -1;
            continue;
        }
        if (written < 0) {
            if (errno == EINTR)
                continue; /* the check above decides */
            return -1;
        }
        next += written;
        left -= (size_t)written;
    }
    return (ssize_t)length;
}

/* ---- The clients' outgoing bytes ----------------------------------------- */

int check_nothing_unsent(struct outgoing *out, unsigned long long sent)
{
    unsigned long long left = out->end - out->start;
    bool rest_unknown = out->more_coming;
    struct stat input;
    off_t offset;
    struct pollfd waiting = { .fd = STDIN_FILENO, .events = POLLIN };
    if (rest_unknown && fstat(STDIN_FILENO, &input) == 0 && S_ISREG(input.st_mode)
        && (offset = lseek(STDIN_FILENO, 0, SEEK_CUR)) >= 0 && input.st_size >= offset) {
        left += (unsigned long long)(input.st_size - offset);
        rest_unknown = false;
    } else if (rest_unknown && left == 0 && poll(&waiting, 1, 0) > 0) {
        ssize_t count = read(STDIN_FILENO, out->data, out->capacity);
        left = count > 0 ? (unsigned long long)count : 0;
        rest_unknown = count != 0; /* 0: it has just ended, all was sent */
    }
    if (left == 0)
        return 0;
    return complain(0, "the server closed its side with %s%llu bytes left unsent (%llu sent)%s",
                    rest_unknown ? "at least " : "", left, sent,
                    rest_unknown ? "; stdin had not ended" : "");
}

/* ---- Tables that grow ---------------------------------------------------- */

void *grow_table(void *array, size_t *count, size_t needed, size_t entry_size)
{
    if (needed <= *count)
        return array;
    size_t new_count = *count > 0 ? *count : 64;
    while (new_count < needed)
        new_count *= 2;
    char *grown = reallocarray(array, new_count, entry_size);
    if (grown == NULL)
        return NULL;
    memset(grown + *count * entry_size, 0, (new_count - *count) * entry_size);
    *count = new_count;
    return grown;
}

/* ---- Signals and limits ------------------------------------------------- */

static void request_stop(int signal_number)
{
    (void)signal_number;
    stop_requested = 1;
}

void install_signal_handlers(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_handler = request_stop;
    action.sa_flags = 0; /* no SA_RESTART: a blocked accept/recv/wait returns EINTR */
    if (sigaction(SIGINT, &action, NULL) < 0 || sigaction(SIGTERM, &action, NULL) < 0)
        fatal("sigaction");

    action.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &action, NULL) < 0)
        fatal("sigaction SIGPIPE");
}

int open_stop_signal_fd(void)
{
    /* Handlers first: a shell starts background jobs with SIGINT ignored.
     * Linux keeps a blocked signal pending even when it is ignored, but
     * POSIX leaves that open; with a handler the disposition is ours. */
    install_signal_handlers();
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    /* Blocked, a stop signal stays pending instead of running the handler,
     * and a pending signal is what makes the signalfd readable. */
    if (sigprocmask(SIG_BLOCK, &stop_signals, NULL) < 0)
        fatal("sigprocmask");
    int stop_fd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (stop_fd < 0)
        fatal("signalfd");
    return stop_fd;
}

int take_stop_signal(int stop_fd)
{
    struct signalfd_siginfo arrived;
    ssize_t got = read(stop_fd, &arrived, sizeof arrived);
    if (got != (ssize_t)sizeof arrived)
        return 0; /* EAGAIN: someone else took it; nothing to do */
    stop_requested = 1;
    int signal_number = (int)arrived.ssi_signo;
    narrate("signalfd: %s arrived; stopping",
            signal_number == SIGINT ? "SIGINT" : signal_number == SIGTERM ? "SIGTERM" : "a signal");
    return signal_number;
}

bool wait_out_accept_shortage(bool *shortage_said)
{
    if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
        return false;
    if (!*shortage_said)
        warn_errno("accept() failed; trying again every 100 ms until a descriptor is free");
    *shortage_said = true;
    nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL); /* EINTR: a stop */
    return true;
}

void end_accept_shortage(bool *shortage_said)
{
    if (*shortage_said)
        narrate("accept() works again: the descriptor shortage is over");
    *shortage_said = false;
}

long raise_descriptor_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
        fatal("getrlimit RLIMIT_NOFILE");
    rlim_t before = limit.rlim_cur;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) < 0) {
            warn_errno("setrlimit(RLIMIT_NOFILE) to %llu", (unsigned long long)limit.rlim_max);
            return (long)before;
        }
        narrate("setrlimit(RLIMIT_NOFILE): descriptor limit raised from %llu to %llu",
                (unsigned long long)before, (unsigned long long)limit.rlim_cur);
    } else {
        narrate("getrlimit(RLIMIT_NOFILE): descriptor limit is %llu (already the hard limit)",
                (unsigned long long)before);
    }
    return limit.rlim_cur > (rlim_t)LONG_MAX ? LONG_MAX : (long)limit.rlim_cur;
}

static long limit_as_long(rlim_t limit)
{
    return limit > (rlim_t)LONG_MAX ? LONG_MAX : (long)limit;
}

long raise_descriptor_limit_to(long wanted, long *before)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
        return *before = -1;
    *before = limit_as_long(limit.rlim_cur);
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= (rlim_t)wanted)
        return *before;
    limit.rlim_cur = (rlim_t)wanted < limit.rlim_max ? (rlim_t)wanted : limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) < 0)
        return *before;
    return limit_as_long(limit.rlim_cur);
}
