#!/usr/bin/env python3
"""http_storm.py - hostile and heavy HTTP load for mini_http (make stress).

A test tool, not a demo: standard library only, loopback only, every part
bounded in count and time. One subcommand per storm; each prints one line
"ok NAME key=value ..." (exit 0) or "NAME failed: why" (exit 1).

  slowloris -p PORT [-n 500] [-s SECONDS]
      N connections each send a request head one byte every ~2 s and never
      finish it; meanwhile normal clients keep asking for / (one every
      50 ms). Every normal answer must be a 200 within 1 s.
  keepalive -p PORT [-n 1000] [-r 5]
      N keep-alive connections at once, R requests each, one after another
      on the same connection; every answer a complete 200.
  resets -p PORT [-n 200] [--path /big]
      N clients ask for a large file and reset (SO_LINGER 0) after the first
      bytes of the answer; the server must go on serving.
  pipeline -p PORT [-n 1000]
      N requests written at once on one connection; N answers back, in order.
"""
import argparse
import selectors
import socket
import struct
import sys
import time

HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def fail(name, why):
    print(f"{name} failed: {why}")
    sys.exit(1)


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_response(sock, buffer):
    """One response from sock (bytes already read in buffer): (status,
    length of body, rest of buffer). Raises on EOF or timeout."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed before a whole head")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed in the middle of a body")
        rest += chunk
    return status, length, rest[length:]


def one_get(port, deadline_s=1.0):
    started = time.monotonic()
    with connect(port) as sock:
        sock.settimeout(deadline_s)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        status, _, _ = read_response(sock, b"")
    return status, time.monotonic() - started


def slowloris(args):
    name = "slowloris"
    slow = []
    for _ in range(args.count):
        sock = connect(args.port)
        sock.setblocking(False)
        slow.append(sock)
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    sent = 0
    slowest = 0.0
    answered = 0
    ends = time.monotonic() + args.seconds
    next_byte = time.monotonic()
    while time.monotonic() < ends:
        if time.monotonic() >= next_byte and sent < len(request):
            for sock in slow:
                try:
                    sock.send(request[sent:sent + 1])
                except OSError:
                    pass  # the server may have timed it out: that is allowed
            sent += 1
            next_byte = time.monotonic() + 2.0
        try:
            status, took = one_get(args.port)
        except (OSError, EOFError) as error:
            fail(name, f"a normal client got no answer within 1 s beside {args.count} slow "
                       f"ones: {error!r}")
        if status != 200:
            fail(name, f"a normal client got status {status}")
        slowest = max(slowest, took)
        answered += 1
        time.sleep(0.05)
    for sock in slow:
        sock.close()
    print(f"ok {name} slow={args.count} answered={answered} slowest_ms={slowest * 1000:.0f}")


def keepalive(args):
    name = "keepalive"
    sel = selectors.DefaultSelector()
    clients = []
    for i in range(args.count):
        sock = connect(args.port)
        sock.setblocking(False)
        state = {"sock": sock, "left": args.requests, "buffer": b"", "done": 0}
        clients.append(state)
        sel.register(sock, selectors.EVENT_READ, state)
        sock.send(HEAD)
    deadline = time.monotonic() + 60
    finished = 0
    while finished < len(clients):
        if time.monotonic() > deadline:
            fail(name, f"timeout: {len(clients) - finished} of {len(clients)} unfinished")
        for key, _ in sel.select(timeout=1):
            state = key.data
            try:
                chunk = state["sock"].recv(65536)
            except BlockingIOError:
                continue
            if not chunk:
                fail(name, f"a keep-alive connection was closed after {state['done']} answers")
            state["buffer"] += chunk
            while b"\r\n\r\n" in state["buffer"]:
                head, _, rest = state["buffer"].partition(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    fail(name, f"answer {head.splitlines()[0]!r}")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    key_name, _, value = line.partition(b":")
                    if key_name.strip().lower() == b"content-length":
                        length = int(value)
                if len(rest) < length:
                    break
                state["buffer"] = rest[length:]
                state["done"] += 1
                state["left"] -= 1
                if state["left"] == 0:
                    sel.unregister(state["sock"])
                    state["sock"].close()
                    finished += 1
                    break
                state["sock"].send(HEAD)
    print(f"ok {name} clients={args.count} requests={args.count * args.requests}")


def resets(args):
    name = "resets"
    for _ in range(args.count):
        with connect(args.port) as sock:
            sock.sendall(f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            first = sock.recv(4096)
            if not first.startswith(b"HTTP/1.1 200"):
                fail(name, f"{args.path} answered {first[:40]!r}")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    status, took = one_get(args.port, 5.0)
    if status != 200:
        fail(name, f"after the resets, / answered {status}")
    print(f"ok {name} resets={args.count} then_ms={took * 1000:.0f}")


def pipeline(args):
    name = "pipeline"
    with connect(args.port) as sock:
        sock.settimeout(30)
        sock.sendall(HEAD * args.count)
        buffer = b""
        for i in range(args.count):
            try:
                status, _, buffer = read_response(sock, buffer)
            except (OSError, EOFError) as error:
                fail(name, f"answer {i + 1} of {args.count}: {error!r}")
            if status != 200:
                fail(name, f"answer {i + 1} had status {status}")
    print(f"ok {name} requests={args.count}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("storm", choices=["slowloris", "keepalive", "resets", "pipeline"])
    parser.add_argument("-p", dest="port", type=int, required=True)
    parser.add_argument("-n", dest="count", type=int)
    parser.add_argument("-r", dest="requests", type=int, default=5)
    parser.add_argument("-s", dest="seconds", type=float, default=8)
    parser.add_argument("--path", default="/big")
    args = parser.parse_args()
    defaults = {"slowloris": 500, "keepalive": 1000, "resets": 200, "pipeline": 1000}
    if args.count is None:
        args.count = defaults[args.storm]
    {"slowloris": slowloris, "keepalive": keepalive, "resets": resets,
     "pipeline": pipeline}[args.storm](args)


if __name__ == "__main__":
    main()
