// Fuzzes the encoder (tokenizer.h) on arbitrary bytes with two oracles, on
// the mini vocabulary (test/fixtures/tiktoken_mini_*: GPT-2 cut to 1024
// ranks, imported at start-up; make fuzz runs from the repository root):
//   1. decode(encode(x)) == x, always (also with <|endoftext|> as a special
//      token when the first byte is odd);
//   2. when every piece is at most REF_MAX_PIECE bytes (inputs under 64 bytes
//      and more; both the small and the heap BPE): the ids equal those of the
//      plain merge loop below, with the library's own pretoken_end splitting
//      the text, so this checks the merging.
#include "fuzz.h"
#define TOKENIZER_NO_MAIN
#include "../../tokenizer.c"

#define REF_MAX_PIECE 128

static Tokenizer tok;
static uint32_t *by_bytes;  // (V - 1) token ids but end-of-text, sorted by (bytes, id)

static int cmp_bytes(const uint8_t *a, size_t na, const uint8_t *b, size_t nb) {
    int c = memcmp(a, b, na < nb ? na : nb);
    return c != 0 ? c : (na > nb) - (na < nb);
}

static int cmp_ids(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    int c = cmp_bytes(token_bytes(&tok, a), token_len(&tok, a), token_bytes(&tok, b), token_len(&tok, b));
    return c != 0 ? c : (a > b) - (a < b);
}

// the lowest id whose bytes are s[0..n) (never end-of-text), or NO_ID: a
// binary search for the first entry not below s
static uint32_t ref_lookup(const uint8_t *s, size_t n) {
    size_t lo = 0, hi = tok.vocab_size - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint32_t id = by_bytes[mid];
        if (cmp_bytes(token_bytes(&tok, id), token_len(&tok, id), s, n) < 0) { lo = mid + 1; } else { hi = mid; }
    }
    if (lo == tok.vocab_size - 1) { return NO_ID; }
    uint32_t id = by_bytes[lo];
    return cmp_bytes(token_bytes(&tok, id), token_len(&tok, id), s, n) == 0 ? id : NO_ID;
}

// plain BPE of one piece: parts start as single bytes; while some adjacent pair
// concatenates to a token, merge the pair whose token has the lowest id (the
// leftmost such pair on a tie). Appends the ids to out.
static void ref_bpe(const uint8_t *s, size_t n, IdVec *out) {
    size_t start[REF_MAX_PIECE + 1], parts = n;  // part i is s[start[i] .. start[i+1])
    for (size_t i = 0; i <= n; i++) { start[i] = i; }
    for (;;) {
        uint32_t best = NO_ID;
        size_t at = 0;
        for (size_t i = 0; i + 1 < parts; i++) {
            uint32_t id = ref_lookup(s + start[i], start[i + 2] - start[i]);
            if (id < best) { best = id; at = i; }
        }
        if (best == NO_ID) { break; }
        memmove(start + at + 1, start + at + 2, (parts - at - 1) * sizeof(size_t));
        parts--;
    }
    for (size_t i = 0; i < parts; i++) {
        uint32_t id = ref_lookup(s + start[i], start[i + 1] - start[i]);
        if (id == NO_ID) { abort(); }  // a single byte always has a token
        idvec_push(out, id);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    if (freopen("/dev/null", "w", stdout) == NULL) { abort(); }
    const char *path = fuzz_path("mini.bin");
    if (setjmp(die_jump) != 0) { fprintf(stderr, "encode.c: setup failed: %s\n", die_message); abort(); }
    cmd_import("test/fixtures/tiktoken_mini_encoder.json", "test/fixtures/tiktoken_mini_vocab.bpe", path);
    tokenizer_load(&tok, path);
    tokenizer_build_encoder(&tok);
    by_bytes = (uint32_t *)malloc((tok.vocab_size - 1) * sizeof(uint32_t));
    for (uint32_t id = 0, k = 0; id < tok.vocab_size; id++) {
        if (id != tok.eot) { by_bytes[k++] = id; }
    }
    qsort(by_bytes, tok.vocab_size - 1, sizeof(uint32_t), cmp_ids);
    fuzz_keep();  // the tokenizer stays for every run
    return 0;
}

// decode(ids) == s[0..n)?
static int round_trips(const IdVec *ids, const uint8_t *s, size_t n) {
    size_t pos = 0;
    for (size_t i = 0; i < ids->n; i++) {
        if (ids->ids[i] >= tok.vocab_size) { return 0; }
        size_t len = token_len(&tok, ids->ids[i]);
        if (pos + len > n || memcmp(s + pos, token_bytes(&tok, ids->ids[i]), len) != 0) { return 0; }
        pos += len;
    }
    return pos == n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) { return 0; }
    const uint8_t *s = data + 1;
    size_t n = size - 1;
    if (setjmp(die_jump) == 0) {
        Encoder e;
        encoder_init(&e, &tok);
        IdVec ids = {0}, ref = {0};
        if (data[0] & 1) {
            encode_split(&e, s, n, EOT_STRING, SEP_AS_EOT, &ids);
        } else {
            encode_ordinary(&e, s, n, &ids);
        }
        if (!round_trips(&ids, s, n)) {
            fprintf(stderr, "encode.c: decode(encode(x)) != x\n");
            abort();
        }
        if (!(data[0] & 1)) {  // the reference, when every piece is short enough
            int short_pieces = 1;
            for (size_t pos = 0, end; pos < n && short_pieces; pos = end) {
                end = pretoken_end(&tok.classes, s, n, pos);
                if (end - pos > REF_MAX_PIECE) { short_pieces = 0; } else { ref_bpe(s + pos, end - pos, &ref); }
            }
            if (short_pieces && (ref.n != ids.n || (ids.n > 0 && memcmp(ref.ids, ids.ids, ids.n * sizeof(uint32_t)) != 0))) {
                fprintf(stderr, "encode.c: ids differ from the reference BPE (%zu vs %zu ids)\n", ids.n, ref.n);
                abort();
            }
        }
        free(ids.ids);
        free(ref.ids);
        encoder_free(&e);
    } else {
        FUZZ_DIED();
        abort();  // encoding never fails
    }
    fuzz_end();
    return 0;
}
