/*
 * mini_http.c - a small, correct, fast HTTP/1.1 static-file server.
 *
 * Shows:   the notes' HTTP lesson (http协议). The browser's request arrives
 *          as a request line, headers and a blank line (请求行, 请求头,
 *          空行); the server answers with a status line, headers, a blank
 *          line and a body (响应行, 响应头, 空行, 响应体). mini_http prints
 *          every request head as it arrived and every response head as it
 *          left, labelled with those words. Underneath is the lab's epoll
 *          loop (epoll_server.c): one thread, non-blocking sockets, many
 *          browsers at once, each large file sent by sendfile() straight
 *          from the kernel's page cache, each small one with its head in
 *          one sendmsg(). It keeps to RFC 9110 and RFC 9112 where a
 *          hostile client would notice, and keeps up with nginx.
 *
 * Usage:   mini_http [-H ADDR] [-p PORT] [-r DOCROOT] [-t SECONDS] [-q] [-v]
 *
 * Try:     build/mini_http
 *          then open http://127.0.0.1:8080/ in a browser, or run
 *          curl -v http://127.0.0.1:8080/
 *
 * Observe: the browser asks for three things (the page, its stylesheet, its
 *          image), often on one kept-alive connection. Each request head is
 *          shown line by line, then the response head, then "响应体 body |
 *          N bytes ...": a small file goes out with its head in one
 *          sendmsg(), from a copy the open-file cache keeps; a large one
 *          by sendfile(), never passing through this program's memory
 *          (try a big file in -r). Send it something hostile (printf 'GET /../
 *          HTTP/1.1\r\n\r\n' | build/tcp_client -p 8080) and watch it refuse.
 *
 * The file has four parts, read top to bottom: 1 the request parser and
 * 2 the path resolution (plain functions, no sockets, no globals: the fuzz
 * target tests/fuzz/http_request_fuzz.c calls the same ones), 3 showing
 * received bytes safely, 4 the server (connections, deadlines, responses,
 * the epoll loop) and main(). Each protocol rule is stated once, in a
 * comment where it is enforced.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "echo.h"
#include "lab.h"

#define DEFAULT_PORT 8080
#define DEFAULT_TIMEOUT_SECONDS 10
#define BACKLOG 1024
#define MAX_EVENTS 256
#define ACCEPTS_PER_WAKEUP 64

/* The limits of a request head (RFC 9112 leaves them to the server). */
#define REQUEST_LINE_LIMIT (8 * 1024)      /* longer: 414 */
#define HEADER_SECTION_LIMIT (16 * 1024)   /* larger: 431 */
#define HEADER_FIELD_LIMIT 100             /* more fields: 431 */
#define LEADING_EMPTY_LIMIT 64             /* bytes of empty lines before the request line */
/* A connection's input buffer starts small and grows, up to a size that
 * any head within the limits above fits in. */
#define INPUT_INITIAL (4 * 1024)
#define INPUT_LIMIT (32 * 1024)
/* The response head, or a whole error response, is built in this. */
#define HEAD_BUFFER_SIZE 1024
#define REDIRECT_PATH_LIMIT 512
/* The open-file cache: slots, and the longest path it keeps. */
#define FILE_CACHE_SLOTS 64
#define CACHED_PATH_LIMIT 128
/* sendfile() at most this much per wakeup, so one big download cannot
 * keep the loop from the other clients. */
#define SENDFILE_CHUNK (1024 * 1024)
/* A file up to this size is copied into its cache entry and sent with its
 * head in one sendmsg(): one system call instead of send() + sendfile(). */
#define SMALL_FILE_LIMIT (16 * 1024)

static const char usage_text[] =
    "usage: mini_http [-H ADDR] [-p PORT] [-r DOCROOT] [-t SECONDS] [-q] [-v]\n"
    "  -H ADDR      address to listen on (default 127.0.0.1)\n"
    "  -p PORT      port to listen on (default 8080; 0 = any free port)\n"
    "  -r DOCROOT   the folder to serve (default: the sample site demos/www)\n"
    "  -t SECONDS   time a client has to send a request head, and that an idle\n"
    "               keep-alive connection is kept (default 10)\n"
    "  -q           quiet: only the listening line, errors and the summary\n"
    "  -v           verbose: also every wakeup and system call, with byte counts\n"
    "  -h           this help\n";

/* ======================================================================
 * 1. The request parser: bytes in, a parsed request or a status out.
 *    No I/O, no allocation: the request points into the bytes it was given.
 * ====================================================================== */

enum http_method { HTTP_GET, HTTP_HEAD };

/* A piece of the received bytes, not copied. */
struct span {
    const char *start;
    size_t length;
};

struct http_request {
    enum http_method method;
    int minor_version;        /* 0: HTTP/1.0; 1: HTTP/1.1 (and 1.2 to 1.9) */
    struct span path;         /* the target's path, still %-encoded, no query */
    bool keep_alive;          /* the connection stays open after the response */
    bool expect_continue;     /* Expect: 100-continue */
    unsigned long long content_length; /* body bytes after the head */
    bool has_if_modified_since;
    time_t if_modified_since;
    size_t skipped_length;    /* empty lines before the request line */
    size_t head_length;       /* the head with those lines and the blank line;
                                 after an error, the bytes looked at */
};

/* What http_parse_request() returns, besides an error status (400 ...). */
enum { PARSE_INCOMPLETE = 0, PARSE_COMPLETE = 1 };

/* What the header fields said, gathered before the request is judged. */
struct seen_fields {
    int count;
    int host_count;
    bool content_length;
    bool transfer_encoding;
    bool chunked_seen;
    bool chunked_last;        /* chunked is the final transfer coding */
    bool chunked_twice;
    bool unknown_coding;
    bool connection_close;
    bool connection_keep_alive;
};

/* tchar (RFC 9110 5.6.2): the characters of a method or a field name. */
static bool is_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(struct span text)
{
    for (size_t i = 0; i < text.length; i++)
        if (!is_token_char((unsigned char)text.start[i]))
            return false;
    return text.length > 0;
}

static bool span_is(struct span text, const char *word) /* ignoring case */
{
    return text.length == strlen(word) && strncasecmp(text.start, word, text.length) == 0;
}

static bool starts_with(struct span text, const char *prefix) /* ignoring case */
{
    size_t length = strlen(prefix);
    return text.length >= length && strncasecmp(text.start, prefix, length) == 0;
}

static struct span trim_spaces(struct span text) /* OWS: spaces and tabs */
{
    while (text.length > 0 && (text.start[0] == ' ' || text.start[0] == '\t')) {
        text.start++;
        text.length--;
    }
    while (text.length > 0 && (text.start[text.length - 1] == ' '
                               || text.start[text.length - 1] == '\t'))
        text.length--;
    return text;
}

/* The next element of a comma-separated list (RFC 9110 5.6.1), trimmed;
 * empty elements are skipped. false at the end of the list. */
static bool next_element(struct span *list, struct span *element)
{
    while (list->length > 0) {
        const char *comma = memchr(list->start, ',', list->length);
        size_t length = comma != NULL ? (size_t)(comma - list->start) : list->length;
        *element = trim_spaces((struct span){ list->start, length });
        size_t used = length + (comma != NULL);
        list->start += used;
        list->length -= used;
        if (element->length > 0)
            return true;
    }
    return false;
}

/* A line from offset: its text without the line ending, and where the next
 * one starts. Lines end in CR LF, or a bare LF, which RFC 9112 2.2 lets a
 * server accept. false: no LF yet. */
static bool next_line(const char *data, size_t length, size_t offset, struct span *line,
                      size_t *next)
{
    const char *newline = memchr(data + offset, '\n', length - offset);
    if (newline == NULL)
        return false;
    size_t end = (size_t)(newline - data);
    *next = end + 1;
    if (end > offset && data[end - 1] == '\r')
        end--;
    *line = (struct span){ data + offset, end - offset };
    return true;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 3):
 * exactly one space between the three, nothing before or after. A target
 * is visible ASCII without '#' (a fragment is never sent) and without '\',
 * which no URL contains and some file systems take for a separator.
 * Returns 0 or a status; *method_verdict is kept for later (see below). */
static int parse_request_line(struct span line, struct http_request *request,
                              int *method_verdict, struct span *target)
{
    const char *end = line.start + line.length;
    const char *first = memchr(line.start, ' ', line.length);
    if (first == NULL)
        return 400;
    const char *second = memchr(first + 1, ' ', (size_t)(end - first - 1));
    if (second == NULL)
        return 400; /* no version: HTTP/0.9 is not served */
    struct span method = { line.start, (size_t)(first - line.start) };
    *target = (struct span){ first + 1, (size_t)(second - first - 1) };
    struct span version = { second + 1, (size_t)(end - second - 1) };
    if (!is_token(method) || target->length == 0)
        return 400;
    for (size_t i = 0; i < target->length; i++) {
        unsigned char c = (unsigned char)target->start[i];
        if (c <= ' ' || c >= 0x7f || c == '#' || c == '\\')
            return 400;
    }
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive. Any 1.x is
     * served as 1.1 (RFC 9110 2.5); another major version gets 505. */
    const char *v = version.start;
    if (version.length != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9'
        || v[6] != '.' || v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1')
        return 505;
    request->minor_version = v[7] == '0' ? 0 : 1;
    /* Methods are case-sensitive (RFC 9110 9.1). This server only reads:
     * the other standard methods exist, but not here (405); a name it does
     * not know at all is 501. */
    static const char *const other_methods[] = { "POST", "PUT", "DELETE", "PATCH",
                                                 "OPTIONS", "CONNECT", "TRACE" };
    *method_verdict = 501;
    if (method.length == 3 && memcmp(method.start, "GET", 3) == 0) {
        request->method = HTTP_GET;
        *method_verdict = 0;
    } else if (method.length == 4 && memcmp(method.start, "HEAD", 4) == 0) {
        request->method = HTTP_HEAD;
        *method_verdict = 0;
    }
    for (size_t i = 0; i < sizeof other_methods / sizeof other_methods[0]; i++)
        if (method.length == strlen(other_methods[i])
            && memcmp(method.start, other_methods[i], method.length) == 0)
            *method_verdict = 405;
    return 0;
}

/* uri-host [ ":" port ]: the characters of a host name, an IPv4 or a
 * bracketed IPv6 address, and a port. Nothing else (no '/', '@', spaces). */
static bool is_valid_host(struct span host)
{
    for (size_t i = 0; i < host.length; i++) {
        unsigned char c = (unsigned char)host.start[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || strchr("-._~!$&'()*+,;=%:[]", c) != NULL) || c == '\0')
            return false;
    }
    return host.length > 0;
}

/* Content-Length = 1*DIGIT. A list ("5, 5") or a sign is refused. */
static bool parse_length(struct span value, unsigned long long *length)
{
    if (value.length == 0 || value.length > 15)
        return false;
    *length = 0;
    for (size_t i = 0; i < value.length; i++) {
        if (value.start[i] < '0' || value.start[i] > '9')
            return false;
        *length = *length * 10 + (unsigned)(value.start[i] - '0');
    }
    return true;
}

/* Transfer-Encoding: a list of codings, applied in order. */
static void note_transfer_codings(struct span value, struct seen_fields *seen)
{
    static const char *const known[] = { "gzip", "x-gzip", "deflate", "compress", "x-compress" };
    struct span coding;
    seen->transfer_encoding = true;
    while (next_element(&value, &coding)) {
        const char *parameters = memchr(coding.start, ';', coding.length);
        if (parameters != NULL)
            coding = trim_spaces((struct span){ coding.start, (size_t)(parameters - coding.start) });
        bool is_chunked = span_is(coding, "chunked");
        bool is_known = is_chunked;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            is_known = is_known || span_is(coding, known[i]);
        seen->chunked_twice = seen->chunked_twice || (is_chunked && seen->chunked_seen);
        seen->unknown_coding = seen->unknown_coding || !is_known;
        seen->chunked_seen = seen->chunked_seen || is_chunked;
        seen->chunked_last = is_chunked;
    }
}

/* If-Modified-Since in the one date format HTTP sends (IMF-fixdate, RFC
 * 9110 5.6.7); a date it cannot read is ignored, as 13.1.3 says. */
static void note_if_modified_since(struct span value, struct http_request *request)
{
    char text[32];
    struct tm fields = { 0 };
    if (request->has_if_modified_since || value.length != 29)
        return;
    memcpy(text, value.start, value.length);
    text[value.length] = '\0';
    const char *end = strptime(text, "%a, %d %b %Y %H:%M:%S GMT", &fields);
    if (end != NULL && *end == '\0') {
        request->if_modified_since = timegm(&fields);
        request->has_if_modified_since = true;
    }
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 5). Refused
 * with 400: a line that starts with a space (obs-fold, 5.2), whitespace
 * between the name and the colon (5.1: it has smuggled requests past
 * proxies), and control characters in the value - CR, LF and NUL above all
 * (RFC 9110 5.5), since they would split one field into two. */
static int parse_field(struct span line, struct seen_fields *seen, struct http_request *request)
{
    if (line.start[0] == ' ' || line.start[0] == '\t')
        return 400;
    const char *colon = memchr(line.start, ':', line.length);
    if (colon == NULL)
        return 400;
    struct span name = { line.start, (size_t)(colon - line.start) };
    struct span value = trim_spaces((struct span){ colon + 1, line.length - name.length - 1 });
    if (!is_token(name))
        return 400;
    for (size_t i = 0; i < value.length; i++) {
        unsigned char c = (unsigned char)value.start[i];
        if ((c < ' ' && c != '\t') || c == 0x7f)
            return 400;
    }
    struct span option;
    if (span_is(name, "Host")) {
        seen->host_count++;
        if (!is_valid_host(value))
            return 400;
    } else if (span_is(name, "Content-Length")) {
        /* Invalid, or two that differ: the body's end is unknown (400). */
        unsigned long long length;
        if (!parse_length(value, &length)
            || (seen->content_length && length != request->content_length))
            return 400;
        request->content_length = length;
        seen->content_length = true;
    } else if (span_is(name, "Transfer-Encoding")) {
        note_transfer_codings(value, seen);
    } else if (span_is(name, "Connection")) {
        while (next_element(&value, &option)) {
            seen->connection_close = seen->connection_close || span_is(option, "close");
            seen->connection_keep_alive = seen->connection_keep_alive
                                          || span_is(option, "keep-alive");
        }
    } else if (span_is(name, "Expect")) {
        request->expect_continue = span_is(value, "100-continue");
    } else if (span_is(name, "If-Modified-Since")) {
        note_if_modified_since(value, request);
    }
    return 0;
}

/* The whole head has arrived: judge it as a whole. */
static int judge_request(struct http_request *request, const struct seen_fields *seen,
                         int method_verdict, struct span target)
{
    bool http10 = request->minor_version == 0;
    /* HTTP/1.1 requires exactly one Host (RFC 9112 3.2); never two. */
    if ((!http10 && seen->host_count != 1) || seen->host_count > 1)
        return 400;
    /* Where the body ends (RFC 9112 6): Transfer-Encoding together with
     * Content-Length is the classic request-smuggling trick, and HTTP/1.0
     * has no Transfer-Encoding: both 400. A coding we do not know is 501;
     * chunked not last leaves the end unknown (400). A valid chunked body
     * is refused too (411: send a Content-Length): this server has no use
     * for bodies, and reading one safely is a parser of its own. */
    if (seen->transfer_encoding) {
        if (seen->content_length || http10)
            return 400;
        if (seen->unknown_coding)
            return 501;
        if (!seen->chunked_last || seen->chunked_twice)
            return 400;
        return 411;
    }
    /* HTTP/1.1 keeps the connection unless told "close"; HTTP/1.0 closes it
     * unless asked for keep-alive (RFC 9112 9.3). An expectation sent by
     * an HTTP/1.0 client is ignored (RFC 9110 10.1.1). */
    request->keep_alive = !seen->connection_close && (!http10 || seen->connection_keep_alive);
    request->expect_continue = request->expect_continue && !http10;
    /* The method is judged before the form of the target, so that
     * "OPTIONS *" and "CONNECT host:443" get 405, not 400. */
    if (method_verdict != 0)
        return method_verdict;
    /* origin-form "/path?query" or absolute-form "http://host/path?query"
     * (RFC 9112 3.2); the query means nothing to a file server. */
    struct span path = target;
    if (target.start[0] != '/') {
        size_t scheme = starts_with(target, "http://") ? 7 : starts_with(target, "https://") ? 8 : 0;
        if (scheme == 0)
            return 400;
        size_t authority_end = scheme;
        while (authority_end < target.length && target.start[authority_end] != '/'
               && target.start[authority_end] != '?')
            authority_end++;
        if (authority_end == scheme)
            return 400;
        path = (struct span){ target.start + authority_end, target.length - authority_end };
        if (path.length == 0 || path.start[0] != '/')
            path = (struct span){ "/", 1 };
    }
    const char *query = memchr(path.start, '?', path.length);
    if (query != NULL)
        path.length = (size_t)(query - path.start);
    request->path = path;
    return PARSE_COMPLETE;
}

/* Parse the request at the start of data. PARSE_INCOMPLETE: call again
 * with more bytes; PARSE_COMPLETE: *request is filled in and the head is
 * request->head_length bytes; otherwise the error status to answer with
 * (then close). Limits are checked as the bytes arrive, so a client cannot
 * make us wait for a head that will be refused anyway. */
static int http_parse_request(const char *data, size_t length, struct http_request *request)
{
    *request = (struct http_request){ .head_length = length };
    struct seen_fields seen = { 0 };
    /* Empty lines before the request line are ignored (RFC 9112 2.2). */
    size_t offset = 0;
    while (offset < length && (data[offset] == '\n'
                               || (data[offset] == '\r' && offset + 1 < length
                                   && data[offset + 1] == '\n'))) {
        offset += data[offset] == '\r' ? 2 : 1;
        if (offset > LEADING_EMPTY_LIMIT)
            return 400;
    }
    request->skipped_length = offset;

    struct span line;
    size_t next;
    if (!next_line(data, length, offset, &line, &next))
        return length - offset > REQUEST_LINE_LIMIT ? 414 : PARSE_INCOMPLETE;
    request->head_length = next;
    if (line.length > REQUEST_LINE_LIMIT)
        return 414;
    int method_verdict = 0;
    struct span target;
    int status = parse_request_line(line, request, &method_verdict, &target);
    if (status != 0)
        return status;

    size_t section_start = next;
    for (;;) {
        if (!next_line(data, length, next, &line, &next)) {
            request->head_length = length;
            return length - section_start > HEADER_SECTION_LIMIT ? 431 : PARSE_INCOMPLETE;
        }
        request->head_length = next;
        if (next - section_start > HEADER_SECTION_LIMIT)
            return 431;
        if (line.length == 0)
            break; /* the blank line (空行): the head is complete */
        if (++seen.count > HEADER_FIELD_LIMIT)
            return 431;
        status = parse_field(line, &seen, request);
        if (status != 0)
            return status;
    }
    return judge_request(request, &seen, method_verdict, target);
}

/* ======================================================================
 * 2. Path resolution: the target's path -> an open file under the root,
 *    or a status. Nothing outside the root is ever opened.
 * ====================================================================== */

struct docroot {
    int fd;                    /* the root folder, opened O_PATH */
    char real_path[PATH_MAX];  /* its canonical path, for the fallback */
    bool no_openat2;           /* the kernel has no openat2(): use the fallback */
};

struct resolved_file {
    int fd;                    /* open for reading, or -1 */
    struct stat status;
    const char *content_type;
    char relative[PATH_MAX];   /* the path under the root: "", "css/site.css" */
};

/* Content-Type by the name's extension; text types say their charset. */
static const char *content_type_of(const char *name)
{
    static const struct { const char *extension, *type; } types[] = {
        { "html", "text/html; charset=utf-8" }, { "htm", "text/html; charset=utf-8" },
        { "css", "text/css; charset=utf-8" },   { "js", "text/javascript; charset=utf-8" },
        { "mjs", "text/javascript; charset=utf-8" }, { "json", "application/json" },
        { "txt", "text/plain; charset=utf-8" }, { "md", "text/markdown; charset=utf-8" },
        { "png", "image/png" },   { "jpg", "image/jpeg" },  { "jpeg", "image/jpeg" },
        { "gif", "image/gif" },   { "svg", "image/svg+xml" }, { "ico", "image/x-icon" },
        { "webp", "image/webp" }, { "wasm", "application/wasm" }, { "pdf", "application/pdf" },
    };
    const char *dot = strrchr(name, '.');
    if (dot != NULL && strchr(dot, '/') == NULL)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].extension) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode the path and remove its dot segments (RFC 3986 5.2.4) in
 * one walk, segment by segment, into a path relative to the root. A ".."
 * only drops a segment already written, so the result never climbs above
 * the root, whether it was sent as "../" or "%2e%2e/". Refused (400): a
 * bad %XX, and bytes no file name here contains: NUL (%00), control
 * characters, and separators smuggled in encoded ("%2f", "%5c"), which
 * would make one segment two after the dot segments were removed.
 * *names_folder: the path ends in "/" (or "/." or "/.."). */
static int decode_path(struct span path, char *out, size_t out_size, bool *names_folder)
{
    const char *cursor = path.start + 1, *end = path.start + path.length; /* after the first '/' */
    size_t used = 0;
    *names_folder = true;
    while (cursor < end) {
        const char *slash = memchr(cursor, '/', (size_t)(end - cursor));
        const char *segment_end = slash != NULL ? slash : end;
        size_t start = used + (used > 0), written = start;
        for (const char *c = cursor; c < segment_end; c++) {
            int byte = (unsigned char)*c;
            if (byte == '%') {
                if (segment_end - c < 3 || hex_value(c[1]) < 0 || hex_value(c[2]) < 0)
                    return 400;
                byte = hex_value(c[1]) * 16 + hex_value(c[2]);
                c += 2;
            }
            if (byte < ' ' || byte == 0x7f || byte == '/' || byte == '\\')
                return 400;
            if (written + 1 >= out_size)
                return 414;
            out[written++] = (char)byte;
        }
        size_t length = written - start;
        bool dot = length == 1 && out[start] == '.';
        bool dot_dot = length == 2 && out[start] == '.' && out[start + 1] == '.';
        if (dot_dot) {
            while (used > 0 && out[used - 1] != '/')
                used--;
            if (used > 0)
                used--;
        } else if (length > 0 && !dot) {
            if (used > 0)
                out[used] = '/';
            used = written;
        }
        *names_folder = length == 0 || dot || dot_dot;
        cursor = slash != NULL ? slash + 1 : end;
    }
    if (end[-1] == '/')
        *names_folder = true;
    out[used] = '\0';
    return 0;
}

/* Open a path relative to the root, refusing to leave it. openat2() with
 * RESOLVE_BENEATH has the kernel itself fail (EXDEV) when any step of the
 * walk - a "..", an absolute symlink, a symlink that points out - would
 * leave the root: the whole containment check, symlinks included, in one
 * system call and with no gap between a check and the open. O_NONBLOCK
 * keeps open() from waiting on a FIFO. */
static int open_under_root(struct docroot *root, const char *relative)
{
    const char *name = relative[0] != '\0' ? relative : ".";
    const int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    if (!root->no_openat2) {
        struct open_how how = { .flags = flags,
                                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
        int fd = (int)syscall(SYS_openat2, root->fd, name, &how, sizeof how);
        if (fd >= 0 || errno != ENOSYS)
            return fd;
        root->no_openat2 = true; /* a kernel older than 5.6: the fallback from now on */
    }
    /* The fallback: realpath() follows every symlink and "..", then the
     * result must lie under the root's own canonical path. */
    char joined[PATH_MAX], resolved[PATH_MAX];
    if (snprintf(joined, sizeof joined, "%s/%s", root->real_path, relative) >= (int)sizeof joined) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (realpath(joined, resolved) == NULL)
        return -1;
    size_t root_length = strlen(root->real_path);
    if (root_length > 1 && (strncmp(resolved, root->real_path, root_length) != 0
                            || (resolved[root_length] != '/' && resolved[root_length] != '\0'))) {
        errno = EXDEV;
        return -1;
    }
    return open(resolved, flags);
}

/* Whatever the reason a path cannot be opened, the client learns only
 * "not found", "forbidden" or "try later": never where the walk stopped. */
static int status_for_open_error(int error)
{
    switch (error) {
    case EACCES: case EPERM: return 403;
    case EMFILE: case ENFILE: case ENOMEM: return 503;
    case ENOENT: case ENOTDIR: case ELOOP: case EXDEV: case ENAMETOOLONG: return 404;
    default: return 500;
    }
}

static int open_regular_file(struct docroot *root, struct resolved_file *file)
{
    int fd = open_under_root(root, file->relative);
    if (fd < 0)
        return status_for_open_error(errno);
    if (fstat(fd, &file->status) < 0) {
        close(fd);
        return 500;
    }
    file->fd = fd;
    return 200;
}

/* The file a GET or HEAD of path names: 200 with file->fd open for
 * reading, or 301 (a folder named without its final slash), 400, 403,
 * 404, 414, 500, 503 with file->fd -1. */
static int resolve_target(struct docroot *root, struct span path, struct resolved_file *file)
{
    file->fd = -1;
    file->status = (struct stat){ .st_mode = 0 };
    bool names_folder;
    int status = decode_path(path, file->relative, sizeof file->relative - sizeof "/index.html",
                             &names_folder);
    if (status == 0)
        status = open_regular_file(root, file);
    if (status != 200)
        return status;
    if (S_ISDIR(file->status.st_mode)) {
        close(file->fd);
        file->fd = -1;
        /* A folder is "/docs/": the browser must know, or its relative
         * links would resolve one level too high. So: 301 to the slashed
         * URL. With the slash it serves its index.html, opened beneath the
         * root in turn; no index.html, 404 (no listings here). */
        if (!names_folder)
            return path.length > REDIRECT_PATH_LIMIT ? 414 : 301;
        /* decode_path() kept room for it in file->relative. */
        size_t used = strlen(file->relative);
        const char *index = used > 0 ? "/index.html" : "index.html";
        memcpy(file->relative + used, index, strlen(index) + 1);
        status = open_regular_file(root, file);
        if (status != 200)
            return status;
        names_folder = false;
    }
    if (!S_ISREG(file->status.st_mode) || names_folder) {
        close(file->fd); /* a device, a FIFO, or "/file.txt/": not a page */
        file->fd = -1;
        return 404;
    }
    file->content_type = content_type_of(file->relative);
    return 200;
}

/* ======================================================================
 * 3. Showing received bytes safely: a hostile request must not be able
 *    to drive the terminal with escape sequences.
 * ====================================================================== */

/* Printable ASCII as it is, a backslash doubled, CR LF and tab as \r \n
 * \t, every other byte as \xHH. Ends in "..." when out (>= 8 bytes) is
 * too small. Returns out, always terminated. */
static const char *escape_for_terminal(const char *data, size_t length, char *out, size_t out_size)
{
    size_t used = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)data[i];
        char piece[8];
        int size = c == '\\'   ? snprintf(piece, sizeof piece, "\\\\")
                 : c == '\r'   ? snprintf(piece, sizeof piece, "\\r")
                 : c == '\n'   ? snprintf(piece, sizeof piece, "\\n")
                 : c == '\t'   ? snprintf(piece, sizeof piece, "\\t")
                 : c >= ' ' && c < 0x7f ? snprintf(piece, sizeof piece, "%c", c)
                 : snprintf(piece, sizeof piece, "\\x%02x", c);
        if (used + (size_t)size + sizeof "..." > out_size) {
            memcpy(out + used, "...", 3);
            used += 3;
            break;
        }
        memcpy(out + used, piece, (size_t)size);
        used += (size_t)size;
    }
    out[used] = '\0';
    return out;
}

/* ======================================================================
 * 4. The server: connections, deadlines, responses and the epoll loop.
 * ====================================================================== */

/* What a connection is doing. Requests on one connection are answered
 * strictly in turn, so pipelined requests are answered in order: the next
 * head is parsed only once the response before it has been sent. */
enum phase {
    READING_HEAD,      /* waiting for (the rest of) a request head */
    SENDING_CONTINUE,  /* "HTTP/1.1 100 Continue": go ahead with the body */
    DISCARDING_BODY,   /* reading the request's body, to throw it away */
    SENDING,           /* sending the response: head, then the file */
    LINGERING,         /* refused and half-closed: draining until the client closes */
};

struct connection {
    int fd;
    enum phase phase;
    char *input;               /* received, not yet used (malloc'd) */
    size_t input_length, input_capacity;
    bool input_closed;         /* recv() returned 0: the client has sent all */
    bool parse_due;            /* new bytes may complete a head */
    unsigned long long body_left; /* request body still to read and drop */
    char head[HEAD_BUFFER_SIZE]; /* the response head (and an error page) */
    size_t head_length, head_sent, blank_line_end;
    size_t continue_sent;
    int file_fd;               /* the body, by sendfile(), or -1 */
    struct cached_file *cached; /* the cache entry file_fd belongs to, or NULL */
    const char *body_copy;     /* or the body from that entry's copy, or NULL */
    off_t file_offset, file_end;
    bool close_after;          /* close once this response is sent */
    bool linger_after;         /* ... but first drain what the client sends */
    bool nodelay;              /* TCP_NODELAY is set */
    uint32_t watched;          /* what epoll watches it for now */
    unsigned long requests;
    /* The deadline list: every connection is in it, oldest deadline first. */
    long long deadline_ms;
    struct connection *older, *newer;
};

/* ---- The open-file cache ----------------------------------------------------
 * A file asked for again and again (a site's front page, a benchmark) is
 * resolved once a second, not once a request: the cache keeps its open
 * descriptor and fstat() under the path exactly as the request spelled it,
 * saving openat2(), fstat() and close() on every hit. A change on disk is
 * seen within a second. sendfile() takes the offset from each connection,
 * so many responses can share one descriptor; users counts them, and a
 * slot in use is never replaced (a miss then goes uncached). A small file
 * is also read once into the entry (copy): its responses then cost one
 * sendmsg() of head and copy, not send() and sendfile(). That is what
 * lighttpd and nginx do for small files too; it saves a fifth of the CPU
 * a request costs (docs/mini_http.md). */
struct cached_file {
    char path[CACHED_PATH_LIMIT];
    size_t path_length;
    time_t second;             /* fresh during this second of the clock */
    int users;                 /* responses sending from it now */
    struct resolved_file file; /* file.fd -1: the slot is empty */
    char *copy;                /* SMALL_FILE_LIMIT bytes, malloc'd when first needed */
    bool copy_ready;           /* copy holds the whole file as fstat() saw it */
};

struct server {
    struct listener listener;
    int epoll_fd;
    int stop_fd;
    struct docroot root;
    long long timeout_ms;
    long long now_ms;          /* CLOCK_MONOTONIC, read once per wakeup */
    struct connection *oldest, *newest;
    size_t connection_count;
    unsigned long connections_served, requests_served;
    unsigned long long bytes_sent;
    time_t clock_second;       /* time(), read once per wakeup */
    struct cached_file cache[FILE_CACHE_SLOTS];
    time_t date_second;        /* the Date header, formatted once a second */
    char date_text[32];
    time_t modified_second;    /* the last Last-Modified formatted */
    char modified_text[32];
};

static long long monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- Deadlines --------------------------------------------------------------
 * Each connection has one deadline: the request head must be complete
 * within the timeout from the accept or from the end of the response
 * before (then 408, or a silent close of an idle keep-alive connection),
 * and a response, a body or a lingering close must make progress within
 * it. Every deadline is "now + the same timeout", so appending a renewed
 * connection at the newest end keeps the list ordered: the wait sleeps
 * until the oldest deadline, and on waking only the expired ones, at the
 * old end, are looked at. O(1) per renewal, no scan of every client. */

static void unlink_deadline(struct server *server, struct connection *c)
{
    *(c->older != NULL ? &c->older->newer : &server->oldest) = c->newer;
    *(c->newer != NULL ? &c->newer->older : &server->newest) = c->older;
    c->older = c->newer = NULL;
}

static void append_deadline(struct server *server, struct connection *c)
{
    c->deadline_ms = server->now_ms + server->timeout_ms;
    c->older = server->newest;
    *(server->newest != NULL ? &server->newest->newer : &server->oldest) = c;
    server->newest = c;
}

static void renew_deadline(struct server *server, struct connection *c)
{
    unlink_deadline(server, c);
    append_deadline(server, c);
}

static int wait_timeout_ms(const struct server *server)
{
    int timeout = listener_timeout_ms(&server->listener);
    if (server->oldest != NULL) {
        long long left = server->oldest->deadline_ms - monotonic_ms();
        left = left < 0 ? 0 : left;
        if (timeout < 0 || left < timeout)
            timeout = (int)left;
    }
    return timeout;
}

/* ---- Responses ----------------------------------------------------------- */

static const struct status_text {
    int status;
    const char *reason, *hint;
} status_texts[] = {
    { 200, "OK", "" },
    { 301, "Moved Permanently", "This is a folder: its address ends with a slash." },
    { 304, "Not Modified", "" },
    { 400, "Bad Request", "The request does not follow HTTP/1.1 (RFC 9112)." },
    { 403, "Forbidden", "The file is there, but this server may not read it." },
    { 404, "Not Found", "No file by that name under the document root." },
    { 405, "Method Not Allowed", "This server only sends files: GET and HEAD." },
    { 408, "Request Timeout", "The request head did not arrive in time." },
    { 411, "Length Required", "Send a body with a Content-Length, not chunked." },
    { 414, "URI Too Long", "The request line is too long." },
    { 431, "Request Header Fields Too Large", "Over 16 KiB of headers, or over 100 fields." },
    { 500, "Internal Server Error", "Something went wrong on the server." },
    { 501, "Not Implemented", "A method or transfer coding this server does not know." },
    { 503, "Service Unavailable", "The server is out of descriptors; try again." },
    { 505, "HTTP Version Not Supported", "Only HTTP/1.0 and HTTP/1.1 are served." },
};

static const struct status_text *status_text(int status)
{
    for (size_t i = 0; i < sizeof status_texts / sizeof status_texts[0]; i++)
        if (status_texts[i].status == status)
            return &status_texts[i];
    return status_text(500); /* never reached: every status used is listed */
}

/* "Sun, 06 Nov 1994 08:49:37 GMT", the date format of HTTP. */
static void format_http_date(time_t when, char text[32])
{
    struct tm fields;
    gmtime_r(&when, &fields);
    strftime(text, 32, "%a, %d %b %Y %H:%M:%S GMT", &fields);
}

/* The Date header changes once a second: formatting it once a second, not
 * once a request, is one of the cheap savings that add up at 100,000
 * requests a second. */
static const char *current_date(struct server *server)
{
    if (server->clock_second != server->date_second) {
        server->date_second = server->clock_second;
        format_http_date(server->clock_second, server->date_text);
    }
    return server->date_text;
}

static const char *last_modified(struct server *server, time_t modified)
{
    if (modified != server->modified_second || server->modified_text[0] == '\0') {
        server->modified_second = modified;
        format_http_date(modified, server->modified_text);
    }
    return server->modified_text;
}

/* A head, line by line, in the notes' words: 请求行 (or 响应行) the first
 * line, 请求头 (响应头) each header, 空行 the blank line that ends it.
 * Every byte shown escaped: a request is whatever the client sent. */
static void narrate_head(int fd, bool request, const char *data, size_t start, size_t end)
{
    for (int number = 0; start < end; number++) {
        struct span line;
        size_t next;
        bool ended = next_line(data, end, start, &line, &next);
        if (!ended) {
            line = (struct span){ data + start, end - start };
            next = end;
        }
        if (number > HEADER_FIELD_LIMIT + 1) {
            printf("fd %d: ... %zu more bytes\n", fd, end - start);
            return;
        }
        char text[200];
        printf("fd %d: %s | %s%s\n", fd,
               number == 0        ? (request ? "请求行 request line" : "响应行 status line ")
               : line.length == 0 ? "空行   blank line  "
               : request          ? "请求头 header      " : "响应头 header      ",
               escape_for_terminal(line.start, line.length, text, sizeof text),
               ended ? "" : "  (no end of line yet)");
        start = next;
    }
}

/* snprintf at the end of the head, as much as fits (it always does: every
 * piece is bounded and HEAD_BUFFER_SIZE is ample). */
static void append(struct connection *c, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void append(struct connection *c, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    size_t room = sizeof c->head - c->head_length;
    int written = vsnprintf(c->head + c->head_length, room, format, arguments);
    va_end(arguments);
    if (written > 0)
        c->head_length += (size_t)written < room ? (size_t)written : room - 1;
}

/* Build the response in c->head: status line, headers, blank line and, for
 * an error, its small HTML page. A 200 to a GET leaves the body to
 * sendfile() from file->fd (c->file_fd), or to the copy in its cache entry
 * slot (c->body_copy) when it has one; the caller owns the descriptor. */
static void prepare_response(struct server *server, struct connection *c, int status,
                             const struct http_request *request, struct resolved_file *file,
                             const struct cached_file *slot, bool keep_alive)
{
    const struct status_text *text = status_text(status);
    bool head_only = request != NULL && request->method == HTTP_HEAD;
    char page[512];
    int page_length = 0;
    c->head_length = c->head_sent = 0;
    append(c, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: mini_http\r\n", status, text->reason,
           current_date(server));
    if (status == 200 || status == 304) {
        /* RFC 9110 15.4.5: a 304 carries no body, and says so by having
         * none; its Last-Modified confirms the copy the browser has. */
        append(c, "Content-Type: %s\r\n", file->content_type);
        if (status == 200)
            append(c, "Content-Length: %lld\r\n", (long long)file->status.st_size);
        append(c, "Last-Modified: %s\r\n", last_modified(server, file->status.st_mtime));
    } else {
        /* Every error has a small page, with its exact length. */
        page_length = snprintf(page, sizeof page,
                               "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                               "<title>%d %s</title></head>\n<body><h1>%d %s</h1>\n"
                               "<p>%s</p></body></html>\n",
                               status, text->reason, status, text->reason, text->hint);
        append(c, "Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n", page_length);
        if (status == 405)
            append(c, "Allow: GET, HEAD\r\n"); /* RFC 9110 15.5.6: 405 names what is allowed */
        if (status == 301) /* the path was checked: visible ASCII only */
            append(c, "Location: %.*s/\r\n", (int)request->path.length, request->path.start);
    }
    if (!keep_alive)
        append(c, "Connection: close\r\n");
    else if (request->minor_version == 0)
        append(c, "Connection: keep-alive\r\n");
    append(c, "\r\n");
    c->blank_line_end = c->head_length;
    if (!head_only && page_length > 0)
        append(c, "%s", page);

    c->file_offset = c->file_end = 0;
    c->file_fd = -1;
    c->body_copy = NULL;
    if (status == 200 && !head_only) {
        c->file_fd = file->fd;
        c->file_end = file->status.st_size;
        if (slot != NULL && slot->copy_ready)
            c->body_copy = slot->copy;
    }

    if (narration_level < NARRATE_NORMAL)
        return;
    narrate_head(c->fd, false, c->head, 0, c->blank_line_end);
    if (c->file_fd >= 0) {
        char name[160];
        printf("fd %d: 响应体 body         | %lld bytes of %s, %s\n", c->fd,
               (long long)c->file_end,
               escape_for_terminal(file->relative, strlen(file->relative), name, sizeof name),
               c->body_copy != NULL ? "from the cache's copy, in one sendmsg() with the head"
                                    : "by sendfile()");
    } else if (status == 304)
        printf("fd %d: 响应体 body         | none: the browser's copy is still current\n", c->fd);
    else if (head_only)
        printf("fd %d: 响应体 body         | none: HEAD asks for the headers only\n", c->fd);
    else
        printf("fd %d: 响应体 body         | %d bytes of HTML, the error page\n", c->fd,
               page_length);
}

/* ---- Requests as they arrive ------------------------------------------- */

static unsigned hash_path(struct span path) /* FNV-1a */
{
    unsigned hash = 2166136261u;
    for (size_t i = 0; i < path.length; i++)
        hash = (hash ^ (unsigned char)path.start[i]) * 16777619u;
    return hash;
}

/* A small file, read whole into its fresh cache entry. Without the memory,
 * or if the file is not what fstat() said (it changed in between), there
 * is no copy, and its responses use sendfile(). */
static void keep_copy(struct cached_file *entry)
{
    off_t size = entry->file.status.st_size;
    entry->copy_ready = false;
    if (size > SMALL_FILE_LIMIT)
        return;
    if (entry->copy == NULL && (entry->copy = malloc(SMALL_FILE_LIMIT)) == NULL)
        return;
    ssize_t got = pread(entry->file.fd, entry->copy, (size_t)size, 0);
    entry->copy_ready = got == size;
    narrate_detail("open-file cache: pread(fd %d) -> %zd bytes: %s", entry->file.fd, got,
                   entry->copy_ready ? "kept as a copy, sent with each head"
                                     : "not the size fstat() saw; sendfile() instead");
}

/* The file for a path: a fresh cache entry, else resolve_target() (into
 * the cache when its slot is free). On 200, *file is the one to use and
 * *slot its cache entry; with *slot NULL the caller owns own->fd. */
static int find_file(struct server *server, struct span path, struct resolved_file *own,
                     struct resolved_file **file, struct cached_file **slot)
{
    struct cached_file *entry = &server->cache[hash_path(path) % FILE_CACHE_SLOTS];
    char name[160];
    *file = own;
    *slot = NULL;
    if (entry->file.fd >= 0 && entry->second == server->clock_second
        && entry->path_length == path.length && memcmp(entry->path, path.start, path.length) == 0) {
        narrate_detail("open-file cache: %s is fd %d, fresh this second: no openat2(), no fstat()",
                       escape_for_terminal(entry->file.relative, strlen(entry->file.relative),
                                           name, sizeof name), entry->file.fd);
        *file = &entry->file;
        *slot = entry;
        return 200;
    }
    if (path.length > sizeof entry->path || entry->users > 0)
        return resolve_target(&server->root, path, own);
    if (entry->file.fd >= 0)
        close(entry->file.fd);
    int status = resolve_target(&server->root, path, &entry->file);
    if (status == 200) {
        narrate_detail("open-file cache: openat2() and fstat() -> %s is fd %d, kept for this second",
                       escape_for_terminal(entry->file.relative, strlen(entry->file.relative),
                                           name, sizeof name), entry->file.fd);
        memcpy(entry->path, path.start, path.length);
        entry->path_length = path.length;
        entry->second = server->clock_second;
        keep_copy(entry);
        *file = &entry->file;
        *slot = entry;
    }
    return status;
}

/* The response no longer needs its file. */
static void release_file(struct connection *c)
{
    if (c->cached != NULL)
        c->cached->users--;
    else if (c->file_fd >= 0)
        close(c->file_fd);
    c->file_fd = -1;
    c->cached = NULL;
    c->body_copy = NULL;
}

static void consume_input(struct connection *c, size_t length)
{
    memmove(c->input, c->input + length, c->input_length - length);
    c->input_length -= length;
}

/* A head has been parsed (or refused): choose the answer and get it ready. */
static void answer_request(struct server *server, struct connection *c, int status,
                           const struct http_request *request)
{
    server->requests_served++;
    c->requests++;
    if (narration_level >= NARRATE_NORMAL && request->skipped_length > 0)
        printf("fd %d: (%zu bytes of empty lines before the request line, ignored)\n", c->fd,
               request->skipped_length);
    if (narration_level >= NARRATE_NORMAL)
        narrate_head(c->fd, true, c->input, request->skipped_length, request->head_length);
    bool parsed = status == PARSE_COMPLETE;
    struct resolved_file own = { .fd = -1 }, *file = &own;
    struct cached_file *slot = NULL;
    if (parsed)
        status = find_file(server, request->path, &own, &file, &slot);
    /* RFC 9110 13.1.3: not modified since the date the browser has? 304. */
    if (status == 200 && request->has_if_modified_since
        && file->status.st_mtime <= request->if_modified_since)
        status = 304;
    /* A refused request's body is not waited for: the answer goes at once,
     * and the connection closes after it (an unread body cannot be told
     * from the next request). So does every request that did not parse. */
    bool has_body = parsed && request->content_length > 0;
    bool refused = !parsed || (has_body && status >= 400);
    bool keep_alive = !refused && request->keep_alive;
    prepare_response(server, c, status, parsed ? request : NULL, file, slot, keep_alive);
    if (c->file_fd >= 0 && slot != NULL) {
        c->cached = slot;
        slot->users++;
    }
    if (own.fd >= 0 && c->file_fd != own.fd)
        close(own.fd); /* a HEAD, a 304: the descriptor is not needed */
    c->close_after = !keep_alive;
    c->linger_after = refused;
    if (parsed)
        consume_input(c, request->head_length);
    else
        c->input_length = 0;
    c->parse_due = c->input_length > 0;
    c->phase = SENDING;
    if (has_body && !refused) {
        /* A body is read and dropped before the answer, never parsed as the
         * next request. Expect: 100-continue (RFC 9110 10.1.1): the client
         * waits for our go-ahead before it sends the body. */
        c->body_left = request->content_length;
        c->phase = request->expect_continue ? SENDING_CONTINUE : DISCARDING_BODY;
    }
}

/* ---- Connections --------------------------------------------------------- */

static struct connection *open_connection(struct server *server, int fd)
{
    struct connection *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->input = malloc(INPUT_INITIAL);
    c->fd = fd;
    c->file_fd = -1;
    c->input_capacity = INPUT_INITIAL;
    c->watched = EPOLLIN;
    struct epoll_event event = { .events = EPOLLIN, .data.ptr = c };
    if (c->input == NULL || epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0) {
        free(c->input);
        free(c);
        return NULL;
    }
    append_deadline(server, c);
    server->connection_count++;
    server->connections_served++;
    return c;
}

/* The caller has said why. close() also takes fd out of the epoll set:
 * no copy of the descriptor exists (no dup, no fork) to keep it there. */
static void close_connection(struct server *server, struct connection *c)
{
    release_file(c);
    unlink_deadline(server, c);
    close(c->fd);
    free(c->input);
    free(c);
    server->connection_count--;
}

static bool close_after_error(const struct connection *c, const char *call)
{
    if (errno == ECONNRESET || errno == EPIPE)
        narrate("fd %d: %s() -> %s: the client went away; close(fd %d)", c->fd, call,
                errno_name(errno), c->fd);
    else
        warn_errno("%s(fd %d) failed; close(fd %d)", call, c->fd, c->fd);
    return false;
}

static bool wants_input(const struct connection *c)
{
    return !c->input_closed && (c->phase == READING_HEAD || c->phase == DISCARDING_BODY
                                || c->phase == LINGERING);
}

/* One recv() into the connection's buffer (no EINTR here, nor on send:
 * every socket is non-blocking and SIGINT/SIGTERM arrive by signalfd).
 * false: close the connection. */
static bool receive(struct server *server, struct connection *c)
{
    if (c->input_length == c->input_capacity) {
        size_t capacity = c->input_capacity * 2;
        char *grown = capacity <= INPUT_LIMIT ? realloc(c->input, capacity) : NULL;
        if (grown == NULL) { /* past INPUT_LIMIT cannot happen within the head limits */
            errno = ENOMEM;
            return close_after_error(c, "realloc");
        }
        c->input = grown;
        c->input_capacity = capacity;
    }
    ssize_t got = recv(c->fd, c->input + c->input_length, c->input_capacity - c->input_length, 0);
    if (got < 0)
        return errno == EAGAIN ? true : close_after_error(c, "recv");
    if (got == 0) {
        narrate_detail("recv(fd %d) -> 0: the client closed its side", c->fd);
        c->input_closed = true;
        return true;
    }
    narrate_detail("recv(fd %d) -> %zd bytes", c->fd, got);
    /* A head is only complete once a line ends, or refused once it is too
     * long: no need to parse again until one of them may have happened. */
    c->parse_due = c->parse_due || memchr(c->input + c->input_length, '\n', (size_t)got) != NULL
                   || c->input_length + (size_t)got > REQUEST_LINE_LIMIT;
    c->input_length += (size_t)got;
    if (c->phase == DISCARDING_BODY)
        renew_deadline(server, c); /* progress (a lingering close gets one timeout, no more) */
    return true;
}

/* A small file's response: what is left of the head and of the cache's
 * copy, in one sendmsg() (a gathering write: two pieces of memory, one
 * system call, one packet). A short send is resumed where it stopped.
 * false: close the connection. */
static bool send_head_and_copy(struct server *server, struct connection *c)
{
    struct iovec pieces[2] = {
        { .iov_base = c->head + c->head_sent, .iov_len = c->head_length - c->head_sent },
        { .iov_base = (char *)c->body_copy + c->file_offset,
          .iov_len = (size_t)(c->file_end - c->file_offset) },
    };
    struct msghdr message = { .msg_iov = pieces, .msg_iovlen = 2 };
    ssize_t sent = sendmsg(c->fd, &message, MSG_NOSIGNAL);
    if (sent < 0)
        return errno == EAGAIN ? true : close_after_error(c, "sendmsg");
    size_t of_head = (size_t)sent < pieces[0].iov_len ? (size_t)sent : pieces[0].iov_len;
    narrate_detail("sendmsg(fd %d) -> %zd of %zu bytes: head and copy", c->fd, sent,
                   pieces[0].iov_len + pieces[1].iov_len);
    c->head_sent += of_head;
    c->file_offset += (off_t)((size_t)sent - of_head);
    server->bytes_sent += (unsigned long long)sent;
    return true;
}

/* Send what waits: the rest of the head, then a chunk of the file with
 * sendfile(), which copies from the page cache to the socket inside the
 * kernel. MSG_MORE tells TCP that the body follows, so the head and a
 * small body leave in one packet; without it, the head could go alone and
 * the body wait for its ACK (Nagle meeting the client's delayed ACK).
 * false: close the connection. */
static bool send_response(struct server *server, struct connection *c)
{
    bool body_follows = c->file_offset < c->file_end;
    if (body_follows && c->body_copy != NULL)
        return send_head_and_copy(server, c);
    if (c->head_sent < c->head_length) {
        ssize_t sent = send(c->fd, c->head + c->head_sent, c->head_length - c->head_sent,
                            MSG_NOSIGNAL | (body_follows ? MSG_MORE : 0));
        if (sent < 0)
            return errno == EAGAIN ? true : close_after_error(c, "send");
        narrate_detail("send(fd %d) -> %zd of %zu bytes of head", c->fd, sent,
                       c->head_length - c->head_sent);
        c->head_sent += (size_t)sent;
        server->bytes_sent += (unsigned long long)sent;
        if (c->head_sent < c->head_length)
            return true;
    }
    if (body_follows) {
        off_t left = c->file_end - c->file_offset;
        ssize_t sent = sendfile(c->fd, c->file_fd, &c->file_offset,
                                left < SENDFILE_CHUNK ? (size_t)left : SENDFILE_CHUNK);
        if (sent < 0)
            return errno == EAGAIN ? true : close_after_error(c, "sendfile");
        if (sent == 0) {
            narrate("fd %d: the file shrank while being sent; close(fd %d)", c->fd, c->fd);
            return false;
        }
        narrate_detail("sendfile(fd %d) -> %zd bytes, %lld to go", c->fd, sent,
                       (long long)(c->file_end - c->file_offset));
        server->bytes_sent += (unsigned long long)sent;
    }
    return true;
}

/* Move the connection on as far as it can go without waiting. Returns
 * false when it is to be closed (after narrating why). */
static bool advance(struct server *server, struct connection *c)
{
    static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    for (;;) {
        switch (c->phase) {
        case READING_HEAD: {
            if (!c->parse_due || c->input_length == 0) {
                if (!c->input_closed)
                    return true;
                narrate("fd %d: the client closed%s; close(fd %d) after %lu request(s)", c->fd,
                        c->input_length > 0 ? " in the middle of a request head" : "", c->fd,
                        c->requests);
                return false;
            }
            c->parse_due = false;
            struct http_request request;
            int status = http_parse_request(c->input, c->input_length, &request);
            if (status == PARSE_INCOMPLETE && !c->input_closed)
                return true;
            if (status == PARSE_INCOMPLETE)
                continue; /* no more bytes will come: the branch above closes it */
            answer_request(server, c, status, &request);
            break;
        }
        case SENDING_CONTINUE: {
            ssize_t sent = send(c->fd, continue_line + c->continue_sent,
                                sizeof continue_line - 1 - c->continue_sent, MSG_NOSIGNAL);
            if (sent < 0)
                return errno == EAGAIN ? true : close_after_error(c, "send");
            c->continue_sent += (size_t)sent;
            if (c->continue_sent < sizeof continue_line - 1)
                return true;
            narrate("fd %d: sent \"HTTP/1.1 100 Continue\": the client may send its body", c->fd);
            c->continue_sent = 0;
            c->phase = DISCARDING_BODY;
            break;
        }
        case DISCARDING_BODY: {
            size_t taken = c->body_left < c->input_length ? (size_t)c->body_left : c->input_length;
            consume_input(c, taken);
            c->body_left -= taken;
            if (c->body_left > 0) {
                if (!c->input_closed)
                    return true;
                narrate("fd %d: the client closed before its body was complete; close(fd %d)",
                        c->fd, c->fd);
                return false;
            }
            narrate("fd %d: the request body was read and thrown away", c->fd);
            c->parse_due = c->input_length > 0;
            c->phase = SENDING;
            break;
        }
        case SENDING: {
            if (!send_response(server, c))
                return false;
            if (c->head_sent < c->head_length || c->file_offset < c->file_end) {
                renew_deadline(server, c);
                return true; /* the socket is full: wait for EPOLLOUT */
            }
            release_file(c);
            if (c->close_after && c->linger_after && !c->input_closed) {
                /* Closing with unread bytes makes the kernel send a reset,
                 * which can destroy the response before the client reads
                 * it. So: shutdown(SHUT_WR) (our FIN after the response),
                 * then read and drop until the client closes too. */
                shutdown(c->fd, SHUT_WR);
                narrate("fd %d: shutdown(SHUT_WR) after the refusal; reading until the "
                        "client closes", c->fd);
                c->phase = LINGERING;
                renew_deadline(server, c);
                break;
            }
            if (c->close_after) {
                narrate("fd %d: close(fd %d) after the response (Connection: close)", c->fd, c->fd);
                return false;
            }
            /* Kept alive. If the next request is already here (pipelining),
             * its response follows this one before the client has ACKed
             * it, and Nagle would hold it back until the ACK (up to 40 ms
             * of delayed ACK): TCP_NODELAY, from now on. Not before, since
             * MSG_MORE already keeps each head and body together. */
            if (!c->nodelay && c->input_length > 0) {
                int on = 1;
                setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
                c->nodelay = true;
            }
            c->phase = READING_HEAD;
            renew_deadline(server, c);
            break;
        }
        case LINGERING:
            c->input_length = 0;
            if (!c->input_closed)
                return true;
            narrate("fd %d: the client closed; close(fd %d)", c->fd, c->fd);
            return false;
        }
    }
}

/* epoll_ctl(EPOLL_CTL_MOD) only when the wish changed: EPOLLIN while we
 * read, EPOLLOUT only while a response waits for room (a socket is nearly
 * always writable; asking all the time would wake us for nothing). */
static bool update_interest(struct server *server, struct connection *c)
{
    uint32_t wanted = wants_input(c) ? EPOLLIN : 0;
    if (c->phase == SENDING || c->phase == SENDING_CONTINUE)
        wanted |= EPOLLOUT;
    if (wanted == c->watched)
        return true;
    struct epoll_event event = { .events = wanted, .data.ptr = c };
    if (epoll_ctl(server->epoll_fd, EPOLL_CTL_MOD, c->fd, &event) < 0)
        return close_after_error(c, "epoll_ctl");
    c->watched = wanted;
    narrate_detail("epoll_ctl(EPOLL_CTL_MOD, fd %d, %s)", c->fd,
                   wanted == EPOLLIN ? "EPOLLIN" : wanted == EPOLLOUT ? "EPOLLOUT" : "EPOLLIN|EPOLLOUT");
    return true;
}

static void on_connection_event(struct server *server, struct connection *c, uint32_t events)
{
    bool keep = true;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && wants_input(c))
        keep = receive(server, c);
    keep = keep && advance(server, c) && update_interest(server, c);
    if (!keep)
        close_connection(server, c);
}

/* The deadline list is oldest first: look only at the expired ones. */
static void expire_deadlines(struct server *server)
{
    /* close_connection() at the end unlinks c first: oldest is never freed. */
    // NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
    while (server->oldest != NULL && server->oldest->deadline_ms <= server->now_ms) {
        struct connection *c = server->oldest;
        if (c->phase == READING_HEAD && (c->input_length > 0 || c->requests == 0)) {
            /* RFC 9110 15.5.9: 408, then close. One try to send it: the
             * client has not been reading anyway. */
            narrate("fd %d: no complete request head after %lld s: 408", c->fd,
                    server->timeout_ms / 1000);
            struct resolved_file none = { .fd = -1 };
            prepare_response(server, c, 408, NULL, &none, NULL, false);
            if (send(c->fd, c->head, c->head_length, MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
                server->bytes_sent += c->head_length;
        } else if (c->phase == READING_HEAD) {
            narrate("fd %d: idle for %lld s after %lu request(s); close(fd %d)", c->fd,
                    server->timeout_ms / 1000, c->requests, c->fd);
        } else {
            narrate("fd %d: no progress for %lld s; close(fd %d)", c->fd,
                    server->timeout_ms / 1000, c->fd);
        }
        close_connection(server, c);
    }
}

/* ---- The listening socket ------------------------------------------------ */

/* -v: "epoll_wait() -> 2 ready: fd 7 EPOLLIN, fd 9 EPOLLOUT". */
static void narrate_wakeup(const struct server *server, const struct epoll_event *events, int ready)
{
    static const struct named_bit names[] = {
        { EPOLLIN, "EPOLLIN" }, { EPOLLOUT, "EPOLLOUT" }, { EPOLLERR, "EPOLLERR" }, { EPOLLHUP, "EPOLLHUP" },
    };
    if (narration_level < NARRATE_VERBOSE)
        return;
    printf("epoll_wait() -> %d ready%s", ready, ready > 0 ? ":" : " (a deadline or a pause is due)");
    for (int i = 0; i < ready; i++) {
        const void *owner = events[i].data.ptr;
        char text[64];
        printf("%s fd %d %s", i > 0 ? "," : "",
               owner == &server->stop_fd    ? server->stop_fd
               : owner == &server->listener ? server->listener.fd
                                            : ((const struct connection *)owner)->fd,
               describe_mask(events[i].events, names, sizeof names / sizeof names[0], text,
                             sizeof text));
    }
    putchar('\n');
}

static void watch_listener(struct server *server, uint32_t events)
{
    struct epoll_event event = { .events = events, .data.ptr = &server->listener };
    if (epoll_ctl(server->epoll_fd, EPOLL_CTL_MOD, server->listener.fd, &event) < 0)
        fatal("epoll_ctl(EPOLL_CTL_MOD) on the listening socket");
}

static void accept_clients(struct server *server)
{
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        char address[ADDRESS_TEXT_SIZE];
        int fd = listener_accept(&server->listener, address, sizeof address);
        if (fd < 0) {
            if (server->listener.paused) {
                watch_listener(server, 0); /* out of descriptors: EPOLLIN off for a while */
                narrate_detail("epoll_ctl(EPOLL_CTL_MOD, fd %d, none): accept() paused",
                               server->listener.fd);
            }
            return;
        }
        struct connection *c = open_connection(server, fd);
        if (c == NULL) {
            warn_errno("no room for a new client; close(fd %d)", fd);
            close(fd);
            continue;
        }
        narrate("accept() -> fd %d from %s (%zu connected)", fd, address,
                server->connection_count);
    }
}

/* ---- Setting up ---------------------------------------------------------- */

/* The sample site, wherever we are started from: demos/www beside the
 * build folder holding this program (build/ or build/sanitize/). */
static void find_sample_site(char *path, size_t size)
{
    char program[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", program, sizeof program - 1);
    if (length > 0) {
        program[length] = '\0';
        *strrchr(program, '/') = '\0';
        static const char *const tries[] = { "/../demos/www", "/../../demos/www" };
        for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
            struct stat status;
            if (snprintf(path, size, "%s%s", program, tries[i]) < (int)size
                && stat(path, &status) == 0 && S_ISDIR(status.st_mode))
                return;
        }
    }
    fatal_message("the sample site demos/www is not beside this program; "
                  "name the folder to serve with -r DOCROOT");
}

static void open_docroot(struct docroot *root, const char *path)
{
    if (realpath(path, root->real_path) == NULL)
        fatal("document root %s", path);
    root->fd = open(root->real_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root->fd < 0)
        fatal("open the document root %s", root->real_path);
}

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1";
    const char *root_path = NULL;
    int port = DEFAULT_PORT;
    long timeout_seconds = DEFAULT_TIMEOUT_SECONDS;

    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int option;
    while ((option = getopt_long(argc, argv, "+:H:p:r:t:qvh", long_options, NULL)) != -1) {
        switch (option) {
        case 'H': host = parse_host_or_exit(optarg, usage_text); break;
        case 'p': port = parse_port_or_exit(optarg, usage_text); break;
        case 'r': root_path = optarg; break;
        case 't':
            if (parse_number(optarg, 1, 3600, &timeout_seconds) < 0)
                usage_error(usage_text, "bad timeout '%s' (1 to 3600 seconds)", optarg);
            break;
        case 'q': narration_level = NARRATE_QUIET; break;
        case 'v': narration_level = NARRATE_VERBOSE; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: reject_option(option, argv, usage_text);
        }
    }
    if (optind < argc)
        usage_error(usage_text, "unexpected argument '%s'", argv[optind]);

    start_narration();
    /* All the server's state lives here in main and is passed down. */
    struct server server = { .epoll_fd = -1, .timeout_ms = timeout_seconds * 1000 };
    for (size_t i = 0; i < FILE_CACHE_SLOTS; i++)
        server.cache[i].file.fd = -1;
    char sample_site[PATH_MAX];
    if (root_path == NULL) {
        find_sample_site(sample_site, sizeof sample_site);
        root_path = sample_site;
    }
    open_docroot(&server.root, root_path);
    server.stop_fd = open_stop_signal_fd();
    listener_start(&server.listener, listen_on(host, port, BACKLOG));
    announce_listening(server.listener.fd);
    narrate("document root %s (fd %d); every file is opened beneath it with "
            "openat2(RESOLVE_BENEATH)", server.root.real_path, server.root.fd);
    raise_descriptor_limit();

    server.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (server.epoll_fd < 0)
        fatal("epoll_create1");
    /* data.ptr tells the three kinds of descriptor apart: the listener,
     * the stop signal, and a connection (its struct). */
    struct epoll_event listening = { .events = EPOLLIN, .data.ptr = &server.listener };
    struct epoll_event stopping = { .events = EPOLLIN, .data.ptr = &server.stop_fd };
    if (epoll_ctl(server.epoll_fd, EPOLL_CTL_ADD, server.listener.fd, &listening) < 0
        || epoll_ctl(server.epoll_fd, EPOLL_CTL_ADD, server.stop_fd, &stopping) < 0)
        fatal("epoll_ctl(EPOLL_CTL_ADD)");
    narrate("epoll_create1() -> fd %d, watching fd %d (listening) and fd %d (signalfd: "
            "SIGINT, SIGTERM); request heads must arrive within %ld s", server.epoll_fd,
            server.listener.fd, server.stop_fd, timeout_seconds);

    /* The loop. EINTR policy: SIGINT and SIGTERM are blocked and come in
     * through the signalfd, so they cannot interrupt the wait; EINTR can
     * still come from a stop and continue (SIGSTOP, SIGCONT): go round. */
    struct epoll_event events[MAX_EVENTS];
    while (!stop_requested) {
        if (listener_resume_if_due(&server.listener)) {
            watch_listener(&server, EPOLLIN);
            narrate_detail("accept() resumes: EPOLLIN on fd %d again", server.listener.fd);
        }
        int ready = epoll_wait(server.epoll_fd, events, MAX_EVENTS, wait_timeout_ms(&server));
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            fatal("epoll_wait");
        }
        server.now_ms = monotonic_ms();
        server.clock_second = time(NULL);
        narrate_wakeup(&server, events, ready);
        for (int i = 0; i < ready && !stop_requested; i++) {
            void *owner = events[i].data.ptr;
            if (owner == &server.stop_fd)
                take_stop_signal(server.stop_fd); /* the loop ends at once */
            else if (owner == &server.listener)
                accept_clients(&server);
            else
                on_connection_event(&server, owner, events[i].events);
        }
        if (!stop_requested)
            expire_deadlines(&server);
    }

    if (server.connection_count > 0)
        narrate("stopping: close() on the %zu connections still open", server.connection_count);
    while (server.oldest != NULL)
        close_connection(&server, server.oldest);
    for (size_t i = 0; i < FILE_CACHE_SLOTS; i++) {
        if (server.cache[i].file.fd >= 0)
            close(server.cache[i].file.fd);
        free(server.cache[i].copy);
    }
    close(server.epoll_fd);
    close(server.listener.fd);
    close(server.stop_fd);
    close(server.root.fd);
    announce("summary: clients=%lu requests=%lu bytes=%llu", server.connections_served,
             server.requests_served, server.bytes_sent);
    return 0;
}
