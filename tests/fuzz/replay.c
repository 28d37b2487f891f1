/*
 * replay.c - runs a fuzz target's inputs without libFuzzer, so that `make
 * test` replays every seed and every regression input with any compiler
 * (and with the sanitizers in `make test SANITIZE=1`).
 *
 * Usage: NAME_replay FILE_OR_FOLDER...   (a folder: every file in it)
 * Exit status: 0 when every input ran; a crash or a sanitizer report ends
 * the program on its own, which is the failure.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        perror(path);
        return 1;
    }
    size_t capacity = 4096, size = 0;
    uint8_t *data = malloc(capacity);
    size_t got;
    while (data != NULL && (got = fread(data + size, 1, capacity - size, file)) > 0) {
        size += got;
        if (size == capacity) {
            uint8_t *grown = realloc(data, capacity *= 2);
            if (grown == NULL)
                free(data);
            data = grown;
        }
    }
    fclose(file);
    if (data == NULL) {
        fprintf(stderr, "%s: out of memory\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

int main(int argc, char *argv[])
{
    int failures = 0, inputs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat status;
        if (stat(argv[i], &status) < 0) {
            perror(argv[i]);
            failures++;
            continue;
        }
        if (!S_ISDIR(status.st_mode)) {
            failures += run_file(argv[i]);
            inputs++;
            continue;
        }
        struct dirent **entries;
        int count = scandir(argv[i], &entries, NULL, alphasort);
        for (int j = 0; j < count; j++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], entries[j]->d_name);
            struct stat entry_status;
            if (entries[j]->d_name[0] != '.' && stat(path, &entry_status) == 0
                && S_ISREG(entry_status.st_mode)) {
                failures += run_file(path);
                inputs++;
            }
            free(entries[j]);
        }
        free(entries);
    }
    fprintf(stderr, "replayed %d inputs, %d unreadable\n", inputs, failures);
    return failures > 0;
}
