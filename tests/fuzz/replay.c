/* SPDX-License-Identifier: MIT */
/*
 * replay.c - a main() for the fuzz targets without libFuzzer: feeds every file
 * of each directory (or each file) named on the command line to
 * LLVMFuzzerTestOneInput, in name order, as `make test` does with
 * tests/fuzz/corpus/<target>/.
 *
 * Each input is read into a buffer of exactly its size, so a target that reads
 * past the end is caught under ASan (SAN=1). An empty or missing directory is a
 * failure: a corpus that went missing must not pass silently. When a target
 * aborts (FUZZ_CHECK) or a sanitizer stops the process, the name of the input
 * is printed last.
 *
 * Usage: <target>_replay DIR|FILE...   exit 0 when every input passed.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

/* Set when the sanitizer runtime is linked in (SAN=1); absent otherwise. */
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static const char *current; /* the input being run, for the failure report */

/* say_current - write the input's name to stderr; async-signal-safe. */
static void say_current(void)
{
    static const char pre[] = "replay: failing input: ";

    if (current == NULL)
        return;
    if (write(2, pre, sizeof(pre) - 1) < 0 || write(2, current, strlen(current)) < 0 ||
        write(2, "\n", 1) < 0)
        return;
}

static void on_abort(int sig)
{
    say_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* run_file - feed @path to the target. 0, or -1 when it cannot be read. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *data;
    size_t n;

    if (f == NULL || fstat(fileno(f), &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        if (f != NULL)
            fclose(f);
        return -1;
    }
    n = (size_t)st.st_size;
    data = malloc(n > 0 ? n : 1);
    if (data == NULL || fread(data, 1, n, f) != n) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    current = path;
    LLVMFuzzerTestOneInput(data, n);
    current = NULL;
    free(data);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* run_dir - feed every regular file of @dir, in name order. Number run, or -1. */
static long run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    size_t i;
    long ran = 0;

    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char **grown;
        size_t len;

        if (e->d_name[0] == '.')
            continue;
        grown = realloc(names, (n + 1) * sizeof(*names));
        len = strlen(dir) + 1 + strlen(e->d_name) + 1;
        if (grown == NULL || (grown[n] = malloc(len)) == NULL) {
            fprintf(stderr, "replay: out of memory\n");
            exit(2);
        }
        names = grown;
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), by_name);
    for (i = 0; i < n; i++) {
        struct stat st;

        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(names[i]) != 0)
                ran = -1;
            else if (ran >= 0)
                ran++;
        }
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    long total = 0;
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 2;
    }
    signal(SIGABRT, on_abort);
    if (__sanitizer_set_death_callback != NULL)
        __sanitizer_set_death_callback(say_current);
    for (i = 1; i < argc; i++) {
        struct stat st;
        long ran;

        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            ran = run_dir(argv[i]);
            if (ran == 0)
                fprintf(stderr, "replay: %s: no inputs\n", argv[i]);
            if (ran <= 0)
                return 1;
        } else {
            if (run_file(argv[i]) != 0)
                return 1;
            ran = 1;
        }
        total += ran;
    }
    printf("%s: %ld inputs passed\n", argv[0], total);
    return 0;
}
