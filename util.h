/*
util.h: the plumbing every program here shares (./train, ./tokenizer,
./import_hf, the tests and the lab): the file formats' magic numbers, the one
error function, checked file and memory helpers, atomic file writes, a seeded
random number generator and a clock. Nothing in it is about training; read
train.c first.

Every checked helper reports what failed, the file and line of the call, and
exits non-zero: raw fopen/fread/malloc appear nowhere else.
*/
#ifndef UTIL_H
#define UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // POSIX and glibc: fseeko (64-bit offsets), fsync, glob, M_PI
#endif
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// ----------------------------------------------------------------------------
// file formats (llm.c's, see data/README.md): every file starts with a header
// of HEADER_INTS int32, the first two being a magic number and a version

#define HEADER_INTS 256
#define MODEL_MAGIC 20240326         // model file: parameters, fp32 or bf16
#define MODEL_VERSION_FP32 3
#define MODEL_VERSION_BF16 5
#define TOKENS_MAGIC 20240520        // token shard: uint16 token ids
#define TOKENS_VERSION 1
#define TOKENIZER_MAGIC 20240328     // tokenizer file: the bytes of every token
#define TOKENIZER_VERSION 2
#define STATE_MAGIC 20261129         // our own: the training state for resume
#define STATE_VERSION 1
#define LORA_MAGIC 20261202          // our own: a LoRA checkpoint (adapters, moments, run state)
#define LORA_VERSION 1
#define PATH_MAX_LEN 4096            // longest path we build (checkpoint names)

// ----------------------------------------------------------------------------
// errors

// what every error message starts with; ./tokenizer names itself
#ifndef ERROR_PREFIX
#define ERROR_PREFIX "error: "
#endif

// DIE_LONGJMP (the fuzzing harnesses of test/fuzz/ only): die() formats the
// message into die_message and longjmps to die_jump, which the harness set
// with setjmp, instead of exiting; the harness frees what the error path left.
#ifdef DIE_LONGJMP
#include <setjmp.h>
static jmp_buf die_jump;
static char die_message[512];
#endif

// prints the message on stderr and exits with status 1: the one way any
// program here stops on bad input, a bad file or a failed call
__attribute__((noreturn, format(printf, 1, 2)))
static inline void die(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
#ifdef DIE_LONGJMP
    vsnprintf(die_message, sizeof(die_message), fmt, args);
    va_end(args);
    longjmp(die_jump, 1);
#else
    fprintf(stderr, ERROR_PREFIX);
    vfprintf(stderr, fmt, args);
    fprintf(stderr, "\n");
    va_end(args);
    exit(EXIT_FAILURE);
#endif
}

// ----------------------------------------------------------------------------
// checked helpers: each reports what failed and where, and exits non-zero

static inline FILE *fopen_check(const char *path, const char *mode, const char *file, int line) {
    FILE *f = fopen(path, mode);
    if (f == NULL) {
        die("cannot open '%s' (mode %s): %s (%s:%d)", path, mode, strerror(errno), file, line);
    }
    return f;
}
#define fopenCheck(path, mode) fopen_check(path, mode, __FILE__, __LINE__)

static inline void fread_check(void *ptr, size_t size, size_t count, FILE *fp, const char *file, int line) {
    size_t got = fread(ptr, size, count, fp);
    if (got != count) {
        die("short read: wanted %zu items of %zu bytes, got %zu (%s) [%s:%d]", count, size, got,
            feof(fp) ? "file truncated?" : strerror(errno), file, line);
    }
}
#define freadCheck(ptr, size, count, fp) fread_check(ptr, size, count, fp, __FILE__, __LINE__)

static inline void fwrite_check(const void *ptr, size_t size, size_t n, FILE *f, const char *file, int line) {
    if (n > 0 && fwrite(ptr, size, n, f) != n) {
        die("write failed (%zu items of %zu bytes): %s (%s:%d)", n, size, strerror(errno), file, line);
    }
}
#define fwriteCheck(ptr, size, n, f) fwrite_check(ptr, size, n, f, __FILE__, __LINE__)

static inline void fseek_check(FILE *fp, int64_t offset, int whence, const char *file, int line) {
    if (fseeko(fp, (off_t)offset, whence) != 0) {
        die("seek to %lld failed: %s [%s:%d]", (long long)offset, strerror(errno), file, line);
    }
}
#define fseekCheck(fp, offset, whence) fseek_check(fp, offset, whence, __FILE__, __LINE__)

static inline void fclose_check(FILE *f, const char *file, int line) {
    if (fclose(f) != 0) { die("close failed: %s (%s:%d)", strerror(errno), file, line); }
}
#define fcloseCheck(f) fclose_check(f, __FILE__, __LINE__)

static inline void *malloc_check(size_t size, const char *file, int line) {
    void *p = malloc(size > 0 ? size : 1);
    if (p == NULL) { die("out of memory allocating %zu bytes (%s:%d)", size, file, line); }
    return p;
}
#define mallocCheck(size) malloc_check(size, __FILE__, __LINE__)

// Zeroed memory. From 4 MiB up (the model's parameters, gradients, moments
// and activations) it asks Linux for 2 MiB pages where it can (transparent
// huge pages in "madvise" mode, Debian's default): the matmul and AdamW walk
// gigabytes, and one TLB entry then covers 512 times as much of it. (About 4%
// of a GPT-2 124M step on the 2-core machine of dev/bench_cpu.sh; the bits
// are the same. Where the kernel says no, nothing changes.)
static inline void *calloc_check(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n > 0 ? n : 1, size > 0 ? size : 1);
    if (p == NULL) { die("out of memory allocating %zu x %zu bytes (%s:%d)", n, size, file, line); }
#ifdef MADV_HUGEPAGE
    if (n * size >= ((size_t)4 << 20)) {  // the whole pages inside the block
        uintptr_t page = 4096, start = ((uintptr_t)p + page - 1) & ~(page - 1);
        uintptr_t end = ((uintptr_t)p + n * size) & ~(page - 1);
        (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
    }
#endif
    return p;
}
#define callocCheck(n, size) calloc_check(n, size, __FILE__, __LINE__)

static inline void *realloc_check(void *ptr, size_t size, const char *file, int line) {
    void *p = realloc(ptr, size > 0 ? size : 1);
    if (p == NULL) { die("out of memory growing to %zu bytes (%s:%d)", size, file, line); }
    return p;
}
#define reallocCheck(ptr, size) realloc_check(ptr, size, __FILE__, __LINE__)

// grows *cap (doubling) until it holds `need` items, reallocating *ptr
static inline void grow(void **ptr, size_t *cap, size_t need, size_t item_size) {
    if (need <= *cap) { return; }
    size_t c = *cap > 0 ? *cap : 16;
    while (c < need) { c *= 2; }
    *ptr = reallocCheck(*ptr, c * item_size);
    *cap = c;
}

// ----------------------------------------------------------------------------
// files

// size of a file in bytes, or -1 when it cannot be opened
static inline int64_t file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) { return -1; }
    return (int64_t)st.st_size;
}

// Reads the 256-int32 header of a file and checks its magic and size:
// fails with a message naming the file when it is missing, short or foreign.
static inline void read_header(int *header, const char *path, int magic, const char *what) {
    int64_t size = file_size(path);
    if (size < 0) { die("cannot open %s '%s': %s", what, path, strerror(errno)); }
    if (size < (int64_t)(HEADER_INTS * sizeof(int))) {
        die("%s '%s' is %lld bytes, shorter than its %zu-byte header: truncated or not a %s",
            what, path, (long long)size, HEADER_INTS * sizeof(int), what);
    }
    FILE *fp = fopenCheck(path, "rb");
    freadCheck(header, sizeof(int), HEADER_INTS, fp);
    fcloseCheck(fp);
    if (header[0] != magic) {
        die("'%s' is not a %s: magic number %d, expected %d", path, what, header[0], magic);
    }
}

// a whole file in memory
typedef struct {
    uint8_t *data;
    size_t size;
} Buffer;

// reads a whole file ("-" = stdin) into memory
static inline Buffer read_all(const char *path) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopenCheck(path, "rb");
    Buffer b = {NULL, 0};
    size_t cap = 0;
    for (;;) {
        grow((void **)&b.data, &cap, b.size + (1 << 16), 1);
        size_t got = fread(b.data + b.size, 1, cap - b.size, f);
        b.size += got;
        if (got == 0) { break; }
    }
    if (ferror(f)) { die("read error on '%s': %s", path, strerror(errno)); }
    if (f != stdin) { fcloseCheck(f); }
    return b;
}

// Writes a file atomically: a temporary file next to it (PATH.tmp.PID),
// fsync, rename. A crash, a kill or a full disk never leaves a half-written
// PATH behind, and never touches an earlier PATH: on a failed write (ENOSPC,
// EIO, EFBIG past `ulimit -f`, a short write) the temporary file is removed
// and the message names the file and the cause.
typedef struct {
    FILE *f;
    char *tmp_path;
    const char *path;
} AtomicFile;

static inline AtomicFile atomic_open(const char *path) {
    AtomicFile a;
    size_t n = strlen(path) + 32;
    a.tmp_path = (char *)mallocCheck(n);
    snprintf(a.tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    a.path = path;
    a.f = fopen(a.tmp_path, "wb");
    if (a.f == NULL) { die("cannot open '%s' for writing: %s", a.tmp_path, strerror(errno)); }
    return a;
}

// the end of a failed atomic write: the temporary file goes, PATH is untouched
__attribute__((noreturn))
static inline void atomic_fail(AtomicFile *a, const char *what, int err) {
    if (a->f != NULL) { fclose(a->f); }
    unlink(a->tmp_path);
    die("cannot write '%s' (%s): %s; it was not replaced (earlier files are kept)", a->path, what,
        strerror(err != 0 ? err : EIO));
}

static inline void atomic_write(AtomicFile *a, const void *ptr, size_t size, size_t n) {
    if (n > 0 && fwrite(ptr, size, n, a->f) != n) { atomic_fail(a, "write", errno); }
}

static inline void atomic_commit(AtomicFile *a) {
    if (fflush(a->f) != 0 || fsync(fileno(a->f)) != 0) { atomic_fail(a, "flush", errno); }
    FILE *f = a->f;
    a->f = NULL;
    if (fclose(f) != 0) { atomic_fail(a, "close", errno); }
    if (rename(a->tmp_path, a->path) != 0) { atomic_fail(a, "rename", errno); }
    free(a->tmp_path);
}

// mkdir -p: creates dir and any missing parents
static inline void make_dirs(const char *dir) {
    char path[PATH_MAX_LEN];
    int n = snprintf(path, sizeof(path), "%s", dir);
    if (n < 0 || n >= PATH_MAX_LEN) { die("path too long: %s", dir); }
    for (char *p = path + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                die("cannot create directory '%s': %s", path, strerror(errno));
            }
            *p = saved;
            if (saved == '\0') { break; }
        }
    }
}

// ----------------------------------------------------------------------------
// time

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ----------------------------------------------------------------------------
// random numbers: xorshift* (64-bit state in a struct, so runs are seeded and
// the state can be saved in a checkpoint)

typedef struct {
    uint64_t state;
} Rng;

static inline void rng_seed(Rng *rng, uint64_t seed) {
    // splitmix64 of the seed, so that nearby seeds give unrelated streams and
    // the state is never zero (xorshift would stay at zero forever)
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    rng->state = z != 0 ? z : 0x2545F4914F6CDD1DULL;
}

static inline uint32_t rng_u32(Rng *rng) {
    rng->state ^= rng->state >> 12;
    rng->state ^= rng->state << 25;
    rng->state ^= rng->state >> 27;
    return (uint32_t)((rng->state * 0x2545F4914F6CDD1DULL) >> 32);
}

// uniform in [0, 1), 24 random bits
static inline float rng_uniform(Rng *rng) {
    return (float)(rng_u32(rng) >> 8) / 16777216.0f;
}

// standard normal by Box-Muller (uses two uniforms per draw; simple, exact enough)
static inline float rng_normal(Rng *rng) {
    float u1 = rng_uniform(rng);
    float u2 = rng_uniform(rng);
    float r = sqrtf(-2.0f * logf(1.0f - u1));  // 1 - u1 is in (0, 1]: no log(0)
    return r * cosf(2.0f * (float)M_PI * u2);
}

// uniform integer in [0, n), for shuffling
static inline size_t rng_below(Rng *rng, size_t n) {
    uint64_t r = ((uint64_t)rng_u32(rng) << 32) | rng_u32(rng);
    return (size_t)(r % n);
}

#endif  // UTIL_H
