"""lab.py - what every Python twin would otherwise repeat: the twin of
common/lab.h.

Narration levels (-q, -v), the command-line options every server shares,
the listening socket and its "listening on ADDR:PORT" line, error exits
that name the errno, and the two ways a twin is stopped by SIGINT/SIGTERM.
Nothing here hides a call a twin is about: each twin still calls
accept(), recv(), select.select(), p.poll() or ep.poll() itself.

Standard library only. Not a program: the twins import it (Python puts a
script's own folder first on sys.path, so `python3 docs/python/X.py`
finds it from anywhere).
"""

import argparse
import encodings.idna  # noqa: F401 - see below
import errno
import os
import signal
import socket
import sys

# ---- Narration: stdout, one event per line, flushed at every newline ----

QUIET, NORMAL, VERBOSE = 0, 1, 2
narration_level = NORMAL  # the one global besides the stop flag
PROGRAM = os.path.basename(sys.argv[0])


def start_narration(level):
    """Line-buffer stdout (pipes and tests see each line at once)."""
    global narration_level
    narration_level = level
    sys.stdout.reconfigure(line_buffering=True)


def narrate(text):
    """Shown unless -q."""
    if narration_level >= NORMAL:
        announce(text)


def narrate_detail(text):
    """Shown only with -v."""
    if narration_level >= VERBOSE:
        announce(text)


def announce(text):
    """Always shown: the listening line, errors, the summary. One write()
    per line (print() would hand the text and its newline over apart, and
    the system-call trace would show two)."""
    sys.stdout.write(text + "\n")


def describe_error(error):
    """'Connection reset by peer (ECONNRESET)', as lab.c's errno_name()."""
    number = error.errno or 0
    return f"{os.strerror(number)} ({errno.errorcode.get(number, f'errno {number}')})"


def warn(what, error):
    """One client's failure: said on stdout, and the server goes on."""
    announce(f"{what}: {describe_error(error)}")


def fatal(what, error=None):
    """A setup error: 'PROGRAM: what failed: strerror (ERRNO)', exit 1."""
    detail = f": {describe_error(error)}" if error is not None else ""
    print(f"{PROGRAM}: {what}{detail}", file=sys.stderr)
    sys.exit(1)


# ---- The command line ---------------------------------------------------


def port_number(text):
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(
            f"bad port '{text}': expected a number from 0 to 65535")
    return int(text)


def numeric_host(text):
    """A numeric address or localhost: never a name that would ask DNS."""
    if text == "localhost":
        return text
    try:
        socket.getaddrinfo(text, 0, type=socket.SOCK_STREAM,
                           flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        raise argparse.ArgumentTypeError(
            f"bad address '{text}': expected a numeric address such as "
            "127.0.0.1 or ::1, or localhost") from None
    return text


def server_options(description, default_port, verbose_help):
    """An argparse parser with -H, -p, -q and -v. argparse gives the
    contract for free: -h prints usage on stdout (exit 0); a bad option
    prints the usage and a one-line reason on stderr (exit 2)."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description=description, allow_abbrev=False)
    parser.add_argument("-H", dest="host", default="127.0.0.1",
                        type=numeric_host, metavar="ADDR",
                        help="address to listen on (default 127.0.0.1)")
    parser.add_argument("-p", dest="port", default=default_port,
                        type=port_number, metavar="PORT",
                        help=f"port to listen on (default {default_port}; "
                        "0 = any free port)")
    parser.add_argument("-q", dest="level", action="store_const", const=QUIET,
                        default=NORMAL,
                        help="quiet: only the listening line, errors and the summary")
    parser.add_argument("-v", dest="level", action="store_const", const=VERBOSE,
                        help=f"verbose: {verbose_help}")
    return parser


# ---- Sockets ------------------------------------------------------------


def format_address(address):
    """'127.0.0.1:50412', '[::1]:50412', or the path of a Unix socket."""
    if isinstance(address, str):
        return address or "(unnamed)"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# socket.getaddrinfo() encodes a host name with the IDNA codec, and the
# first call imports it (three modules, one a C library). Imported above,
# at start-up, so that no module loading shows up in the middle of a
# server's system-call trace (scripts/trace.sh).


def listen_on(host, port, backlog):
    """socket() + SO_REUSEADDR + bind() + listen(), on the first address
    getaddrinfo() gives for host that works. Setup errors end the program."""
    try:
        candidates = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                        flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        fatal(f"getaddrinfo {host}: {error.strerror}")
    failure = None
    for family, kind, protocol, _, address in candidates:
        listening = socket.socket(family, kind, protocol)
        try:
            # Restarting a server must not wait out TIME_WAIT on its port.
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind(address)
            listening.listen(backlog)
            return listening
        except OSError as error:
            failure = error
            listening.close()
    fatal(f"bind {host} port {port}", failure)


def announce_listening(listening):
    announce(f"listening on {format_address(listening.getsockname())}")


# ---- Stopping on SIGINT and SIGTERM -------------------------------------
#
# Python runs a signal handler in the main thread, between two bytecodes,
# and (PEP 475) retries a system call a signal interrupted unless the
# handler raises. So a handler that only sets a flag would leave the
# server asleep in accept(), recv() or poll(). Two cures, one per kind of
# twin:
#
# - A blocking twin (blocking_echo.py, nonblock_timeout.py...) lets the
#   handler raise StopRequested: the blocked call ends at once, wherever it
#   is, and main() catches it, closes everything and prints its summary.
#   The twin of the C programs' handler without SA_RESTART.
#
# - A multiplexing twin watches a descriptor instead, like the C servers'
#   signalfd: signal.set_wakeup_fd() makes the interpreter write the
#   signal's number into a socketpair the moment the signal lands, before
#   any Python code runs. The wait sees the other end readable and
#   returns; the server reads it in its loop like any client. No load can
#   hide it, and no signal can slip in between the flag check and the wait.

stop_requested = False
SIGNAL_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class StopRequested(BaseException):
    """Raised by the handler of stop_by_exception() into the blocked call.
    A BaseException, like KeyboardInterrupt, so that no `except Exception`
    on the way swallows it."""


def stop_by_exception():
    def handler(signal_number, frame):
        global stop_requested
        if not stop_requested:  # once: a second Ctrl-C must not cut the cleanup
            stop_requested = True
            raise StopRequested(SIGNAL_NAMES[signal_number])
    # Installed unconditionally: a shell starts background jobs with
    # SIGINT ignored, and the lab's scripts stop servers with SIGINT.
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def open_stop_wakeup():
    """The stop as a descriptor: returns the reading end of a socketpair
    that turns readable when SIGINT or SIGTERM arrives. Watch it in the
    wait; when it is readable, call take_stop_signal()."""
    reading, writing = socket.socketpair()
    reading.setblocking(False)
    writing.setblocking(False)  # set_wakeup_fd() wants a non-blocking one
    signal.set_wakeup_fd(writing.fileno(), warn_on_full_buffer=False)

    # The handler has nothing to do: the byte in the socketpair is the
    # message, read by take_stop_signal() in the loop. (Without a handler
    # of our own, SIGINT would raise KeyboardInterrupt and SIGTERM kill.)
    def handler(signal_number, frame):
        pass
    handler.writing_end = writing  # keeps it open as long as the handler is in place
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return reading


def take_stop_signal(wakeup):
    """The wakeup socket was readable: say which signal came, and stop."""
    global stop_requested
    try:
        arrived = wakeup.recv(64)
    except BlockingIOError:
        return
    stop_requested = True
    names = ", ".join(SIGNAL_NAMES.get(number, f"signal {number}") for number in arrived)
    narrate(f"wakeup fd {wakeup.fileno()}: {names} arrived; stopping")
