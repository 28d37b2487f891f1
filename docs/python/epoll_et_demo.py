#!/usr/bin/env python3
"""epoll_et_demo.py - level-triggered vs edge-triggered select.epoll().

Shows:    the notes' two trigger modes. Level-triggered (水平触发, the
          default) keeps reminding you while data waits unread.
          Edge-triggered (边缘触发, ep.register(fd, EPOLLIN | EPOLLET))
          reminds you once when data arrives; leave some unread and it says
          nothing more until the next new event, and then you find the old
          bytes first.
          Experiment mode (the default) needs no network: one send() of
          BYTES into a socketpair, then ep.poll(0.2) on the other end and
          one recv(CHUNK) per wakeup, until 200 ms pass with no wakeup
          (phase 1); then 5 more bytes, a new event (phase 2).
            lt        one recv per wakeup; epoll keeps waking it: all read
            et        one recv per wakeup; one wakeup only: the rest is stuck
            et-drain  recv until BlockingIOError (EAGAIN) on every wakeup:
                      the right way to use edge-triggering
          Server mode (--serve) is an echo server with the same reading
          rule, so a client can watch an edge-triggered server fall behind.
Mirrors:  demos/epoll_et_demo.c: the same options and the same phase
          lines, so the two can be compared line for line.
Usage:    python3 docs/python/epoll_et_demo.py [--mode lt|et|et-drain]
              [-n BYTES] [-c CHUNK] [-q] [-v]
          python3 docs/python/epoll_et_demo.py --serve [-H ADDR] [-p PORT]
              [--mode lt|et|et-drain] [-c CHUNK] [-q] [-v]
Try:      python3 docs/python/epoll_et_demo.py --mode et
          python3 docs/python/epoll_et_demo.py --serve --mode et -c 4
          then in another terminal:  build/tcp_client -p 9006
Observe:  lt wakes 5 times for 20 bytes read 4 at a time; et wakes once,
          reads "abcd" and leaves 16 bytes unread. In phase 2 the new bytes
          wake et once more, and the recv returns "efgh": the oldest stuck
          bytes. `scripts/trace.sh --compare epoll_et_demo --mode et`
          shows one epoll_wait that returns 1, then only timeouts.
"""

import argparse
import array
import fcntl
import select
import socket
import termios

import lab

DEFAULT_PORT = 9006
QUIET_PERIOD = 0.2  # seconds: a phase ends after this long without a wakeup
PHASE_TWO_TEXT = b"12345"  # the new event of phase 2: unlike the letters
PENDING_CAPACITY = 65536  # echo a client may leave unread (server mode)
DRAIN_READS_PER_TURN = 64  # et-drain fairness cap
TRIGGER = {"lt": "level-triggered (水平触发)", "et": "edge-triggered (边缘触发)",
           "et-drain": "edge-triggered (边缘触发)"}
EVENT_NAMES = [(select.EPOLLIN, "EPOLLIN"), (select.EPOLLOUT, "EPOLLOUT"),
               (select.EPOLLERR, "EPOLLERR"), (select.EPOLLHUP, "EPOLLHUP"),
               (select.EPOLLRDHUP, "EPOLLRDHUP"), (select.EPOLLET, "EPOLLET")]


def describe(mask):
    return "|".join(name for bit, name in EVENT_NAMES if mask & bit) or "none"


def quote(data, limit=40):
    """The bytes as a student can read them: '"abcd"', at most 40 then '...'."""
    text = "".join("\\n" if b == 10 else "\\" + chr(b) if b in b'"\\'
                   else chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in data[:limit])
    return f'"{text}"' + ("..." if len(data) > limit else "")


def bytes_unit(count):
    return "byte" if count == 1 else "bytes"


def queued_bytes(sock):
    """How many bytes the kernel still holds in the receive queue."""
    count = array.array("i", [0])
    fcntl.ioctl(sock, termios.FIONREAD, count)
    return count[0]


# ---- Experiment mode -----------------------------------------------------


def run_experiment(mode, size, chunk):
    # A socketpair, not TCP: TCP may split one send into segments that
    # arrive (and wake epoll) at different times.
    writer, reader = socket.socketpair()
    lab.narrate(f"socketpair(AF_UNIX, SOCK_STREAM) -> fd {writer.fileno()} (writer) "
                f"and fd {reader.fileno()} (reader)")
    # Non-blocking in every mode: et-drain needs it (its last recv finds
    # the queue empty and must not sleep there), and the same socket in
    # all three modes makes the mode the only difference.
    reader.setblocking(False)
    writer.setblocking(False)
    lab.narrate(f"setblocking(False) on fd {reader.fileno()}: an empty recv raises "
                "BlockingIOError (EAGAIN) instead of sleeping")
    # Room for both phases in one send.
    wanted = 4 * (size + len(PHASE_TWO_TEXT)) + 65536
    if writer.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) < wanted:
        writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, wanted)

    ep = select.epoll()
    events = select.EPOLLIN | (0 if mode == "lt" else select.EPOLLET)
    ep.register(reader, events)
    lab.narrate(f"select.epoll() -> fd {ep.fileno()}; ep.register(fd {reader.fileno()}, "
                f"{describe(events)}): {TRIGGER[mode]}")

    totals = {"written": 0, "read": 0}
    letters = bytes(ord("a") + i % 26 for i in range(size))  # the order shows
    phase, counts = 1, {"wakeups": 0, "read": 0}
    try:
        lab.narrate(f"-- phase 1: send {size} bytes at once, then wait; after each wakeup "
                    + ("recv until EAGAIN" if mode == "et-drain" else "recv once"))
        send_phase_data(writer, letters, totals)
        run_phase(ep, reader, mode, chunk, counts, totals)
        announce_phase(reader, 1, mode, size, chunk, counts, totals)
        phase, counts = 2, {"wakeups": 0, "read": 0}
        lab.narrate(f"-- phase 2: send {len(PHASE_TWO_TEXT)} new bytes (a new event), "
                    "then wait the same way")
        send_phase_data(writer, PHASE_TWO_TEXT, totals)
        run_phase(ep, reader, mode, chunk, counts, totals)
        announce_phase(reader, 2, mode, len(PHASE_TWO_TEXT), chunk, counts, totals)
    except lab.StopRequested:  # SIGINT/SIGTERM: say where it stopped, exit 0
        lab.announce(f"summary: interrupted phase={phase} wakeups={counts['wakeups']} "
                     f"read={counts['read']} left={totals['written'] - totals['read']}")
    ep.close()
    reader.close()
    writer.close()


def send_phase_data(writer, data, totals):
    sent = writer.send(data)
    lab.narrate(f"send(fd {writer.fileno()}, {len(data)}) -> {sent} bytes {quote(data[:sent])}")
    if sent != len(data):
        lab.fatal(f"send(fd {writer.fileno()}) took only {sent} of {len(data)} bytes: "
                  "the socket buffer is too small for the experiment")
    totals["written"] += sent


def read_chunk(reader, chunk, counts, totals):
    """One recv() of at most CHUNK bytes; returns the bytes, or None when
    the queue is empty (EAGAIN)."""
    fd = reader.fileno()
    try:
        data = reader.recv(chunk)
    except BlockingIOError:
        lab.narrate(f"recv(fd {fd}, {chunk}) -> BlockingIOError EAGAIN (the queue is empty: "
                    "drained)")
        return None
    lab.narrate(f"recv(fd {fd}, {chunk}) -> {len(data)} {bytes_unit(len(data))} {quote(data)}")
    counts["read"] += len(data)
    totals["read"] += len(data)
    lab.narrate_detail(f"ioctl(fd {fd}, FIONREAD) -> {queued_bytes(reader)} bytes still queued")
    return data


def run_phase(ep, reader, mode, chunk, counts, totals):
    """Wait, and read by the mode's rule after each wakeup, until
    QUIET_PERIOD passes without one."""
    while True:
        lab.narrate_detail(f"ep.poll({QUIET_PERIOD}) - waiting")
        events = ep.poll(QUIET_PERIOD, 1)  # epoll_wait(epfd, events, 1, 200)
        if not events:
            lab.narrate(f"epoll_wait() -> 0 (nothing new for {int(QUIET_PERIOD * 1000)} ms)")
            return
        counts["wakeups"] += 1
        fileno, event = events[0]
        lab.narrate(f"epoll_wait() -> 1 ready: fd {fileno} {describe(event)}")
        if mode == "et-drain":
            # Drain to EAGAIN: the only way to be sure no byte is left that
            # edge-triggering will never mention again.
            while read_chunk(reader, chunk, counts, totals):
                pass
        elif read_chunk(reader, chunk, counts, totals) == b"":
            return  # end of stream: nothing more can come


def announce_phase(reader, phase, mode, sent, chunk, counts, totals):
    left = totals["written"] - totals["read"]  # counted, not predicted
    lab.announce(f"phase={phase} mode={mode} sent={sent} chunk={chunk} "
                 f"wakeups={counts['wakeups']} read={counts['read']} left={left}")
    lab.narrate_detail(f"ioctl(fd {reader.fileno()}, FIONREAD) -> {queued_bytes(reader)} bytes "
                       f"queued in the kernel (left={left})")


# ---- Server mode ---------------------------------------------------------


class Client:
    def __init__(self, sock, peer):
        self.sock, self.fd, self.peer = sock, sock.fileno(), peer
        self.pending = bytearray()  # echo not yet sent, at most PENDING_CAPACITY
        self.input_closed = False
        self.input_ready = False  # et-drain: told readable, EAGAIN not yet seen
        self.echoed = 0
        self.watched = 0


def wanted_events(mode, client):
    events = 0
    if not client.input_closed and (mode != "lt" or len(client.pending) < PENDING_CAPACITY):
        events |= select.EPOLLIN
    if client.pending:
        events |= select.EPOLLOUT
    if mode != "lt":
        events |= select.EPOLLET
    return events


def flush_pending(client, totals):
    """Send pending output until all is out or the socket is full. Writing
    is drained properly in every mode: the lesson is about reading.
    Returns False if the client failed."""
    while client.pending:
        try:
            sent = client.sock.send(client.pending)
        except BlockingIOError:
            lab.narrate(f"send(fd {client.fd}, {len(client.pending)}) -> EAGAIN: its socket "
                        f"is full; {len(client.pending)} bytes wait for EPOLLOUT")
            return True
        except OSError as error:
            lab.warn(f"send(fd {client.fd}) failed; closing it", error)
            return False
        lab.narrate(f"send(fd {client.fd}, {len(client.pending)}) -> {sent} "
                    f"{bytes_unit(sent)} echoed")
        del client.pending[:sent]
        client.echoed += sent
        totals["bytes"] += sent
    return True


def read_once(client, chunk):
    """One recv() of at most CHUNK bytes into pending: 'data', 'again',
    'end', 'no room' or 'failed'."""
    room = PENDING_CAPACITY - len(client.pending)
    if room == 0:
        lab.narrate(f"fd {client.fd}: {PENDING_CAPACITY} bytes of echo wait unsent; "
                    "not reading until it drains")
        return "no room"
    wanted = min(chunk, room)
    try:
        data = client.sock.recv(wanted)
    except BlockingIOError:
        lab.narrate(f"recv(fd {client.fd}, {wanted}) -> EAGAIN (drained)")
        return "again"
    except OSError as error:
        lab.warn(f"recv(fd {client.fd}) failed; closing it", error)
        return "failed"
    if not data:
        lab.narrate(f"recv(fd {client.fd}, {wanted}) -> 0: the client closed its side")
        client.input_closed = True
        return "end"
    lab.narrate(f"recv(fd {client.fd}, {wanted}) -> {len(data)} {bytes_unit(len(data))} "
                f"{quote(data)}")
    client.pending += data
    return "data"


def drain_turn(client, chunk, totals):
    """et-drain: recv until EAGAIN, at most DRAIN_READS_PER_TURN times, so
    one fast sender cannot starve the others. False if the client failed."""
    for _ in range(DRAIN_READS_PER_TURN):
        result = read_once(client, chunk)
        if result == "data":
            if not flush_pending(client, totals):
                return False
            continue
        if result in ("again", "end"):
            client.input_ready = False
        return result != "failed"
    lab.narrate(f"fd {client.fd}: {DRAIN_READS_PER_TURN} reads this turn and still no EAGAIN; "
                "the rest waits for its next turn (fairness cap)")
    return True


def close_client(ep, clients, client, reason):
    if reason == "finished":
        lab.narrate(f"close(fd {client.fd}): the client closed, and all {client.echoed} bytes "
                    "it sent were echoed")
    elif reason == "error":
        lab.narrate(f"close(fd {client.fd}) after an error; {client.echoed} bytes echoed")
    else:
        unread = 0 if client.input_closed else queued_bytes(client.sock)
        if unread:  # the kernel answers a close() with unread input by a reset
            lab.narrate(f"close(fd {client.fd}) at shutdown; {client.echoed} bytes echoed; "
                        f"{unread} bytes it sent were never read (so the client gets a "
                        "reset, not an EOF)")
        else:
            lab.narrate(f"close(fd {client.fd}) at shutdown; {client.echoed} bytes echoed")
    ep.unregister(client.fd)
    del clients[client.fd]
    client.sock.close()


def settle(ep, clients, client, mode, ok):
    """After reading or writing: close the client if finished, else make
    sure epoll watches what it now needs."""
    if not ok:
        close_client(ep, clients, client, "error")
    elif client.input_closed and not client.pending:
        close_client(ep, clients, client, "finished")
    else:
        wanted = wanted_events(mode, client)
        if wanted != client.watched:
            # In the et modes, ep.modify() re-arms the edge: if input is
            # still queued, the next ep.poll() reports it once more.
            ep.modify(client.fd, wanted)
            lab.narrate_detail(f"epoll_ctl(EPOLL_CTL_MOD, fd {client.fd}, {describe(wanted)})")
            client.watched = wanted


def serve_client_event(ep, clients, client, event, mode, chunk, totals):
    if event & select.EPOLLERR:
        error = client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        lab.warn(f"fd {client.fd} reported EPOLLERR; closing it", OSError(error, ""))
        close_client(ep, clients, client, "error")
        return
    ok = True
    if event & select.EPOLLOUT:
        ok = flush_pending(client, totals)
    if ok and event & (select.EPOLLIN | select.EPOLLHUP) and not client.input_closed:
        if mode == "et-drain":
            client.input_ready = True  # read in the loop's drain turns
        else:
            # lt and et: exactly one recv per wakeup.
            result = read_once(client, chunk)
            ok = result != "failed" and (result != "data" or flush_pending(client, totals))
            if ok and mode == "et" and not client.input_closed:
                unread = queued_bytes(client.sock)
                if unread:
                    lab.narrate(f"ioctl(fd {client.fd}, FIONREAD) -> {unread} bytes still "
                                "unread; edge-triggered: no reminder until the next new event")
    settle(ep, clients, client, mode, ok)


def run_server(mode, chunk, host, port):
    wakeup = lab.open_stop_wakeup()  # SIGINT/SIGTERM make it readable
    listening = lab.listen_on(host, port, 64)
    lab.announce_listening(listening)
    listening.setblocking(False)
    ep = select.epoll()
    # The listening socket stays level-triggered in every mode: the
    # trigger mode applies to the clients.
    ep.register(listening, select.EPOLLIN)
    ep.register(wakeup, select.EPOLLIN)
    lab.narrate(f"fd {listening.fileno()} is the listening socket; epoll fd {ep.fileno()}; "
                f"clients are {TRIGGER[mode]}, "
                + ("read until EAGAIN on every wakeup" if mode == "et-drain"
                   else "read once per wakeup"))
    clients = {}  # {fileno: client}
    totals = {"clients": 0, "bytes": 0}

    while not lab.stop_requested:
        # Wait without limit, unless an et-drain client is owed a turn.
        owed = any(c.input_ready and len(c.pending) < PENDING_CAPACITY for c in clients.values())
        events = ep.poll(0 if owed else -1)
        if events:
            lab.narrate(f"epoll_wait() -> {len(events)} ready: "
                        + ", ".join(f"fd {fileno} {describe(event)}" for fileno, event in events))
        for fileno, event in events:
            if lab.stop_requested:
                break
            if fileno == wakeup.fileno():
                lab.take_stop_signal(wakeup)
            elif fileno == listening.fileno():
                accept_client(ep, listening, clients, mode, totals)
            elif fileno in clients:
                serve_client_event(ep, clients, clients[fileno], event, mode, chunk, totals)
        if mode == "et-drain" and not lab.stop_requested:
            for client in list(clients.values()):
                if client.input_ready and len(client.pending) < PENDING_CAPACITY:
                    settle(ep, clients, client, mode, drain_turn(client, chunk, totals))

    for client in list(clients.values()):
        close_client(ep, clients, client, "shutdown")
    ep.close()
    listening.close()
    lab.announce(f"summary: clients={totals['clients']} bytes={totals['bytes']}")


def accept_client(ep, listening, clients, mode, totals):
    try:
        sock, peer = listening.accept()
    except BlockingIOError:
        return  # gone before we got to it
    except OSError as error:
        lab.warn("accept() failed", error)
        return
    sock.setblocking(False)
    client = Client(sock, lab.format_address(peer))
    client.watched = wanted_events(mode, client)
    ep.register(sock, client.watched)
    clients[client.fd] = client
    totals["clients"] += 1
    lab.narrate(f"accept() -> fd {client.fd} from {client.peer}; "
                f"epoll_ctl(EPOLL_CTL_ADD, fd {client.fd}, {describe(client.watched)})")


# ---- Command line --------------------------------------------------------


def size(text):
    if not text.isdigit() or not 1 <= int(text) <= 65536:
        raise argparse.ArgumentTypeError(f"bad size '{text}': expected a whole number "
                                         "from 1 to 65536")
    return int(text)


def main():
    parser = argparse.ArgumentParser(
        prog=lab.PROGRAM, allow_abbrev=False,
        description="Level- vs edge-triggered epoll, the twin of demos/epoll_et_demo.c.")
    parser.add_argument("--mode", choices=["lt", "et", "et-drain"], default="lt",
                        help="lt: level-triggered (default); et: edge-triggered, one recv "
                        "per wakeup; et-drain: edge-triggered, recv until EAGAIN")
    parser.add_argument("-n", dest="bytes", type=size, metavar="BYTES",
                        help="experiment: bytes sent before the first wait (default 20)")
    parser.add_argument("-c", dest="chunk", type=size, default=4, metavar="CHUNK",
                        help="bytes asked for in each recv() (default 4)")
    parser.add_argument("--serve", action="store_true",
                        help="be an echo server with the same reading rule instead")
    parser.add_argument("-H", dest="host", type=lab.numeric_host, metavar="ADDR",
                        help="server: address to listen on (default 127.0.0.1)")
    parser.add_argument("-p", dest="port", type=lab.port_number, metavar="PORT",
                        help=f"server: port to listen on (default {DEFAULT_PORT}; 0 = any)")
    parser.add_argument("-q", dest="level", action="store_const", const=lab.QUIET,
                        default=lab.NORMAL, help="quiet: only the summary lines "
                        "(and a server's listening line, errors)")
    parser.add_argument("-v", dest="level", action="store_const", const=lab.VERBOSE,
                        help="verbose: also each wait and the kernel's queue length")
    options = parser.parse_args()
    if options.serve and options.bytes is not None:
        parser.error("-n BYTES is for the experiment, not --serve")
    if not options.serve and (options.host is not None or options.port is not None):
        parser.error("-H and -p need --serve (the experiment is not a server)")

    lab.start_narration(options.level)
    if options.serve:
        run_server(options.mode, options.chunk, options.host or "127.0.0.1",
                   DEFAULT_PORT if options.port is None else options.port)
    else:
        lab.stop_by_exception()  # one loop, no clients: the handler raises
        run_experiment(options.mode, options.bytes or 20, options.chunk)


if __name__ == "__main__":
    main()
