#!/usr/bin/env python3
"""poll_server.py - one thread serves many echo clients with select.poll().

Shows:    the notes' poll method, and the five steps of a poll server
          (poll_server步骤) marked in main(): p = select.poll(),
          p.register(fd, POLLIN | POLLERR), p.modify(), p.unregister(fd),
          events = p.poll() -> [(fileno, event), ...], and the
          {fileno: obj} dictionary that turns a fileno back into its client.
Mirrors:  demos/poll_server.c: the same options, narration and contract.
Usage:    python3 docs/python/poll_server.py [-H ADDR] [-p PORT] [-q] [-v]
Try:      python3 docs/python/poll_server.py -v
          then in two more terminals:  build/tcp_client -p 9004
Observe:  both clients are echoed at once, by one thread. With -v every
          wakeup prints the list p.poll() returned, e.g.
          "poll() -> 1 ready: fd 5 POLLIN". `scripts/trace.sh --compare
          poll_server` shows that p.poll() is the poll() system call,
          with the same accept4/recvfrom/sendto around it as in C.
"""

import select

import echo
import lab

DEFAULT_PORT = 9004
BACKLOG = 1024
WORDS = ("POLLIN off", "POLLOUT on")
EVENT_NAMES = [(select.POLLIN, "POLLIN"), (select.POLLPRI, "POLLPRI"),
               (select.POLLOUT, "POLLOUT"), (select.POLLERR, "POLLERR"),
               (select.POLLHUP, "POLLHUP"), (select.POLLNVAL, "POLLNVAL")]


def describe(mask):
    """'POLLIN|POLLHUP': the names of the bits set in an event mask."""
    return "|".join(name for bit, name in EVENT_NAMES if mask & bit) or "none"


def interest(client):
    """POLLIN while the client may send and its buffer has room; POLLOUT
    only while echo waits. POLLERR and POLLHUP come back whether asked for
    or not; they are written here as in the notes."""
    events = select.POLLERR | select.POLLHUP
    if client.wants_read():
        events |= select.POLLIN
    if client.wants_write():
        events |= select.POLLOUT
    return events


def main():
    options = lab.server_options(
        "An echo server on select.poll(), the twin of demos/poll_server.c.",
        DEFAULT_PORT, "also every wakeup with its decoded events, and byte counts"
    ).parse_args()
    lab.start_narration(options.level)
    wakeup = lab.open_stop_wakeup()  # SIGINT/SIGTERM make it readable

    # 1 创建套接字 - create the listening socket. Non-blocking, so an
    # accept() after a client gave up raises BlockingIOError, not a hang.
    listening = lab.listen_on(options.host, options.port, BACKLOG)
    listening.setblocking(False)
    lab.announce_listening(listening)
    lab.narrate(f"fd {listening.fileno()} is the listening socket, non-blocking "
                "(1 创建套接字: create the socket)")

    # 2 注册 - register it as watched (and the stop signal's wakeup socket).
    p = select.poll()
    p.register(listening, select.POLLIN | select.POLLERR)
    p.register(wakeup, select.POLLIN)
    lab.narrate(f"fd {listening.fileno()} registered for POLLIN|POLLERR with p.register() "
                "(2 注册: register)")

    # 3 查找字典 - the lookup dictionary {fileno: obj}. p.poll() answers with
    # filenos only; every registered IO is in here, so each maps back.
    fdmap = {listening.fileno(): listening, wakeup.fileno(): wakeup}
    totals = echo.Totals()

    # 4 循环监控 - loop on p.poll(): it sleeps until something is ready.
    while not lab.stop_requested:
        events = p.poll()
        lab.narrate_detail(f"poll() -> {len(events)} ready: "
                           + ", ".join(f"fd {fileno} {describe(event)}" for fileno, event in events))

        # 5 处理 - handle each ready IO: accept, echo, close.
        for fileno, event in events:
            if lab.stop_requested:
                break  # a stop must not wait for the rest of the batch
            obj = fdmap.get(fileno)
            if obj is None:
                continue  # closed earlier in this batch
            if obj is wakeup:
                lab.take_stop_signal(wakeup)
            elif obj is listening:
                for sock, peer in echo.accept_waiting(listening):
                    client = echo.EchoClient(sock, peer, WORDS)
                    client.watched = interest(client)
                    p.register(sock, client.watched)
                    fdmap[client.fd] = client
                    totals.clients += 1
                    lab.narrate(f"accept() -> fd {client.fd} from {peer} "
                                f"({len(fdmap) - 2} connected)")
            else:
                client = obj
                verdict = echo.KEEP
                if event & (select.POLLIN | select.POLLHUP | select.POLLERR) and client.wants_read():
                    verdict = client.on_readable(totals)
                if verdict == echo.KEEP and client.wants_write() and \
                        event & (select.POLLOUT | select.POLLHUP | select.POLLERR):
                    verdict = client.on_writable(totals)
                if verdict == echo.CLOSE:
                    p.unregister(client.fd)
                    del fdmap[client.fd]
                    client.sock.close()
                elif interest(client) != client.watched:
                    client.watched = interest(client)
                    p.modify(client.fd, client.watched)  # no system call: the next poll() sees it

    clients = [obj for obj in fdmap.values() if isinstance(obj, echo.EchoClient)]
    if clients:
        lab.narrate(f"stopping: close() on the {len(clients)} clients still connected")
    for client in clients:
        client.sock.close()
    listening.close()
    lab.announce(f"summary: clients={totals.clients} bytes={totals.bytes}")


if __name__ == "__main__":
    main()
