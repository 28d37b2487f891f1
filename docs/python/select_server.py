#!/usr/bin/env python3
"""select_server.py - one thread serves many echo clients with select.select().

Shows:    I/O multiplexing (IO多路复用) with the notes' first call,
          select.select(rlist, wlist, xlist[, timeout]): three lists in,
          three lists of the ready ones out. rlist holds the listening
          socket and every client with room in its output buffer; wlist
          only clients with echo still to send; xlist every client (on
          Linux it reports TCP urgent data, not errors). Nothing is
          registered: the lists are built again before every call, and the
          kernel checks every descriptor in them, every time.
Mirrors:  demos/select_server.c. select() cannot watch a descriptor >=
          FD_SETSIZE (1024); Python raises ValueError for one, so such a
          client is refused, as in C.
Usage:    python3 docs/python/select_server.py [-H ADDR] [-p PORT] [-q] [-v]
Try:      python3 docs/python/select_server.py -v
          then in two more terminals:  build/tcp_client -p 9003
Observe:  both clients are echoed at once, by one thread; with -v every
          wakeup prints the three lists select.select() returned, e.g.
          "select() -> 1 ready: read {6} write {} except {}".
          `scripts/trace.sh --compare select_server` shows the select()
          system call under select.select(), as in C.
"""

import select
import socket

import echo
import lab

DEFAULT_PORT = 9003
BACKLOG = 1024
FD_SETSIZE = 1024  # glibc's; Python does not export it
WORDS = ("left out of rlist", "in wlist")


def fd_list(name, ready):
    return f"{name} {{{', '.join(str(obj.fileno()) for obj in ready)}}}"


def main():
    options = lab.server_options(
        "An echo server on select.select(), the twin of demos/select_server.c.",
        DEFAULT_PORT, "also every wakeup with its ready lists, and byte counts"
    ).parse_args()
    lab.start_narration(options.level)
    wakeup = lab.open_stop_wakeup()  # SIGINT/SIGTERM make it readable

    # 1 创建套接字 - create the listening socket, non-blocking.
    listening = lab.listen_on(options.host, options.port, BACKLOG)
    listening.setblocking(False)
    lab.announce_listening(listening)
    lab.narrate(f"fd {listening.fileno()} is the listening socket, non-blocking "
                "(1 创建套接字: create the socket)")
    lab.narrate(f"select() can watch only descriptors below FD_SETSIZE = {FD_SETSIZE}; "
                "clients beyond that are refused")

    # 2 注册 - select() keeps no registrations: the three lists are the
    # interest, built before every call.
    lab.narrate("select() keeps no registrations (2 注册: register): rlist, wlist and "
                "xlist are refilled before every call")

    # 3 查找字典 - {fileno: client}. select.select() hands back the very
    # objects it was given, so this is only the list of who is connected.
    clients = {}
    totals = echo.Totals()

    # 4 循环监控 - loop on select.select().
    while not lab.stop_requested:
        rlist = [wakeup, listening] + [c for c in clients.values() if c.wants_read()]
        wlist = [c for c in clients.values() if c.wants_write()]
        xlist = list(clients.values())
        readable, writable, urgent = select.select(rlist, wlist, xlist)
        lab.narrate_detail(f"select() -> {len(readable) + len(writable) + len(urgent)} ready: "
                           f"{fd_list('read', readable)} {fd_list('write', writable)} "
                           f"{fd_list('except', urgent)}")

        # 5 处理 - handle what is ready: the stop first, then new clients.
        if wakeup in readable:
            lab.take_stop_signal(wakeup)
            break
        if listening in readable:
            for sock, peer in echo.accept_waiting(listening):
                if sock.fileno() >= FD_SETSIZE:
                    lab.announce(f"accept() -> fd {sock.fileno()} from {peer}: refused, select() "
                                 f"cannot watch a descriptor >= FD_SETSIZE ({FD_SETSIZE})")
                    sock.close()
                    continue
                client = echo.EchoClient(sock, peer, WORDS)
                clients[client.fd] = client
                totals.clients += 1
                lab.narrate(f"accept() -> fd {client.fd} from {peer} ({len(clients)} connected)")
        for client in urgent:
            read_urgent_byte(client)
        for ready, handler in ((readable, echo.EchoClient.on_readable),
                               (writable, echo.EchoClient.on_writable)):
            for client in ready:
                if clients.get(client.fileno()) is not client:
                    continue  # the listening socket, or closed a moment ago
                if handler(client, totals) == echo.CLOSE:
                    del clients[client.fd]
                    client.sock.close()

    if clients:
        lab.narrate(f"stopping: close() on the {len(clients)} clients still connected")
    for client in clients.values():
        client.sock.close()
    listening.close()
    lab.announce(f"summary: clients={totals.clients} bytes={totals.bytes}")


def read_urgent_byte(client):
    """xlist on Linux: TCP urgent data, one byte sent "out of band" with
    send(MSG_OOB). recv(MSG_OOB) fetches it, which also stops select()
    reporting it; the byte is not part of the stream, so not echoed."""
    try:
        byte = client.sock.recv(1, socket.MSG_OOB)
        lab.narrate(f"fd {client.fd} is in xlist: TCP urgent data; recv(MSG_OOB) -> "
                    f"byte 0x{byte[0]:02x} (out of band, not echoed)")
    except (OSError, IndexError) as error:
        lab.narrate_detail(f"fd {client.fd} is in xlist, but recv(MSG_OOB) -> {error}")


if __name__ == "__main__":
    main()
