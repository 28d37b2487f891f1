#!/usr/bin/env python3
"""mini_http.py - a small HTTP/1.1 server for static files.

Shows:    the notes' http_server: 接收浏览器请求 take the browser's
          request, 查看请求内容 look at it, 将一个网页返回给浏览器 send a
          page back. A request is a request line, headers, a blank line
          (and a body, which GET and HEAD do not have); the response is a
          response line (响应行), headers (响应头), a blank line (空行) and
          the body (响应体). It serves the files under -r DOCROOT for GET
          and HEAD: 404 for a file that is not there, 405 for any other
          method, 400 for a request it cannot read or a path that tries to
          leave DOCROOT (a ".." segment, or a symlink that points out).
          One connection at a time, one request per connection
          (Connection: close), each with a 5-second deadline
          (conn.settimeout(5), the notes' 超时检测), so a silent client
          cannot hold the server for ever.
Mirrors:  demos/mini_http.c: -H, -p (default 8080), -r DOCROOT (default
          demos/www), "listening on", the summary on SIGINT.
Usage:    python3 docs/python/mini_http.py [-H ADDR] [-p PORT] [-r DOCROOT] [-q] [-v]
Try:      python3 docs/python/mini_http.py -r demos/www
          then open http://127.0.0.1:8080/ in a browser, or:
          curl -i http://127.0.0.1:8080/
          printf 'HEAD / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | build/tcp_client -p 8080
Observe:  the server prints the browser's request line and every header
          it sent, then the response line and headers it sends back. The
          body goes out with socket.sendfile(), the sendfile() system call
          (`scripts/trace.sh --python mini_http` shows it): the file is
          copied to the socket inside the kernel.
"""

import errno
import os
import socket
import stat
import time
import urllib.parse

import lab

DEFAULT_PORT = 8080
DEFAULT_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "demos", "www")
HEAD_LIMIT = 8192  # bytes of request line and headers we accept
REQUEST_TIMEOUT = 5  # seconds a client has to send its request head
TYPES = {".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
         ".css": "text/css", ".js": "text/javascript", ".txt": "text/plain; charset=utf-8",
         ".json": "application/json", ".png": "image/png", ".jpg": "image/jpeg",
         ".jpeg": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml",
         ".ico": "image/x-icon"}
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


class BadRequest(Exception):
    """A request we cannot serve: the status to answer and why."""

    def __init__(self, status, why):
        super().__init__(why)
        self.status = status


def read_head(conn):
    """接收浏览器请求: recv() until the blank line that ends the headers.
    Returns the head as text, or None if the client closed first."""
    head = b""
    while b"\r\n\r\n" not in head:
        if len(head) > HEAD_LIMIT:
            raise BadRequest(400, f"no blank line in the first {HEAD_LIMIT} bytes")
        data = conn.recv(4096)
        if not data:
            return None if not head else head.decode("latin-1")
        lab.narrate_detail(f"recv(fd {conn.fileno()}) -> {len(data)} bytes")
        head += data
    return head.split(b"\r\n\r\n", 1)[0].decode("latin-1")


def parse_request(head):
    """查看请求内容: the request line, then one header per line."""
    lines = head.split("\r\n")
    lab.narrate(f"  request line: {lines[0]}")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(400, "the request line is not METHOD TARGET HTTP/1.x")
    method, target, version = parts
    headers = {}
    for line in lines[1:]:
        lab.narrate(f"  header: {line}")
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise BadRequest(400, f"not a header: {line!r}")
        headers[name.lower()] = value.strip()
    lab.narrate("  blank line: end of the headers (GET and HEAD have no body)")
    if version == "HTTP/1.1" and "host" not in headers:
        raise BadRequest(400, "HTTP/1.1 needs a Host header")
    return method, target


def find_file(docroot, target):
    """The file under docroot that target names, or BadRequest. Path
    safety: decode %XX first, then refuse NUL and any '..' segment, then
    check that the real path (symlinks followed) is still inside docroot."""
    path = target.split("?", 1)[0].split("#", 1)[0]  # the query is not part of the file
    if not target.startswith("/"):
        raise BadRequest(400, "the target does not start with /")
    try:
        path = urllib.parse.unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest(400, "the path is not UTF-8") from None
    segments = [segment for segment in path.split("/") if segment not in ("", ".")]
    if "\0" in path or ".." in segments:
        raise BadRequest(400, "the path tries to leave the docroot")
    full = os.path.realpath(os.path.join(docroot, *segments))
    if os.path.commonpath([full, docroot]) != docroot:
        raise BadRequest(400, "the path leads out of the docroot (a symlink)")
    if os.path.isdir(full):
        full = os.path.join(full, "index.html")
    if not os.path.isfile(full):
        raise BadRequest(404, f"no file {path}")
    return full


def send_response(conn, status, headers, body_file=None, body=b""):
    """The response: 响应行, 响应头, 空行, 响应体. Returns bytes sent."""
    lines = [f"HTTP/1.1 {status} {REASONS[status]}"] + [f"{k}: {v}" for k, v in headers]
    lab.narrate(f"  response line: {lines[0]}")
    for line in lines[1:]:
        lab.narrate(f"  header: {line}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    conn.sendall(head + body)
    sent = len(head) + len(body)
    if body_file is not None:
        sent += conn.sendfile(body_file)  # sendfile(2): the kernel copies the file
    lab.narrate(f"  body: {sent - len(head)} bytes")
    return sent


def serve_connection(conn, docroot, totals):
    head = ""
    try:
        head = read_head(conn)
        if head is None:
            lab.narrate(f"fd {conn.fileno()}: the client closed before a whole request")
            return
        totals["requests"] += 1
        method, target = parse_request(head)
        if method not in ("GET", "HEAD"):
            raise BadRequest(405, f"{method} is not served here")
        path = find_file(docroot, target)
        kind = TYPES.get(os.path.splitext(path)[1].lower(), "application/octet-stream")
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            headers = [("Content-Type", kind), ("Content-Length", size), ("Connection", "close")]
            lab.narrate(f"  {method} {target} -> {os.path.relpath(path, docroot)}, {size} bytes")
            totals["bytes"] += send_response(conn, 200, headers,
                                             file if method == "GET" else None)
    except BadRequest as refusal:
        lab.narrate(f"  {refusal.status}: {refusal}")
        body = (f"<!doctype html>\n<title>{refusal.status} {REASONS[refusal.status]}</title>\n"
                f"<h1>{refusal.status} {REASONS[refusal.status]}</h1>\n").encode()
        headers = [("Content-Type", "text/html; charset=utf-8"),
                   ("Content-Length", len(body)), ("Connection", "close")]
        if refusal.status == 405:
            headers.insert(0, ("Allow", "GET, HEAD"))
        try:
            totals["bytes"] += send_response(conn, refusal.status, headers,
                                             body=b"" if head.startswith("HEAD ") else body)
        except OSError as error:
            lab.warn(f"send() to fd {conn.fileno()} failed", error)
    except socket.timeout:
        lab.narrate(f"fd {conn.fileno()}: no whole request within {REQUEST_TIMEOUT} s; "
                    "closing it")
    except OSError as error:
        lab.warn(f"fd {conn.fileno()} failed; closing it", error)


def main():
    parser = lab.server_options(
        "A static-file HTTP/1.1 server, the twin of demos/mini_http.c.",
        DEFAULT_PORT, "also every recv() with its byte count")
    parser.add_argument("-r", dest="docroot", default=DEFAULT_ROOT, metavar="DOCROOT",
                        help="the folder to serve (default demos/www)")
    options = parser.parse_args()
    lab.start_narration(options.level)
    docroot = os.path.realpath(options.docroot)
    try:
        if not stat.S_ISDIR(os.stat(docroot).st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "")
    except OSError as error:
        lab.fatal(f"docroot {options.docroot}", error)
    lab.stop_by_exception()  # a blocking server: the handler raises, see lab.py

    listening = lab.listen_on(options.host, options.port, 64)
    lab.announce_listening(listening)
    lab.narrate(f"serving {docroot}")
    totals = {"clients": 0, "bytes": 0, "requests": 0}
    conn = None
    try:
        while True:
            try:
                conn, peer = listening.accept()
            except OSError as error:
                lab.warn("accept() failed", error)
                time.sleep(0.1)  # out of descriptors (EMFILE): pause, do not spin
                continue
            totals["clients"] += 1
            lab.narrate(f"accept() -> fd {conn.fileno()} from {lab.format_address(peer)}")
            conn.settimeout(REQUEST_TIMEOUT)
            serve_connection(conn, docroot, totals)
            conn.close()
            conn = None
    except lab.StopRequested:
        pass
    if conn is not None:
        conn.close()
    listening.close()
    lab.announce(f"summary: clients={totals['clients']} bytes={totals['bytes']} "
                 f"requests={totals['requests']}")


if __name__ == "__main__":
    main()
