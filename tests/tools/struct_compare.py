#!/usr/bin/env python3
"""Compare struct_pack_demo with Python's own struct module, on random input.

Usage: struct_compare.py PROGRAM [CASES] [SEED]

Makes CASES random formats with random values (default 300), packs each with
struct.pack and with `PROGRAM -q pack`, and unpacks random bytes with
struct.unpack and `PROGRAM -q unpack`: the hex, the tuple and whether the
input is refused must agree. Then every half float, and doubles from random
bits and around every power of two, through unpack: the float repr. Prints
one line per disagreement and a count; exit 1 if there was any.
"""
import math
import random
import struct
import subprocess
import sys

program = sys.argv[1]
cases = int(sys.argv[2]) if len(sys.argv) > 2 else 300
seed = int(sys.argv[3]) if len(sys.argv) > 3 else random.randrange(1 << 30)
rng = random.Random(seed)
failures = 0
checked = 0


def run(*arguments):
    done = subprocess.run([program, "-q", *arguments], capture_output=True, text=True)
    return done.returncode, done.stdout.rstrip("\n"), done.stderr


def report(what, expected, got):
    global failures
    failures += 1
    print(f"MISMATCH {what}\n  python: {expected}\n  demo:   {got}")


def escape(data):
    """Bytes as command-line text with the escapes the demo reads."""
    out = []
    for byte in data:
        if byte in b"\\'":
            out.append("\\" + chr(byte))
        elif 32 < byte < 127:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def random_float(code):
    choice = rng.random()
    if choice < 0.1:
        return rng.choice([math.inf, -math.inf, math.nan, -math.nan, 0.0, -0.0])
    if choice < 0.3:  # exactly representable in the field: no rounding question
        size = {"e": 2, "f": 4, "d": 8}[code]
        data = bytes(rng.randrange(256) for _ in range(size))
        value = struct.unpack("<" + code, data)[0]
        # A NaN's payload bits cannot be written as text: use the plain NaN.
        return math.copysign(math.nan, value) if math.isnan(value) else value
    if choice < 0.4:  # an int where a float goes, as Python allows
        return rng.choice([-1, 1]) * rng.randrange(10 ** rng.randint(1, 20))
    top = {"e": 6, "f": 40, "d": 308}[code]
    return rng.choice([-1, 1]) * rng.random() * 10.0 ** rng.randint(-top, top)


def float_text(value):
    if isinstance(value, int):
        return integer_text(value)
    if math.isnan(value):
        return "-nan" if math.copysign(1, value) < 0 else "nan"
    return repr(value)


def random_integer(code, native):
    size = struct.calcsize(("@" if native else "<") + code)
    signed = code in "bhilqnP"
    low = -(1 << (8 * size - 1)) if signed else 0
    high = (1 << (8 * size)) - 1 if code == "P" else (1 << (8 * size - signed)) - 1
    choice = rng.random()
    if choice < 0.08:
        return rng.choice([low - 1, high + 1, -(1 << 70), 1 << 70])
    if choice < 0.3:
        return rng.choice([low, high, 0, -1 if signed else 1])
    return rng.randint(low, high)


def integer_text(value):
    if rng.random() < 0.3:
        return ("-" if value < 0 else "") + hex(abs(value))
    return str(value)


def random_case():
    order = rng.choice(["", "@", "=", "<", ">", "!"])
    native = order in ("", "@")
    codes = "xcbB?hHiIlLqQefdsp" + ("nNP" if native else "")
    text, values, texts = order, [], []
    for _ in range(rng.randint(1, 6)):
        code = rng.choice(codes)
        if code in "sp":
            count = rng.choice([0, 1, 2, 5, 12, 300]) if code == "p" else rng.randint(0, 12)
        else:
            count = rng.choice([1, 1, 1, 2, 3, 0])
        text += rng.choice(["", "", " "]) + (str(count) if count != 1 or rng.random() < 0.2 else "") + code
        if code in "sp":
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, count + 3)))
            values.append(data), texts.append(escape(data))
            continue
        for _ in range(count):
            if code == "x":
                continue
            if code == "c":
                data = bytes([rng.randrange(256)])
                values.append(data), texts.append(escape(data))
            elif code == "?":
                flag = rng.random() < 0.5
                values.append(flag), texts.append(rng.choice(["True", "1"] if flag else ["False", "0"]))
            elif code in "efd":
                value = random_float(code)
                values.append(value), texts.append(float_text(value))
            else:
                value = random_integer(code, native)
                values.append(value), texts.append(integer_text(value))
    return text, values, texts


for _ in range(cases):
    text, values, texts = random_case()
    try:
        expected = struct.pack(text, *values).hex()
    except (struct.error, OverflowError):
        expected = None
    status, output, error = run("pack", text, *texts)
    checked += 1
    if (expected is None and status != 2) or (expected is not None and (status, output) != (0, expected)):
        report(f"pack {text!r} {texts}", expected or "refused", f"status {status}: {output} {error[:200]}")
    size = struct.calcsize(text)
    data = bytes(rng.randrange(256) for _ in range(size))
    if "0p" in text.replace(" ", "").replace("10p", ""):
        continue  # Python fails on unpack of '0p' (SystemError); nothing to compare
    expected = repr(struct.unpack(text, data))
    status, output, error = run("unpack", text, data.hex())
    checked += 1
    if (status, output) != (0, expected):
        report(f"unpack {text!r} {data.hex()}", expected, f"status {status}: {output} {error[:200]}")


def compare_floats(code, data):
    global checked
    text = f"<{len(data) // struct.calcsize(code)}{code}"
    expected = repr(struct.unpack(text, data))
    status, output, _ = run("unpack", text, data.hex())
    checked += 1
    if (status, output) != (0, expected):
        got = output[1:-1].split(", ") if output.startswith("(") else [output]
        want = expected[1:-1].split(", ")
        bad = [(w, g) for w, g in zip(want, got) if w != g][:5]
        report(f"unpack {text} ({len(want)} values)", f"first differences {bad}", f"status {status}")


for start in range(0, 65536, 8192):  # every half float
    compare_floats("e", b"".join(struct.pack("<H", bits) for bits in range(start, start + 8192)))
for _ in range(40):  # doubles from random bits, and floats
    compare_floats("d", bytes(rng.randrange(256) for _ in range(8 * 500)))
    compare_floats("f", bytes(rng.randrange(256) for _ in range(4 * 1000)))
powers = []  # around every power of two, where the gap below is half the gap above
for exponent in range(-1074, 1024):
    x = 2.0 ** exponent
    powers += [x, math.nextafter(x, math.inf), math.nextafter(x, 0)]
for start in range(0, len(powers), 1500):
    compare_floats("d", b"".join(struct.pack("<d", x) for x in powers[start:start + 1500]))

print(f"struct_compare: seed {seed}: {checked} comparisons, {failures} mismatches")
sys.exit(1 if failures else 0)
