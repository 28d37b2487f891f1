#!/usr/bin/env python3
"""struct_pack_demo.py - pack a record into bytes with a fixed layout, send
it, and unpack it on the other side: the notes' struct module.

Shows:    the notes' example, st = struct.Struct('i5sf'),
          st.pack(1, b'zhang', 1.75) -> bytes, st.unpack(data) -> the
          tuple back, and where each field lands in the bytes (with the
          padding native alignment adds: 'i5sf' is 16 bytes, not 13; the
          prefixes '<', '>', '!', '=' choose a byte order and no padding).
          serve and send speak records over TCP. TCP carries a stream of
          bytes, not messages, so the receiver frames it itself: every
          st.size (struct.calcsize) bytes is one record, however recv()
          happened to cut them.
Mirrors:  demos/struct_pack_demo.c, whose format language is Python's
          struct: the same subcommands and the same framing, so either
          side can talk to the other.
Usage:    python3 docs/python/struct_pack_demo.py [-q] [-v] pack [FORMAT VALUE...]
          python3 docs/python/struct_pack_demo.py unpack FORMAT HEX
          python3 docs/python/struct_pack_demo.py calcsize FORMAT
          python3 docs/python/struct_pack_demo.py [-H ADDR] [-p PORT] [-q] [-v] serve [FORMAT]
          python3 docs/python/struct_pack_demo.py [-H ADDR] [-p PORT] send FORMAT VALUE...
          (options come before the subcommand; FORMAT defaults to i5sf)
Try:      python3 docs/python/struct_pack_demo.py pack
          python3 docs/python/struct_pack_demo.py pack '<i5sf' 1 zhang 1.75
          python3 docs/python/struct_pack_demo.py serve
          then in another terminal:
          python3 docs/python/struct_pack_demo.py send i5sf 1 zhang 1.75 2 li 1.80
Observe:  pack shows 3 zero bytes of padding before the float, gone with
          '<'. serve gets both records from one recv() and cuts them at
          16 bytes; 1.80 comes back as 1.7999999523162842, since 'f' is a
          4-byte float.
"""

import argparse
import re
import socket
import struct
import sys

import lab

DEFAULT_PORT = 9007
DEFAULT_FORMAT = "i5sf"
NOTES_EXAMPLE = ["1", "zhang", "1.75"]
ITEM = re.compile(r"\s*(\d*)([xcbB?hHiIlLqQnNefdspP])")


def fields_of(fmt):
    """The fields of a format, one per value: [(offset, size, code), ...];
    explicit pad bytes ('x') come as code '3x'. The offset of a field is
    calcsize() of everything before it plus '0' of its own code: that adds
    the alignment padding and nothing else."""
    order = fmt[0] if fmt[:1] in ("@", "=", "<", ">", "!") else ""
    fields, before, position = [], order, len(order)
    while position < len(fmt):
        match = ITEM.match(fmt, position)
        if match is None:
            break  # struct.Struct() has already rejected a bad format
        count, code = int(match.group(1) or 1), match.group(2)
        for text in [f"{count}{code}"] if code in "spx" else [code] * count:
            offset = struct.calcsize(before + "0" + code)
            fields.append((offset, struct.calcsize(order + text), text))
            before += text
        position = match.end()
    return fields


def value_fields(fmt):
    return [field for field in fields_of(fmt) if not field[2].endswith("x")]


def value_for(code, text):
    """A command-line word as the Python value the format code wants."""
    kind = code[-1]
    try:
        if kind in "sp":
            return text.encode()
        if kind == "c":
            if len(text.encode()) != 1:
                raise ValueError("'c' wants exactly one byte")
            return text.encode()
        if kind == "?":
            return text.lower() in ("1", "true", "yes")
        if kind in "efd":
            return float(text)
        return int(text, 0)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"bad value '{text}' for '{code}': {error}") from None


def hex_bytes(data):
    return " ".join(f"{byte:02x}" for byte in data)


def show_layout(st, data):
    """Each field of the record: offset, size, bytes, value."""
    end = 0
    values = iter(st.unpack(data))
    for offset, size, code in fields_of(st.format):
        if offset > end:
            lab.narrate(f"  offset {end:3}  {offset - end} pad   {hex_bytes(data[end:offset]):24}"
                        "  (padding: native alignment)")
        value = "(pad byte)" if code.endswith("x") else repr(next(values))
        lab.narrate(f"  offset {offset:3}  {size} {code:5} "
                    f"{hex_bytes(data[offset:offset + size]):24}  {value}")
        end = offset + size
    if st.size > end:
        lab.narrate(f"  offset {end:3}  {st.size - end} pad   {hex_bytes(data[end:]):24}"
                    "  (padding: native alignment)")


def make_struct(parser, fmt):
    try:
        return struct.Struct(fmt)  # the notes: st = Struct('i5sf')
    except struct.error as error:
        parser.error(f"bad format '{fmt}': {error}")


def pack_records(parser, st, words):
    """The values as one or more records: every len(fields) words is one."""
    fields = value_fields(st.format)
    if not words or len(words) % len(fields) != 0:
        parser.error(f"format '{st.format}' takes {len(fields)} values per record; "
                     f"got {len(words)}")
    records = []
    for start in range(0, len(words), len(fields)):
        try:
            values = [value_for(code, word) for (_, _, code), word
                      in zip(fields, words[start:start + len(fields)])]
            records.append((values, st.pack(*values)))
        except (argparse.ArgumentTypeError, struct.error) as error:
            parser.error(str(error))
    return records


def command_pack(parser, st, words):
    lab.narrate(f"st = struct.Struct({st.format!r}): {st.size} bytes (struct.calcsize)")
    for values, data in pack_records(parser, st, words):
        shown = ", ".join(repr(value) for value in values)
        lab.announce(f"st.pack({shown}) -> {st.size} bytes: {hex_bytes(data)}")
        show_layout(st, data)
        lab.narrate(f"st.unpack(data) -> {st.unpack(data)!r}")


def command_unpack(parser, st, text):
    try:
        data = bytes.fromhex(text)
    except ValueError:
        parser.error(f"bad HEX '{text}': expected pairs of hex digits, e.g. '01 00 00 00'")
    if len(data) != st.size:
        parser.error(f"format '{st.format}' needs exactly {st.size} bytes; got {len(data)}")
    show_layout(st, data)
    lab.announce(f"st.unpack(data) -> {st.unpack(data)!r}")


def command_serve(options, st):
    lab.stop_by_exception()  # a blocking server: the handler raises, see lab.py
    listening = lab.listen_on(options.host, options.port, 16)
    lab.announce_listening(listening)
    lab.narrate(f"st = struct.Struct({st.format!r}): every {st.size} bytes is one record")
    totals = {"clients": 0, "records": 0, "bytes": 0, "partial": 0}
    conn = None
    try:
        while True:
            lab.narrate("accept() - blocks until a client connects")
            conn, peer = listening.accept()
            fd = conn.fileno()
            totals["clients"] += 1
            lab.narrate(f"accept() -> fd {fd} from {lab.format_address(peer)}")
            receive_records(conn, fd, st, totals)
            conn.close()
            conn = None
    except lab.StopRequested:
        pass
    if conn is not None:
        conn.close()
    listening.close()
    # The same fields, in the same order, as the C demo's summary.
    lab.announce(f"summary: clients={totals['clients']} records={totals['records']} "
                 f"bytes={totals['bytes']} partial={totals['partial']}")


def receive_records(conn, fd, st, totals):
    """Frame the byte stream into records of st.size bytes, whatever sizes
    recv() returns: a record may come in pieces, or several in one."""
    buffer = bytearray()
    while True:
        try:
            data = conn.recv(4096)
        except OSError as error:
            lab.warn(f"recv() on fd {fd} failed; closing it", error)
            return
        if not data:
            break
        totals["bytes"] += len(data)
        buffer += data
        whole, rest = divmod(len(buffer), st.size)
        lab.narrate_detail(f"recv(fd {fd}) -> {len(data)} bytes; {whole} whole record(s) "
                           f"and {rest} bytes of the next in hand")
        while len(buffer) >= st.size:
            record = bytes(buffer[:st.size])
            del buffer[:st.size]
            totals["records"] += 1
            lab.narrate(f"record {totals['records']} from fd {fd}: {hex_bytes(record)} -> "
                        f"st.unpack() -> {st.unpack(record)!r}")
    if buffer:
        totals["partial"] += 1
        lab.narrate(f"recv(fd {fd}) -> 0 with {len(buffer)} bytes left over: not a whole "
                    f"{st.size}-byte record; dropped")
    lab.narrate(f"recv(fd {fd}) -> 0: the client closed; close(fd {fd})")


def command_send(options, parser, st, words):
    records = pack_records(parser, st, words)
    try:
        conn = socket.create_connection((options.host, options.port), timeout=10)
    except OSError as error:
        lab.fatal(f"connect to {options.host} port {options.port}", error)
    with conn:
        lab.narrate(f"connect() -> fd {conn.fileno()} to "
                    f"{lab.format_address(conn.getpeername())}")
        data = b"".join(packed for _, packed in records)
        for values, packed in records:
            lab.narrate(f"st.pack({', '.join(repr(v) for v in values)}) -> {hex_bytes(packed)}")
        try:
            conn.sendall(data)  # all records in one go: the server frames them
        except OSError as error:
            lab.fatal(f"send to {options.host} port {options.port}", error)
        lab.announce(f"sent {len(records)} record(s), {len(data)} bytes, format {st.format!r}")


def main():
    parser = argparse.ArgumentParser(
        prog=lab.PROGRAM, allow_abbrev=False,
        description="Pack, unpack, send and receive records with the struct module; "
        "the twin of demos/struct_pack_demo.c.")
    parser.add_argument("-H", dest="host", default="127.0.0.1", type=lab.numeric_host,
                        metavar="ADDR", help="serve: address to listen on; send: to connect "
                        "to (default 127.0.0.1)")
    parser.add_argument("-p", dest="port", default=DEFAULT_PORT, type=lab.port_number,
                        metavar="PORT", help=f"port (default {DEFAULT_PORT}; serve -p 0: any)")
    parser.add_argument("-q", dest="level", action="store_const", const=lab.QUIET,
                        default=lab.NORMAL, help="quiet: only results, the listening line, "
                        "errors and the summary")
    parser.add_argument("-v", dest="level", action="store_const", const=lab.VERBOSE,
                        help="verbose: also every recv() and how it cut the records")
    commands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    pack = commands.add_parser("pack", help="FORMAT VALUE...: pack and show the layout")
    pack.add_argument("format", nargs="?", default=DEFAULT_FORMAT, metavar="FORMAT")
    pack.add_argument("values", nargs=argparse.REMAINDER, metavar="VALUE")
    unpack = commands.add_parser("unpack", help="FORMAT HEX: the values back from bytes")
    unpack.add_argument("format", metavar="FORMAT")
    unpack.add_argument("hex", nargs="+", metavar="HEX")
    calcsize = commands.add_parser("calcsize", help="FORMAT: its size in bytes")
    calcsize.add_argument("format", metavar="FORMAT")
    serve = commands.add_parser("serve", help="[FORMAT]: receive records and unpack them")
    serve.add_argument("format", nargs="?", default=DEFAULT_FORMAT, metavar="FORMAT")
    send = commands.add_parser("send", help="FORMAT VALUE...: pack and send records")
    send.add_argument("format", metavar="FORMAT")
    send.add_argument("values", nargs=argparse.REMAINDER, metavar="VALUE")
    options = parser.parse_args()

    lab.start_narration(options.level)
    st = make_struct(parser, options.format)
    if options.command == "pack":
        words = options.values
        if not words and options.format == DEFAULT_FORMAT:
            words = NOTES_EXAMPLE  # the notes' st.pack(1, b'zhang', 1.75)
        command_pack(parser, st, words)
    elif options.command == "unpack":
        command_unpack(parser, st, " ".join(options.hex))
    elif options.command == "calcsize":
        lab.announce(f"struct.calcsize({st.format!r}) -> {st.size}")
        if st.size:
            show_layout(st, st.pack(*(value_for(code, "0") for _, _, code
                                      in value_fields(st.format))))
    elif options.command == "serve":
        command_serve(options, st)
    else:
        command_send(options, parser, st, options.values)
    return 0


if __name__ == "__main__":
    sys.exit(main())
