/*
test/fuzz/fuzz.h: what every fuzzing harness shares (make fuzz builds each
test/fuzz/NAME.c with clang -fsanitize=fuzzer,address,undefined -DDIE_LONGJMP).

The parsers stop on bad input with die() (util.h), which here longjmps back to
the harness instead of exiting. Their error paths leak on purpose (the program
exits there), so every malloc, calloc, realloc, strdup and fopen of the code
under test goes through the trackers below: fuzz_end() frees what the run left
and closes the files it left open, so a million runs neither grow nor run out
of file descriptors. Include this file first, then the code under test.

Each harness:
    if (setjmp(die_jump) == 0) { ...parse data... }   // die() lands at the else
    fuzz_end();
FUZZ_VERBOSE=1 prints each die() message (to see why a seed is refused).
*/
#ifndef FUZZ_H
#define FUZZ_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---- allocation and file tracking ------------------------------------------
// live blocks and files with the run (generation) that made them; those of
// earlier runs (a harness's setup) are left alone

#define FUZZ_MAX_LIVE (1 << 16)
typedef struct { void *p; unsigned gen; int is_file; } FuzzLive;
static FuzzLive fuzz_live[FUZZ_MAX_LIVE];
static size_t fuzz_nlive;
static unsigned fuzz_gen = 1;

static void fuzz_track(void *p, int is_file) {
    if (p == NULL) { return; }
    if (fuzz_nlive == FUZZ_MAX_LIVE) { fprintf(stderr, "fuzz.h: too many live blocks\n"); abort(); }
    fuzz_live[fuzz_nlive++] = (FuzzLive){p, fuzz_gen, is_file};
}

// forgets p; returns its generation, 0 when it was not tracked
static unsigned fuzz_untrack(void *p) {
    for (size_t i = fuzz_nlive; i-- > 0;) {
        if (fuzz_live[i].p == p) {
            unsigned gen = fuzz_live[i].gen;
            fuzz_live[i] = fuzz_live[--fuzz_nlive];
            return gen;
        }
    }
    return 0;
}

static void *fuzz_malloc(size_t n) { void *p = malloc(n); fuzz_track(p, 0); return p; }
static void *fuzz_calloc(size_t n, size_t k) { void *p = calloc(n, k); fuzz_track(p, 0); return p; }
static char *fuzz_strdup(const char *s) { char *p = strdup(s); fuzz_track(p, 0); return p; }
static void fuzz_free(void *p) { if (p != NULL) { fuzz_untrack(p); } free(p); }
static void *fuzz_realloc(void *p, size_t n) {
    unsigned gen = p != NULL ? fuzz_untrack(p) : fuzz_gen;
    void *q = realloc(p, n);
    if (q == NULL) { q = p; }  // the old block is still live
    if (q != NULL && gen != 0) {
        fuzz_track(q, 0);
        fuzz_live[fuzz_nlive - 1].gen = gen;
    }
    return q;
}
static FILE *fuzz_fopen(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    fuzz_track(f, 1);
    return f;
}
static int fuzz_fclose(FILE *f) { fuzz_untrack(f); return fclose(f); }

// the end of a run: frees its blocks, closes its files, starts the next run
static void fuzz_end(void) {
    for (size_t i = fuzz_nlive; i-- > 0;) {
        if (fuzz_live[i].gen != fuzz_gen) { continue; }
        if (fuzz_live[i].is_file) { fclose((FILE *)fuzz_live[i].p); } else { free(fuzz_live[i].p); }
        fuzz_live[i] = fuzz_live[--fuzz_nlive];
    }
    fuzz_gen++;
}

// what was allocated and opened so far stays (a harness's setup)
static void fuzz_keep(void) { fuzz_gen++; }

#define malloc(n) fuzz_malloc(n)
#define calloc(n, k) fuzz_calloc(n, k)
#define realloc(p, n) fuzz_realloc(p, n)
#define strdup(s) fuzz_strdup(s)
#define free(p) fuzz_free(p)
#define fopen(path, mode) fuzz_fopen(path, mode)
#define fclose(f) fuzz_fclose(f)

// ---- inputs as files --------------------------------------------------------

// a path in this process's scratch directory (under $TMPDIR or /tmp)
static const char *fuzz_path(const char *name) {
    static char dir[256] = "";
    static char path[8][512];
    static int next = 0;
    if (dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/fuzz.XXXXXX", tmp != NULL ? tmp : "/tmp");
        if (mkdtemp(dir) == NULL) { perror("fuzz.h: mkdtemp"); abort(); }
    }
    char *p = path[next++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

// writes data[0..n) to the scratch file name; returns its path
static const char *fuzz_write(const char *name, const uint8_t *data, size_t n) {
    const char *p = fuzz_path(name);
    FILE *f = fopen(p, "wb");
    if (f == NULL || (n > 0 && fwrite(data, 1, n, f) != n)) { perror("fuzz.h: write"); abort(); }
    fclose(f);
    return p;
}

// after a die(): prints its message when FUZZ_VERBOSE is set (use after util.h)
#define FUZZ_DIED() \
    do { if (getenv("FUZZ_VERBOSE") != NULL) { fprintf(stderr, "die: %s\n", die_message); } } while (0)

#endif  // FUZZ_H
