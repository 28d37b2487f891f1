#!/usr/bin/env python3
"""echo_client.py - a small client for the lab's servers, C or Python.

Shows:    the client side in the notes' calls: socket.create_connection()
          with a timeout (connect, and each recv, give up after -t seconds:
          超时检测), sendall(), shutdown(SHUT_WR) to say "no more from me"
          while still reading the replies, and, for a Unix socket (-s),
          socket.send_fds(): a descriptor passed with the bytes.
Mirrors:  demos/tcp_client.c's -m and stdin modes. Used by the tests to
          drive the C servers from Python, and by hand.
Usage:    python3 docs/python/echo_client.py [-H ADDR] [-p PORT | -s PATH]
              [-m MESSAGE] [--send-fd FILE] [-t SECONDS] [-q]
          Without -m it copies stdin to the server and the replies to
          stdout, byte for byte; at end of stdin it half-closes and prints
          what still comes back until the server closes.
Try:      build/poll_server          (in one terminal)
          python3 docs/python/echo_client.py -p 9004 -m hello
          head -c 1M /dev/urandom > /tmp/r; python3 docs/python/echo_client.py -p 9004 < /tmp/r | cmp - /tmp/r
Observe:  stdout carries only what the server sent back (notes go to
          stderr), so the copy is exact.
"""

import argparse
import os
import socket
import sys
import threading

import lab


def note(options, text):
    if options.level >= lab.NORMAL:
        print(f"{lab.PROGRAM}: {text}", file=sys.stderr)


def connect(options):
    try:
        if options.path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(options.timeout)
            sock.connect(options.path)
        else:
            sock = socket.create_connection((options.host, options.port), options.timeout)
    except OSError as error:
        where = options.path or f"{options.host} port {options.port}"
        lab.fatal(f"connect to {where}", error)
    note(options, f"connected to {options.path or lab.format_address(sock.getpeername())}")
    return sock


def send_first(sock, data, descriptor):
    """sendall(), or for --send-fd, sendmsg() with SCM_RIGHTS carrying the
    descriptor on the first bytes (it needs at least one byte to ride on)."""
    if descriptor is None:
        sock.sendall(data)
        return
    sent = socket.send_fds(sock, [data], [descriptor])
    sock.sendall(data[sent:])


def copy_stdin(sock, descriptor, failures):
    """The sending half: stdin to the socket, then half-close. In its own
    thread, so that replies are read while we send: a client that sent
    everything first could deadlock once both sides' buffers are full."""
    try:
        first = True
        while True:
            data = os.read(sys.stdin.fileno(), 65536)
            if not data:
                break
            send_first(sock, data, descriptor if first else None)
            first = False
        sock.shutdown(socket.SHUT_WR)
    except OSError as error:
        failures.append(error)


def main():
    parser = argparse.ArgumentParser(prog=lab.PROGRAM, allow_abbrev=False,
                                     description="A client for the lab's echo servers.")
    parser.add_argument("-H", dest="host", default="127.0.0.1", type=lab.numeric_host,
                        metavar="ADDR", help="server address (default 127.0.0.1)")
    parser.add_argument("-p", dest="port", default=9001, type=lab.port_number,
                        metavar="PORT", help="server port (default 9001)")
    parser.add_argument("-s", dest="path", metavar="PATH", help="a Unix socket instead of TCP")
    parser.add_argument("-m", dest="message", metavar="MESSAGE",
                        help="send MESSAGE and a newline, half-close, print the reply")
    parser.add_argument("--send-fd", dest="send_fd", metavar="FILE",
                        help="with -s: open FILE for reading and pass the descriptor")
    parser.add_argument("-t", dest="timeout", type=float, default=30, metavar="SECONDS",
                        help="give up on connect or on a silent server after this long "
                        "(default 30)")
    parser.add_argument("-q", dest="level", action="store_const", const=lab.QUIET,
                        default=lab.NORMAL, help="quiet: only errors on stderr")
    options = parser.parse_args()
    if options.send_fd and not options.path:
        parser.error("--send-fd needs -s PATH: descriptors travel only over a Unix socket")

    descriptor = None
    if options.send_fd:
        descriptor = os.open(options.send_fd, os.O_RDONLY)
    sock = connect(options)
    failures = []
    if options.message is not None:
        try:
            send_first(sock, options.message.encode() + b"\n", descriptor)
            sock.shutdown(socket.SHUT_WR)
        except OSError as error:
            failures.append(error)
        sender = None
    else:
        sender = threading.Thread(target=copy_stdin, args=(sock, descriptor, failures),
                                  daemon=True)
        sender.start()

    output = sys.stdout.buffer
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            output.write(data)
            output.flush()
    except OSError as error:  # socket.timeout (-t) included
        failures.append(error)
    if sender is not None:
        sender.join(options.timeout)
    sock.close()
    if failures:
        lab.fatal("talking to the server", failures[0])
    note(options, "the server closed the connection")
    return 0


if __name__ == "__main__":
    sys.exit(main())
