/*
 * wait_bench.c - what one wakeup costs with select, poll and epoll when a
 * program watches N descriptors and only one of them is ready.
 *
 * Shows:   IO多路复用 (I/O multiplexing) at scale. N connected socket pairs
 *          are created; per round one byte is written into one pair, and
 *          the program waits for "something is readable", finds which pair
 *          it was, and reads the byte back. The time per round grows with N
 *          for select (the kernel walks every descriptor up to the highest
 *          one, and the program walks the returned fd_set) and for poll (the
 *          kernel walks all N entries, the program scans the array), but not
 *          for epoll, where the descriptors are registered once with
 *          epoll_ctl() and epoll_wait() returns only the ready one.
 *          "floor" is the same write() + read() with no wait at all: what
 *          every mechanism pays on top of its own cost.
 *          The method is that of libevent's classic test/bench.c.
 *
 * Usage:   wait_bench [-n LIST] [-r ROUNDS] [-R RUNS] [-o FILE.tsv] [-q]
 *
 * Try:     build/bench/wait_bench -n 10,100,1000
 *
 * Observe: the poll and select columns grow in step with N (a roughly
 *          constant cost per watched descriptor, once the floor is taken
 *          off); the epoll column hardly moves. select stops where the
 *          watched descriptors no longer fit below FD_SETSIZE (1024), and
 *          the largest N stops where the descriptor limit (ulimit -n) ends:
 *          each pair costs two descriptors.
 *
 * Method:  for each N, the pairs are made once; then RUNS times, in turn,
 *          each mechanism runs ROUNDS rounds (after one untimed warm-up),
 *          timed as a whole with clock_gettime(CLOCK_MONOTONIC). Interleaving
 *          the mechanisms spreads slow moments of a shared machine over all
 *          of them; the table shows the median of the RUNS results, in
 *          microseconds per round. The ready pair is picked by a fixed
 *          pseudo-random sequence, the same for every mechanism. Above
 *          N=1000 a run has fewer rounds (ROUNDS * 1000 / N, at least 200):
 *          one poll() over 10,000 descriptors takes over a millisecond, and
 *          the defaults must finish in well under a minute.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"

#define DEFAULT_SIZES "10,100,1000,5000,10000"
#define DEFAULT_ROUNDS 2000
#define DEFAULT_RUNS 7
#define MAX_SIZES 32
#define MAX_RUNS 101
#define WARMUP_ROUNDS 200
#define FEWEST_ROUNDS 200
/* Descriptors besides the pairs: stdin/out/err, the epoll instance, the
 * TSV file, and a little room. */
#define SPARE_DESCRIPTORS 8

static const char usage_text[] =
    "usage: wait_bench [-n LIST] [-r ROUNDS] [-R RUNS] [-o FILE.tsv] [-q]\n"
    "  -n LIST     numbers of socket pairs, comma-separated (default " DEFAULT_SIZES ")\n"
    "  -r ROUNDS   wakeups per timed run (default 2000; fewer above N=1000)\n"
    "  -R RUNS     timed runs per mechanism and N; the median is shown (default 7)\n"
    "  -o FILE     also write the results as tab-separated values to FILE\n"
    "  -q          quiet: only the table and the notes under it\n"
    "  -h          this help\n";

enum mechanism { FLOOR, SELECT, POLL, EPOLL, MECHANISM_COUNT };
static const char *const mechanism_names[MECHANISM_COUNT] = { "floor", "select", "poll", "epoll" };

/* Everything one N needs: the pairs and each mechanism's registration. */
struct pair_set {
    size_t count;
    int *watched_fds;          /* read ends: what the mechanisms wait on */
    int *writer_fds;           /* write ends: they stand in for the peers */
    struct pollfd *poll_entries;
    fd_set select_master;      /* copied into a scratch set before every select() */
    int highest_watched_fd;
    bool select_possible;      /* every watched descriptor < FD_SETSIZE */
    int epoll_fd;
};

/* The measured medians for one N; a negative value: not measured. */
struct result_row {
    size_t count;
    long rounds;
    double median_us[MECHANISM_COUNT];
    double lowest_us[MECHANISM_COUNT];
    double highest_us[MECHANISM_COUNT];
};

static int64_t now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* xorshift64: a fixed, cheap sequence of pair numbers. */
static size_t next_pair(uint64_t *state, size_t count)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (size_t)(*state % count);
}

/* ---- Making and removing the pairs -------------------------------------- */

static void close_pairs(struct pair_set *pairs)
{
    for (size_t i = 0; i < pairs->count; i++) {
        if (pairs->watched_fds[i] >= 0)
            close(pairs->watched_fds[i]);
        if (pairs->writer_fds[i] >= 0)
            close(pairs->writer_fds[i]);
    }
    if (pairs->epoll_fd >= 0)
        close(pairs->epoll_fd);
    free(pairs->poll_entries);
    free(pairs->writer_fds);
    free(pairs->watched_fds);
    memset(pairs, 0, sizeof *pairs);
    pairs->epoll_fd = -1;
}

/* N socket pairs, registered with all three mechanisms. Setup failures are
 * fatal: a benchmark with missing pairs would measure something else. */
static void make_pairs(struct pair_set *pairs, size_t count)
{
    memset(pairs, 0, sizeof *pairs);
    pairs->count = count;
    pairs->watched_fds = malloc(count * sizeof *pairs->watched_fds);
    pairs->writer_fds = malloc(count * sizeof *pairs->writer_fds);
    pairs->poll_entries = malloc(count * sizeof *pairs->poll_entries);
    if (pairs->watched_fds == NULL || pairs->writer_fds == NULL || pairs->poll_entries == NULL)
        fatal("malloc for %zu pairs", count);
    for (size_t i = 0; i < count; i++)
        pairs->watched_fds[i] = pairs->writer_fds[i] = -1;

    pairs->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (pairs->epoll_fd < 0)
        fatal("epoll_create1");

    FD_ZERO(&pairs->select_master);
    pairs->select_possible = true;
    pairs->highest_watched_fd = -1;
    for (size_t i = 0; i < count; i++) {
        int ends[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) < 0)
            fatal("socketpair number %zu of %zu", i + 1, count);
        /* Move the write end above FD_SETSIZE: the watched ends then keep
         * the low numbers, as a server's client sockets would, and select
         * can take part up to about 1000 pairs instead of 500. Where the
         * limit leaves no room up there, the end simply stays. */
        int moved = fcntl(ends[1], F_DUPFD_CLOEXEC, FD_SETSIZE);
        if (moved >= 0) {
            close(ends[1]);
            ends[1] = moved;
        }
        pairs->watched_fds[i] = ends[0];
        pairs->writer_fds[i] = ends[1];

        pairs->poll_entries[i] = (struct pollfd){ .fd = ends[0], .events = POLLIN };
        struct epoll_event interest = { .events = EPOLLIN, .data.u64 = i };
        if (epoll_ctl(pairs->epoll_fd, EPOLL_CTL_ADD, ends[0], &interest) < 0)
            fatal("epoll_ctl(EPOLL_CTL_ADD) fd %d", ends[0]);
        if (ends[0] >= FD_SETSIZE)
            pairs->select_possible = false; /* FD_SET past the set is undefined */
        else
            FD_SET(ends[0], &pairs->select_master);
        if (ends[0] > pairs->highest_watched_fd)
            pairs->highest_watched_fd = ends[0];
    }
}

/* ---- One round per mechanism --------------------------------------------
 * Each returns the pair found ready, or (size_t)-1 when a stop was requested
 * (EINTR policy: a signal restarts the wait unless it asked us to stop). */

static size_t wait_with_select(struct pair_set *pairs)
{
    for (;;) {
        /* select() overwrites its sets: a fresh copy every time. */
        fd_set readable = pairs->select_master;
        int ready = select(pairs->highest_watched_fd + 1, &readable, NULL, NULL, NULL);
        if (ready < 0) {
            if (errno == EINTR && !stop_requested)
                continue;
            if (errno == EINTR)
                return (size_t)-1;
            fatal("select");
        }
        for (size_t i = 0; i < pairs->count; i++) {
            if (FD_ISSET(pairs->watched_fds[i], &readable))
                return i;
        }
        fatal_message("select() reported %d ready but none was set", ready);
    }
}

static size_t wait_with_poll(struct pair_set *pairs)
{
    for (;;) {
        int ready = poll(pairs->poll_entries, pairs->count, -1);
        if (ready < 0) {
            if (errno == EINTR && !stop_requested)
                continue;
            if (errno == EINTR)
                return (size_t)-1;
            fatal("poll");
        }
        for (size_t i = 0; i < pairs->count; i++) {
            if (pairs->poll_entries[i].revents != 0)
                return i;
        }
        fatal_message("poll() reported %d ready but no revents was set", ready);
    }
}

static size_t wait_with_epoll(struct pair_set *pairs)
{
    struct epoll_event ready_events[8];
    for (;;) {
        int ready = epoll_wait(pairs->epoll_fd, ready_events, 8, -1);
        if (ready < 0) {
            if (errno == EINTR && !stop_requested)
                continue;
            if (errno == EINTR)
                return (size_t)-1;
            fatal("epoll_wait");
        }
        if (ready > 0)
            return (size_t)ready_events[0].data.u64;
    }
}

/* ROUNDS rounds of: write 1 byte into a pair, wait, find it, read it back.
 * Returns microseconds per round, or -1 when a stop was requested. */
static double time_rounds(struct pair_set *pairs, enum mechanism mechanism, long rounds,
                          uint64_t seed)
{
    uint64_t sequence = seed;
    char byte = 'x';
    int64_t start_ns = now_ns();
    for (long round = 0; round < rounds; round++) {
        /* The waits seldom block (a byte is always ready), so a signal
         * rarely shows up as EINTR: look at the flag itself. */
        if (stop_requested)
            return -1;
        size_t chosen = next_pair(&sequence, pairs->count);
        if (write(pairs->writer_fds[chosen], &byte, 1) != 1)
            fatal("write to pair %zu", chosen);
        size_t found = chosen;
        switch (mechanism) {
        case FLOOR: break; /* no wait: the byte is known to be there */
        case SELECT: found = wait_with_select(pairs); break;
        case POLL: found = wait_with_poll(pairs); break;
        case EPOLL: found = wait_with_epoll(pairs); break;
        case MECHANISM_COUNT: break;
        }
        if (found == (size_t)-1)
            return -1;
        if (found != chosen)
            fatal_message("%s found pair %zu ready, but the byte went into pair %zu",
                          mechanism_names[mechanism], found, chosen);
        if (read(pairs->watched_fds[found], &byte, 1) != 1)
            fatal("read from pair %zu", found);
    }
    return (double)(now_ns() - start_ns) / 1000.0 / (double)rounds;
}

static int compare_doubles(const void *left, const void *right)
{
    double a = *(const double *)left, b = *(const double *)right;
    return (a > b) - (a < b);
}

/* Measure one N: RUNS interleaved runs of every mechanism that can take
 * part. false when a stop was requested. */
static bool measure(struct pair_set *pairs, long rounds, long runs, struct result_row *row)
{
    double samples[MECHANISM_COUNT][MAX_RUNS];
    const bool taking_part[MECHANISM_COUNT] = { true, pairs->select_possible, true, true };

    row->count = pairs->count;
    row->rounds = rounds;
    for (int m = 0; m < MECHANISM_COUNT; m++) {
        row->median_us[m] = row->lowest_us[m] = row->highest_us[m] = -1;
        if (taking_part[m] && time_rounds(pairs, (enum mechanism)m, WARMUP_ROUNDS, 42) < 0)
            return false;
    }
    for (long run = 0; run < runs; run++) {
        for (int m = 0; m < MECHANISM_COUNT; m++) {
            if (!taking_part[m])
                continue;
            double per_round = time_rounds(pairs, (enum mechanism)m, rounds,
                                           0x9e3779b97f4a7c15u + (uint64_t)run);
            if (per_round < 0)
                return false;
            samples[m][run] = per_round;
        }
        narrate_detail("N=%zu run %ld of %ld done", pairs->count, run + 1, runs);
    }
    for (int m = 0; m < MECHANISM_COUNT; m++) {
        if (!taking_part[m])
            continue;
        qsort(samples[m], (size_t)runs, sizeof samples[m][0], compare_doubles);
        row->median_us[m] = runs % 2 ? samples[m][runs / 2]
                                     : (samples[m][runs / 2 - 1] + samples[m][runs / 2]) / 2;
        row->lowest_us[m] = samples[m][0];
        row->highest_us[m] = samples[m][runs - 1];
    }
    return true;
}

/* ---- Output ---------------------------------------------------------------- */

static void print_cell(double value)
{
    if (value < 0)
        printf(" %9s", "-");
    else
        printf(" %9.2f", value);
}

static void print_table(const struct result_row *rows, size_t row_count, long runs)
{
    printf("\nmicroseconds per round (write 1 byte, wait, find the ready pair, read it);\n"
           "median of %ld runs of ROUNDS rounds each\n\n", runs);
    printf("%7s %9s %9s %9s %9s %11s %7s\n", "N", "floor", "select", "poll", "epoll",
           "epoll/poll", "ROUNDS");
    for (size_t r = 0; r < row_count; r++) {
        printf("%7zu", rows[r].count);
        for (int m = 0; m < MECHANISM_COUNT; m++)
            print_cell(rows[r].median_us[m]);
        printf(" %11.3f %7ld\n", rows[r].median_us[EPOLL] / rows[r].median_us[POLL],
               rows[r].rounds);
    }
}

static void write_tsv(const char *path, const struct result_row *rows, size_t row_count,
                      long runs)
{
    FILE *tsv = fopen(path, "w");
    if (tsv == NULL)
        fatal("fopen %s", path);
    fprintf(tsv, "n\tmechanism\tmedian_us\tmin_us\tmax_us\truns\trounds\n");
    for (size_t r = 0; r < row_count; r++) {
        for (int m = 0; m < MECHANISM_COUNT; m++) {
            if (rows[r].median_us[m] < 0)
                continue;
            fprintf(tsv, "%zu\t%s\t%.3f\t%.3f\t%.3f\t%ld\t%ld\n", rows[r].count,
                    mechanism_names[m], rows[r].median_us[m], rows[r].lowest_us[m],
                    rows[r].highest_us[m], runs, rows[r].rounds);
        }
    }
    if (fclose(tsv) != 0)
        fatal("write %s", path);
}

/* ---- Command line ----------------------------------------------------------- */

static size_t parse_sizes_or_exit(const char *text, size_t *sizes)
{
    char copy[256];
    if (strlen(text) >= sizeof copy)
        usage_error(usage_text, "-n list too long");
    memcpy(copy, text, strlen(text) + 1); /* the length was checked above */
    size_t count = 0;
    char *rest = copy;
    for (char *word = strsep(&rest, ","); word != NULL; word = strsep(&rest, ",")) {
        long value;
        if (parse_number(word, 1, 1000000, &value) < 0)
            usage_error(usage_text, "bad number of pairs '%s' in -n", word);
        if (count == MAX_SIZES)
            usage_error(usage_text, "at most %d sizes in -n", MAX_SIZES);
        if (count > 0 && (size_t)value <= sizes[count - 1])
            usage_error(usage_text, "-n sizes must grow: %ld after %zu", value,
                        sizes[count - 1]);
        sizes[count++] = (size_t)value;
    }
    return count;
}

int main(int argc, char *argv[])
{
    size_t sizes[MAX_SIZES];
    size_t size_count = parse_sizes_or_exit(DEFAULT_SIZES, sizes);
    long rounds = DEFAULT_ROUNDS, runs = DEFAULT_RUNS;
    const char *tsv_path = NULL;

    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int option;
    while ((option = getopt_long(argc, argv, "+:n:r:R:o:qvh", long_options, NULL)) != -1) {
        switch (option) {
        case 'n': size_count = parse_sizes_or_exit(optarg, sizes); break;
        case 'r':
            if (parse_number(optarg, 1, 100000000, &rounds) < 0)
                usage_error(usage_text, "bad -r '%s': expected 1 to 100000000", optarg);
            break;
        case 'R':
            if (parse_number(optarg, 1, MAX_RUNS, &runs) < 0)
                usage_error(usage_text, "bad -R '%s': expected 1 to %d", optarg, MAX_RUNS);
            break;
        case 'o': tsv_path = optarg; break;
        case 'q': narration_level = NARRATE_QUIET; break;
        case 'v': narration_level = NARRATE_VERBOSE; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: reject_option(option, argv, usage_text);
        }
    }
    if (optind < argc)
        usage_error(usage_text, "unexpected argument '%s'", argv[optind]);

    start_narration();
    install_signal_handlers();
    long descriptor_limit = raise_descriptor_limit();

    struct result_row rows[MAX_SIZES];
    size_t row_count = 0;
    char stop_note[512] = "";
    bool select_stop_noted = false;
    char select_note[256] = "";
    for (size_t s = 0; s < size_count && !stop_requested; s++) {
        size_t count = sizes[s];
        long needed = 2 * (long)count + SPARE_DESCRIPTORS;
        if (needed > descriptor_limit) {
            /* Go as far as the limit allows: the largest N that fits, if
             * that is still a step beyond the last one measured. */
            size_t fits = (size_t)((descriptor_limit - SPARE_DESCRIPTORS) / 2);
            fits -= fits % 10;
            size_t last = row_count > 0 ? rows[row_count - 1].count : 0;
            snprintf(stop_note, sizeof stop_note,
                     "N=%zu was not run: %zu pairs need %ld descriptors (2 per pair + %d), "
                     "but the limit (RLIMIT_NOFILE, ulimit -n) is %ld%s",
                     count, count, needed, SPARE_DESCRIPTORS, descriptor_limit,
                     fits > last ? "; the largest N that fits was run instead" : "");
            if (fits <= last)
                break;
            count = fits;
            s = size_count; /* this is the last one */
        }
        narrate("N=%zu: making %zu socket pairs and registering them", count, count);
        struct pair_set pairs;
        make_pairs(&pairs, count);
        if (!pairs.select_possible && !select_stop_noted) {
            snprintf(select_note, sizeof select_note,
                     "select: not run from N=%zu on: watched descriptors reach %d, "
                     "and FD_SET() is only defined below FD_SETSIZE (%d)",
                     count, pairs.highest_watched_fd, FD_SETSIZE);
            select_stop_noted = true;
        }
        long rounds_here = rounds;
        if (count > 1000) {
            rounds_here = (long)((double)rounds * 1000.0 / (double)count);
            if (rounds_here < FEWEST_ROUNDS)
                rounds_here = rounds < FEWEST_ROUNDS ? rounds : FEWEST_ROUNDS;
        }
        bool completed = measure(&pairs, rounds_here, runs, &rows[row_count]);
        close_pairs(&pairs);
        if (!completed)
            break;
        row_count++;
    }

    print_table(rows, row_count, runs);
    printf("\n");
    if (select_note[0] != '\0')
        printf("%s\n", select_note);
    if (stop_note[0] != '\0')
        printf("%s\n", stop_note);
    if (stop_requested)
        printf("interrupted: the table holds the sizes finished before the signal\n");
    if (tsv_path != NULL) {
        write_tsv(tsv_path, rows, row_count, runs);
        narrate("results written to %s", tsv_path);
    }
    return 0;
}
