/*
tokenizer_train_check.c: checks `./tokenizer train` (incremental pair counts,
lazy heap, word lists) against the plainest possible BPE trainer, which
recounts every pair of every word at every step. Both use tokenizer.c's
pre-tokeniser and the same rule: most frequent pair, ties to the smaller left
id, then the smaller right id; a pair whose token would exceed 255 bytes is
never merged; bytes that already are a token reuse that token.

  tokenizer_train_check TEXT VOCAB TOKENIZER_BIN
      TOKENIZER_BIN is what `./tokenizer train TEXT --vocab VOCAB` wrote.
Prints one OK/FAIL line; exits non-zero on a difference.
*/
#define TOKENIZER_NO_MAIN
// tokenizer.c's commands are not called here.
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../tokenizer.c"

typedef struct {
    uint32_t *sym;
    size_t len;
    uint64_t count;
} RefWord;

int main(int argc, char **argv) {
    if (argc != 4) { die("usage: tokenizer_train_check TEXT VOCAB TOKENIZER_BIN"); }
    size_t vocab = (size_t)parse_long("VOCAB", argv[2], 257, 1 << 20);
    CharClasses *cc = mallocCheck(sizeof(CharClasses));
    char_classes_init(cc);
    Buffer text = read_all(argv[1]);
    // Distinct pieces with counts, as words of byte symbols.
    StrMap pieces;
    strmap_init(&pieces, 1024);
    uint64_t *counts = NULL;
    size_t counts_cap = 0;
    for (size_t pos = 0; pos < text.size;) {
        size_t end = pretoken_end(cc, text.data, text.size, pos), slot;
        uint64_t h = hash_bytes(text.data + pos, end - pos);
        size_t e = strmap_find(&pieces, text.data + pos, end - pos, h, &slot);
        if (e == SIZE_MAX) {
            e = strmap_insert(&pieces, slot, text.data + pos, end - pos, h);
            grow((void **)&counts, &counts_cap, e + 1, sizeof(uint64_t));
            counts[e] = 0;
        }
        counts[e]++;
        pos = end;
    }
    RefWord *words = mallocCheck(pieces.n * sizeof(RefWord));
    for (size_t w = 0; w < pieces.n; w++) {
        words[w].len = pieces.key_len[w];
        words[w].count = counts[w];
        words[w].sym = mallocCheck(words[w].len * sizeof(uint32_t));
        for (size_t i = 0; i < words[w].len; i++) { words[w].sym[i] = pieces.arena[pieces.key_off[w] + i]; }
    }
    // Tokens as byte strings; the 256 bytes first.
    uint8_t (*tok)[MAX_TOKEN_LEN] = mallocCheck(vocab * sizeof(*tok));
    size_t *len = mallocCheck(vocab * sizeof(size_t)), n_tok = 256;
    for (size_t i = 0; i < 256; i++) { tok[i][0] = (uint8_t)i; len[i] = 1; }
    PairMap banned;
    pairmap_init(&banned, 64);
    while (n_tok < vocab - 1) {
        // Recount everything.
        PairMap index;
        pairmap_init(&index, 1024);
        uint64_t *pc = NULL;
        uint32_t *pa = NULL, *pb = NULL;
        size_t n_pairs = 0, cap_c = 0, cap_a = 0, cap_b = 0;
        for (size_t w = 0; w < pieces.n; w++) {
            for (size_t i = 0; i + 1 < words[w].len; i++) {
                uint32_t a = words[w].sym[i], b = words[w].sym[i + 1];
                uint32_t p = pairmap_get(&index, a, b);
                if (p == NO_ID) {
                    p = (uint32_t)n_pairs++;
                    pairmap_put(&index, a, b, p);
                    grow((void **)&pc, &cap_c, n_pairs, sizeof(uint64_t));
                    grow((void **)&pa, &cap_a, n_pairs, sizeof(uint32_t));
                    grow((void **)&pb, &cap_b, n_pairs, sizeof(uint32_t));
                    pc[p] = 0; pa[p] = a; pb[p] = b;
                }
                pc[p] += words[w].count;
            }
        }
        size_t best = SIZE_MAX;
        for (size_t p = 0; p < n_pairs; p++) {
            if (pairmap_get(&banned, pa[p], pb[p]) != NO_ID) { continue; }
            if (len[pa[p]] + len[pb[p]] > MAX_TOKEN_LEN) { pairmap_put(&banned, pa[p], pb[p], 1); continue; }
            if (best == SIZE_MAX || pc[p] > pc[best] || (pc[p] == pc[best] &&
                (pa[p] < pa[best] || (pa[p] == pa[best] && pb[p] < pb[best])))) { best = p; }
        }
        uint32_t a = best != SIZE_MAX ? pa[best] : 0, b = best != SIZE_MAX ? pb[best] : 0;
        pairmap_free(&index);
        free(pc); free(pa); free(pb);
        if (best == SIZE_MAX) { break; }
        // The token with the concatenated bytes: existing, else new.
        uint8_t m[2 * MAX_TOKEN_LEN];
        size_t lm = len[a] + len[b];
        memcpy(m, tok[a], len[a]);
        memcpy(m + len[a], tok[b], len[b]);
        uint32_t id = (uint32_t)n_tok;
        for (size_t t = 0; t < n_tok; t++) {
            if (len[t] == lm && memcmp(tok[t], m, lm) == 0) { id = (uint32_t)t; break; }
        }
        if (id == n_tok) { memcpy(tok[n_tok], m, lm); len[n_tok++] = lm; }
        for (size_t w = 0; w < pieces.n; w++) {
            size_t k = 0;
            for (size_t i = 0; i < words[w].len; i++) {
                if (i + 1 < words[w].len && words[w].sym[i] == a && words[w].sym[i + 1] == b) {
                    words[w].sym[k++] = id;
                    i++;
                } else {
                    words[w].sym[k++] = words[w].sym[i];
                }
            }
            words[w].len = k;
        }
    }
    // Compare with the file written by ./tokenizer train.
    Tokenizer t;
    tokenizer_load(&t, argv[3]);
    int same = t.vocab_size == n_tok + 1 && t.eot == n_tok;
    size_t first_diff = SIZE_MAX;
    for (size_t i = 0; same && i < n_tok; i++) {
        if (token_len(&t, i) != len[i] || memcmp(token_bytes(&t, i), tok[i], len[i]) != 0) {
            same = 0;
            first_diff = i;
        }
    }
    if (same) {
        printf("OK   train matches the naive reference trainer (%s, %zu tokens)\n", argv[1], t.vocab_size);
    } else {
        printf("FAIL train differs from the naive reference trainer (%s): %zu vs %zu tokens, first differing id %zu\n",
               argv[1], t.vocab_size, n_tok + 1, first_diff);
    }
    for (size_t w = 0; w < pieces.n; w++) { free(words[w].sym); }
    free(words); free(tok); free(len); free(counts); free(text.data); free(cc);
    pairmap_free(&banned);
    strmap_free(&pieces);
    tokenizer_free(&t);
    return same ? EXIT_SUCCESS : EXIT_FAILURE;
}
