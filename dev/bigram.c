/*
dev/bigram.c: the simplest honest baseline for a language model, a bigram
model with add-k smoothing, fitted to a train token shard and scored on a val
token shard in nats per token (the unit of ./train's loss).

    P(b | a) = (count(a, b) + k) / (count(a) + k * V)

count(a, b) counts the pair "a then b" in the train tokens, count(a) the
pairs that start with a, V is the vocabulary size. k is tuned on held-out
data taken from the END of the train shard (the last --heldout fraction,
default 0.1): the counts are made on the rest, k is chosen from a log grid
(then refined) to minimise the held-out loss, and only then are the counts
remade on the whole train shard and the val loss computed once. The val
split never influences k.

Build:  make dev/bigram    (or: cc -O2 -std=c11 dev/bigram.c -o dev/bigram -lm)
Usage:  dev/bigram -k TOKENIZER TRAIN_SHARD VAL_SHARD [--heldout F]
        dev/bigram --vocab V TRAIN_SHARD VAL_SHARD [--heldout F]

Prints the chosen k, the held-out loss and the val loss; the last line is
    bigram val_loss <nats/token> k <k> V <V> val_tokens <N>
so scripts can read it. The loss is the mean of -ln P over every val token
after the first (each token predicted from the one before it).

Counts are stored sparsely: every train pair becomes a 32-bit key a*65536+b
(ids are uint16 in shards), the keys are sorted and run-length counted, and a
lookup is a binary search. Memory is a few bytes per train token.
*/

#define ERROR_PREFIX "bigram: error: "
#include "../util.h"  // die, the file formats' magic numbers

#define MAX_SHARD_VOCAB 65536      // ids are uint16 in shards
#define DEFAULT_HELDOUT 0.1
#define K_GRID_LO -6.0             // log10 of the smallest k tried
#define K_GRID_HI 1.0              // log10 of the largest k tried
#define K_GRID_STEP 0.25           // grid spacing in log10 units
#define K_REFINE_ITERS 40          // golden-section steps around the best grid point

// ----------------------------------------------------------------------------
// reading files

static FILE *open_or_die(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "bigram: error: cannot open '%s': %s\n", path, strerror(errno));
        exit(1);
    }
    return f;
}

static void read_file_header(FILE *f, const char *path, int32_t header[HEADER_INTS]) {
    if (fread(header, sizeof(int32_t), HEADER_INTS, f) != HEADER_INTS) {
        die("file too short for its 1024-byte header: %s", path);
    }
}

// the vocabulary size from a tokenizer file's header
static size_t vocab_from_tokenizer(const char *path) {
    FILE *f = open_or_die(path);
    int32_t h[HEADER_INTS];
    read_file_header(f, path, h);
    fclose(f);
    if (h[0] != TOKENIZER_MAGIC) { die("not a tokenizer file (bad magic): %s", path); }
    if (h[2] <= 0 || h[2] > MAX_SHARD_VOCAB) {
        die("tokenizer vocabulary size out of range 1..65536: %s", path);
    }
    return (size_t)h[2];
}

// all tokens of one shard; checks magic, version, size and ids < V
static uint16_t *read_shard(const char *path, size_t V, size_t *n_out) {
    FILE *f = open_or_die(path);
    int32_t h[HEADER_INTS];
    read_file_header(f, path, h);
    if (h[0] != TOKENS_MAGIC || h[1] != TOKENS_VERSION) {
        die("not a token shard (bad magic or version): %s", path);
    }
    if (h[2] < 2) { die("a shard needs at least 2 tokens: %s", path); }
    size_t n = (size_t)h[2];
    uint16_t *t = malloc(n * sizeof(uint16_t));
    if (t == NULL) { die("out of memory reading %s", path); }
    if (fread(t, sizeof(uint16_t), n, f) != n) {
        die("shard shorter than its header says (truncated?): %s", path);
    }
    char extra;
    if (fread(&extra, 1, 1, f) != 0) { die("shard longer than its header says: %s", path); }
    fclose(f);
    for (size_t i = 0; i < n; i++) {
        if (t[i] >= V) { die("token id >= the vocabulary size (wrong -k or --vocab?) in %s", path); }
    }
    *n_out = n;
    return t;
}

// ----------------------------------------------------------------------------
// the model: sorted unique pair keys with counts, and per-token row totals

typedef struct {
    uint32_t *keys;    // (n_pairs) a*65536 + b, ascending
    uint32_t *counts;  // (n_pairs) occurrences of each pair
    size_t n_pairs;
    uint64_t *rows;    // (V) count(a): pairs starting with a
    size_t V;
} Bigram;

static int cmp_u32(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

// counts the n-1 pairs of tokens[0..n); overwrites m
static void bigram_fit(Bigram *m, const uint16_t *tokens, size_t n, size_t V) {
    size_t np = n - 1;
    m->keys = malloc(np * sizeof(uint32_t));
    m->counts = malloc(np * sizeof(uint32_t));
    m->rows = calloc(V, sizeof(uint64_t));
    if (m->keys == NULL || m->counts == NULL || m->rows == NULL) { die("out of memory"); }
    m->V = V;
    for (size_t i = 0; i < np; i++) {
        m->keys[i] = (uint32_t)tokens[i] * MAX_SHARD_VOCAB + tokens[i + 1];
        m->rows[tokens[i]]++;
    }
    qsort(m->keys, np, sizeof(uint32_t), cmp_u32);
    size_t u = 0;
    for (size_t i = 0; i < np; i++) {   // run-length count, in place
        if (u > 0 && m->keys[u - 1] == m->keys[i]) {
            m->counts[u - 1]++;
        } else {
            m->keys[u] = m->keys[i];
            m->counts[u] = 1;
            u++;
        }
    }
    m->n_pairs = u;
}

static void bigram_free(Bigram *m) {
    free(m->keys); free(m->counts); free(m->rows);
    memset(m, 0, sizeof(*m));
}

static uint32_t bigram_count(const Bigram *m, uint32_t key) {
    size_t lo = 0, hi = m->n_pairs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->keys[mid] < key) { lo = mid + 1; } else { hi = mid; }
    }
    return lo < m->n_pairs && m->keys[lo] == key ? m->counts[lo] : 0;
}

// mean of -ln P(t[i] | t[i-1]) over i = 1..n-1, add-k smoothing
static double bigram_loss(const Bigram *m, const uint16_t *t, size_t n, double k) {
    double sum = 0.0;
    double kV = k * (double)m->V;
    for (size_t i = 1; i < n; i++) {
        uint32_t key = (uint32_t)t[i - 1] * MAX_SHARD_VOCAB + t[i];
        double p = ((double)bigram_count(m, key) + k) / ((double)m->rows[t[i - 1]] + kV);
        sum -= log(p);
    }
    return sum / (double)(n - 1);
}

// ----------------------------------------------------------------------------
// tuning k on held-out data: a log-spaced grid, then golden-section search in
// log k between the best grid point's neighbours (the loss is smooth in log k)

static double tune_k(const Bigram *m, const uint16_t *held, size_t n_held, double *best_loss) {
    double best_lk = K_GRID_LO, best = INFINITY;
    for (double lk = K_GRID_LO; lk <= K_GRID_HI + 1e-9; lk += K_GRID_STEP) {
        double loss = bigram_loss(m, held, n_held, pow(10.0, lk));
        if (loss < best) { best = loss; best_lk = lk; }
    }
    double lo = best_lk - K_GRID_STEP, hi = best_lk + K_GRID_STEP;
    const double g = (sqrt(5.0) - 1.0) / 2.0;
    double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
    double f1 = bigram_loss(m, held, n_held, pow(10.0, x1));
    double f2 = bigram_loss(m, held, n_held, pow(10.0, x2));
    for (int it = 0; it < K_REFINE_ITERS; it++) {
        if (f1 < f2) {
            hi = x2; x2 = x1; f2 = f1;
            x1 = hi - g * (hi - lo);
            f1 = bigram_loss(m, held, n_held, pow(10.0, x1));
        } else {
            lo = x1; x1 = x2; f1 = f2;
            x2 = lo + g * (hi - lo);
            f2 = bigram_loss(m, held, n_held, pow(10.0, x2));
        }
    }
    double lk = f1 < f2 ? x1 : x2, f = f1 < f2 ? f1 : f2;
    if (f > best) { lk = best_lk; f = best; }   // never worse than the grid
    *best_loss = f;
    return pow(10.0, lk);
}

// ----------------------------------------------------------------------------

static void usage(FILE *f) {
    fprintf(f, "usage: dev/bigram (-k TOKENIZER | --vocab V) TRAIN_SHARD VAL_SHARD [--heldout F]\n"
               "  add-k bigram baseline: k tuned on the last F (default 0.1) of the train\n"
               "  tokens, then the val loss in nats per token\n");
}

static double parse_number(const char *flag, const char *s, double lo, double hi) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(x >= lo && x <= hi)) {
        fprintf(stderr, "bigram: error: %s '%s': expected a number in [%g, %g]\n", flag, s, lo, hi);
        exit(1);
    }
    return x;
}

int main(int argc, char **argv) {
    const char *tok_path = NULL, *paths[2] = {NULL, NULL};
    size_t V = 0;
    int n_paths = 0;
    double heldout = DEFAULT_HELDOUT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(stdout); return 0; }
        int takes_value = strcmp(a, "-k") == 0 || strcmp(a, "--vocab") == 0 || strcmp(a, "--heldout") == 0;
        if (takes_value && i + 1 >= argc) { usage(stderr); die("missing value after %s", a); }
        if (strcmp(a, "-k") == 0) { tok_path = argv[++i]; }
        else if (strcmp(a, "--vocab") == 0) { V = (size_t)parse_number(a, argv[++i], 1, MAX_SHARD_VOCAB); }
        else if (strcmp(a, "--heldout") == 0) { heldout = parse_number(a, argv[++i], 0.001, 0.5); }
        else if (a[0] == '-' && a[1] != '\0') { usage(stderr); die("unknown flag %s", a); }
        else if (n_paths < 2) { paths[n_paths++] = a; }
        else { usage(stderr); die("too many arguments: %s", a); }
    }
    if (n_paths != 2) { usage(stderr); die("need a train shard and a val shard"); }
    if ((tok_path == NULL) == (V == 0)) { usage(stderr); die("give exactly one of -k and --vocab"); }
    if (tok_path != NULL) { V = vocab_from_tokenizer(tok_path); }

    size_t n_train, n_val;
    uint16_t *train = read_shard(paths[0], V, &n_train);
    uint16_t *val = read_shard(paths[1], V, &n_val);
    size_t n_held = (size_t)(heldout * (double)n_train);
    if (n_held < 2 || n_train - n_held < 2) { die("train shard too small to hold out a part of it"); }
    size_t n_fit = n_train - n_held;

    // 1. tune k: counts on the first part of train, loss on its last part
    Bigram m;
    bigram_fit(&m, train, n_fit, V);
    double held_loss;
    double k = tune_k(&m, train + n_fit, n_held, &held_loss);
    bigram_free(&m);
    // 2. refit on all of train, score val once
    bigram_fit(&m, train, n_train, V);
    double val_loss = bigram_loss(&m, val, n_val, k);
    printf("bigram: V %zu, train %zu tokens (%zu distinct pairs), val %zu tokens\n",
           V, n_train, m.n_pairs, n_val);
    printf("bigram: k tuned on the last %zu train tokens (fitted on the first %zu): k = %.4g, "
           "held-out loss %.4f\n", n_held, n_fit, k, held_loss);
    printf("bigram val_loss %.4f k %.4g V %zu val_tokens %zu\n", val_loss, k, V, n_val);
    bigram_free(&m);
    free(train);
    free(val);
    return 0;
}
