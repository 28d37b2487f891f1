#!/usr/bin/env python3
"""nonblock_timeout.py - an echo server that never waits blindly: either it
never blocks (setblocking(False)), or it blocks with a deadline
(settimeout()).

Shows:    the notes' 非阻塞IO and 超时检测.
          --mode nonblock: sock.setblocking(False) on every socket, so
          accept() and recv() raise BlockingIOError (EAGAIN) at once when
          nothing is there. The program keeps asking; when a whole round
          found nothing it does "other work" (says so and sleeps -i ms).
          --mode timeout: sock.settimeout(SECONDS), so accept() and recv()
          raise socket.timeout after -t seconds of nothing; it notes the
          timeout and waits again (or stops after -n of them).
Mirrors:  demos/nonblock_timeout.c, with one difference the strace view
          makes plain. The C demo's timeout is SO_RCVTIMEO: a blocking
          accept4() or recvfrom() that the kernel gives up on. Python's
          settimeout() never sets SO_RCVTIMEO: it makes the socket
          non-blocking and waits in poll() with the deadline before each
          call. So it covers send too, where SO_RCVTIMEO covers receives
          only: a client that stops reading its echo for -t seconds is
          dropped here, and waited for in C.
Usage:    python3 docs/python/nonblock_timeout.py [--mode nonblock|timeout]
              [-i MS] [-t SECONDS] [-n COUNT] [-H ADDR] [-p PORT] [-q] [-v]
Try:      python3 docs/python/nonblock_timeout.py
          then in another terminal:  build/tcp_client -p 9002
          and later:  python3 docs/python/nonblock_timeout.py --mode timeout -t 3 -n 5
Observe:  in nonblock mode a "tick" line per idle round, yet whatever you
          type still comes back (up to -i ms late). In timeout mode a
          "timed out after 3 seconds" line every 3 seconds of silence.
          `scripts/trace.sh --compare nonblock_timeout --mode timeout -t 0.5 -n 2`
          shows poll() before each accept4 on the Python side only.
"""

import argparse
import socket
import time

import lab

DEFAULT_PORT = 9002
BACKLOG = 16
BUFFER_SIZE = 16384
MAX_CLIENTS = 64


class Totals:
    def __init__(self):
        self.clients = self.bytes = self.ticks = self.timeouts = 0


# ---- Non-blocking mode ---------------------------------------------------


class Client:
    """Bytes received wait in pending until send() has taken them all;
    while any wait, we do not recv() more, so a client that sends much and
    reads little costs at most BUFFER_SIZE."""

    def __init__(self, sock):
        self.sock = sock
        self.fd = sock.fileno()
        self.pending = b""
        self.echoed = 0


def try_accept(listening, clients, totals, report):
    """One accept() try. Returns True if something happened."""
    if len(clients) >= MAX_CLIENTS:
        report.append(f"all {MAX_CLIENTS} client slots busy, accept() not called")
        return False
    try:
        sock, peer = listening.accept()
    except BlockingIOError:
        report.append("accept() -> EAGAIN (no client waiting)")
        return False
    except OSError as error:
        lab.warn("accept() failed", error)  # EMFILE...: the round's sleep paces retries
        return False
    sock.setblocking(False)
    lab.narrate(f"accept() -> fd {sock.fileno()} from {lab.format_address(peer)} "
                "(setblocking(False): its recv() will not wait either)")
    clients.append(Client(sock))
    totals.clients += 1
    return True


def try_client(client, clients, totals, report):
    """One send() or one recv() try. Returns True if something happened."""
    fd = client.fd
    if client.pending:
        try:
            sent = client.sock.send(client.pending)
        except BlockingIOError:
            report.append(f"send(fd {fd}) -> EAGAIN ({len(client.pending)} bytes kept)")
            return False
        except OSError as error:
            lab.warn(f"send() to fd {fd} failed; closing it", error)
            close_client(client, clients)
            return True
        waiting = len(client.pending)
        client.pending = client.pending[sent:]
        client.echoed += sent
        totals.bytes += sent
        if client.pending:
            lab.narrate(f"send(fd {fd}) -> {sent} of {waiting} bytes; "
                        "the rest waits for a later round")
        else:
            lab.narrate_detail(f"send(fd {fd}) -> {sent} bytes, all of them")
        return True
    try:
        data = client.sock.recv(BUFFER_SIZE)
    except BlockingIOError:
        report.append(f"recv(fd {fd}) -> EAGAIN (no data yet)")
        return False
    except OSError as error:
        lab.warn(f"recv() on fd {fd} failed; closing it", error)
        close_client(client, clients)
        return True
    if not data:
        lab.narrate(f"recv(fd {fd}) -> 0: the client closed; close(fd {fd}) "
                    f"after echoing {client.echoed} bytes")
        close_client(client, clients)
        return True
    lab.narrate(f"recv(fd {fd}) -> {len(data)} bytes; sending them back")
    client.pending = data
    return True


def close_client(client, clients):
    client.sock.close()
    clients.remove(client)


def serve_nonblocking(listening, interval_ms, tick_limit, totals, clients):
    listening.setblocking(False)
    lab.narrate(f"sock.setblocking(False) on fd {listening.fileno()} - C: fcntl(F_SETFL, "
                "O_NONBLOCK); accept() will never wait")
    # A round with progress is followed at once by another; only a round
    # where everything said EAGAIN is followed by other work.
    while True:
        report = []
        progress = try_accept(listening, clients, totals, report)
        for client in list(clients):
            progress |= try_client(client, clients, totals, report)
        if progress:
            if report:
                lab.narrate_detail(f"busy round, but also: {'; '.join(report)}")
            continue
        totals.ticks += 1
        lab.narrate(f"tick {totals.ticks}: {'; '.join(report) or 'nothing ready'}")
        if tick_limit and totals.ticks >= tick_limit:
            lab.narrate(f"-n {tick_limit}: that was the last tick; stopping")
            return
        lab.narrate(f"doing other work (tick {totals.ticks}) for {interval_ms} ms "
                    "while nothing is ready")
        time.sleep(interval_ms / 1000)  # a signal cuts it short (StopRequested)


# ---- Timeout mode --------------------------------------------------------


def note_timeout(totals, timeout_limit, call, seconds_text):
    """Count one timeout. True when -n says it was the last one."""
    totals.timeouts += 1
    if timeout_limit and totals.timeouts >= timeout_limit:
        lab.narrate(f"{call} timed out after {seconds_text} (socket.timeout); that is "
                    f"timeout {totals.timeouts} of {timeout_limit}: stopping")
        return True
    lab.narrate(f"{call} timed out after {seconds_text} (socket.timeout); waiting again")
    return False


def echo_with_timeouts(conn, timeout_limit, seconds_text, totals):
    """Echo one client until it closes. True if -n was reached meanwhile."""
    fd = conn.fileno()
    echoed = 0
    try:
        while True:
            lab.narrate_detail(f"recv(fd {fd}) - waits at most {seconds_text}")
            try:
                data = conn.recv(BUFFER_SIZE)
            except socket.timeout:  # the notes' name; TimeoutError since Python 3.10
                if note_timeout(totals, timeout_limit, f"recv(fd {fd})", seconds_text):
                    return True
                continue
            if not data:
                lab.narrate(f"recv(fd {fd}) -> 0: the client closed")
                return False
            lab.narrate(f"recv(fd {fd}) -> {len(data)} bytes; sending them back")
            conn.sendall(data)  # also bounded by the timeout, unlike in C
            echoed += len(data)
            totals.bytes += len(data)
    except OSError as error:  # socket.timeout from sendall() included
        lab.warn(f"echo to fd {fd} failed; closing it", error)
        return False
    finally:
        conn.close()
        lab.narrate(f"close(fd {fd}) after echoing {echoed} bytes")


def serve_with_timeouts(listening, seconds, timeout_limit, totals, clients):
    seconds_text = f"{seconds:g} second{'' if seconds == 1 else 's'}"
    listening.settimeout(seconds)
    lab.narrate(f"sock.settimeout({seconds:g}) on fd {listening.fileno()} - Python makes it "
                "non-blocking and waits in poll() with that deadline before each call")
    while True:
        lab.narrate(f"accept() - waits at most {seconds_text}")
        try:
            conn, peer = listening.accept()
        except socket.timeout:
            if note_timeout(totals, timeout_limit, "accept()", seconds_text):
                return
            continue
        except OSError as error:
            lab.warn("accept() failed", error)
            time.sleep(0.1)  # out of descriptors (EMFILE): pause, do not spin
            continue
        lab.narrate(f"accept() -> fd {conn.fileno()} from {lab.format_address(peer)}")
        totals.clients += 1
        conn.settimeout(seconds)
        lab.narrate(f"sock.settimeout({seconds:g}) on fd {conn.fileno()}: recv() and send() "
                    "wait at most that long")
        clients.append(Client(conn))  # so that a stop closes it too
        limit_reached = echo_with_timeouts(conn, timeout_limit, seconds_text, totals)
        clients.pop()
        if limit_reached:
            return


# ---- main ----------------------------------------------------------------


def bounded(kind, minimum, maximum, what):
    def check(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"bad value '{text}': expected {what}")
        return value
    return check


def main():
    parser = lab.server_options(
        "An echo server on non-blocking sockets or with timeouts, the twin of "
        "demos/nonblock_timeout.c.", DEFAULT_PORT,
        "also every complete send and, in busy rounds, what said EAGAIN")
    parser.add_argument("--mode", choices=["nonblock", "timeout"], default="nonblock",
                        help="nonblock (default): setblocking(False); "
                        "timeout: settimeout(-t SECONDS)")
    parser.add_argument("-i", dest="interval", metavar="MS",
                        type=bounded(int, 1, 60000, "milliseconds from 1 to 60000"),
                        help="nonblock: milliseconds of other work when nothing is ready "
                        "(default 1000)")
    parser.add_argument("-t", dest="seconds", metavar="SECONDS",
                        type=bounded(float, 0.001, 3600, "seconds from 0.001 to 3600"),
                        help="timeout: the timeout, e.g. 3 or 0.5 (default 3)")
    parser.add_argument("-n", dest="count", metavar="COUNT", default=0,
                        type=bounded(int, 1, 1000000, "a count from 1 to 1000000"),
                        help="stop after COUNT timeouts, or COUNT ticks of other work")
    options = parser.parse_args()
    if options.mode == "timeout" and options.interval is not None:
        parser.error("-i is for --mode nonblock (timeout mode waits in the kernel)")
    if options.mode == "nonblock" and options.seconds is not None:
        parser.error("-t is for --mode timeout (nonblock mode never waits)")

    lab.start_narration(options.level)
    lab.stop_by_exception()  # the handler raises StopRequested, see lab.py

    listening = lab.listen_on(options.host, options.port, BACKLOG)
    lab.announce_listening(listening)
    lab.narrate(f"fd {listening.fileno()} is the listening socket "
                f"(socket + bind + listen, backlog {BACKLOG})")

    totals = Totals()
    clients = []
    try:
        if options.mode == "timeout":
            serve_with_timeouts(listening, options.seconds or 3, options.count, totals, clients)
        else:
            serve_nonblocking(listening, options.interval or 1000, options.count, totals, clients)
    except lab.StopRequested:
        pass
    for client in clients:
        client.sock.close()
    listening.close()
    if options.mode == "timeout":
        lab.announce(f"summary: clients={totals.clients} bytes={totals.bytes} "
                     f"timeouts={totals.timeouts}")
    else:
        lab.announce(f"summary: clients={totals.clients} bytes={totals.bytes} "
                     f"ticks={totals.ticks}")


if __name__ == "__main__":
    main()
