/*
 * struct_pack_demo.c - binary records, byte for byte what Python's struct makes.
 *
 * Shows:   结构化数据, the struct module of the notes: Struct('i5sf'),
 *          st.pack(1, b'zhang', 1.75), st.unpack(data). A record becomes
 *          bytes with a fixed layout: each field at a known offset, with a
 *          known size and byte order, so the other side can cut the bytes
 *          apart again. The demo speaks Python's own format language, so any
 *          format can be checked against python3, and a C program and a
 *          Python program can exchange records over TCP.
 *
 * Usage:   struct_pack_demo [-q]                          the course example
 *          struct_pack_demo [-q] pack FORMAT VALUE...
 *          struct_pack_demo [-q] unpack FORMAT HEX
 *          struct_pack_demo calcsize FORMAT
 *          struct_pack_demo [-H ADDR] [-p PORT] [-q] [-v] serve [FORMAT]
 *          struct_pack_demo [-H ADDR] [-p PORT] [-q] [-v] send FORMAT VALUE...
 *
 * Try:     build/struct_pack_demo
 *          build/struct_pack_demo pack '!hd' -5 1e-5
 *          build/struct_pack_demo serve      and in another terminal:
 *          build/struct_pack_demo send i5sf 1 zhang 1.75
 *
 * Observe: 'i5sf' is 16 bytes but '=i5sf' is 13: in native mode ('@', the
 *          default) a float starts at a multiple of 4, as in a C struct, so 3
 *          padding bytes follow the 5-byte name. The layout table shows every
 *          field's offset, its bytes, and the padding.
 *
 * The format parser, pack, unpack and the value formatting are plain
 * functions on buffers and lengths: they return 0, or -1 with a message in
 * the caller's buffer, and never print, exit or allocate. The subcommands
 * and tests/fuzz/struct_format_fuzz.c call the same functions.
 *
 * serve handles one client at a time, like blocking_echo, but every wait is
 * a poll() on that one socket and the stop signalfd: a plain blocking recv()
 * misses a Ctrl-C that lands just before the call, and then it would wait
 * for a silent client for ever.
 */
#define _GNU_SOURCE

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo.h"
#include "lab.h"

#define DEFAULT_PORT 9007
#define BACKLOG 16
/* Python packs records of any size; this demo stops at 1 MiB. */
#define RECORD_SIZE_LIMIT ((size_t)1024 * 1024)
/* Python's limit for calcsize (PY_SSIZE_T_MAX): "total struct size too long". */
#define FORMAT_SIZE_LIMIT ((size_t)PTRDIFF_MAX)
#define MESSAGE_SIZE 256
/* Room for the longest repr of one number: "-2.2250738585072014e-308". */
#define NUMBER_TEXT_SIZE 32
#define HOST_IS_LITTLE_ENDIAN (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

static const char usage_text[] =
    "usage: struct_pack_demo [-q]                        the course example, '@' and '=' side by side\n"
    "       struct_pack_demo [-q] pack FORMAT VALUE...   the bytes as hex, then their layout\n"
    "       struct_pack_demo [-q] unpack FORMAT HEX      the values as a Python tuple, then the layout\n"
    "       struct_pack_demo calcsize FORMAT             the record size in bytes\n"
    "       struct_pack_demo [-H ADDR] [-p PORT] [-q] [-v] serve [FORMAT]   receive records (default i5sf)\n"
    "       struct_pack_demo [-H ADDR] [-p PORT] [-q] [-v] send FORMAT VALUE...   send records\n"
    "  -H ADDR   address to listen on or connect to (default 127.0.0.1)\n"
    "  -p PORT   port (default 9007; serve: 0 = any free port)\n"
    "  -q        quiet: pack/unpack print only the hex/the tuple; serve only the\n"
    "            listening line, errors and the summary\n"
    "  -v        verbose: serve and send also show the layout table of each record\n"
    "  -h        this help\n"
    "FORMAT is Python's struct format: an optional first @ = < > !, then codes\n"
    "x c b B ? h H i I l L q Q n N e f d s p P with repeat counts (4h, 10s).\n"
    "VALUEs: integers (decimal or 0x hex), floats (also inf, -inf, nan), text for\n"
    "s/p/c with Python escapes (\\x00 \\n \\\\ \\'), True/False/1/0 for ?.\n"
    "send packs several records if given a multiple of the format's values.\n";

/* ---- Bounded text: every function below writes into the caller's buffer - */

struct text {
    char *data;     /* always NUL-terminated */
    size_t size;    /* bytes in data */
    size_t length;  /* characters written, without the NUL */
    bool full;      /* something did not fit and was cut off */
};

static struct text text_in(char *data, size_t size)
{
    if (size > 0)
        data[0] = '\0';
    return (struct text){ .data = data, .size = size, .full = size == 0 };
}

__attribute__((format(printf, 2, 3)))
static void text_add(struct text *text, const char *format, ...)
{
    if (text->full)
        return;
    size_t room = text->size - text->length;
    va_list arguments;
    va_start(arguments, format);
    int written = vsnprintf(text->data + text->length, room, format, arguments);
    va_end(arguments);
    if (written < 0 || (size_t)written >= room) {
        text->length = text->size - 1;
        text->full = true;
    } else {
        text->length += (size_t)written;
    }
}

/* ---- The format language ---------------------------------------------- */

enum kind { PAD, CHAR, BYTES, PASCAL, BOOL, SIGNED, UNSIGNED, POINTER, FLOAT };

struct code_info {
    char code;
    enum kind kind;
    size_t standard_size;    /* 0: only in native mode ('n', 'N', 'P') */
    size_t native_size;      /* sizeof and _Alignof of the C type: what */
    size_t native_alignment; /* '@' means, taken from this compiler */
    const char *native_type; /* the C type, for the layout table */
    const char *standard_type;
};

#define NATIVE(type) sizeof(type), _Alignof(type)

static const struct code_info code_table[] = {
    { 'x', PAD, 1, 1, 1, "pad byte", "pad byte" },
    { 'c', CHAR, 1, 1, 1, "char", "char" },
    { 'b', SIGNED, 1, NATIVE(signed char), "signed char", "int8_t" },
    { 'B', UNSIGNED, 1, NATIVE(unsigned char), "unsigned char", "uint8_t" },
    { '?', BOOL, 1, NATIVE(_Bool), "_Bool", "_Bool" },
    { 'h', SIGNED, 2, NATIVE(short), "short", "int16_t" },
    { 'H', UNSIGNED, 2, NATIVE(unsigned short), "unsigned short", "uint16_t" },
    { 'i', SIGNED, 4, NATIVE(int), "int", "int32_t" },
    { 'I', UNSIGNED, 4, NATIVE(unsigned int), "unsigned int", "uint32_t" },
    { 'l', SIGNED, 4, NATIVE(long), "long", "int32_t" },
    { 'L', UNSIGNED, 4, NATIVE(unsigned long), "unsigned long", "uint32_t" },
    { 'q', SIGNED, 8, NATIVE(long long), "long long", "int64_t" },
    { 'Q', UNSIGNED, 8, NATIVE(unsigned long long), "unsigned long long", "uint64_t" },
    { 'n', SIGNED, 0, NATIVE(ssize_t), "ssize_t", NULL },
    { 'N', UNSIGNED, 0, NATIVE(size_t), "size_t", NULL },
    { 'e', FLOAT, 2, NATIVE(short), "half float", "half float" }, /* aligned like short */
    { 'f', FLOAT, 4, NATIVE(float), "float", "float" },
    { 'd', FLOAT, 8, NATIVE(double), "double", "double" },
    { 's', BYTES, 1, 1, 1, "char[]", "char[]" },
    { 'p', PASCAL, 1, 1, 1, "char[] (Pascal)", "char[] (Pascal)" },
    { 'P', POINTER, 0, NATIVE(void *), "void *", NULL },
};

static const struct code_info *find_code(char code)
{
    for (size_t i = 0; i < sizeof code_table / sizeof code_table[0]; i++)
        if (code_table[i].code == code)
            return &code_table[i];
    return NULL;
}

/* A parsed format: what calcsize() knows, and the text to walk again. */
struct format {
    const char *text;     /* the format as given (not copied) */
    size_t length;
    size_t codes_start;   /* 1 if it begins with a byte-order character */
    char byte_order;      /* '@' (also when none is given), '=', '<', '>', '!' */
    bool native;          /* '@': native sizes and alignment */
    bool little_endian;   /* byte order of every field wider than a byte */
    size_t size;          /* calcsize() */
    size_t value_count;   /* values pack() takes and unpack() gives */
};

/* One code with its repeat count, "4h" or "10s", laid out. */
struct run {
    const struct code_info *info;
    size_t count;
    size_t item_size;
    size_t alignment;
    size_t offset;        /* where its first byte goes, after any padding */
};

/* Every error of the functions below: the message into the caller's buffer,
 * then -1. A macro, so that the -1 stands at every return: clang's analyzer
 * does not follow a call into a variadic function, and would otherwise take
 * a failed scan_run() for one that returned a run. */
#define fail(message, message_size, ...) (snprintf((message), (message_size), __VA_ARGS__), -1)

static bool is_python_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int too_long(char *message, size_t message_size)
{
    return fail(message, message_size, "total struct size too long");
}

/* Read the run that starts at *position and lay it out after `offset`
 * bytes. 1 with the run, 0 at the end of the format, -1 with a message.
 * The parse and every walk over the fields use this one scanner. */
static int scan_run(const struct format *format, size_t *position, size_t offset,
                    struct run *run, char *message, size_t message_size)
{
    const char *text = format->text;
    size_t at = *position;
    while (at < format->length && is_python_space(text[at]))
        at++; /* whitespace between runs is ignored, as in Python */
    if (at == format->length) {
        *position = at;
        return 0;
    }
    size_t count = 1;
    if (text[at] >= '0' && text[at] <= '9') {
        count = 0;
        for (; at < format->length && text[at] >= '0' && text[at] <= '9'; at++) {
            size_t digit = (size_t)(text[at] - '0');
            if (count > (FORMAT_SIZE_LIMIT - digit) / 10)
                return too_long(message, message_size);
            count = count * 10 + digit;
        }
        if (at == format->length)
            return fail(message, message_size, "repeat count given without format specifier");
    }
    char code = text[at];
    const struct code_info *info = find_code(code);
    if (info == NULL || (!format->native && info->standard_size == 0)) {
        const char *why = info != NULL ? "exists only in native mode ('@' or no prefix)"
                        : strchr("@=<>!", code) != NULL ? "can only be the first character"
                        : "is not a format code";
        if (code >= ' ' && code < 0x7f)
            return fail(message, message_size, "bad char in struct format: '%c' %s", code, why);
        return fail(message, message_size, "bad char in struct format: '\\x%02x' %s",
                    (unsigned char)code, why);
    }
    run->info = info;
    run->count = count;
    run->item_size = format->native ? info->native_size : info->standard_size;
    run->alignment = format->native ? info->native_alignment : 1;
    /* Native fields start at a multiple of their alignment; "0i" still aligns. */
    size_t padding = (run->alignment - offset % run->alignment) % run->alignment;
    if (padding > FORMAT_SIZE_LIMIT - offset)
        return too_long(message, message_size);
    run->offset = offset + padding;
    if (count > (FORMAT_SIZE_LIMIT - run->offset) / run->item_size)
        return too_long(message, message_size);
    *position = at + 1;
    return 1;
}

/* Struct(fmt): check the whole format, compute its size and value count. */
static int parse_format(const char *text, size_t length, struct format *format,
                        char *message, size_t message_size)
{
    *format = (struct format){ .text = text, .length = length, .byte_order = '@',
                               .native = true, .little_endian = HOST_IS_LITTLE_ENDIAN };
    if (memchr(text, '\0', length) != NULL)
        return fail(message, message_size, "embedded null character");
    if (length > 0 && strchr("@=<>!", text[0]) != NULL) {
        format->byte_order = text[0];
        format->codes_start = 1;
        format->native = text[0] == '@';
        if (text[0] == '<')
            format->little_endian = true;
        else if (text[0] == '>' || text[0] == '!')
            format->little_endian = false; /* network byte order is big-endian */
    }
    size_t position = format->codes_start;
    struct run run;
    int found;
    while ((found = scan_run(format, &position, format->size, &run, message, message_size)) == 1) {
        format->size = run.offset + run.count * run.item_size;
        if (run.info->kind == BYTES || run.info->kind == PASCAL)
            format->value_count += 1; /* "10s" is one value of 10 bytes */
        else if (run.info->kind != PAD)
            format->value_count += run.count;
    }
    return found;
}

/* One field of a record: a value, a run of 'x', or alignment padding. */
struct field {
    const struct code_info *info; /* NULL for alignment padding */
    size_t offset;
    size_t size;
    const struct run *aligned;    /* padding: the run it aligns */
};

struct field_cursor {
    const struct format *format;
    size_t position;    /* in the format text */
    size_t offset;      /* where the next field starts */
    struct run run;     /* the run being handed out */
    size_t items_left;  /* fields of that run still to come */
};

static void start_fields(struct field_cursor *cursor, const struct format *format)
{
    *cursor = (struct field_cursor){ .format = format, .position = format->codes_start };
}

/* The next field of a format that parse_format() accepted, or false. */
static bool next_field(struct field_cursor *cursor, struct field *field)
{
    struct run *run = &cursor->run;
    while (cursor->items_left == 0) {
        char unused[MESSAGE_SIZE]; /* parse_format() has seen every error already */
        if (scan_run(cursor->format, &cursor->position, cursor->offset, run, unused,
                     sizeof unused) != 1)
            return false;
        enum kind kind = run->info->kind;
        cursor->items_left = kind == BYTES || kind == PASCAL ? 1
                           : kind == PAD ? (run->count > 0) : run->count;
        if (run->offset > cursor->offset) {
            *field = (struct field){ .offset = cursor->offset,
                                     .size = run->offset - cursor->offset, .aligned = run };
            cursor->offset = run->offset;
            return true;
        }
    }
    enum kind kind = run->info->kind;
    bool whole_run = kind == BYTES || kind == PASCAL || kind == PAD;
    *field = (struct field){ .info = run->info, .offset = cursor->offset,
                             .size = whole_run ? run->count * run->item_size : run->item_size };
    cursor->offset += field->size;
    cursor->items_left--;
    return true;
}

/* ---- Values from the command line ---------------------------------------- */

/* 0-15 for a hex digit (either case), -1 for anything else. */
static int hex_digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
        return (c | 0x20) - 'a' + 10;
    return -1;
}

struct integer {
    bool negative;
    unsigned long long magnitude;
    bool too_big;     /* more than 64 bits: out of range for every code */
};

/* Decimal or 0x hex, with an optional sign: the ints of a Python call. */
static bool parse_integer(const char *text, struct integer *value)
{
    *value = (struct integer){ 0 };
    if (*text == '+' || *text == '-')
        value->negative = *text++ == '-';
    unsigned base = 10;
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text += 2;
    }
    if (*text == '\0')
        return false;
    for (; *text != '\0'; text++) {
        int digit = hex_digit_value(*text);
        if (digit < 0 || (unsigned)digit >= base)
            return false;
        if (value->magnitude > (ULLONG_MAX - (unsigned)digit) / base)
            value->too_big = true;
        else
            value->magnitude = value->magnitude * base + (unsigned)digit;
    }
    return true;
}

/* Python's float syntax: 1.75, -2, .5, 1e-5, 0x10, inf, -infinity, nan.
 * *is_integer tells an int (which pack refuses when too big for a double). */
static bool parse_float(const char *text, double *value, bool *is_integer)
{
    struct integer integer;
    *is_integer = parse_integer(text, &integer);
    const char *body = text + (*text == '+' || *text == '-');
    /* strtod() alone would also take " 1", "0x1p3" and "nan(7)": Python does not. */
    bool decimal = ((*body >= '0' && *body <= '9') || *body == '.') && strpbrk(body, "xX") == NULL;
    bool special = strcasecmp(body, "inf") == 0 || strcasecmp(body, "infinity") == 0 ||
                   strcasecmp(body, "nan") == 0;
    char *end;
    *value = strtod(text, &end); /* correctly rounded; 1e400 is inf, as float('1e400') */
    return (*is_integer || decimal || special) && end != text && *end == '\0';
}

/* Python's bytes escapes: \\ \' \" \a \b \f \n \r \t \v \xhh \ooo; any other
 * backslash stays, with its letter, as in Python. Writes at most `capacity`
 * bytes to out and counts every byte in *length. */
static int decode_escapes(const char *text, unsigned char *out, size_t capacity, size_t *length,
                          char *message, size_t message_size)
{
    static const char letters[] = "\\'\"abfnrtv", meanings[] = "\\'\"\a\b\f\n\r\t\v";
    size_t count = 0;
    for (const char *at = text; *at != '\0'; count++) {
        unsigned char byte = (unsigned char)*at++;
        const char *letter = byte == '\\' && *at != '\0' ? strchr(letters, *at) : NULL;
        if (letter != NULL) {
            byte = (unsigned char)meanings[letter - letters];
            at++;
        } else if (byte == '\\' && *at == 'x') {
            unsigned value = 0;
            for (int i = 1; i <= 2; i++) {
                int digit = hex_digit_value(at[i]);
                if (digit < 0)
                    return fail(message, message_size, "invalid \\x escape at position %zu",
                                (size_t)(at - 1 - text));
                value = value * 16 + (unsigned)digit;
            }
            byte = (unsigned char)value;
            at += 3;
        } else if (byte == '\\' && *at >= '0' && *at <= '7') {
            unsigned value = 0;
            for (int i = 0; i < 3 && *at >= '0' && *at <= '7'; i++)
                value = value * 8 + (unsigned)(*at++ - '0');
            byte = (unsigned char)value; /* Python also keeps the low 8 bits */
        }
        if (count < capacity)
            out[count] = byte;
    }
    *length = count;
    return 0;
}

/* ---- Pack: values to bytes ---------------------------------------------- */

static void write_unsigned(unsigned char *out, size_t size, unsigned long long bits,
                           bool little_endian)
{
    for (size_t i = 0; i < size; i++, bits >>= 8)
        out[little_endian ? i : size - 1 - i] = (unsigned char)(bits & 0xff);
}

static unsigned long long read_unsigned(const unsigned char *in, size_t size, bool little_endian)
{
    unsigned long long bits = 0;
    for (size_t i = 0; i < size; i++)
        bits = bits << 8 | in[little_endian ? size - 1 - i : i];
    return bits;
}

/* double -> IEEE 754 half (binary16), rounded to nearest even as Python
 * rounds it; -1 when it is too large. */
static int half_from_double(double x, uint16_t *half)
{
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    if (isnan(x) || isinf(x)) {
        *half = sign | (isnan(x) ? 0x7e00 : 0x7c00);
        return 0;
    }
    x = fabs(x);
    if (x == 0) {
        *half = sign;
        return 0;
    }
    int exponent;
    frexp(x, &exponent);
    exponent--;                             /* now 2^exponent <= x < 2^(exponent+1) */
    if (exponent >= 16)
        return -1;
    /* A half holds x as a whole number of steps: 2^(exponent-10) for a
     * normal number, 2^-24 for the subnormals below 2^-14. */
    int step_exponent = (exponent < -14 ? -14 : exponent) - 10;
    double steps = ldexp(x, -step_exponent); /* exact: a power-of-two scaling */
    double whole = floor(steps);
    unsigned bits = (unsigned)whole;
    if (steps - whole > 0.5 || (steps - whole == 0.5 && bits % 2 == 1))
        bits++;
    if (exponent < -14) {                   /* subnormal; 1024 is the least normal */
        *half = sign | (uint16_t)bits;
        return 0;
    }
    if (bits == 2048) {                     /* rounded up to the next power of two */
        bits = 1024;
        exponent++;
    }
    if (exponent > 15)
        return -1;
    *half = sign | (uint16_t)((exponent + 15) << 10 | (bits - 1024));
    return 0;
}

static double double_from_half(uint16_t half)
{
    int exponent = half >> 10 & 0x1f;
    unsigned fraction = half & 0x3ff;
    double value = exponent == 0x1f ? (fraction != 0 ? NAN : INFINITY)
                 : exponent == 0 ? ldexp(fraction, -24)
                 : ldexp(fraction + 1024, exponent - 25);
    return half & 0x8000 ? -value : value;
}

/* double -> float, rounded to nearest as the C cast does, with the overflow
 * to infinity said out loud (a cast out of range is undefined in plain C). */
static float float_from_double(double x)
{
    double halfway_past_max = ldexp(1.0, 128) - ldexp(1.0, 103);
    if (fabs(x) >= halfway_past_max)
        return x < 0 ? -INFINITY : INFINITY;
    if (fabs(x) > FLT_MAX)
        return x < 0 ? -FLT_MAX : FLT_MAX;
    return (float)x;
}

static int pack_number(const struct format *format, const struct field *field, const char *text,
                       unsigned char *out, char *message, size_t message_size)
{
    const struct code_info *info = field->info;
    if (info->kind == FLOAT) {
        double x;
        bool is_integer;
        if (!parse_float(text, &x, &is_integer))
            return fail(message, message_size, "required argument is not a float");
        if (is_integer && isinf(x))
            return fail(message, message_size, "int too large to convert to float");
        unsigned long long bits;
        if (field->size == 2) {
            uint16_t half;
            if (half_from_double(x, &half) < 0)
                return fail(message, message_size, "float too large to pack with e format");
            bits = half;
        } else if (field->size == 4) {
            float y = float_from_double(x);
            /* Python refuses this overflow in standard mode only: native 'f'
             * is a plain C cast there, and packs inf. */
            if (!format->native && isinf(y) && !isinf(x))
                return fail(message, message_size, "float too large to pack with f format");
            uint32_t word;
            memcpy(&word, &y, sizeof word);
            bits = word;
        } else {
            memcpy(&bits, &x, sizeof bits);
        }
        write_unsigned(out, field->size, bits, format->little_endian);
        return 0;
    }
    struct integer value;
    if (!parse_integer(text, &value))
        return fail(message, message_size, "required argument is not an integer");
    /* The range Python allows for this many bytes, as magnitudes. */
    unsigned bits_in_field = (unsigned)field->size * 8;
    unsigned long long all_ones = bits_in_field == 64 ? ULLONG_MAX : (1ULL << bits_in_field) - 1;
    unsigned long long lowest = info->kind == UNSIGNED ? 0 : 1ULL << (bits_in_field - 1);
    unsigned long long highest = info->kind == SIGNED ? lowest - 1 : all_ones;
    if (value.too_big || (value.negative ? value.magnitude > lowest : value.magnitude > highest))
        return fail(message, message_size, "'%c' format requires %s%llu <= number <= %llu",
                    info->code, lowest > 0 ? "-" : "", lowest, highest);
    /* Two's complement: -5 is 2^64 - 5 in unsigned arithmetic, cut to size. */
    write_unsigned(out, field->size, value.negative ? 0 - value.magnitude : value.magnitude,
                   format->little_endian);
    return 0;
}

static int pack_value(const struct format *format, const struct field *field, const char *text,
                      unsigned char *out, char *message, size_t message_size)
{
    enum kind kind = field->info->kind;
    size_t length;
    switch (kind) {
    case CHAR:
        if (decode_escapes(text, out, 1, &length, message, message_size) < 0)
            return -1;
        if (length != 1)
            return fail(message, message_size, "char format requires a bytes object of length 1");
        return 0;
    case BYTES: /* cut to the field, or padded with the zeros already there */
        return decode_escapes(text, out, field->size, &length, message, message_size);
    case PASCAL: /* a length byte (at most 255), then the text, cut to fit */
        if (decode_escapes(text, field->size > 0 ? out + 1 : out,
                           field->size > 0 ? field->size - 1 : 0, &length, message,
                           message_size) < 0)
            return -1;
        if (field->size == 0) {
            /* CPython writes a length byte of 255 even for '0p': into the
             * padding after it, or under the next field, which overwrites it. */
            if (field->offset < format->size)
                out[0] = 0xff;
            return 0;
        }
        if (length > field->size - 1)
            length = field->size - 1;
        out[0] = (unsigned char)(length > 255 ? 255 : length);
        return 0;
    case BOOL:
        if (strcmp(text, "True") == 0 || strcmp(text, "1") == 0 ||
            strcmp(text, "False") == 0 || strcmp(text, "0") == 0) {
            out[0] = text[0] == 'T' || text[0] == '1';
            return 0;
        }
        return fail(message, message_size, "'?' takes True, False, 1 or 0");
    default:
        return pack_number(format, field, text, out, message, message_size);
    }
}

/* st.pack(v1, v2, ...): the values, as command-line text, into record. */
static int pack_record(const struct format *format, char *const values[], size_t value_count,
                       unsigned char *record, size_t record_size, char *message, size_t message_size)
{
    if (value_count != format->value_count)
        return fail(message, message_size, "pack expected %zu items for packing (got %zu)",
                    format->value_count, value_count);
    if (record_size < format->size)
        return fail(message, message_size, "a record of %zu bytes does not fit in %zu",
                    format->size, record_size);
    memset(record, 0, format->size); /* padding and short strings: zeros, as in Python */
    struct field_cursor cursor;
    struct field field;
    size_t next = 0;
    start_fields(&cursor, format);
    while (next_field(&cursor, &field)) {
        if (field.info == NULL || field.info->kind == PAD)
            continue;
        assert(next < value_count); /* parse_format() counted these same fields */
        char reason[MESSAGE_SIZE];
        if (pack_value(format, &field, values[next], record + field.offset, reason,
                       sizeof reason) < 0)
            return fail(message, message_size, "%.160s (value %zu for '%c' was '%.40s')", reason,
                        next + 1, field.info->code, values[next]);
        next++;
    }
    return 0;
}

/* ---- Unpack: bytes to Python's notation --------------------------------- */

/* repr(bytes): b'...', or b"..." when only that avoids escaping a quote. */
static void format_bytes_repr(const unsigned char *bytes, size_t length, const char *prefix,
                              struct text *out)
{
    bool single = memchr(bytes, '\'', length) != NULL, dbl = memchr(bytes, '"', length) != NULL;
    unsigned char quote = single && !dbl ? '"' : '\'';
    text_add(out, "%s%c", prefix, quote);
    for (size_t i = 0; i < length && !out->full; i++) {
        unsigned char c = bytes[i];
        if (c == quote || c == '\\')
            text_add(out, "\\%c", c);
        else if (c == '\t' || c == '\n' || c == '\r')
            text_add(out, "\\%c", c == '\t' ? 't' : c == '\n' ? 'n' : 'r');
        else if (c < ' ' || c >= 0x7f)
            text_add(out, "\\x%02x", c);
        else
            text_add(out, "%c", c);
    }
    text_add(out, "%c", quote);
}

/* The shortest digits that read back (strtod) as x > 0, as Python's repr()
 * picks them: x is 0.DIGITS times 10^point. */
static void shortest_digits(double x, char digits[static 24], int *point)
{
    snprintf(digits, 24, "0"); /* never left so: 17 digits always read back */
    *point = 1;
    for (int precision = 1; precision <= 17; precision++) {
        char text[48];
        snprintf(text, sizeof text, "%.*e", precision - 1, x); /* correctly rounded */
        const char *exponent_mark = strchr(text, 'e');
        unsigned long long mantissa = 0;
        for (const char *c = text; c < exponent_mark; c++)
            if (*c != '.')
                mantissa = mantissa * 10 + (unsigned)(*c - '0');
        /* x ~ mantissa * 10^exponent; %e always writes a valid exponent */
        int exponent = (int)strtol(exponent_mark + 1, NULL, 10) - (precision - 1);
        double nearest = strtod(text, NULL);
        if (nearest != x) {
            /* The nearest number of this many digits reads back as a neighbour
             * of x; the one on the other side of x may still read back as x
             * (just above a power of two the gap below x is half the gap above). */
            mantissa = nearest > x ? mantissa - 1 : mantissa + 1;
            snprintf(text, sizeof text, "%llue%d", mantissa, exponent);
            if (strtod(text, NULL) != x)
                continue;
        }
        for (; mantissa % 10 == 0; mantissa /= 10)
            exponent++;
        int count = snprintf(digits, 24, "%llu", mantissa);
        *point = count + exponent;
        return;
    }
}

/* repr(float): 1.75, 100.0, 1e+16, 1e-05, -0.0, inf, nan. */
static void format_float_repr(double x, struct text *out)
{
    if (isnan(x) || isinf(x) || x == 0) {
        text_add(out, "%s%s", signbit(x) && !isnan(x) ? "-" : "",
                 isnan(x) ? "nan" : isinf(x) ? "inf" : "0.0");
        return;
    }
    char digits[24];
    int point;
    shortest_digits(fabs(x), digits, &point);
    const char *sign = x < 0 ? "-" : "";
    int count = (int)strlen(digits);
    if (point <= -4 || point > 16) { /* Python's rule for the exponent form */
        int exponent = point - 1;
        text_add(out, "%s%c%s%s", sign, digits[0], count > 1 ? "." : "", digits + 1);
        text_add(out, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
    } else if (point <= 0) {
        text_add(out, "%s0.%.*s%s", sign, -point, "000", digits);
    } else if (point < count) {
        text_add(out, "%s%.*s.%s", sign, point, digits, digits + point);
    } else {
        text_add(out, "%s%s%.*s.0", sign, digits, point - count, "0000000000000000");
    }
}

/* One field's value as Python shows it in the tuple. */
static void format_field_value(const struct format *format, const struct field *field,
                               const unsigned char *record, struct text *out)
{
    const unsigned char *bytes = record + field->offset;
    size_t size = field->size;
    unsigned long long bits;
    switch (field->info->kind) {
    case PAD:
        return;
    case CHAR:
    case BYTES:
        format_bytes_repr(bytes, size, "b", out);
        return;
    case PASCAL: { /* the length byte says how much of the rest is text */
        size_t length = size == 0 ? 0 : bytes[0] < size ? bytes[0] : size - 1;
        format_bytes_repr(size == 0 ? bytes : bytes + 1, length, "b", out);
        return;
    }
    case BOOL:
        text_add(out, "%s", bytes[0] != 0 ? "True" : "False"); /* any non-zero byte */
        return;
    case FLOAT:
        bits = read_unsigned(bytes, size, format->little_endian);
        if (size == 2) {
            format_float_repr(double_from_half((uint16_t)bits), out);
        } else if (size == 4) {
            uint32_t word = (uint32_t)bits;
            float value;
            memcpy(&value, &word, sizeof value);
            format_float_repr(value, out);
        } else {
            double value;
            memcpy(&value, &bits, sizeof value);
            format_float_repr(value, out);
        }
        return;
    case SIGNED:
        assert(size >= 1 && size <= 8); /* every integer code (code_table): shifts defined */
        bits = read_unsigned(bytes, size, format->little_endian);
        if (bits >> (size * 8 - 1) & 1) { /* negative: print its magnitude after '-' */
            unsigned long long magnitude = (~bits + 1) & (size == 8 ? ULLONG_MAX
                                                          : (1ULL << size * 8) - 1);
            text_add(out, "-%llu", magnitude);
            return;
        }
        text_add(out, "%llu", bits);
        return;
    case UNSIGNED:
    case POINTER: /* Python shows a pointer as unsigned */
        text_add(out, "%llu", read_unsigned(bytes, size, format->little_endian));
        return;
    }
}

/* The most text format_field_value() can write for a field, with its NUL. */
static size_t value_text_bound(const struct field *field)
{
    enum kind kind = field->info->kind;
    return kind == CHAR || kind == BYTES || kind == PASCAL ? 4 * field->size + 4 : NUMBER_TEXT_SIZE;
}

/* Room for the whole tuple of a record of this format. */
static size_t tuple_text_bound(const struct format *format)
{
    size_t bound = 4;
    struct field_cursor cursor;
    struct field field;
    start_fields(&cursor, format);
    while (next_field(&cursor, &field))
        if (field.info != NULL && field.info->kind != PAD)
            bound += value_text_bound(&field) + 2;
    return bound;
}

/* st.unpack(data): the record as a Python tuple, "(1, b'zhang', 1.75)". */
static int unpack_record(const struct format *format, const unsigned char *record, size_t length,
                         struct text *tuple, char *message, size_t message_size)
{
    if (length != format->size)
        return fail(message, message_size, "unpack requires a buffer of %zu bytes (got %zu)",
                    format->size, length);
    struct field_cursor cursor;
    struct field field;
    start_fields(&cursor, format);
    text_add(tuple, "(");
    for (size_t count = 0; next_field(&cursor, &field);) {
        if (field.info == NULL || field.info->kind == PAD)
            continue;
        if (count++ > 0)
            text_add(tuple, ", ");
        format_field_value(format, &field, record, tuple);
    }
    text_add(tuple, "%s)", format->value_count == 1 ? "," : "");
    if (tuple->full)
        return fail(message, message_size, "the tuple does not fit in %zu bytes", tuple->size);
    return 0;
}

/* bytes.fromhex(): two hex digits a byte, spaces allowed between bytes. */
static int decode_hex(const char *text, unsigned char *out, size_t capacity, size_t *length,
                      char *message, size_t message_size)
{
    size_t count = 0, digits = 0;
    unsigned high = 0;
    for (size_t at = 0; text[at] != '\0'; at++) {
        char c = text[at];
        if (c == ' ' && digits % 2 == 0)
            continue;
        int digit = hex_digit_value(c);
        if (digit < 0)
            return fail(message, message_size, "non-hexadecimal number found in fromhex() arg "
                     "at position %zu", at);
        if (digits++ % 2 == 0) {
            high = (unsigned)digit;
        } else {
            if (count < capacity)
                out[count] = (unsigned char)(high << 4 | (unsigned)digit);
            count++;
        }
    }
    if (digits % 2 != 0)
        return fail(message, message_size, "odd number of hex digits (%zu): each byte is two", digits);
    *length = count;
    return 0;
}

/* ---- What the subcommands print ------------------------------------------ */

static void *allocate(size_t size)
{
    void *memory = malloc(size > 0 ? size : 1);
    if (memory == NULL)
        fatal("malloc %zu bytes", size);
    return memory;
}

static void print_hex(const unsigned char *bytes, size_t length, const char *separator,
                      size_t most)
{
    for (size_t i = 0; i < length && i < most; i++)
        printf("%s%02x", i > 0 ? separator : "", bytes[i]);
    if (length > most)
        printf(" ... (%zu bytes)", length);
}

/* "i", "5s", "3x": a field's code as a format spells it. */
static void field_code(const struct field *field, char *code, size_t size)
{
    enum kind kind = field->info->kind;
    if ((kind == BYTES || kind == PASCAL || kind == PAD) && field->size != 1)
        snprintf(code, size, "%zu%c", field->size, field->info->code);
    else
        snprintf(code, size, "%c", field->info->code);
}

/* The layout table: offset, code, C type, value and bytes of every field,
 * the padding marked. Two passes: the first measures the value column. */
static void print_layout(const struct format *format, const unsigned char *record)
{
    enum { VALUE_COLUMN = 40 };
    int value_width = 5;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            printf("%6s  %-5s %-18s %-*s  %s\n", "offset", "code", "C type", value_width, "value",
                   "bytes");
        struct field_cursor cursor;
        struct field field;
        start_fields(&cursor, format);
        while (next_field(&cursor, &field)) {
            char code[32] = "-", type[48] = "padding", value_data[VALUE_COLUMN + 1];
            struct text value = text_in(value_data, sizeof value_data);
            const struct code_info *info = field.info;
            if (info == NULL) {
                text_add(&value, "(%c starts at a multiple of %zu)", field.aligned->info->code,
                         field.aligned->alignment);
            } else {
                field_code(&field, code, sizeof code);
                if (info->kind == BYTES || info->kind == PASCAL)
                    snprintf(type, sizeof type, "char[%zu]%s", field.size,
                             info->kind == PASCAL ? " (Pascal)" : "");
                else
                    snprintf(type, sizeof type, "%s",
                             format->native ? info->native_type : info->standard_type);
                format_field_value(format, &field, record, &value);
            }
            if (value.full) /* the last three characters, and the NUL after them */
                memcpy(value_data + VALUE_COLUMN - 3, "...", sizeof "...");
            if (pass == 0 && (int)value.length > value_width)
                value_width = (int)value.length;
            if (pass == 0)
                continue;
            printf("%6zu  %-5s %-18s %-*s  ", field.offset, code, type, value_width, value_data);
            print_hex(record + field.offset, field.size, " ", 16);
            printf("\n");
        }
    }
}

/* struct.pack(FORMAT, VALUES) as Python source, from the values as given
 * (pack_record() has accepted them). */
/* cppcheck-suppress constParameter ; C does not convert argv's char ** to const char *const * */
static void format_pack_call(const struct format *format, char *const values[], struct text *out)
{
    text_add(out, "struct.pack(");
    format_bytes_repr((const unsigned char *)format->text, format->length, "", out);
    struct field_cursor cursor;
    struct field field;
    size_t next = 0;
    start_fields(&cursor, format);
    while (next_field(&cursor, &field)) {
        if (field.info == NULL || field.info->kind == PAD)
            continue;
        assert(next < format->value_count); /* parse_format() counted these same fields */
        const char *value = values[next++];
        enum kind kind = field.info->kind;
        text_add(out, ", ");
        if (kind == CHAR || kind == BYTES || kind == PASCAL) {
            char reason[MESSAGE_SIZE];
            size_t length, capacity = strlen(value) + 1;
            unsigned char *bytes = allocate(capacity);
            if (decode_escapes(value, bytes, capacity, &length, reason, sizeof reason) < 0)
                length = 0;
            format_bytes_repr(bytes, length, "b", out);
            free(bytes);
        } else if (kind == BOOL) {
            text_add(out, "%s", value[0] == 'T' || value[0] == '1' ? "True" : "False");
        } else if (kind == FLOAT) {
            double x;
            bool is_integer;
            parse_float(value, &x, &is_integer);
            if (isnan(x) || isinf(x))
                text_add(out, "float('%s')", isnan(x) ? "nan" : x < 0 ? "-inf" : "inf");
            else
                format_float_repr(x, out);
        } else {
            struct integer integer;
            parse_integer(value, &integer);
            text_add(out, "%s%llu", integer.negative && integer.magnitude ? "-" : "",
                     integer.magnitude);
        }
    }
    text_add(out, ")");
}

/* The size and byte order, the Python line that gives the same result, and
 * the layout table: what pack and unpack print after their result. */
static void explain_record(const struct format *format, const unsigned char *record,
                           const char *python_call, const char *python_result)
{
    static const char *const orders[] = {
        "@native ('@'): this compiler's sizes, alignment and byte order",
        "=standard sizes, no padding, this machine's byte order ('=')",
        "<standard sizes, no padding, little-endian ('<')",
        ">standard sizes, no padding, big-endian ('>')",
        "!standard sizes, no padding, network byte order: big-endian ('!')",
    };
    for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++)
        if (orders[i][0] == format->byte_order)
            printf("%zu bytes, %s\n", format->size, orders[i] + 1);
    printf("in Python: %s == %s\n", python_call, python_result);
    print_layout(format, record);
}

static void struct_error(const char *message)
{
    usage_error(usage_text, "struct.error: %s", message);
}

static void parse_format_or_exit(const char *text, struct format *format, size_t records)
{
    char message[MESSAGE_SIZE];
    if (parse_format(text, strlen(text), format, message, sizeof message) < 0)
        struct_error(message);
    if (records > 0 && format->size > RECORD_SIZE_LIMIT / records)
        usage_error(usage_text, "%zu bytes of records is more than this demo handles (%zu)",
                    format->size * records, RECORD_SIZE_LIMIT);
}

static int command_pack(const char *format_text, char *const values[], size_t value_count)
{
    struct format format;
    parse_format_or_exit(format_text, &format, 1);
    unsigned char *record = allocate(format.size);
    char message[MESSAGE_SIZE];
    if (pack_record(&format, values, value_count, record, format.size, message,
                    sizeof message) < 0) {
        free(record);
        struct_error(message);
    }
    print_hex(record, format.size, "", SIZE_MAX);
    printf("\n");
    if (narration_level > NARRATE_QUIET) {
        size_t call_size = 64 + 4 * format.length, result_size = 2 * format.size + 32;
        for (size_t i = 0; i < value_count; i++)
            call_size += 4 * strlen(values[i]) + NUMBER_TEXT_SIZE + 16;
        char *call_data = allocate(call_size), *result_data = allocate(result_size);
        struct text call = text_in(call_data, call_size), result = text_in(result_data, result_size);
        format_pack_call(&format, values, &call);
        text_add(&result, "bytes.fromhex('");
        for (size_t i = 0; i < format.size; i++)
            text_add(&result, "%02x", record[i]);
        text_add(&result, "')");
        explain_record(&format, record, call_data, result_data);
        free(call_data);
        free(result_data);
    }
    free(record);
    return 0;
}

static int command_unpack(const char *format_text, const char *hex)
{
    struct format format;
    parse_format_or_exit(format_text, &format, 1);
    char message[MESSAGE_SIZE];
    size_t capacity = strlen(hex) / 2 + 1, length = 0;
    size_t tuple_size = tuple_text_bound(&format), call_size = 4 * format.length + 2 * capacity + 64;
    unsigned char *record = allocate(capacity);
    char *tuple_data = allocate(tuple_size), *call_data = allocate(call_size);
    struct text tuple = text_in(tuple_data, tuple_size), call = text_in(call_data, call_size);
    if (decode_hex(hex, record, capacity, &length, message, sizeof message) < 0 ||
        unpack_record(&format, record, length, &tuple, message, sizeof message) < 0) {
        free(record);
        free(tuple_data);
        free(call_data);
        struct_error(message);
    }
    printf("%s\n", tuple_data);
    if (narration_level > NARRATE_QUIET) {
        text_add(&call, "struct.unpack(");
        format_bytes_repr((const unsigned char *)format.text, format.length, "", &call);
        text_add(&call, ", bytes.fromhex('");
        for (size_t i = 0; i < length; i++)
            text_add(&call, "%02x", record[i]);
        text_add(&call, "'))");
        explain_record(&format, record, call_data, tuple_data);
    }
    free(record);
    free(tuple_data);
    free(call_data);
    return 0;
}

/* The record of the notes, declared as a C programmer would. */
struct record {
    int id;
    char name[5];
    float height;
};

/* No arguments: 'i5sf' and '=i5sf' side by side, and the C struct. */
static void show_course_example(void)
{
    char *values[] = { "1", "zhang", "1.75" };
    struct format native, standard;
    parse_format_or_exit("i5sf", &native, 1);
    parse_format_or_exit("=i5sf", &standard, 1);
    unsigned char native_record[16], standard_record[13];
    char message[MESSAGE_SIZE];
    if (pack_record(&native, values, 3, native_record, sizeof native_record, message,
                    sizeof message) < 0 ||
        pack_record(&standard, values, 3, standard_record, sizeof standard_record, message,
                    sizeof message) < 0)
        fatal_message("the course example: %s", message);
    if (narration_level > NARRATE_QUIET) {
        printf("The course example (结构化数据): st = struct.Struct('i5sf'); "
               "st.pack(1, b'zhang', 1.75)\n\n"
               "In C: struct record { int id; char name[5]; float height; };\n"
               "  sizeof = %zu; offsetof: id %zu, name %zu, height %zu\n"
               "  calcsize('i5sf')  = %zu   native ('@', the default): laid out as the C struct\n"
               "  calcsize('=i5sf') = %zu   standard: 4 + 5 + 4 bytes, nothing in between\n\n",
               sizeof(struct record), offsetof(struct record, id), offsetof(struct record, name),
               offsetof(struct record, height), native.size, standard.size);
        printf("%-15s %-30s %s\n%-15s %-6s %-23s %-6s %s\n", "field", "'i5sf' (native, 16 bytes)",
               "'=i5sf' (standard, 13 bytes)", "", "offset", "bytes", "offset", "bytes");
    }
    struct field_cursor left, right;
    struct field field, twin, padding = { 0 };
    start_fields(&left, &native);
    start_fields(&right, &standard);
    while (next_field(&left, &field) && narration_level > NARRATE_QUIET) {
        char label_data[32];
        struct text label = text_in(label_data, sizeof label_data);
        if (field.info != NULL) {
            char code[32];
            next_field(&right, &twin); /* the same value fields, in the same order */
            field_code(&field, code, sizeof code);
            text_add(&label, "%s ", code);
            format_field_value(&native, &field, native_record, &label);
        } else {
            padding = field;
            snprintf(label_data, sizeof label_data, "(padding)");
        }
        printf("%-15s %-6zu ", label_data, field.offset);
        print_hex(native_record + field.offset, field.size, " ", 16);
        printf("%*s", (int)(25 - 3 * field.size), "");
        if (field.info != NULL) {
            printf("%-6zu ", twin.offset);
            print_hex(standard_record + twin.offset, twin.size, " ", 16);
        }
        printf("%s\n", field.info == NULL ? "-" : "");
    }
    printf("%s", narration_level > NARRATE_QUIET ? "\nhex '@': " : "");
    print_hex(native_record, native.size, "", SIZE_MAX);
    printf("%s", narration_level > NARRATE_QUIET ? "\nhex '=': " : "\n");
    print_hex(standard_record, standard.size, "", SIZE_MAX);
    printf("\n");
    if (narration_level > NARRATE_QUIET)
        printf("\nThe %zu padding bytes: in native mode a float starts at a multiple of\n"
               "_Alignof(float) = %zu, as the compiler lays out struct record. id fills bytes\n"
               "0-3 and name 4-8, so offset %zu is rounded up to %zu, and bytes %zu-%zu are\n"
               "padding (zeros from struct.pack; in a C struct, whatever was in memory).\n"
               "Standard sizes (= < > !) have no padding: height follows name at offset 9.\n",
               padding.size, _Alignof(float), padding.offset, padding.offset + padding.size,
               padding.offset, padding.offset + padding.size - 1);
}

/* ---- Records over TCP ------------------------------------------------------ */

/* Sleep in poll() until fd is readable (true) or a stop signal arrives
 * (false): the stop signalfd is watched beside it, so Ctrl-C ends even a
 * wait for a client that never sends. timeout_ms -1: no timeout. */
static bool wait_readable(int fd, int stop_fd, int timeout_ms)
{
    struct pollfd watched[2] = { { .fd = stop_fd, .events = POLLIN },
                                 { .fd = fd, .events = POLLIN } };
    while (poll(watched, 2, timeout_ms) < 0)
        if (errno != EINTR) /* EINTR: SIGSTOP/SIGCONT; SIGINT comes through stop_fd */
            fatal("poll");
    if (watched[0].revents != 0) {
        take_stop_signal(stop_fd);
        return false;
    }
    return watched[1].revents != 0;
}

struct serve_totals {
    unsigned long clients, records, partial;
    unsigned long long bytes;
};

/* One complete record: its number, hex and tuple; -v also its layout. */
static void narrate_record(const struct format *format, const unsigned char *record,
                           const char *what, unsigned long number, struct text *tuple)
{
    char message[MESSAGE_SIZE];
    *tuple = text_in(tuple->data, tuple->size);
    if (unpack_record(format, record, format->size, tuple, message, sizeof message) < 0)
        return; /* not reached: the tuple buffer is sized by tuple_text_bound() */
    if (narration_level < NARRATE_NORMAL)
        return;
    printf("record %lu %s: %zu bytes ", number, what, format->size);
    print_hex(record, format->size, "", 64);
    printf(" -> %s\n", tuple->data);
    if (narration_level >= NARRATE_VERBOSE)
        print_layout(format, record);
}

/* Cut what one client sends into records of format->size bytes, until it
 * closes or a stop signal arrives. The socket is non-blocking and read only
 * after poll() says so; no EINTR, the stop signals come through stop_fd. */
static void serve_client(int client_fd, int stop_fd, const struct format *format,
                         unsigned char *record, struct text *tuple, struct serve_totals *totals)
{
    size_t filled = 0;
    unsigned long records = 0;
    for (;;) {
        narrate_detail("poll() - waiting for fd %d to send, or for Ctrl-C", client_fd);
        if (!wait_readable(client_fd, stop_fd, -1))
            return;
        ssize_t got = recv(client_fd, record + filled, format->size - filled, 0);
        if (got < 0 && errno == EAGAIN)
            continue;
        if (got < 0) {
            warn_errno("recv(fd %d) failed; closing it", client_fd);
            return;
        }
        if (got == 0 && filled == 0) {
            narrate("recv(fd %d) -> 0: the client closed after %lu record%s", client_fd, records,
                    records == 1 ? "" : "s");
            return;
        }
        if (got == 0) {
            totals->partial++;
            narrate("recv(fd %d) -> 0: the client closed in the middle of record %lu: %zu of "
                    "%zu bytes came; a partial record, dropped", client_fd, records + 1, filled,
                    format->size);
            return;
        }
        filled += (size_t)got;
        totals->bytes += (unsigned long long)got;
        narrate("recv(fd %d) -> %zd bytes (%zu of %zu of record %lu)", client_fd, got, filled,
                format->size, records + 1);
        if (filled == format->size) {
            char what[32];
            snprintf(what, sizeof what, "from fd %d", client_fd);
            narrate_record(format, record, what, ++records, tuple);
            totals->records++;
            filled = 0;
        }
    }
}

static int command_serve(const char *host, int port, const char *format_text)
{
    struct format format;
    parse_format_or_exit(format_text, &format, 1);
    if (format.size == 0)
        usage_error(usage_text, "serve needs a format of at least one byte");
    int stop_fd = open_stop_signal_fd();
    int listening_fd = listen_on(host, port, BACKLOG);
    announce_listening(listening_fd);
    struct listener listener;
    listener_start(&listener, listening_fd);
    narrate("format '%s': every record is %zu bytes (calcsize), %zu values", format_text,
            format.size, format.value_count);
    unsigned char *record = allocate(format.size);
    size_t tuple_size = tuple_text_bound(&format);
    char *tuple_data = allocate(tuple_size);
    struct text tuple = text_in(tuple_data, tuple_size);
    struct serve_totals totals = { 0 };
    while (!stop_requested) {
        narrate("poll() - waiting for a client to connect, or for Ctrl-C");
        if (!wait_readable(listener.paused ? -1 : listening_fd, stop_fd,
                           listener_timeout_ms(&listener))) {
            listener_resume_if_due(&listener); /* after an EMFILE pause */
            continue;
        }
        char peer_text[ADDRESS_TEXT_SIZE];
        int client_fd = listener_accept(&listener, peer_text, sizeof peer_text);
        if (client_fd < 0)
            continue;
        narrate("accept() -> fd %d from %s", client_fd, peer_text);
        totals.clients++;
        serve_client(client_fd, stop_fd, &format, record, &tuple, &totals);
        close(client_fd);
        narrate("close(fd %d)", client_fd);
    }
    close(listening_fd);
    close(stop_fd);
    free(record);
    free(tuple_data);
    announce("summary: clients=%lu records=%lu bytes=%llu partial=%lu", totals.clients,
             totals.records, totals.bytes, totals.partial);
    return 0;
}

/* Pack one record, or several back to back, and send them in one go. */
static int command_send(const char *host, int port, const char *format_text,
                        char *const values[], size_t value_count)
{
    struct format format;
    parse_format_or_exit(format_text, &format, 0);
    size_t per_record = format.value_count;
    size_t records = per_record == 0 ? 1 : value_count / per_record;
    if (format.size == 0)
        usage_error(usage_text, "send needs a format of at least one byte");
    if (records == 0 || records * per_record != value_count)
        usage_error(usage_text, "struct.error: pack expected %zu items for packing (got %zu)%s",
                    per_record, value_count, per_record > 0 ? ", or a multiple" : "");
    parse_format_or_exit(format_text, &format, records); /* again, for the size limit */
    size_t length = records * format.size, tuple_size = tuple_text_bound(&format);
    unsigned char *stream = allocate(length);
    char *tuple_data = allocate(tuple_size), message[MESSAGE_SIZE];
    struct text tuple = text_in(tuple_data, tuple_size);
    for (size_t i = 0; i < records; i++) {
        if (pack_record(&format, values + i * per_record, per_record, stream + i * format.size,
                        format.size, message, sizeof message) < 0) {
            free(stream);
            free(tuple_data);
            struct_error(message);
        }
        narrate_record(&format, stream + i * format.size, "packed", (unsigned long)i + 1, &tuple);
    }
    install_signal_handlers(); /* SIGPIPE: a closed server is an EPIPE, not a silent death */
    int fd = connect_to(host, port);
    narrate("connect() -> fd %d to %s port %d", fd, host, port);
    if (write_all(fd, stream, length) < 0)
        fatal("send to %s port %d", host, port);
    narrate("send(fd %d) -> %zu bytes: %zu record%s of %zu bytes, back to back", fd, length,
            records, records == 1 ? "" : "s", format.size);
    close(fd);
    free(stream);
    free(tuple_data);
    return 0;
}

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1";
    int port = DEFAULT_PORT;
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int option;
    while ((option = getopt_long(argc, argv, "+:H:p:qvh", long_options, NULL)) != -1) {
        switch (option) {
        case 'H': host = parse_host_or_exit(optarg, usage_text); break;
        case 'p': port = parse_port_or_exit(optarg, usage_text); break;
        case 'q': narration_level = NARRATE_QUIET; break;
        case 'v': narration_level = NARRATE_VERBOSE; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: reject_option(option, argv, usage_text);
        }
    }
    start_narration();
    /* Everything after the command is its arguments, "-5" included. */
    char **arguments = argv + optind;
    size_t count = (size_t)(argc - optind);
    const char *command = count > 0 ? arguments[0] : "";
    char between_bars[64];
    snprintf(between_bars, sizeof between_bars, "|%.60s|", command);
    struct format format;
    if (count == 0)
        show_course_example();
    else if (strcmp(command, "pack") == 0 && count >= 2)
        return command_pack(arguments[1], arguments + 2, count - 2);
    else if (strcmp(command, "unpack") == 0 && count == 3)
        return command_unpack(arguments[1], arguments[2]);
    else if (strcmp(command, "calcsize") == 0 && count == 2) {
        parse_format_or_exit(arguments[1], &format, 0);
        printf("%zu\n", format.size);
    }
    else if (strcmp(command, "serve") == 0 && count <= 2)
        return command_serve(host, port, count == 2 ? arguments[1] : "i5sf");
    else if (strcmp(command, "send") == 0 && count >= 2)
        return command_send(host, port, arguments[1], arguments + 2, count - 2);
    else if (strstr("|pack|unpack|calcsize|serve|send|", between_bars) != NULL)
        usage_error(usage_text, "wrong number of arguments for '%s'", command);
    else
        usage_error(usage_text, "unknown command '%s'", command);
    return 0;
}
