#!/usr/bin/env python3
"""unix_server.py - an echo server on a local (Unix domain) socket.

Shows:    the notes' 本地套接字, two programs on one machine talking
          through a socket file: 1 socket(AF_UNIX, SOCK_STREAM), 2 bind(path),
          3 listen(), 4 send/recv. Two things only a local socket can do:
          the kernel tells the server who the client is
          (getsockopt(SO_PEERCRED): its pid, uid and gid, unforgeable), and
          a client can pass the server an open descriptor along with its
          bytes (SCM_RIGHTS; socket.recv_fds() here): the server gets its
          own descriptor for the client's open file, reads its first line
          and sends it back after the echo.
          The loop is the selectors module, the standard library's wrapper
          over epoll: sel.register(sock, EVENT_READ, data) and
          sel.select() -> [(key, events)], where key.data is the object
          registered - the C servers' epoll data.ptr.
Mirrors:  demos/unix_server.c (and demos/unix_client.c on the other side):
          -s PATH, "listening on PATH", echo, credentials, descriptors.
Usage:    python3 docs/python/unix_server.py [-s PATH] [-q] [-v]
          (default PATH: $XDG_RUNTIME_DIR/lab3.sock, else /tmp/lab3-UID.sock)
Try:      python3 docs/python/unix_server.py -s /tmp/try.sock
          then in another terminal:
          python3 docs/python/echo_client.py -s /tmp/try.sock --send-fd /tmp/note.txt -m hello
Observe:  the server names the client's pid and uid before a byte moves;
          the descriptor it was passed has its own number on the server's
          side and points at the same open file; the file's first line
          comes back after the echo. `ls -l` shows
          the socket file (type s) while the server runs; it is removed at
          exit.
"""

import argparse
import os
import selectors
import socket
import stat
import struct

import echo
import lab

BACKLOG = 64
LINE_LIMIT = 4096  # of a passed file, its first line at most this
MAX_FDS = 8  # descriptors accepted with one recvmsg()
WORDS = ("EVENT_READ off", "EVENT_WRITE on")


def default_path():
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return os.path.join(runtime, "lab3.sock") if runtime else f"/tmp/lab3-{os.getuid()}.sock"


class UnixClient(echo.EchoClient):
    """An echo client whose reads also take any descriptors passed along."""

    def __init__(self, sock, totals):
        super().__init__(sock, "(unnamed)", WORDS)
        self.totals = totals

    def receive(self, size):
        # recvmsg() with room for SCM_RIGHTS control data; socket.recv_fds
        # unpacks it into a list of descriptor numbers, now ours.
        data, fds, flags, _ = socket.recv_fds(self.sock, size, MAX_FDS)
        if flags & socket.MSG_CTRUNC:
            lab.announce(f"fd {self.fd}: more than {MAX_FDS} descriptors came; the rest were "
                         "closed by the kernel (MSG_CTRUNC)")
        # As the C server does: the bytes that brought a descriptor are
        # echoed, then the first line of the file it opens.
        for fd in fds:
            data += self.first_line_of(fd)
        return data

    def first_line_of(self, fd):
        self.totals.fds += 1
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = "?"
        lab.narrate(f"recvmsg(fd {self.fd}) -> SCM_RIGHTS: fd {fd}, the client's open {target}")
        try:
            # pread() at offset 0 moves no offset: the client's own
            # descriptor, which shares it, is left where it was.
            head = os.pread(fd, LINE_LIMIT, 0)
        except OSError as error:
            lab.warn(f"pread(fd {fd}) failed (not a readable file?)", error)
            head = b""
        newline = head.find(b"\n")
        line = head[:newline + 1] if newline >= 0 else head
        os.close(fd)
        lab.narrate(f"pread(fd {fd}, offset 0) -> {len(head)} bytes; close(fd {fd}); its first "
                    f"line ({len(line)} bytes) goes back after the echo")
        return line


def take_stale_path(path):
    """A socket file left by a server that died is in the way of bind(). If
    nobody answers on it, remove it; if a server does, stop."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        lab.fatal(f"{path} exists and is not a socket; not removing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        lab.fatal(f"another server is listening on {path}")
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)
        lab.narrate(f"unlink({path}): a stale socket file, nobody listening")
    finally:
        probe.close()


def interest(client):
    events = 0
    if client.wants_read():
        events |= selectors.EVENT_READ
    if client.wants_write():
        events |= selectors.EVENT_WRITE
    return events


def main():
    parser = argparse.ArgumentParser(
        prog=lab.PROGRAM, allow_abbrev=False,
        description="An echo server on a Unix domain socket, the twin of demos/unix_server.c.")
    parser.add_argument("-s", dest="path", default=default_path(), metavar="PATH",
                        help="the socket file (default $XDG_RUNTIME_DIR/lab3.sock, "
                        "else /tmp/lab3-UID.sock)")
    parser.add_argument("-q", dest="level", action="store_const", const=lab.QUIET,
                        default=lab.NORMAL,
                        help="quiet: only the listening line, errors and the summary")
    parser.add_argument("-v", dest="level", action="store_const", const=lab.VERBOSE,
                        help="verbose: also every recv and send with byte counts")
    options = parser.parse_args()
    if len(os.fsencode(options.path)) >= 108:
        parser.error(f"-s PATH is {len(os.fsencode(options.path))} bytes; "
                     "sun_path holds at most 107")

    lab.start_narration(options.level)
    wakeup = lab.open_stop_wakeup()  # SIGINT/SIGTERM make it readable

    # 1 socket(AF_UNIX), 2 bind(path): it creates the socket file, 3 listen()
    take_stale_path(options.path)
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listening.bind(options.path)
    except OSError as error:
        lab.fatal(f"bind {options.path}", error)
    listening.listen(BACKLOG)
    listening.setblocking(False)
    lab.announce(f"listening on {options.path}")
    lab.narrate(f"fd {listening.fileno()}: socket(AF_UNIX, SOCK_STREAM), bind({options.path}) "
                "made the socket file, listen()")

    sel = selectors.DefaultSelector()
    sel.register(listening, selectors.EVENT_READ, "listening")
    sel.register(wakeup, selectors.EVENT_READ, "wakeup")
    lab.narrate_detail(f"selectors.DefaultSelector() is {type(sel).__name__}")
    totals = echo.Totals()
    totals.fds = 0

    # 4 send/recv: the echo loop
    while not lab.stop_requested:
        for key, events in sel.select():
            if lab.stop_requested:
                break
            if key.data == "wakeup":
                lab.take_stop_signal(wakeup)
            elif key.data == "listening":
                for sock, _ in echo.accept_waiting(listening):
                    client = UnixClient(sock, totals)
                    pid, uid, gid = struct.unpack(
                        "3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                              struct.calcsize("3i")))
                    totals.clients += 1
                    lab.narrate(f"accept() -> fd {client.fd}; getsockopt(SO_PEERCRED): "
                                f"pid {pid} uid {uid} gid {gid}")
                    client.watched = interest(client)
                    sel.register(sock, client.watched, client)  # key.data is the client
            else:
                client = key.data
                verdict = echo.KEEP
                if events & selectors.EVENT_READ and client.wants_read():
                    verdict = client.on_readable(totals)
                if verdict == echo.KEEP and events & selectors.EVENT_WRITE:
                    verdict = client.on_writable(totals)
                if verdict == echo.CLOSE:
                    sel.unregister(client.sock)
                    client.sock.close()
                elif interest(client) != client.watched:
                    client.watched = interest(client)  # never none: that client is closed
                    sel.modify(client.sock, client.watched, client)

    clients = [key.data for key in sel.get_map().values() if isinstance(key.data, UnixClient)]
    if clients:
        lab.narrate(f"stopping: close() on the {len(clients)} clients still connected")
    for client in clients:
        client.sock.close()
    sel.close()
    listening.close()
    os.unlink(options.path)
    lab.narrate(f"unlink({options.path}): the socket file is gone")
    lab.announce(f"summary: clients={totals.clients} bytes={totals.bytes} "
                 f"descriptors={totals.fds}")


if __name__ == "__main__":
    main()
