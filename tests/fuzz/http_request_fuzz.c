/*
 * http_request_fuzz.c - libFuzzer target for mini_http's request parser,
 * its path resolution and its escaping of received bytes: the very
 * functions the server calls, compiled in by including demos/mini_http.c
 * (its main() renamed out of the way).
 *
 * Build and run, from the top of the lab:
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Icommon \
 *       tests/fuzz/http_request_fuzz.c common/lab.c common/echo.c -lm \
 *       -o build/http_request_fuzz
 *   build/http_request_fuzz -max_total_time=60 tests/fuzz/http_request_corpus
 *
 * Besides "no crash, no sanitizer report", it checks what the server
 * relies on:
 *  - the parser answers with a status it may give; what it reports lies
 *    within the input; the same bytes fed in two pieces give the same
 *    answer (a shorter prefix of a complete head is never complete);
 *  - any path, from a parsed request or the raw input, resolves to a file
 *    inside a temporary document root, never to the secret file placed
 *    beside it, however the symlinks in the root point; with openat2()
 *    and with the realpath() fallback;
 *  - escaped text is printable ASCII only and fits its buffer.
 */
#define main mini_http_main
/* Including the demo's source, main renamed, is the point: one copy of the
 * parser, the resolver and the escaping, fuzzed as the server runs them. */
#include "../../demos/mini_http.c" // NOLINT(bugprone-suspicious-include): see above
#undef main

#include <stdint.h>

static char base[PATH_MAX];          /* the temporary folder: secret.txt and www/ */
static struct docroot roots[2];      /* www/ twice: openat2(), and the fallback */
static struct stat secret;

/* base/name into path (PATH_MAX bytes); a path that does not fit is a
 * broken test setup, not an input to fuzz. */
static void join(char *path, const char *name)
{
    int length = snprintf(path, PATH_MAX, "%s/%s", base, name);
    if (length < 0 || length >= PATH_MAX)
        abort();
}

static void make_file(const char *name, const char *text)
{
    char path[PATH_MAX];
    join(path, name);
    FILE *file = fopen(path, "w");
    if (file == NULL || fputs(text, file) < 0 || fclose(file) != 0)
        abort();
}

static void make_link(const char *target, const char *name)
{
    char path[PATH_MAX];
    join(path, name);
    if (symlink(target, path) < 0)
        abort();
}

static void remove_docroot(void)
{
    static const char *const names[] = {
        "www/link-out", "www/link-absolute", "www/link-up", "www/link-in", "www/fifo",
        "www/sub/deeper/style.css", "www/sub/index.html", "www/index.html", "www/page.txt",
        "www/sub/deeper", "www/sub", "www/empty", "www", "secret.txt",
    };
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        join(path, names[i]);
        if (unlink(path) < 0)
            rmdir(path);
    }
    rmdir(base);
}

/* secret.txt beside www/, and symlinks in www/ that try to reach it. */
static void make_docroot(void)
{
    const char *tmp = getenv("TMPDIR");
    int length = snprintf(base, sizeof base, "%s/http_fuzz.XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (length < 0 || (size_t)length >= sizeof base)
        abort();
    if (mkdtemp(base) == NULL)
        abort();
    char path[PATH_MAX];
    static const char *const folders[] = { "www", "www/sub", "www/sub/deeper", "www/empty" };
    for (size_t i = 0; i < sizeof folders / sizeof folders[0]; i++) {
        join(path, folders[i]);
        if (mkdir(path, 0755) < 0)
            abort();
    }
    make_file("secret.txt", "the secret\n");
    make_file("www/index.html", "<title>index</title>\n");
    make_file("www/page.txt", "a page\n");
    make_file("www/sub/index.html", "<title>sub</title>\n");
    make_file("www/sub/deeper/style.css", "body {}\n");
    make_link("../secret.txt", "www/link-out");
    join(path, "secret.txt");
    make_link(path, "www/link-absolute");
    make_link("..", "www/link-up");
    make_link("page.txt", "www/link-in");
    join(path, "www/fifo");
    if (mkfifo(path, 0644) < 0)
        abort();
    join(path, "secret.txt");
    if (stat(path, &secret) < 0)
        abort();
    join(path, "www");
    open_docroot(&roots[0], path);
    open_docroot(&roots[1], path);
    roots[1].no_openat2 = true;
    atexit(remove_docroot);
}

/* Resolve path in both roots; whatever opens must be inside www/. */
static void check_resolution(struct span path)
{
    for (int i = 0; i < 2; i++) {
        struct resolved_file file;
        int status = resolve_target(&roots[i], path, &file);
        if (status != 200) {
            if (file.fd != -1)
                abort();
            continue;
        }
        struct stat opened;
        char link[64], where[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", file.fd);
        ssize_t length = readlink(link, where, sizeof where - 1);
        if (fstat(file.fd, &opened) < 0 || length < 0 || !S_ISREG(opened.st_mode))
            abort();
        where[length] = '\0';
        size_t root_length = strlen(roots[i].real_path);
        if ((opened.st_dev == secret.st_dev && opened.st_ino == secret.st_ino)
            || strncmp(where, roots[i].real_path, root_length) != 0 || where[root_length] != '/') {
            fprintf(stderr, "served from outside the root: %s\n", where);
            abort();
        }
        close(file.fd);
    }
}

static void check_escape(const char *data, size_t size, size_t out_size)
{
    char out[256];
    escape_for_terminal(data, size, out, out_size);
    size_t length = strlen(out);
    if (length >= out_size)
        abort();
    for (size_t i = 0; i < length; i++)
        if (out[i] < ' ' || out[i] > '~')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    static bool ready;
    if (!ready) {
        make_docroot();
        ready = true;
    }
    const char *data = (const char *)bytes;

    struct http_request request;
    int status = http_parse_request(data, size, &request);
    static const int allowed[] = { PARSE_INCOMPLETE, PARSE_COMPLETE, 400, 405, 411, 414, 431, 501, 505 };
    bool known = false;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        known = known || status == allowed[i];
    if (!known || request.head_length > size || request.skipped_length > request.head_length)
        abort();
    if (status == PARSE_COMPLETE) {
        struct span path = request.path;
        bool inside = path.start >= data && path.start + path.length <= data + size;
        if (path.length == 0 || path.start[0] != '/' || (!inside && path.length != 1))
            abort();
        /* The head alone is complete, the same; any shorter prefix is not. */
        struct http_request again;
        if (http_parse_request(data, request.head_length, &again) != PARSE_COMPLETE
            || again.head_length != request.head_length
            || http_parse_request(data, request.head_length - 1, &again) == PARSE_COMPLETE
            || http_parse_request(data, request.head_length / 2, &again) == PARSE_COMPLETE)
            abort();
        check_resolution(path);
    }

    /* The raw bytes as a path, too: most inputs never parse. */
    char path[512];
    size_t length = size < sizeof path - 1 ? size : sizeof path - 1;
    path[0] = '/';
    memcpy(path + 1, data, length);
    check_resolution((struct span){ path, length + 1 });

    check_escape(data, size, 256);
    check_escape(data, size, 8);
    return 0;
}
