/*
tokenizer_testgen.c: inputs for test/test_tokenizer.sh that a shell can't make
quickly. Deterministic (seeded xorshift), so a failure reproduces.

  tokenizer_testgen utf8 SEED N     N random Unicode scalar values as valid UTF-8
                                    (ASCII, 2-, 3- and 4-byte characters mixed)
  tokenizer_testgen bytes SEED N    N random bytes (mostly invalid UTF-8)
  tokenizer_testgen vocab V OUT     a tokenizer file with V tokens: the 256 bytes,
                                    distinct 2- and 3-byte strings, <|endoftext|> last
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *msg) {
    fprintf(stderr, "tokenizer_testgen: %s\n", msg);
    exit(EXIT_FAILURE);
}

static uint64_t next_u64(uint64_t *s) {
    // xorshift64*
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static size_t put_utf8(uint32_t cp, unsigned char *o) {
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12); o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18); o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (unsigned char)(0x80 | (cp & 0x3F)); return 4;
}

// A random scalar value: 40% ASCII (with many spaces, letters, apostrophes),
// 20% U+0080..U+07FF, 25% rest of the BMP, 15% supplementary planes.
static uint32_t random_cp(uint64_t *s) {
    uint64_t r = next_u64(s);
    unsigned pick = (unsigned)(r % 100);
    uint32_t x = (uint32_t)(r >> 32);
    if (pick < 40) {
        const char *common = "  \n\t'sdtlmvrea1";
        return (x & 1) ? (uint32_t)common[(x >> 1) % strlen(common)] : (x >> 1) % 0x80;
    }
    if (pick < 60) { return 0x80 + x % (0x800 - 0x80); }
    if (pick < 85) {
        uint32_t cp = 0x800 + x % (0x10000 - 0x800 - 0x800); // skip the surrogates
        return cp >= 0xD800 ? cp + 0x800 : cp;
    }
    return 0x10000 + x % (0x110000 - 0x10000);
}

static void write_vocab(long v, const char *path) {
    if (v < 257 || v > 256 + 65536 + 65536) { die("vocab: V out of range"); }
    FILE *f = fopen(path, "wb");
    if (f == NULL) { die("cannot open output file"); }
    int32_t header[256] = {0};
    header[0] = 20240328; header[1] = 2; header[2] = (int32_t)v; header[3] = (int32_t)(v - 1);
    fwrite(header, sizeof(int32_t), 256, f);
    for (long id = 0; id < v - 1; id++) {
        unsigned char tok[4];
        size_t len;
        if (id < 256) { tok[0] = (unsigned char)id; len = 1; }
        else if (id < 256 + 65536) { long k = id - 256; tok[0] = (unsigned char)(k >> 8); tok[1] = (unsigned char)k; len = 2; }
        else { long k = id - 256 - 65536; tok[0] = 'x'; tok[1] = (unsigned char)(k >> 8); tok[2] = (unsigned char)k; len = 3; }
        unsigned char l = (unsigned char)len;
        fwrite(&l, 1, 1, f);
        fwrite(tok, 1, len, f);
    }
    unsigned char l = 13;
    fwrite(&l, 1, 1, f);
    fwrite("<|endoftext|>", 1, 13, f);
    if (fclose(f) != 0) { die("write failed"); }
}

int main(int argc, char **argv) {
    if (argc != 4) { die("usage: tokenizer_testgen utf8|bytes SEED N | vocab V OUT"); }
    if (strcmp(argv[1], "vocab") == 0) {
        write_vocab(strtol(argv[2], NULL, 10), argv[3]);
        return 0;
    }
    uint64_t s = 0x9E3779B97F4A7C15ull ^ strtoull(argv[2], NULL, 10);
    long n = strtol(argv[3], NULL, 10);
    if (n < 0) { die("N must be >= 0"); }
    unsigned char buf[4];
    for (long i = 0; i < n; i++) {
        if (strcmp(argv[1], "bytes") == 0) {
            putchar((int)(next_u64(&s) >> 56));
        } else if (strcmp(argv[1], "utf8") == 0) {
            fwrite(buf, 1, put_utf8(random_cp(&s), buf), stdout);
        } else {
            die("unknown mode");
        }
    }
    return 0;
}
