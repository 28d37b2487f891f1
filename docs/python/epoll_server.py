#!/usr/bin/env python3
"""epoll_server.py - one thread serves many echo clients with select.epoll().

Shows:    the notes' epoll method: "the same use as poll" with epoll
          names. ep = select.epoll() is epoll_create1(); ep.register(),
          ep.modify() and ep.unregister() are epoll_ctl() ADD, MOD and DEL,
          each a system call, since the kernel keeps the list between
          waits; events = ep.poll() is epoll_wait(), and hands back only
          the ready ones, so a wakeup costs O(ready), not O(all watched).
          Level-triggered (水平触发, the default): a ready socket is reported
          on every wait until it has been dealt with.
Mirrors:  demos/epoll_server.c. The C server gets each client back from
          the kernel in epoll_event.data.ptr; Python's ep.poll() gives only
          (fileno, event), so the notes' {fileno: obj} dictionary stays.
Usage:    python3 docs/python/epoll_server.py [-H ADDR] [-p PORT] [-q] [-v]
Try:      python3 docs/python/epoll_server.py -v
          then in two more terminals:  build/tcp_client -p 9005
Observe:  both clients are echoed at once, by one thread; with -v each
          wakeup shows only the ready descriptors, e.g.
          "epoll_wait() -> 1 ready: fd 6 EPOLLIN|EPOLLRDHUP" when a client
          sent its last bytes and closed its side. `scripts/trace.sh
          --compare epoll_server` shows ep.poll() is epoll_wait underneath.
"""

import select

import echo
import lab

DEFAULT_PORT = 9005
BACKLOG = 1024
WORDS = ("EPOLLIN off", "EPOLLOUT on")
EVENT_NAMES = [(select.EPOLLIN, "EPOLLIN"), (select.EPOLLPRI, "EPOLLPRI"),
               (select.EPOLLOUT, "EPOLLOUT"), (select.EPOLLERR, "EPOLLERR"),
               (select.EPOLLHUP, "EPOLLHUP"), (select.EPOLLRDHUP, "EPOLLRDHUP")]


def describe(mask):
    """'EPOLLIN|EPOLLRDHUP': the names of the bits set in an event mask."""
    return "|".join(name for bit, name in EVENT_NAMES if mask & bit) or "none"


def interest(client):
    """EPOLLIN (and EPOLLRDHUP: the client closed its side) while the
    client may send and its buffer has room; EPOLLOUT only while echo
    waits. EPOLLERR and EPOLLHUP are always reported."""
    events = 0
    if client.wants_read():
        events |= select.EPOLLIN | select.EPOLLRDHUP
    if client.wants_write():
        events |= select.EPOLLOUT
    return events


def main():
    options = lab.server_options(
        "An echo server on select.epoll(), the twin of demos/epoll_server.c.",
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

    # 2 注册 - register: create the epoll instance and add the listening
    # socket (and the stop signal's wakeup socket).
    ep = select.epoll()
    ep.register(listening, select.EPOLLIN)
    ep.register(wakeup, select.EPOLLIN)
    lab.narrate(f"epoll_create1() -> fd {ep.fileno()}; epoll_ctl(EPOLL_CTL_ADD, "
                f"fd {listening.fileno()}, EPOLLIN) (2 注册: register)")

    # 3 查找字典 - the lookup dictionary {fileno: obj}: ep.poll() answers
    # with filenos only.
    fdmap = {listening.fileno(): listening, wakeup.fileno(): wakeup}
    totals = echo.Totals()

    # 4 循环监控 - loop on ep.poll(): epoll_wait() sleeps until something is ready.
    while not lab.stop_requested:
        events = ep.poll()
        lab.narrate_detail(f"epoll_wait() -> {len(events)} ready: "
                           + ", ".join(f"fd {fileno} {describe(event)}" for fileno, event in events))

        # 5 处理 - handle each event: only the ready ones came back.
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
                    ep.register(sock, client.watched)
                    fdmap[client.fd] = client
                    totals.clients += 1
                    lab.narrate(f"accept() -> fd {client.fd} from {peer} "
                                f"({len(fdmap) - 2} connected)")
            else:
                client = obj
                verdict = echo.KEEP
                if event & (select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP |
                            select.EPOLLERR) and client.wants_read():
                    verdict = client.on_readable(totals)
                if verdict == echo.KEEP and client.wants_write() and \
                        event & (select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR):
                    verdict = client.on_writable(totals)
                if verdict == echo.CLOSE:
                    ep.unregister(client.fd)  # epoll_ctl(EPOLL_CTL_DEL)
                    del fdmap[client.fd]
                    client.sock.close()
                elif interest(client) != client.watched:
                    client.watched = interest(client)
                    ep.modify(client.fd, client.watched)  # epoll_ctl(EPOLL_CTL_MOD)
                    lab.narrate_detail(f"epoll_ctl(EPOLL_CTL_MOD, fd {client.fd}, "
                                       f"{describe(client.watched)})")

    clients = [obj for obj in fdmap.values() if isinstance(obj, echo.EchoClient)]
    if clients:
        lab.narrate(f"stopping: close() on the {len(clients)} clients still connected")
    for client in clients:
        client.sock.close()
    ep.close()
    listening.close()
    lab.announce(f"summary: clients={totals.clients} bytes={totals.bytes}")


if __name__ == "__main__":
    main()
