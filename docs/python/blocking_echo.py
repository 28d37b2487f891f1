#!/usr/bin/env python3
"""blocking_echo.py - an iterative TCP echo server on blocking calls.

Shows:    blocking I/O (阻塞IO), the default of every Python socket:
          sock.accept() and conn.recv() put the whole program to sleep
          until something happens, so it serves one client at a time. A
          second client's connect still succeeds (the kernel finishes the
          handshake and queues it in the listen backlog), but nobody reads
          its data until the first client leaves.
Mirrors:  demos/blocking_echo.c: the same options, narration and contract.
Usage:    python3 docs/python/blocking_echo.py [-H ADDR] [-p PORT] [-q] [-v]
Try:      python3 docs/python/blocking_echo.py
          then in two more terminals:  build/tcp_client -p 9001
Observe:  type into both clients. Only the first gets its lines back; the
          second's come back all at once when the first presses Ctrl-D.
          `scripts/trace.sh --compare blocking_echo` shows accept4,
          recvfrom and sendto, the same calls as the C program makes.
"""

import time

import lab

DEFAULT_PORT = 9001
BACKLOG = 16


def echo_until_closed(conn, fd, totals):
    """Echo everything the client sends until it closes."""
    lab.narrate(f"recv() - blocks until fd {fd} sends data or closes")
    while True:
        lab.narrate_detail(f"recv(fd {fd}) - waiting")
        try:
            data = conn.recv(16384)
        except OSError as error:
            lab.warn(f"recv() on fd {fd} failed; closing it", error)
            return
        if not data:
            lab.narrate(f"recv(fd {fd}) -> 0: the client closed its side")
            return
        lab.narrate(f"recv(fd {fd}) -> {len(data)} bytes; sending them back")
        # sendall() loops over short writes, as write_all() does in C.
        try:
            conn.sendall(data)
        except OSError as error:
            lab.warn(f"write() to fd {fd} failed; closing it", error)
            return
        totals["bytes"] += len(data)
        totals["echoed"] += len(data)


def main():
    options = lab.server_options(
        "An iterative echo server on blocking sockets, the twin of demos/blocking_echo.c.",
        DEFAULT_PORT, "also every blocking call as it is entered"
    ).parse_args()
    lab.start_narration(options.level)
    # A blocking program: the handler raises StopRequested into whatever
    # call is blocked (accept, recv, sendall), see lab.py.
    lab.stop_by_exception()

    listening = lab.listen_on(options.host, options.port, BACKLOG)
    lab.announce_listening(listening)
    lab.narrate(f"fd {listening.fileno()} is the listening socket "
                f"(socket + bind + listen, backlog {BACKLOG})")

    totals = {"clients": 0, "bytes": 0, "echoed": 0}
    conn = None
    try:
        while True:
            lab.narrate("accept() - blocks until a client connects")
            try:
                conn, peer = listening.accept()
            except OSError as error:
                lab.warn("accept() failed", error)
                time.sleep(0.1)  # out of descriptors (EMFILE): pause, do not spin
                continue
            fd = conn.fileno()
            lab.narrate(f"accept() -> fd {fd} from {lab.format_address(peer)}")
            totals["clients"] += 1
            totals["echoed"] = 0
            echo_until_closed(conn, fd, totals)
            conn.close()
            conn = None
            lab.narrate(f"close(fd {fd}) after echoing {totals['echoed']} bytes; "
                        "the next client can be served")
    except lab.StopRequested:
        pass
    if conn is not None:
        conn.close()
    listening.close()
    lab.announce(f"summary: clients={totals['clients']} bytes={totals['bytes']}")


if __name__ == "__main__":
    main()
