/*
 * struct_format_fuzz.c - libFuzzer target for struct_pack_demo's format
 * parser, pack, unpack and value formatting: the functions the demo itself
 * calls, included from its source (main renamed), so there is no copy.
 *
 * Input: the first line is a format (any bytes, NULs included); every
 * further line is one value for pack. The same lines are also unpacked as
 * raw bytes and read as hex. Nothing may crash, leak, overflow or hit
 * undefined behaviour, and whatever pack makes must unpack.
 *
 * Build and run (from the top of the tree):
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Icommon \
 *       tests/fuzz/struct_format_fuzz.c common/lab.c common/echo.c -lm -o build/struct_format_fuzz
 *   build/struct_format_fuzz -max_total_time=30 tests/fuzz/struct_format_corpus
 */
#define main struct_pack_demo_main
/* A .c on purpose: one copy of the parser, the very functions the demo runs. */
#include "../../demos/struct_pack_demo.c" // NOLINT(bugprone-suspicious-include): see above
#undef main

#include <assert.h>

/* Records bigger than this are refused, as the demo refuses its own limit. */
#define FUZZ_RECORD_LIMIT 4096
#define FUZZ_VALUE_LIMIT 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool stdout_closed;
    if (!stdout_closed) /* the layout table is printed: to nowhere */
        stdout_closed = freopen("/dev/null", "w", stdout) != NULL;
    char *input = malloc(size + 1);
    if (input == NULL)
        return 0;
    memcpy(input, data, size);
    input[size] = '\0';
    char *newline = memchr(input, '\n', size);
    size_t format_length = newline != NULL ? (size_t)(newline - input) : size;
    char *rest = newline != NULL ? newline + 1 : input + size;
    size_t rest_length = size - (size_t)(rest - input);

    char message[MESSAGE_SIZE];
    struct format format;
    if (parse_format(input, format_length, &format, message, sizeof message) < 0 ||
        format.size > FUZZ_RECORD_LIMIT) {
        free(input);
        return 0;
    }
    /* The values: the remaining lines, cut into strings (NULs end them early). */
    char *values[FUZZ_VALUE_LIMIT];
    size_t value_count = 0;
    for (char *line = rest; value_count < FUZZ_VALUE_LIMIT && line < input + size;) {
        char *end = memchr(line, '\n', (size_t)(input + size - line));
        if (end != NULL)
            *end = '\0';
        values[value_count++] = line;
        line = end != NULL ? end + 1 : input + size;
    }

    static unsigned char record[FUZZ_RECORD_LIMIT];
    size_t tuple_size = tuple_text_bound(&format);
    char *tuple_data = malloc(tuple_size);
    assert(tuple_data != NULL);
    struct text tuple = text_in(tuple_data, tuple_size);
    if (pack_record(&format, values, value_count, record, sizeof record, message,
                    sizeof message) == 0) {
        /* What pack made, unpack must read, and the bound must hold it. */
        assert(unpack_record(&format, record, format.size, &tuple, message, sizeof message) == 0);
        print_layout(&format, record);
        size_t call_size = 64 + 4 * format.length;
        for (size_t i = 0; i < value_count; i++)
            call_size += 4 * strlen(values[i]) + NUMBER_TEXT_SIZE + 16;
        char *call_data = malloc(call_size);
        assert(call_data != NULL);
        struct text call = text_in(call_data, call_size);
        format_pack_call(&format, values, &call);
        assert(!call.full);
        free(call_data);
    }
    /* The rest of the input as a record, raw and as hex. */
    if (rest_length == format.size) {
        tuple = text_in(tuple_data, tuple_size);
        assert(unpack_record(&format, (const unsigned char *)rest, rest_length, &tuple, message,
                             sizeof message) == 0);
    }
    size_t hex_length;
    if (decode_hex(rest, record, sizeof record, &hex_length, message, sizeof message) == 0 &&
        hex_length == format.size) {
        tuple = text_in(tuple_data, tuple_size);
        assert(unpack_record(&format, record, hex_length, &tuple, message, sizeof message) == 0);
    }
    free(tuple_data);
    free(input);
    return 0;
}
