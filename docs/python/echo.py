"""echo.py - one echo connection, and accept(): the twin of common/echo.h.

What every multiplexing echo twin does the same way lives here, once: a
bounded output buffer per client (a bytearray), backpressure (stop
reading from a client whose echo piles up past 64 KiB, read again once
it has drained to half), half-close (send the rest, then close), and
accept() that takes what is queued without ever blocking. What differs
between the twins stays in each one: the lookup dictionary, the wait
(select.select, p.poll, ep.poll) and what it asks the kernel to watch.
A twin asks client.wants_read() / client.wants_write() and turns the
answers into rlist/wlist, POLLIN/POLLOUT or EPOLLIN/EPOLLOUT.

The handlers never close a client: they return CLOSE, after saying why,
and the server's loop closes it in one visible place.

Every socket here is non-blocking, so recv(), send() and accept() raise
BlockingIOError (EAGAIN) instead of waiting. No InterruptedError either:
Python retries a call a signal interrupted (PEP 475).
"""

import errno
import time

import lab

READ_SIZE = 16 * 1024  # one recv() reads at most this much
PENDING_LIMIT = 64 * 1024  # at most this much echo waits per client
RESUME_LEVEL = PENDING_LIMIT // 2  # then read again once it is down to this
ACCEPTS_PER_WAKEUP = 64  # a crowd of newcomers cannot starve the others
KEEP, CLOSE = "keep", "close"


class Totals:
    """What the summary line counts."""

    def __init__(self):
        self.clients = 0
        self.bytes = 0


class EchoClient:
    """One connected client. words names the server's interest in
    narration: ("POLLIN off", "POLLOUT on") for poll_server.py..."""

    def __init__(self, sock, peer, words):
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.words = words
        self.pending = bytearray()  # echo not yet sent back
        self.input_closed = False  # recv() returned b"": send the rest, then close
        self.reading_paused = False  # pending is full: not watched for reading
        self.echoed = 0
        self.watched = None  # what the server asks the kernel to watch, in its terms

    def fileno(self):
        return self.fd

    def wants_read(self):
        return not self.input_closed and not self.reading_paused

    def wants_write(self):
        # A socket is nearly always writable: asking all the time would
        # wake the server on every wait. Only while echo waits.
        return len(self.pending) > 0

    def _close_after_error(self, call, error):
        lab.warn(f"{call}(fd {self.fd}) failed; close(fd {self.fd}) "
                 f"after {self.echoed} bytes echoed", error)
        return CLOSE

    def _decide_reading_pause(self):
        if self.input_closed:
            return
        unsent = len(self.pending)
        if not self.reading_paused and unsent >= PENDING_LIMIT:
            self.reading_paused = True
            lab.narrate(f"fd {self.fd}: {unsent} bytes of echo wait for it to read; no more "
                        f"reading from it until it does ({self.words[0]})")
        elif self.reading_paused and unsent <= RESUME_LEVEL:
            self.reading_paused = False
            lab.narrate(f"fd {self.fd}: its echo drained to {unsent} bytes; reading from it again")

    def receive(self, size):
        """One recv(); unix_server.py's clients use recvmsg() instead."""
        return self.sock.recv(size)

    def on_readable(self, totals):
        """The wait said readable (or hung up): recv() once, send back at
        once what the socket takes, keep the rest."""
        room = PENDING_LIMIT - len(self.pending)  # > 0: a full client is not read
        try:
            data = self.receive(min(room, READ_SIZE))
        except BlockingIOError:
            return KEEP  # nothing after all; the next wakeup will tell
        except OSError as error:
            return self._close_after_error("recv", error)
        if not data:
            if not self.pending:
                lab.narrate(f"recv(fd {self.fd}) -> 0: the client closed; close(fd {self.fd}) "
                            f"after {self.echoed} bytes echoed")
                return CLOSE
            lab.narrate_detail(f"recv(fd {self.fd}) -> 0: the client closed its side; "
                               f"{len(self.pending)} bytes still to send")
            self.input_closed = True
            self.reading_paused = False
            return KEEP
        lab.narrate_detail(f"recv(fd {self.fd}) -> {len(data)} bytes")

        # Earlier echo still waiting must go first; otherwise try at once,
        # so the common case needs no wait for writability.
        sent = 0
        if not self.pending:
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as error:
                return self._close_after_error("send", error)
            self._count(sent, totals)
            lab.narrate_detail(f"send(fd {self.fd}) -> {sent} of {len(data)} bytes")
        if sent < len(data):
            self.pending += data[sent:]
            lab.narrate_detail(f"fd {self.fd}: {len(self.pending)} bytes wait in its "
                               f"output buffer ({self.words[1]})")
        self._decide_reading_pause()
        return KEEP

    def on_writable(self, totals):
        """The wait said writable: send what is pending."""
        if not self.pending:
            return KEEP
        unsent = len(self.pending)
        try:
            sent = self.sock.send(self.pending)
        except BlockingIOError:
            return KEEP
        except OSError as error:
            return self._close_after_error("send", error)
        del self.pending[:sent]
        self._count(sent, totals)
        lab.narrate_detail(f"send(fd {self.fd}) -> {sent} of {unsent} waiting bytes")
        if not self.pending and self.input_closed:
            lab.narrate(f"fd {self.fd}: all echoed after the client closed its side; "
                        f"close(fd {self.fd}) after {self.echoed} bytes echoed")
            return CLOSE
        self._decide_reading_pause()
        return KEEP

    def _count(self, sent, totals):
        self.echoed += sent
        totals.bytes += sent


def accept_waiting(listening):
    """accept() the connections the kernel has queued, until it says
    EAGAIN (the listening socket is non-blocking) or this wakeup's share.
    Returns [(socket, 'ADDR:PORT'), ...], each socket non-blocking."""
    accepted = []
    while len(accepted) < ACCEPTS_PER_WAKEUP:
        try:
            sock, peer = listening.accept()
        except BlockingIOError:
            break  # the queue is empty
        except OSError as error:
            if error.errno in (errno.ECONNABORTED, errno.EPROTO):
                continue  # the client gave up while queued
            # EMFILE, ENFILE (out of descriptors), ENOBUFS, ENOMEM: the
            # connection stays queued and the listener stays readable. A
            # short pause instead of a busy loop; the C servers do better
            # and stop watching the listener for 100 ms (common/echo.h).
            lab.warn("accept() failed; pausing 100 ms", error)
            time.sleep(0.1)
            break
        sock.setblocking(False)
        accepted.append((sock, lab.format_address(peer)))
    return accepted
