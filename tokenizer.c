/*
tokenizer.c: GPT-2's byte-level BPE tokenizer in plain C. It encodes (token for
token identical to tiktoken's "gpt2" encoding, encode_ordinary), decodes, learns
a new vocabulary from a text file, imports GPT-2's published vocabulary and
writes token shards for ./train. Plain C, libc only, no Python anywhere.

Build:   make tokenizer
         (or: cc -O3 -std=c11 tokenizer.c -o tokenizer; it includes util.h
         and tokenizer.h)

Usage:
  ./tokenizer import ENCODER_JSON VOCAB_BPE OUT
        GPT-2's encoder.json + vocab.bpe -> tokenizer file OUT.
  ./tokenizer encode -k TOKENIZER FILE [--special]
        token ids of FILE ("-" = stdin) as decimal numbers on stdout.
  ./tokenizer decode -k TOKENIZER FILE
        the inverse: whitespace separated ids in, the bytes out.
  ./tokenizer shard -k TOKENIZER TEXT OUT_PREFIX [--val F] [--shard-size N]
                    [--docs] [--sep STRING]
        train/val shards OUT_PREFIX_val_000.bin, OUT_PREFIX_train_000.bin, ...
  ./tokenizer train TEXT --vocab N OUT
        learn a byte-level BPE vocabulary of N tokens (256 bytes, N-257 merges,
        <|endoftext|>) with GPT-2's pre-tokenisation and write it to OUT.
  ./tokenizer bench -k TOKENIZER FILE [--repeat R]
        encode speed (MB/s), best and median of R runs, one thread.
  ./tokenizer -h

The tokenizer itself (reading a tokenizer file, encoding, the defined
behaviour on every input, why it is fast) is tokenizer.h; this file holds the
commands. What they do beyond encoding:
- encode --special: every literal "<|endoftext|>" becomes the end-of-text
  token (tiktoken's encode(text, allowed_special="all")); without it the text
  is encoded as tiktoken's encode_ordinary does.
- shard --docs splits the text into documents at "<|endoftext|>": each
  non-empty document is preceded by the end-of-text token, the separators
  are dropped.
- shard: the first round(F * N) tokens (--val F, default 0.1) are the val split
  (from the start of the text, like llm.c's tinyshakespeare), the rest train;
  each split is cut into files of at most --shard-size tokens, each written
  atomically (temporary file, fsync, rename).
- train: ids 0..255 are the bytes 0..255, then one token per merge in order of
  creation, then <|endoftext|> last. Each step merges the most frequent
  adjacent pair (counted over the whole text, never across pieces); ties go to
  the smaller left token id, then the smaller right token id: deterministic.

File formats (llm.c's; see data/README.md):
- tokenizer: header of 256 int32 {20240328, 2, V, eot id, 0...}, then for each
  token id in order a uint8 length (1..255) and that many bytes.
- tokens: header of 256 int32 {20240520, 1, number of tokens, 0...}, then uint16.
*/

#define ERROR_PREFIX "tokenizer: error: "
#include "util.h"
#include "tokenizer.h"

// ----------------------------------------------------------------------------
// Constants of the commands (the library's are tokenizer.h's)

#define SHARD_MAX_VOCAB 65536         // ids are stored as uint16 in shards
#define DEFAULT_VAL_FRACTION 0.1
#define DEFAULT_SHARD_TOKENS 100000000 // 100M tokens (200 MB) per shard

// ----------------------------------------------------------------------------
// Writing a tokenizer file

// Writes tokens given as (bytes, offsets) in the tokenizer file format.
static void tokenizer_write(const char *path, const uint8_t *bytes, const size_t *offset,
                            size_t vocab_size, uint32_t eot) {
    int32_t header[HEADER_INTS] = {0};
    header[0] = TOKENIZER_MAGIC;
    header[1] = TOKENIZER_VERSION;
    header[2] = (int32_t)vocab_size;
    header[3] = (int32_t)eot;
    AtomicFile a = atomic_open(path);
    atomic_write(&a, header, sizeof(int32_t), HEADER_INTS);
    for (size_t i = 0; i < vocab_size; i++) {
        size_t len = offset[i + 1] - offset[i];
        if (len == 0 || len > MAX_TOKEN_LEN) { die("token %zu has length %zu, not in 1..255", i, len); }
        uint8_t l = (uint8_t)len;
        atomic_write(&a, &l, 1, 1);
        atomic_write(&a, bytes + offset[i], 1, len);
    }
    atomic_commit(&a);
}


// ----------------------------------------------------------------------------
// Import of GPT-2's encoder.json and vocab.bpe

// GPT-2 stores token bytes as printable characters: bytes that are printable
// Latin-1 ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand for themselves, the other 68
// bytes (0x00..0x20, 0x7F..0xA0, 0xAD) become U+0100, U+0101, ... in byte order.
// This is the inverse map: code point (< 512) -> byte, or -1.
static void gpt2_unicode_to_byte(int map[512]) {
    for (int i = 0; i < 512; i++) { map[i] = -1; }
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        map[printable ? b : 256 + extra++] = b;
    }
}

// Converts one token string of GPT-2's files (UTF-8) to its bytes; returns the
// number of bytes, or 0 if a character is outside GPT-2's byte alphabet.
static size_t gpt2_token_bytes(const int map[512], const uint8_t *s, size_t n, uint8_t *out, size_t out_cap) {
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += utf8_decode(s + i, n - i, &cp);
        if (cp >= 512 || map[cp] < 0 || m >= out_cap) { return 0; }
        out[m++] = (uint8_t)map[cp];
    }
    return m;
}

typedef struct {
    const uint8_t *s;
    size_t n, pos;
    const char *path;
} JsonReader;

__attribute__((noreturn))
static void json_fail(const JsonReader *r, const char *what) {
    die("'%s' is not a valid encoder.json: %s at byte %zu", r->path, what, r->pos);
}

static void json_ws(JsonReader *r) {
    while (r->pos < r->n && (r->s[r->pos] == ' ' || r->s[r->pos] == '\n' ||
                             r->s[r->pos] == '\r' || r->s[r->pos] == '\t')) { r->pos++; }
}

static void json_expect(JsonReader *r, char c) {
    json_ws(r);
    if (r->pos >= r->n || r->s[r->pos] != (uint8_t)c) {
        char msg[32];
        snprintf(msg, sizeof(msg), "expected '%c'", c);
        json_fail(r, msg);
    }
    r->pos++;
}

static uint32_t json_hex4(JsonReader *r) {
    if (r->pos + 4 > r->n) { json_fail(r, "truncated \\u escape"); }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = r->s[r->pos++];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) { json_fail(r, "bad hex digit in \\u escape"); }
        v = v * 16 + (uint32_t)d;
    }
    return v;
}

static size_t utf8_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { out[0] = (uint8_t)(0xC0 | cp >> 6); out[1] = (uint8_t)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12); out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F)); return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18); out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (uint8_t)(0x80 | (cp & 0x3F)); return 4;
}

// Reads a JSON string into out (UTF-8, escapes resolved); returns its length.
static size_t json_string(JsonReader *r, uint8_t *out, size_t cap) {
    json_expect(r, '"');
    size_t m = 0;
    for (;;) {
        if (r->pos >= r->n) { json_fail(r, "unterminated string"); }
        if (m + 4 > cap) { json_fail(r, "string too long for a token"); }
        uint8_t c = r->s[r->pos++];
        if (c == '"') { return m; }
        if (c != '\\') { out[m++] = c; continue; }
        if (r->pos >= r->n) { json_fail(r, "unterminated escape"); }
        c = r->s[r->pos++];
        const char *simple = "\"\\/bfnrt", *value = "\"\\/\b\f\n\r\t";
        const char *k = c != 0 ? strchr(simple, c) : NULL;
        if (k != NULL) { out[m++] = (uint8_t)value[k - simple]; continue; }
        if (c != 'u') { json_fail(r, "unknown escape"); }
        uint32_t cp = json_hex4(r);
        if (cp >= 0xD800 && cp <= 0xDBFF) { // surrogate pair
            if (r->pos + 2 > r->n || r->s[r->pos] != '\\' || r->s[r->pos + 1] != 'u') {
                json_fail(r, "lone high surrogate");
            }
            r->pos += 2;
            uint32_t lo = json_hex4(r);
            if (lo < 0xDC00 || lo > 0xDFFF) { json_fail(r, "bad low surrogate"); }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            json_fail(r, "lone low surrogate");
        }
        m += utf8_encode(cp, out + m);
    }
}

static long json_int(JsonReader *r) {
    json_ws(r);
    size_t start = r->pos;
    long v = 0;
    while (r->pos < r->n && r->s[r->pos] >= '0' && r->s[r->pos] <= '9') {
        v = v * 10 + (r->s[r->pos++] - '0');
        if (v > (long)MAX_VOCAB) { json_fail(r, "token id too large"); }
    }
    if (r->pos == start) { json_fail(r, "expected a non-negative integer token id"); }
    return v;
}

// GPT-2's vocabulary as read from encoder.json: token bytes by id.
typedef struct {
    uint8_t (*tok)[MAX_TOKEN_LEN]; // (n) tok[id]: the token's bytes
    size_t *len;                   // (n) their number; 0 = id not seen (yet)
    size_t n, tok_cap, len_cap;
    long eot;                      // id of <|endoftext|>, -1 if absent
} Gpt2Vocab;

// Makes room for ids 0..id (new ids start unseen).
static void gpt2_vocab_reserve(Gpt2Vocab *v, size_t id) {
    if (id < v->n) { return; }
    grow((void **)&v->tok, &v->tok_cap, id + 1, sizeof(*v->tok));
    grow((void **)&v->len, &v->len_cap, id + 1, sizeof(size_t));
    for (size_t i = v->n; i <= id; i++) { v->len[i] = 0; }
    v->n = id + 1;
}

// Reads encoder.json: {"token string": id, ...}. Checks that the ids are
// 0..N-1 each once, that ids 0..255 are the 256 single bytes, and appends
// <|endoftext|> as the last id if the file lacks it.
static Gpt2Vocab read_encoder_json(const char *path, const int map[512]) {
    Buffer js = read_all(path);
    JsonReader r = {js.data, js.size, 0, path};
    Gpt2Vocab v;
    memset(&v, 0, sizeof(v));
    v.eot = -1;
    uint8_t str[4 * MAX_TOKEN_LEN + 8];
    json_expect(&r, '{');
    json_ws(&r);
    int more = !(r.pos < r.n && r.s[r.pos] == '}');
    while (more) {
        size_t slen = json_string(&r, str, sizeof(str));
        json_expect(&r, ':');
        long id = json_int(&r);
        // Every entry takes at least 4 bytes ("":0), so dense ids are < size / 4.
        if ((size_t)id >= js.size / 4) { json_fail(&r, "token id too large for the file (ids must be 0..N-1)"); }
        gpt2_vocab_reserve(&v, (size_t)id);
        if (v.len[id] != 0) { die("'%s': token id %ld appears twice", path, id); }
        if (slen == strlen(EOT_STRING) && memcmp(str, EOT_STRING, slen) == 0) {
            v.eot = id;
            memcpy(v.tok[id], EOT_STRING, slen);
            v.len[id] = slen;
        } else {
            v.len[id] = gpt2_token_bytes(map, str, slen, v.tok[id], MAX_TOKEN_LEN);
            if (v.len[id] == 0) {
                die("'%s': token %ld is empty, longer than 255 bytes, or has a character outside "
                     "GPT-2's byte alphabet", path, id);
            }
        }
        json_ws(&r);
        more = r.pos < r.n && r.s[r.pos] == ',';
        if (more) { r.pos++; }
    }
    json_expect(&r, '}');
    json_ws(&r);
    if (r.pos != r.n) { json_fail(&r, "trailing characters after the object"); }
    free(js.data);
    for (size_t i = 0; i < v.n; i++) {
        if (v.len[i] == 0) { die("'%s': token id %zu is missing (ids must be 0..%zu)", path, i, v.n - 1); }
    }
    if (v.eot < 0) { // no <|endoftext|> in the file: it becomes the last id
        v.eot = (long)v.n;
        gpt2_vocab_reserve(&v, v.n);
        memcpy(v.tok[v.eot], EOT_STRING, strlen(EOT_STRING));
        v.len[v.eot] = strlen(EOT_STRING);
    }
    if (v.n < 257) { die("'%s': only %zu tokens; the 256 single bytes and <|endoftext|> are needed", path, v.n); }
    int seen[256] = {0};
    for (size_t i = 0; i < 256; i++) {
        if (v.len[i] != 1 || seen[v.tok[i][0]]) {
            die("'%s': ids 0..255 must be the 256 distinct single bytes (id %zu is not)", path, i);
        }
        seen[v.tok[i][0]] = 1;
    }
    return v;
}

// Reads vocab.bpe ("#version" line, then one merge "A B" per line in rank
// order) and checks that merge i produces token 256 + i of encoder.json (the
// end-of-text id skipped): then every id is a merge rank. Returns the number
// of merges.
static size_t check_vocab_bpe(const char *path, const int map[512], const Gpt2Vocab *v) {
    Buffer bpe = read_all(path);
    size_t pos = 0, line_no = 0, merges = 0;
    uint8_t a[MAX_TOKEN_LEN], b[MAX_TOKEN_LEN];
    while (pos < bpe.size) {
        size_t end = pos;
        while (end < bpe.size && bpe.data[end] != '\n') { end++; }
        size_t line_end = end > pos && bpe.data[end - 1] == '\r' ? end - 1 : end;
        const uint8_t *line = bpe.data + pos;
        size_t ll = line_end - pos;
        pos = end + 1;
        line_no++;
        if (ll == 0 || (line_no == 1 && line[0] == '#')) { continue; }
        const uint8_t *sp = (const uint8_t *)memchr(line, ' ', ll);
        size_t la = sp != NULL ? (size_t)(sp - line) : 0, lb = sp != NULL ? ll - la - 1 : 0;
        if (sp == NULL || memchr(sp + 1, ' ', lb) != NULL) {
            die("'%s' line %zu: expected two tokens separated by one space", path, line_no);
        }
        la = gpt2_token_bytes(map, line, la, a, sizeof(a));
        lb = gpt2_token_bytes(map, sp + 1, lb, b, sizeof(b));
        if (la == 0 || lb == 0) { die("'%s' line %zu: a token outside GPT-2's byte alphabet", path, line_no); }
        size_t id = 256 + merges;
        if (id >= (size_t)v->eot) { id++; }
        if (id >= v->n || v->len[id] != la + lb || memcmp(v->tok[id], a, la) != 0 ||
            memcmp(v->tok[id] + la, b, lb) != 0) {
            die("'%s' line %zu: merge %zu does not give token %zu of encoder.json; the ids must be "
                 "the merge ranks (are these two files from the same model?)", path, line_no, merges, id);
        }
        merges++;
    }
    free(bpe.data);
    if (256 + merges + 1 != v->n) {
        die("'%s' has %zu merges but encoder.json has %zu tokens (expected %zu merges)",
             path, merges, v->n, v->n - 257);
    }
    return merges;
}

// import: encoder.json gives every token's id; vocab.bpe lists the merges in
// rank order. The file we write keeps encoder.json's ids, after checking that
// they are the merge ranks, which is what lets the one tokenizer file serve
// encoding as well as decoding.
static void cmd_import(const char *json_path, const char *bpe_path, const char *out_path) {
    int map[512];
    gpt2_unicode_to_byte(map);
    Gpt2Vocab v = read_encoder_json(json_path, map);
    size_t merges = check_vocab_bpe(bpe_path, map, &v);
    uint8_t *bytes = (uint8_t *)mallocCheck(v.n * MAX_TOKEN_LEN);
    size_t *offset = (size_t *)mallocCheck((v.n + 1) * sizeof(size_t));
    size_t off = 0;
    for (size_t i = 0; i < v.n; i++) {
        offset[i] = off;
        memcpy(bytes + off, v.tok[i], v.len[i]);
        off += v.len[i];
    }
    offset[v.n] = off;
    tokenizer_write(out_path, bytes, offset, v.n, (uint32_t)v.eot);
    printf("imported %zu tokens (%zu merges, end-of-text id %ld) -> %s\n", v.n, merges, v.eot, out_path);
    free(bytes); free(offset); free(v.tok); free(v.len);
}

// ----------------------------------------------------------------------------
// Encode, decode and bench commands

static void write_ids(const IdVec *v) {
    // Formats into a buffer by hand: printf per id would dominate the run time.
    size_t cap = 1 << 16, m = 0;
    char *buf = (char *)mallocCheck(cap);
    for (size_t i = 0; i < v->n; i++) {
        if (m + 16 > cap) { fwriteCheck(buf, 1, m, stdout); m = 0; }
        char tmp[12];
        int k = 0;
        uint32_t x = v->ids[i];
        do { tmp[k++] = (char)('0' + x % 10); x /= 10; } while (x > 0);
        while (k > 0) { buf[m++] = tmp[--k]; }
        buf[m++] = i + 1 < v->n ? ' ' : '\n';
    }
    fwriteCheck(buf, 1, m, stdout);
    free(buf);
}

static void cmd_encode(const char *tok_path, const char *path, int special) {
    Tokenizer t;
    tokenizer_load(&t, tok_path);
    tokenizer_build_encoder(&t);
    Buffer text = read_all(path);
    Encoder e;
    encoder_init(&e, &t);
    Progress prog;
    if (progress_init(&prog, "tokenizer: encoding", text.data, text.size)) { e.progress = &prog; }
    IdVec ids = {NULL, 0, 0};
    if (special) {
        encode_split(&e, text.data, text.size, EOT_STRING, SEP_AS_EOT, &ids);
    } else {
        encode_ordinary(&e, text.data, text.size, &ids);
    }
    if (e.progress != NULL) { progress_print(&prog, text.size, now_seconds(), 1); }
    write_ids(&ids);
    if (fflush(stdout) != 0) { die("cannot write to stdout: %s", strerror(errno)); }
    free(ids.ids); free(text.data);
    encoder_free(&e);
    tokenizer_free(&t);
}

static void cmd_decode(const char *tok_path, const char *path) {
    Tokenizer t;
    tokenizer_load(&t, tok_path);
    Buffer in = read_all(path);
    size_t cap = 1 << 16, m = 0, count = 0;
    uint8_t *out = (uint8_t *)mallocCheck(cap);
    for (size_t pos = 0;;) {
        while (pos < in.size && (in.data[pos] == ' ' || (in.data[pos] >= '\t' && in.data[pos] <= '\r'))) { pos++; }
        if (pos >= in.size) { break; }
        size_t start = pos;
        uint64_t id = 0;
        while (pos < in.size && in.data[pos] >= '0' && in.data[pos] <= '9') {
            if (id <= MAX_VOCAB) { id = id * 10 + (uint64_t)(in.data[pos] - '0'); } // saturates
            pos++;
        }
        if (pos == start || (pos < in.size && in.data[pos] > ' ')) {
            die("'%s': expected token ids (decimal numbers separated by whitespace), found byte 0x%02x "
                 "at offset %zu", path, in.data[pos], pos);
        }
        if (id >= t.vocab_size) {
            die("'%s': token id %.*s (token #%zu, offset %zu) is out of range: the vocabulary has %zu tokens",
                 path, (int)(pos - start < 20 ? pos - start : 20), (const char *)in.data + start,
                 count, start, t.vocab_size);
        }
        size_t len = token_len(&t, id);
        if (m + len > cap) { fwriteCheck(out, 1, m, stdout); m = 0; }
        memcpy(out + m, token_bytes(&t, id), len);
        m += len;
        count++;
    }
    fwriteCheck(out, 1, m, stdout);
    if (fflush(stdout) != 0) { die("cannot write to stdout: %s", strerror(errno)); }
    free(out); free(in.data);
    tokenizer_free(&t);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Times encode_ordinary over the whole file, `repeat` times, each with a fresh
// (empty) piece cache, on one thread. Loading the file and the tokenizer is not
// timed (the tiktoken side of `make bench-tokenizer` measures the same way).
static void cmd_bench(const char *tok_path, const char *path, long repeat) {
    Tokenizer t;
    tokenizer_load(&t, tok_path);
    tokenizer_build_encoder(&t);
    Buffer text = read_all(path);
    double *sec = (double *)mallocCheck((size_t)repeat * sizeof(double));
    size_t n_tokens = 0;
    for (long r = 0; r < repeat; r++) {
        Encoder e;
        encoder_init(&e, &t);
        IdVec ids = {NULL, 0, 0};
        double t0 = now_seconds();
        encode_ordinary(&e, text.data, text.size, &ids);
        sec[r] = now_seconds() - t0;
        n_tokens = ids.n;
        free(ids.ids);
        encoder_free(&e);
    }
    qsort(sec, (size_t)repeat, sizeof(double), cmp_double);
    double mb = (double)text.size / 1e6;
    printf("tokenizer.c  %zu bytes -> %zu tokens; %ld runs: best %.2f MB/s (%.1f ms), median %.2f MB/s (%.1f ms)\n",
           text.size, n_tokens, repeat, mb / sec[0], 1e3 * sec[0],
           mb / sec[repeat / 2], 1e3 * sec[repeat / 2]);
    free(sec); free(text.data);
    tokenizer_free(&t);
}

// ----------------------------------------------------------------------------
// Shards for ./train

static void write_shard(const char *path, const uint32_t *ids, size_t n) {
    int32_t header[HEADER_INTS] = {0};
    header[0] = TOKENS_MAGIC;
    header[1] = TOKENS_VERSION;
    header[2] = (int32_t)n;
    uint16_t *buf = (uint16_t *)mallocCheck(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) { buf[i] = (uint16_t)ids[i]; } // ids < 65536, checked
    AtomicFile a = atomic_open(path);
    atomic_write(&a, header, sizeof(int32_t), HEADER_INTS);
    atomic_write(&a, buf, sizeof(uint16_t), n);
    atomic_commit(&a);
    free(buf);
}

// Writes ids[0..n) as PREFIX_SPLIT_000.bin, _001, ... of at most shard_tokens each.
static size_t write_split(const char *prefix, const char *split, const uint32_t *ids, size_t n, size_t shard_tokens) {
    size_t shards = 0;
    for (size_t start = 0; start < n; start += shard_tokens) {
        size_t count = n - start < shard_tokens ? n - start : shard_tokens;
        size_t plen = strlen(prefix) + strlen(split) + 32;
        char *path = (char *)mallocCheck(plen);
        snprintf(path, plen, "%s_%s_%03zu.bin", prefix, split, shards);
        write_shard(path, ids + start, count);
        printf("  %-40s %10zu tokens\n", path, count);
        free(path);
        shards++;
    }
    return shards;
}

typedef struct {
    double val_fraction;   // fraction of the tokens, from the start, that go to val
    size_t shard_tokens;   // at most this many tokens per shard file
    const char *doc_sep;   // NULL: one text; else split documents at this string
} ShardConfig;

// Encodes the text; the first round(val_fraction * N) tokens are the val split,
// the rest the train split (llm.c's tinyshakespeare also takes val from the
// start); each split is cut into shards of at most shard_tokens.
// One row of the configuration table that shard and train print at start.
static void config_row(const char *key, const char *value) { printf("| %-13s | %-50s |\n", key, value); }

static void config_rule(void) { printf("+---------------+----------------------------------------------------+\n"); }

static void cmd_shard(const char *tok_path, const char *text_path, const char *prefix, const ShardConfig *cfg) {
    char buf[64];
    config_rule();
    config_row("tokenizer", tok_path);
    config_row("text", text_path);
    config_row("output", prefix);
    snprintf(buf, sizeof(buf), "first %g of the tokens", cfg->val_fraction);
    config_row("val", buf);
    snprintf(buf, sizeof(buf), "at most %zu tokens", cfg->shard_tokens);
    config_row("shard size", buf);
    config_row("documents", cfg->doc_sep == NULL ? "no (one text)"
               : strcmp(cfg->doc_sep, EOT_STRING) == 0 ? "split at <|endoftext|>" : "split at --sep");
    config_rule();
    Tokenizer t;
    tokenizer_load(&t, tok_path);
    if (t.vocab_size > SHARD_MAX_VOCAB) {
        die("'%s' has %zu tokens: too many for token shards, which store ids as uint16 "
             "(at most %d tokens); train a smaller vocabulary", tok_path, t.vocab_size, SHARD_MAX_VOCAB);
    }
    tokenizer_build_encoder(&t);
    Buffer text = read_all(text_path);
    Encoder e;
    encoder_init(&e, &t);
    Progress prog;
    if (progress_init(&prog, "tokenizer: encoding", text.data, text.size)) { e.progress = &prog; }
    IdVec ids = {NULL, 0, 0};
    double t0 = now_seconds();
    if (cfg->doc_sep != NULL) {
        encode_split(&e, text.data, text.size, cfg->doc_sep, SEP_STARTS_DOCUMENT, &ids);
    } else {
        encode_ordinary(&e, text.data, text.size, &ids);
    }
    double dt = now_seconds() - t0;
    if (e.progress != NULL) { progress_print(&prog, text.size, now_seconds(), 1); }
    if (ids.n == 0) { die("'%s' gives no tokens (empty text?)", text_path); }
    size_t n_val = (size_t)(cfg->val_fraction * (double)ids.n + 0.5);
    if (cfg->val_fraction > 0 && n_val == 0) { n_val = 1; }
    if (n_val >= ids.n) { die("--val %g leaves no training tokens (%zu tokens in all)", cfg->val_fraction, ids.n); }
    printf("shard: %s, %zu bytes -> %zu tokens in %.2f s; val = first %zu tokens (%.3g), train = %zu\n",
           text_path, text.size, ids.n, dt, n_val, cfg->val_fraction, ids.n - n_val);
    write_split(prefix, "val", ids.ids, n_val, cfg->shard_tokens);
    write_split(prefix, "train", ids.ids + n_val, ids.n - n_val, cfg->shard_tokens);
    free(ids.ids); free(text.data);
    encoder_free(&e);
    tokenizer_free(&t);
}

// ----------------------------------------------------------------------------
// Training a vocabulary: byte-level BPE with GPT-2's pre-tokenisation

// The text is split into pieces exactly as for encoding; merges never cross a
// piece. Each distinct piece is a "word" with a count. Each step merges the most
// frequent adjacent pair over all words (counts weighted by word counts); ties
// go to the pair with the smaller left token id, then the smaller right id.
// Counts are kept up to date incrementally: a merge touches only the words that
// contain its pair (each pair keeps the list of words it occurs in), and a
// touched word's pairs are subtracted, the word rewritten, its pairs added back.
typedef struct {
    uint32_t *sym;      // the word's current tokens
    uint32_t len;
    uint64_t count;     // occurrences in the text
    size_t last_step;   // last merge step that rewrote it (to skip duplicates)
} TrainWord;

typedef struct {
    uint32_t a, b;      // the pair of tokens
    int64_t count;      // its current number of occurrences
    uint32_t *words;    // words it occurs or occurred in (may repeat, may be stale)
    size_t n_words, cap_words;
    size_t touched_step;
    int64_t count_before;
    int banned;         // the merged token would exceed 255 bytes
} TrainPair;

typedef struct {
    int64_t count;
    uint32_t a, b;
} PairCand;

typedef struct {
    TrainWord *words;
    size_t n_words;
    TrainPair *pairs;
    size_t n_pairs, cap_pairs;
    PairMap pair_index;  // (a, b) -> index into pairs
    PairCand *heap;      // max-heap: count desc, then a asc, b asc
    size_t heap_n, heap_cap;
    size_t *touched;     // pairs whose count changed in this step
    size_t n_touched, cap_touched;
    uint32_t *sym;       // storage of all words' symbols
} Trainer;

static inline int cand_before(PairCand x, PairCand y) {
    if (x.count != y.count) { return x.count > y.count; }
    if (x.a != y.a) { return x.a < y.a; }
    return x.b < y.b;
}

static void cand_push(Trainer *tr, PairCand c) {
    grow((void **)&tr->heap, &tr->heap_cap, tr->heap_n + 1, sizeof(PairCand));
    size_t i = tr->heap_n++;
    while (i > 0 && cand_before(c, tr->heap[(i - 1) / 2])) {
        tr->heap[i] = tr->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    tr->heap[i] = c;
}

static PairCand cand_pop(Trainer *tr) {
    PairCand top = tr->heap[0], last = tr->heap[--tr->heap_n];
    size_t i = 0, n = tr->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) { break; }
        if (c + 1 < n && cand_before(tr->heap[c + 1], tr->heap[c])) { c++; }
        if (!cand_before(tr->heap[c], last)) { break; }
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    tr->heap[i] = last;
    return top;
}

// Index of pair (a, b), created with count 0 if new.
static size_t train_pair(Trainer *tr, uint32_t a, uint32_t b) {
    uint32_t p = pairmap_get(&tr->pair_index, a, b);
    if (p != NO_ID) { return p; }
    grow((void **)&tr->pairs, &tr->cap_pairs, tr->n_pairs + 1, sizeof(TrainPair));
    TrainPair *tp = &tr->pairs[tr->n_pairs];
    memset(tp, 0, sizeof(*tp));
    tp->a = a;
    tp->b = b;
    tp->touched_step = SIZE_MAX;
    pairmap_put(&tr->pair_index, a, b, (uint32_t)tr->n_pairs);
    return tr->n_pairs++;
}

// Adds sign * (word's count) to the count of every pair of word w, noting the
// pairs touched in this step; with `index`, also records w in the word lists
// of its pairs that contain token index_id (all its pairs if NO_ID).
static void train_count_word(Trainer *tr, size_t w, int sign, size_t step, uint32_t index_id, int index) {
    TrainWord *word = &tr->words[w];
    for (uint32_t i = 0; i + 1 < word->len; i++) {
        size_t p = train_pair(tr, word->sym[i], word->sym[i + 1]);
        TrainPair *tp = &tr->pairs[p];
        if (tp->touched_step != step) {
            tp->touched_step = step;
            tp->count_before = tp->count;
            grow((void **)&tr->touched, &tr->cap_touched, tr->n_touched + 1, sizeof(size_t));
            tr->touched[tr->n_touched++] = p;
        }
        tp->count += sign * (int64_t)word->count;
        if (index && (tp->a == index_id || tp->b == index_id || index_id == NO_ID) &&
            (tp->n_words == 0 || tp->words[tp->n_words - 1] != w)) {
            grow((void **)&tp->words, &tp->cap_words, tp->n_words + 1, sizeof(uint32_t));
            tp->words[tp->n_words++] = (uint32_t)w;
        }
    }
}

// Pushes the pairs whose count went up in this step (a pair whose count went
// down keeps a too-high heap entry, which train_pop_best corrects lazily).
static void train_push_touched(Trainer *tr) {
    for (size_t i = 0; i < tr->n_touched; i++) {
        TrainPair *tp = &tr->pairs[tr->touched[i]];
        if (tp->count > tp->count_before && tp->count > 0) {
            cand_push(tr, (PairCand){tp->count, tp->a, tp->b});
        }
    }
    tr->n_touched = 0;
}

// The distinct pieces of the text become the words, with their counts; every
// word starts as its bytes (a learned vocabulary puts byte b at id b). Then
// the initial pair counts.
static void trainer_init(Trainer *tr, const CharClasses *cc, const Buffer *text, size_t *n_pieces) {
    memset(tr, 0, sizeof(*tr));
    StrMap pieces;
    strmap_init(&pieces, 1 << 16);
    uint64_t *counts = NULL;
    size_t counts_cap = 0;
    *n_pieces = 0;
    for (size_t pos = 0; pos < text->size;) {
        size_t end = pretoken_end(cc, text->data, text->size, pos), slot;
        if (end - pos >= UINT32_MAX) { die("a piece of the text is longer than 4 GB"); }
        uint64_t h = hash_bytes(text->data + pos, end - pos);
        size_t e = strmap_find(&pieces, text->data + pos, end - pos, h, &slot);
        if (e == SIZE_MAX) {
            e = strmap_insert(&pieces, slot, text->data + pos, end - pos, h);
            grow((void **)&counts, &counts_cap, e + 1, sizeof(uint64_t));
            counts[e] = 0;
        }
        counts[e]++;
        (*n_pieces)++;
        pos = end;
    }
    tr->n_words = pieces.n;
    tr->words = (TrainWord *)callocCheck(tr->n_words, sizeof(TrainWord));
    tr->sym = (uint32_t *)mallocCheck(pieces.arena_n * sizeof(uint32_t));
    for (size_t w = 0; w < tr->n_words; w++) {
        TrainWord *word = &tr->words[w];
        word->sym = tr->sym + pieces.key_off[w];
        word->len = pieces.key_len[w];
        word->count = counts[w];
        for (uint32_t i = 0; i < word->len; i++) { word->sym[i] = pieces.arena[pieces.key_off[w] + i]; }
    }
    strmap_free(&pieces);
    free(counts);
    pairmap_init(&tr->pair_index, 1 << 16);
    for (size_t w = 0; w < tr->n_words; w++) { train_count_word(tr, w, +1, 0, NO_ID, 1); }
    train_push_touched(tr);
}

static void trainer_free(Trainer *tr) {
    for (size_t i = 0; i < tr->n_pairs; i++) { free(tr->pairs[i].words); }
    free(tr->pairs); free(tr->heap); free(tr->touched); free(tr->words); free(tr->sym);
    pairmap_free(&tr->pair_index);
}

// The most frequent pair (ties: smaller left id, then smaller right id) that
// can still merge; SIZE_MAX when none is left. Heap entries whose count is out
// of date are re-queued with the true count.
static size_t train_pop_best(Trainer *tr, const size_t *offset) {
    while (tr->heap_n > 0) {
        PairCand c = cand_pop(tr);
        size_t p = pairmap_get(&tr->pair_index, c.a, c.b);
        TrainPair *tp = &tr->pairs[p];
        if (tp->banned || tp->count <= 0) { continue; }
        if (tp->count != c.count) {
            cand_push(tr, (PairCand){tp->count, tp->a, tp->b});
            continue;
        }
        size_t len = offset[c.a + 1] - offset[c.a] + offset[c.b + 1] - offset[c.b];
        if (len > MAX_TOKEN_LEN) { tp->banned = 1; continue; } // can't be stored
        return p;
    }
    return SIZE_MAX;
}

// Replaces every occurrence of pair p = (a, b) by new_id in the words that
// hold it, keeping all pair counts exact. The word list is read by index
// since train_count_word may grow (and move) the pairs array.
static void train_apply_merge(Trainer *tr, size_t p, uint32_t new_id, size_t step) {
    uint32_t a = tr->pairs[p].a, b = tr->pairs[p].b;
    for (size_t k = 0; k < tr->pairs[p].n_words; k++) {
        size_t w = tr->pairs[p].words[k];
        TrainWord *word = &tr->words[w];
        if (word->last_step == step) { continue; } // listed twice
        word->last_step = step;
        train_count_word(tr, w, -1, step, NO_ID, 0);
        uint32_t m = 0;
        for (uint32_t i = 0; i < word->len; i++) {
            if (i + 1 < word->len && word->sym[i] == a && word->sym[i + 1] == b) {
                word->sym[m++] = new_id;
                i++;
            } else {
                word->sym[m++] = word->sym[i];
            }
        }
        word->len = m;
        train_count_word(tr, w, +1, step, new_id, 1);
    }
    tr->pairs[p].n_words = 0; // (a, b) no longer occurs anywhere
    train_push_touched(tr);
}

// A vocabulary being learned: token bytes by id, and bytes -> id so that the
// same bytes never become two tokens (two different pairs can concatenate to
// the same bytes; a tokenizer file must not repeat a token).
typedef struct {
    uint8_t *bytes;
    size_t bytes_n, bytes_cap;
    size_t *offset;  // (n + 1) token i is bytes[offset[i] .. offset[i+1])
    size_t n, offset_cap;
    StrMap map;      // entries are in id order: entry i is token i
} LearnedVocab;

// Id of the token with these bytes, added if new.
static uint32_t learned_add(LearnedVocab *v, const uint8_t *s, size_t len) {
    size_t slot;
    uint64_t h = hash_bytes(s, len);
    size_t e = strmap_find(&v->map, s, len, h, &slot);
    if (e != SIZE_MAX) { return (uint32_t)e; }
    strmap_insert(&v->map, slot, s, len, h);
    grow((void **)&v->bytes, &v->bytes_cap, v->bytes_n + len, 1);
    memcpy(v->bytes + v->bytes_n, s, len);
    v->bytes_n += len;
    grow((void **)&v->offset, &v->offset_cap, v->n + 2, sizeof(size_t));
    v->offset[v->n + 1] = v->bytes_n;
    return (uint32_t)v->n++;
}

static void cmd_train(const char *text_path, long vocab, const char *out_path) {
    char buf[64];
    config_rule();
    config_row("text", text_path);
    snprintf(buf, sizeof(buf), "%ld (256 bytes, %ld merges, <|endoftext|>)", vocab, vocab - 257);
    config_row("vocabulary", buf);
    config_row("output", out_path);
    config_row("ties", "smaller left id, then smaller right id");
    config_rule();
    double t0 = now_seconds();
    CharClasses *cc = (CharClasses *)mallocCheck(sizeof(CharClasses));
    char_classes_init(cc);
    Buffer text = read_all(text_path);
    Trainer tr;
    size_t n_pieces;
    trainer_init(&tr, cc, &text, &n_pieces);
    LearnedVocab v;
    memset(&v, 0, sizeof(v));
    strmap_init(&v.map, 2 * (size_t)vocab);
    grow((void **)&v.offset, &v.offset_cap, 1, sizeof(size_t));
    v.offset[0] = 0;
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        learned_add(&v, &byte, 1);
    }
    size_t target = (size_t)vocab - 1; // tokens before <|endoftext|>
    uint8_t merged[2 * MAX_TOKEN_LEN];
    for (size_t step = 1; v.n < target; step++) {
        size_t p = train_pop_best(&tr, v.offset);
        if (p == SIZE_MAX) { break; }
        uint32_t a = tr.pairs[p].a, b = tr.pairs[p].b;
        size_t la = v.offset[a + 1] - v.offset[a], lb = v.offset[b + 1] - v.offset[b];
        memcpy(merged, v.bytes + v.offset[a], la);
        memcpy(merged + la, v.bytes + v.offset[b], lb);
        train_apply_merge(&tr, p, learned_add(&v, merged, la + lb), step);
    }
    size_t n_merges = v.n - 256;
    if (v.n < target) {
        fprintf(stderr, "tokenizer: warning: the text has only enough distinct pairs for %zu merges "
                "(asked for %zu); the vocabulary has %zu tokens\n", n_merges, target - 256, v.n + 1);
    }
    uint32_t eot = learned_add(&v, (const uint8_t *)EOT_STRING, strlen(EOT_STRING));
    if (eot != v.n - 1) { die("the text produced a token equal to <|endoftext|>; cannot add it as the last id"); }
    tokenizer_write(out_path, v.bytes, v.offset, v.n, eot);
    printf("train: %s, %zu bytes, %zu pieces (%zu distinct) -> %zu merges, vocabulary %zu "
           "(end-of-text id %u) in %.2f s -> %s\n", text_path, text.size, n_pieces, tr.n_words,
           n_merges, v.n, eot, now_seconds() - t0, out_path);
    trainer_free(&tr);
    strmap_free(&v.map);
    free(v.bytes); free(v.offset); free(text.data); free(cc);
}

// ----------------------------------------------------------------------------
// Command line

static void usage(FILE *f) {
    fprintf(f,
        "usage:\n"
        "  ./tokenizer import ENCODER_JSON VOCAB_BPE OUT\n"
        "  ./tokenizer encode -k TOKENIZER FILE [--special]     (FILE \"-\" = stdin)\n"
        "  ./tokenizer decode -k TOKENIZER FILE\n"
        "  ./tokenizer shard  -k TOKENIZER TEXT OUT_PREFIX [--val F] [--shard-size N] [--docs] [--sep S]\n"
        "  ./tokenizer train  TEXT --vocab N OUT\n"
        "  ./tokenizer bench  -k TOKENIZER FILE [--repeat R]\n"
        "options:\n"
        "  -k PATH          tokenizer file (from import or train)\n"
        "  --special        encode: a literal <|endoftext|> in the text becomes the end-of-text token\n"
        "                   (default: it is ordinary text, as in tiktoken's encode_ordinary)\n"
        "  --val F          shard: the first F of the tokens (0 <= F < 1) go to val (default %g)\n"
        "  --shard-size N   shard: at most N tokens per shard file (default %d)\n"
        "  --docs           shard: the text is documents separated by <|endoftext|>; each\n"
        "                   non-empty document is preceded by the end-of-text token\n"
        "  --sep S          shard: like --docs with the separator S (\\n, \\t, \\\\ are escapes)\n"
        "  --vocab N        train: vocabulary size, 257 <= N <= %u (256 bytes + merges + <|endoftext|>)\n"
        "  --repeat R       bench: number of timed runs (default 5)\n",
        DEFAULT_VAL_FRACTION, DEFAULT_SHARD_TOKENS, MAX_VOCAB);
}

static long parse_long(const char *flag, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        die("%s expects an integer in [%ld, %ld], got '%s'", flag, lo, hi, s);
    }
    return v;
}

// Resolves \n, \t, \r, \\ in a separator given on the command line (in place).
static char *unescape(char *s) {
    char *w = s;
    for (const char *r = s; *r != '\0'; r++) {
        if (r[0] == '\\' && r[1] != '\0') {
            r++;
            *w++ = *r == 'n' ? '\n' : *r == 't' ? '\t' : *r == 'r' ? '\r' : *r;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return s;
}

typedef struct {
    const char *cmd;
    const char *pos[4];
    int n_pos;
    const char *tokenizer;
    int special;
    ShardConfig shard;
    long vocab;
    long repeat;
} Args;

static char *option_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) { die("option %s needs a value", argv[*i]); }
    return argv[++*i];
}

static Args parse_args(int argc, char **argv) {
    Args a;
    memset(&a, 0, sizeof(a));
    a.cmd = argv[1];
    a.shard.val_fraction = DEFAULT_VAL_FRACTION;
    a.shard.shard_tokens = DEFAULT_SHARD_TOKENS;
    a.repeat = 5;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        if (o[0] != '-' || strcmp(o, "-") == 0) {
            if (a.n_pos == 4) { die("too many arguments for '%s' (see ./tokenizer -h)", a.cmd); }
            a.pos[a.n_pos++] = o;
        } else if (strcmp(o, "-k") == 0) {
            a.tokenizer = option_value(argc, argv, &i);
        } else if (strcmp(o, "--special") == 0) {
            a.special = 1;
        } else if (strcmp(o, "--val") == 0) {
            const char *v = option_value(argc, argv, &i);
            char *end;
            errno = 0;
            a.shard.val_fraction = strtod(v, &end);
            if (errno != 0 || end == v || *end != '\0' || !(a.shard.val_fraction >= 0 && a.shard.val_fraction < 1)) {
                die("--val expects a fraction in [0, 1), got '%s'", v);
            }
        } else if (strcmp(o, "--shard-size") == 0) {
            a.shard.shard_tokens = (size_t)parse_long(o, option_value(argc, argv, &i), 1, INT32_MAX);
        } else if (strcmp(o, "--docs") == 0) {
            if (a.shard.doc_sep == NULL) { a.shard.doc_sep = EOT_STRING; }
        } else if (strcmp(o, "--sep") == 0) {
            a.shard.doc_sep = unescape(option_value(argc, argv, &i));
            if (a.shard.doc_sep[0] == '\0') { die("--sep needs a non-empty separator"); }
        } else if (strcmp(o, "--vocab") == 0) {
            a.vocab = parse_long(o, option_value(argc, argv, &i), 257, MAX_VOCAB);
        } else if (strcmp(o, "--repeat") == 0) {
            a.repeat = parse_long(o, option_value(argc, argv, &i), 1, 1000);
        } else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            usage(stdout);
            exit(EXIT_SUCCESS);
        } else {
            die("unknown option '%s' for '%s' (see ./tokenizer -h)", o, a.cmd);
        }
    }
    return a;
}

static void need(const Args *a, int n_pos, int needs_tokenizer, const char *synopsis) {
    if (a->n_pos != n_pos || (needs_tokenizer && a->tokenizer == NULL)) {
        die("usage: ./tokenizer %s", synopsis);
    }
}

#ifndef TOKENIZER_NO_MAIN
int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_FAILURE : EXIT_SUCCESS;
    }
    Args a = parse_args(argc, argv);
    if (strcmp(a.cmd, "import") == 0) {
        need(&a, 3, 0, "import ENCODER_JSON VOCAB_BPE OUT");
        cmd_import(a.pos[0], a.pos[1], a.pos[2]);
    } else if (strcmp(a.cmd, "encode") == 0) {
        need(&a, 1, 1, "encode -k TOKENIZER FILE [--special]");
        cmd_encode(a.tokenizer, a.pos[0], a.special);
    } else if (strcmp(a.cmd, "decode") == 0) {
        need(&a, 1, 1, "decode -k TOKENIZER FILE");
        cmd_decode(a.tokenizer, a.pos[0]);
    } else if (strcmp(a.cmd, "shard") == 0) {
        need(&a, 2, 1, "shard -k TOKENIZER TEXT OUT_PREFIX [--val F] [--shard-size N] [--docs] [--sep S]");
        cmd_shard(a.tokenizer, a.pos[0], a.pos[1], &a.shard);
    } else if (strcmp(a.cmd, "train") == 0) {
        need(&a, 2, 0, "train TEXT --vocab N OUT");
        if (a.vocab == 0) { die("train needs --vocab N (257 <= N <= %u)", MAX_VOCAB); }
        cmd_train(a.pos[0], a.vocab, a.pos[1]);
    } else if (strcmp(a.cmd, "bench") == 0) {
        need(&a, 1, 1, "bench -k TOKENIZER FILE [--repeat R]");
        cmd_bench(a.tokenizer, a.pos[0], a.repeat);
    } else {
        die("unknown command '%s' (commands: import, encode, decode, shard, train, bench; see -h)", a.cmd);
    }
    return EXIT_SUCCESS;
}
#endif
