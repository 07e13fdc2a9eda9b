/*
import_hf.c: GPT-2 weights from a Hugging Face `model.safetensors` into a model
file for ./train (fp32, version 3, written by train.c's own gpt2_save), to
fine-tune or sample from.

Build and run:
    make import_hf
    ./import_hf model.safetensors gpt2.bin              # gpt2, -medium, -large, -xl
    ./import_hf model.safetensors out.bin --heads NH    # any other GPT-2 shape

The safetensors format: a little-endian uint64 N, then N bytes of JSON
    {"NAME": {"dtype": "F32", "shape": [d0, d1], "data_offsets": [begin, end]},
     ..., "__metadata__": {"format": "pt"}}
then the tensor data, each tensor row-major at [begin, end) counted from the
end of the JSON. Everything is checked before it is used: the length, the
JSON, every field, that each tensor's bytes match its shape and dtype, and
that the tensors tile the data exactly (no gap, no overlap, nothing past the
end: a truncated download fails here). Dtypes F32, F16 and BF16 are read and
widened to fp32 exactly.

Hugging Face's GPT-2 (transformers' GPT2Model / GPT2LMHeadModel; names with or
without a "transformer." prefix) against our parameter table (train.c):
    wte.weight (V, C)                -> wte (Vp, C); rows V..Vp-1 stay 0
    wpe.weight (maxT, C)             -> wpe (maxT, C)
    h.l.ln_1.weight, .bias (C)       -> ln1w[l], ln1b[l]
    h.l.attn.c_attn.weight (C, 3C)   -> qkvw[l] (3C, C)
    h.l.attn.c_attn.bias (3C)        -> qkvb[l]
    h.l.attn.c_proj.weight (C, C)    -> attprojw[l]
    h.l.attn.c_proj.bias (C)         -> attprojb[l]
    h.l.ln_2.weight, .bias (C)       -> ln2w[l], ln2b[l]
    h.l.mlp.c_fc.weight (C, 4C)      -> fcw[l] (4C, C)
    h.l.mlp.c_fc.bias (4C)           -> fcb[l]
    h.l.mlp.c_proj.weight (4C, C)    -> fcprojw[l] (C, 4C)
    h.l.mlp.c_proj.bias (C)          -> fcprojb[l]
    ln_f.weight, .bias (C)           -> lnfw, lnfb
    lm_head.weight (V, C), if there  must equal wte.weight: GPT-2 ties them
    h.l.attn.bias, .masked_bias      the causal mask buffers: skipped
HF's Conv1D keeps its weight as (in, out), ours are (out, in) like
nn.Linear: every weight matrix is transposed. The fused c_attn's output
columns are q, k, v in that order, and so are the rows of our qkvw: the
transpose is the whole conversion. The shape comes from the tensors: C and V
from wte, maxT from wpe, L from the h.N blocks; NH is not stored, so it is
--heads or GPT-2's table (C 768, 1024, 1280, 1600 -> NH 12, 16, 20, 25).
Any other tensor name is an error: this is not a GPT-2 checkpoint.
*/
#define TRAIN_NO_MAIN
// train.c's training half (loader, optimizer, CLI) is not used here
#pragma GCC diagnostic ignored "-Wunused-function"
#include "train.c"

#define ST_MAX_HEADER (100u << 20)  // safetensors' own limit on the JSON
#define ST_MAX_NAME 256
#define ST_MAX_DEPTH 16             // nesting allowed inside __metadata__
#define HF_PREFIX "transformer."

// ----------------------------------------------------------------------------
// the JSON of the header: objects, arrays, strings, non-negative integers

typedef struct {
    const char *s;
    size_t n, pos;
    const char *path;
} Json;

static void json_error(const Json *j, const char *what) {
    die("'%s' is not a safetensors file: its header is not the expected JSON (%s at byte %zu "
        "of %zu)", j->path, what, j->pos, j->n);
}

static void json_ws(Json *j) {
    while (j->pos < j->n && (j->s[j->pos] == ' ' || j->s[j->pos] == '\n' ||
                             j->s[j->pos] == '\r' || j->s[j->pos] == '\t')) { j->pos++; }
}

// the next non-space character (0 at the end), not consumed
static char json_peek(Json *j) {
    json_ws(j);
    return j->pos < j->n ? j->s[j->pos] : '\0';
}

static void json_expect(Json *j, char c) {
    if (json_peek(j) != c) {
        char what[32];
        snprintf(what, sizeof(what), "expected '%c'", c);
        json_error(j, what);
    }
    j->pos++;
}

// a string into out (cap bytes with the NUL); the escapes \" \\ \/ are
// resolved, \u and control characters are refused (no tensor name has them)
static void json_string(Json *j, char *out, size_t cap) {
    json_expect(j, '"');
    size_t m = 0;
    for (;;) {
        if (j->pos >= j->n) { json_error(j, "unterminated string"); }
        char c = j->s[j->pos++];
        if (c == '"') { break; }
        if ((unsigned char)c < 0x20) { json_error(j, "control character in a string"); }
        if (c == '\\') {
            if (j->pos >= j->n || strchr("\"\\/", j->s[j->pos]) == NULL || j->s[j->pos] == '\0') {
                json_error(j, "unsupported escape in a string");
            }
            c = j->s[j->pos++];
        }
        if (m + 1 >= cap) { json_error(j, "string too long"); }
        out[m++] = c;
    }
    out[m] = '\0';
}

// a non-negative integer below 2^63
static uint64_t json_uint(Json *j) {
    json_ws(j);
    size_t start = j->pos;
    uint64_t v = 0;
    while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') {
        uint64_t d = (uint64_t)(j->s[j->pos++] - '0');
        if (v > (INT64_MAX - d) / 10) { json_error(j, "integer too large"); }
        v = v * 10 + d;
    }
    if (j->pos == start) { json_error(j, "expected a non-negative integer"); }
    return v;
}

// skips any value (only __metadata__ holds values we do not read)
static void json_skip(Json *j, int depth) {
    if (depth > ST_MAX_DEPTH) { json_error(j, "nested too deeply"); }
    char c = json_peek(j), buf[ST_MAX_NAME];
    if (c == '"') {
        // metadata strings may be long or hold \u escapes: skip them raw
        j->pos++;
        while (j->pos < j->n && j->s[j->pos] != '"') { j->pos += j->s[j->pos] == '\\' ? 2 : 1; }
        if (j->pos >= j->n) { json_error(j, "unterminated string"); }
        j->pos++;
    } else if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->pos++;
        if (json_peek(j) == close) { j->pos++; return; }
        for (;;) {
            if (c == '{') {
                json_string(j, buf, sizeof(buf));
                json_expect(j, ':');
            }
            json_skip(j, depth + 1);
            if (json_peek(j) == ',') { j->pos++; continue; }
            json_expect(j, close);
            return;
        }
    } else {
        // number, true, false, null: the run of characters up to a delimiter
        size_t start = j->pos;
        while (j->pos < j->n && strchr(",}] \n\r\t", j->s[j->pos]) == NULL) { j->pos++; }
        if (j->pos == start) { json_error(j, "expected a value"); }
    }
}

// ----------------------------------------------------------------------------
// the tensors of a safetensors file

typedef struct {
    char name[ST_MAX_NAME];  // without the "transformer." prefix
    char dtype[8];
    int rank;
    size_t shape[MAX_RANK];
    uint64_t begin, end;     // bytes, from the start of the data
    int used;                // read by the import (or knowingly skipped)
} StTensor;

typedef struct {
    const char *path;
    FILE *fp;
    uint64_t data_start;     // 8 + N
    uint64_t data_size;      // file size - data_start
    StTensor *tensors;
    size_t n;
} StFile;

static size_t dtype_size(const char *dtype) {
    static const struct { const char *name; size_t size; } table[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
        {"I8", 1}, {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1}, {"BOOL", 1},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(dtype, table[i].name) == 0) { return table[i].size; }
    }
    return 0;
}

// one "NAME": {"dtype": ..., "shape": [...], "data_offsets": [b, e]} entry
static void parse_tensor(Json *j, StTensor *t) {
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    char key[ST_MAX_NAME];
    json_expect(j, '{');
    for (;;) {
        json_string(j, key, sizeof(key));
        json_expect(j, ':');
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            json_string(j, t->dtype, sizeof(t->dtype));
            have_dtype = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            json_expect(j, '[');
            t->rank = 0;
            if (json_peek(j) == ']') { j->pos++; } else {
                for (;;) {
                    if (t->rank == MAX_RANK) { json_error(j, "tensor of too high a rank"); }
                    uint64_t d = json_uint(j);
                    if (d > (1ull << 40)) { json_error(j, "tensor dimension too large"); }
                    t->shape[t->rank++] = (size_t)d;
                    if (json_peek(j) == ',') { j->pos++; continue; }
                    json_expect(j, ']');
                    break;
                }
            }
            have_shape = 1;
        } else if (strcmp(key, "data_offsets") == 0 && !have_offsets) {
            json_expect(j, '[');
            t->begin = json_uint(j);
            json_expect(j, ',');
            t->end = json_uint(j);
            json_expect(j, ']');
            have_offsets = 1;
        } else {
            json_error(j, "unknown or repeated field in a tensor entry");
        }
        if (json_peek(j) == ',') { j->pos++; continue; }
        json_expect(j, '}');
        break;
    }
    if (!have_dtype || !have_shape || !have_offsets) {
        json_error(j, "tensor entry without dtype, shape or data_offsets");
    }
}

static int compare_begin(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

// checks that every tensor's bytes match its dtype and shape, and that the
// tensors tile [0, data_size) exactly
static void check_layout(const StFile *st) {
    const StTensor **order = (const StTensor **)mallocCheck(st->n * sizeof(StTensor *));
    for (size_t i = 0; i < st->n; i++) {
        const StTensor *t = &st->tensors[i];
        size_t size = dtype_size(t->dtype);
        if (size == 0) { die("'%s': tensor '%s' has unknown dtype '%s'", st->path, t->name, t->dtype); }
        uint64_t bytes = size;
        for (int k = 0; k < t->rank; k++) {
            if (t->shape[k] != 0 && bytes > UINT64_MAX / t->shape[k]) {
                die("'%s': tensor '%s' is too large", st->path, t->name);
            }
            bytes *= t->shape[k];
        }
        if (t->end < t->begin || t->end - t->begin != bytes) {
            die("'%s': tensor '%s' has data_offsets [%llu, %llu], but its shape and dtype %s "
                "need %llu bytes: corrupt", st->path, t->name, (unsigned long long)t->begin,
                (unsigned long long)t->end, t->dtype, (unsigned long long)bytes);
        }
        if (t->end > st->data_size) {
            die("'%s': tensor '%s' ends at byte %llu of the data, but the file holds only %llu "
                "bytes of data: truncated (download it again)", st->path, t->name,
                (unsigned long long)t->end, (unsigned long long)st->data_size);
        }
        order[i] = t;
    }
    qsort(order, st->n, sizeof(order[0]), compare_begin);
    uint64_t at = 0;
    for (size_t i = 0; i < st->n; i++) {
        if (order[i]->begin != at) {
            die("'%s': tensor '%s' starts at byte %llu of the data, expected %llu (the tensors "
                "must tile the data without gaps or overlaps): corrupt", st->path,
                order[i]->name, (unsigned long long)order[i]->begin, (unsigned long long)at);
        }
        at = order[i]->end;
    }
    if (at != st->data_size) {
        die("'%s': %llu bytes after the last tensor: corrupt, or not a safetensors file",
            st->path, (unsigned long long)(st->data_size - at));
    }
    free(order);
}

// opens a safetensors file and reads and checks its header
static void st_open(StFile *st, const char *path) {
    memset(st, 0, sizeof(*st));
    st->path = path;
    int64_t size = file_size(path);
    if (size < 0) { die("cannot open '%s': %s", path, strerror(errno)); }
    if (size < 8) { die("'%s' is %lld bytes: too short for a safetensors file", path, (long long)size); }
    st->fp = fopenCheck(path, "rb");
    unsigned char len_bytes[8];
    freadCheck(len_bytes, 1, 8, st->fp);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) { n = n << 8 | len_bytes[i]; }  // little-endian
    if (n < 2 || n > ST_MAX_HEADER || n > (uint64_t)size - 8) {
        die("'%s' is not a safetensors file: header length %llu does not fit its %lld bytes "
            "(or exceeds %u)", path, (unsigned long long)n, (long long)size, ST_MAX_HEADER);
    }
    st->data_start = 8 + n;
    st->data_size = (uint64_t)size - st->data_start;
    char *text = (char *)mallocCheck((size_t)n);
    freadCheck(text, 1, (size_t)n, st->fp);
    Json j = {text, (size_t)n, 0, path};
    // an entry takes more than 32 bytes of JSON: room for every one there can be
    size_t cap = (size_t)n / 32 + 1;
    st->tensors = (StTensor *)mallocCheck(cap * sizeof(StTensor));
    char name[ST_MAX_NAME];
    json_expect(&j, '{');
    if (json_peek(&j) == '}') { json_error(&j, "no tensors"); }
    for (;;) {
        json_string(&j, name, sizeof(name));
        json_expect(&j, ':');
        if (strcmp(name, "__metadata__") == 0) {
            if (json_peek(&j) != '{') { json_error(&j, "__metadata__ is not an object"); }
            json_skip(&j, 0);
        } else {
            if (st->n == cap) { json_error(&j, "more tensor entries than its length can hold"); }
            StTensor *t = &st->tensors[st->n];
            memset(t, 0, sizeof(*t));
            const char *bare = strncmp(name, HF_PREFIX, strlen(HF_PREFIX)) == 0 ? name + strlen(HF_PREFIX) : name;
            snprintf(t->name, sizeof(t->name), "%s", bare);
            for (size_t i = 0; i < st->n; i++) {
                if (strcmp(st->tensors[i].name, t->name) == 0) {
                    die("'%s': tensor '%s' appears twice", path, t->name);
                }
            }
            parse_tensor(&j, t);
            st->n++;
        }
        if (json_peek(&j) == ',') { j.pos++; continue; }
        json_expect(&j, '}');
        break;
    }
    if (json_peek(&j) != '\0') { json_error(&j, "text after the header's object"); }
    free(text);
    if (st->n == 0) { die("'%s' holds no tensors", path); }
    check_layout(st);
}

static void st_close(StFile *st) {
    fcloseCheck(st->fp);
    free(st->tensors);
    memset(st, 0, sizeof(*st));
}

static StTensor *st_find(StFile *st, const char *name) {
    for (size_t i = 0; i < st->n; i++) {
        if (strcmp(st->tensors[i].name, name) == 0) { return &st->tensors[i]; }
    }
    return NULL;
}

// fp16 to fp32, exactly: sign, 5 exponent bits (bias 15), 10 mantissa bits
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (e == 0) {  // zero or subnormal: mant * 2^-24, exact in fp32
        float f = ldexpf((float)mant, -24);
        return sign ? -f : f;
    }
    if (e == 31) {
        bits = sign | 0x7f800000u | (mant << 13);  // inf or NaN
    } else {
        bits = sign | ((e - 15 + 127) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

// tensor `name` with the given 1- or 2-D shape, as fp32, into dst; with
// transpose the file's (d0, d1) becomes dst's (d1, d0)
static void st_read(StFile *st, const char *name, size_t d0, size_t d1, int rank, int transpose,
                    float *dst) {
    StTensor *t = st_find(st, name);
    if (t == NULL) {
        die("'%s' has no tensor '%s' (nor '" HF_PREFIX "%s'): not a GPT-2 checkpoint, or one "
            "with fewer layers", st->path, name, name);
    }
    if (t->rank != rank || t->shape[0] != d0 || (rank == 2 && t->shape[1] != d1)) {
        char got[64] = "";
        for (int k = 0; k < t->rank && strlen(got) < 40; k++) {
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%zu", k ? ", " : "", t->shape[k]);
        }
        if (rank == 2) {
            die("'%s': tensor '%s' has shape (%s), expected (%zu, %zu)", st->path, name, got, d0, d1);
        }
        die("'%s': tensor '%s' has shape (%s), expected (%zu)", st->path, name, got, d0);
    }
    size_t n = d0 * (rank == 2 ? d1 : 1), size = dtype_size(t->dtype);
    if (strcmp(t->dtype, "F32") != 0 && strcmp(t->dtype, "F16") != 0 && strcmp(t->dtype, "BF16") != 0) {
        die("'%s': tensor '%s' is %s; this reads F32, F16 and BF16", st->path, name, t->dtype);
    }
    unsigned char *raw = (unsigned char *)mallocCheck(n * size);
    fseekCheck(st->fp, (int64_t)(st->data_start + t->begin), SEEK_SET);
    freadCheck(raw, size, n, st->fp);
    float *val = (float *)mallocCheck(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        if (size == 4) {
            memcpy(&val[i], raw + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, raw + 2 * i, 2);
            if (t->dtype[0] == 'B') {  // bf16 is the top half of an fp32
                uint32_t bits = (uint32_t)h << 16;
                memcpy(&val[i], &bits, 4);
            } else {
                val[i] = half_to_float(h);
            }
        }
    }
    if (transpose) {
        for (size_t r = 0; r < d0; r++) {
            for (size_t c = 0; c < d1; c++) { dst[c * d0 + r] = val[r * d1 + c]; }
        }
    } else {
        memcpy(dst, val, n * sizeof(float));
    }
    t->used = 1;
    free(val);
    free(raw);
}

// ----------------------------------------------------------------------------
// the import

// the number of blocks: one more than the largest N of an "h.N." name
static int count_layers(const StFile *st) {
    int L = 0;
    for (size_t i = 0; i < st->n; i++) {
        const char *s = st->tensors[i].name;
        if (strncmp(s, "h.", 2) != 0 || s[2] < '0' || s[2] > '9') { continue; }
        long l = strtol(s + 2, NULL, 10);
        if (l >= 1024) { die("'%s': tensor '%s': layer index too large", st->path, s); }
        if (l + 1 > L) { L = (int)l + 1; }
    }
    if (L == 0) { die("'%s' has no h.N. blocks: not a GPT-2 checkpoint", st->path); }
    return L;
}

static int heads_for_width(int C) {
    static const int table[][2] = {{768, 12}, {1024, 16}, {1280, 20}, {1600, 25}};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i][0] == C) { return table[i][1]; }
    }
    return 0;
}

static void import_hf(const char *in_path, const char *out_path, int heads) {
    StFile st;
    st_open(&st, in_path);
    const StTensor *wte = st_find(&st, "wte.weight"), *wpe = st_find(&st, "wpe.weight");
    if (wte == NULL || wpe == NULL || wte->rank != 2 || wpe->rank != 2) {
        die("'%s' lacks 2-D tensors wte.weight and wpe.weight: not a GPT-2 checkpoint", in_path);
    }
    if (wte->shape[0] > (1 << 24) || wte->shape[1] > (1 << 16) || wpe->shape[0] > (1 << 20)) {
        die("'%s': wte (%zu, %zu) or wpe (%zu, ...) out of range", in_path, wte->shape[0],
            wte->shape[1], wpe->shape[0]);
    }
    GPT2Config cfg;
    cfg.vocab_size = (int)wte->shape[0];
    cfg.channels = (int)wte->shape[1];
    cfg.max_seq_len = (int)wpe->shape[0];
    cfg.padded_vocab_size = pad_vocab(cfg.vocab_size);
    cfg.num_layers = count_layers(&st);
    cfg.num_heads = heads > 0 ? heads : heads_for_width(cfg.channels);
    if (cfg.num_heads == 0) {
        die("C=%d is not one of GPT-2's widths (768, 1024, 1280, 1600): give the number of "
            "heads with --heads NH", cfg.channels);
    }
    check_config(&cfg, in_path);
    GPT2 model;
    gpt2_init(&model, &cfg);
    ParameterTensors *p = &model.params;
    size_t V = cfg.vocab_size, C = cfg.channels, maxT = cfg.max_seq_len;
    st_read(&st, "wte.weight", V, C, 2, 0, p->wte);
    st_read(&st, "wpe.weight", maxT, C, 2, 0, p->wpe);
    char name[ST_MAX_NAME];
    for (int l = 0; l < cfg.num_layers; l++) {
        LayerParams lp = layer_params(p, &cfg, l);
        const struct { const char *suffix; size_t d0, d1; int rank, transpose; float *dst; } map[] = {
            {"ln_1.weight", C, 0, 1, 0, lp.ln1w},
            {"ln_1.bias", C, 0, 1, 0, lp.ln1b},
            {"attn.c_attn.weight", C, 3 * C, 2, 1, lp.qkvw},
            {"attn.c_attn.bias", 3 * C, 0, 1, 0, lp.qkvb},
            {"attn.c_proj.weight", C, C, 2, 1, lp.attprojw},
            {"attn.c_proj.bias", C, 0, 1, 0, lp.attprojb},
            {"ln_2.weight", C, 0, 1, 0, lp.ln2w},
            {"ln_2.bias", C, 0, 1, 0, lp.ln2b},
            {"mlp.c_fc.weight", C, 4 * C, 2, 1, lp.fcw},
            {"mlp.c_fc.bias", 4 * C, 0, 1, 0, lp.fcb},
            {"mlp.c_proj.weight", 4 * C, C, 2, 1, lp.fcprojw},
            {"mlp.c_proj.bias", C, 0, 1, 0, lp.fcprojb},
        };
        for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
            snprintf(name, sizeof(name), "h.%d.%s", l, map[k].suffix);
            st_read(&st, name, map[k].d0, map[k].d1, map[k].rank, map[k].transpose, map[k].dst);
        }
        // the causal mask buffers are not parameters
        const char *buffers[2] = {"attn.bias", "attn.masked_bias"};
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof(name), "h.%d.%s", l, buffers[k]);
            StTensor *t = st_find(&st, name);
            if (t != NULL) { t->used = 1; }
        }
    }
    st_read(&st, "ln_f.weight", C, 0, 1, 0, p->lnfw);
    st_read(&st, "ln_f.bias", C, 0, 1, 0, p->lnfb);
    if (st_find(&st, "lm_head.weight") != NULL) {
        float *head = (float *)mallocCheck(V * C * sizeof(float));
        st_read(&st, "lm_head.weight", V, C, 2, 0, head);
        if (memcmp(head, p->wte, V * C * sizeof(float)) != 0) {
            die("'%s': lm_head.weight differs from wte.weight; GPT-2 ties them, and so does "
                "this trainer", in_path);
        }
        free(head);
    }
    for (size_t i = 0; i < st.n; i++) {
        if (!st.tensors[i].used) {
            die("'%s': unexpected tensor '%s' (a GPT-2 checkpoint with L=%d has no such "
                "tensor): not a GPT-2 model", in_path, st.tensors[i].name, cfg.num_layers);
        }
    }
    gpt2_save(&model, out_path);
    char dtypes[32] = "";
    const char *known[3] = {"F32", "F16", "BF16"};
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < st.n; i++) {
            if (strcmp(st.tensors[i].dtype, known[k]) == 0) {
                snprintf(dtypes + strlen(dtypes), sizeof(dtypes) - strlen(dtypes), " %s", known[k]);
                break;
            }
        }
    }
    printf("imported %s: L=%d NH=%d C=%d V=%d (Vp=%d) maxT=%d, %zu parameters,%s -> %s (fp32)\n",
           in_path, cfg.num_layers, cfg.num_heads, cfg.channels, cfg.vocab_size,
           cfg.padded_vocab_size, cfg.max_seq_len, model.num_parameters, dtypes, out_path);
    gpt2_free(&model);
    st_close(&st);
}

static void usage(FILE *fp) {
    fprintf(fp, "usage: ./import_hf MODEL.safetensors OUT.bin [--heads NH]\n"
                "  GPT-2 weights (Hugging Face transformers layout; F32, F16 or BF16) into a\n"
                "  model file for ./train -e OUT.bin. NH defaults to GPT-2's for the width\n"
                "  (C 768, 1024, 1280, 1600 -> 12, 16, 20, 25).\n");
}

int main(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0, heads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--heads") == 0) {
            if (i + 1 >= argc) { die("--heads needs a value"); }
            char *end = NULL;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end != '\0' || errno != 0 || v < 1 || v > 1024) {
                die("--heads: '%s' is not an integer in [1, 1024]", argv[i]);
            }
            heads = (int)v;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            usage(stderr);
            die("unknown flag '%s'", argv[i]);
        } else if (n_pos < 2) {
            pos[n_pos++] = argv[i];
        } else {
            usage(stderr);
            die("too many arguments");
        }
    }
    if (n_pos != 2) {
        usage(stderr);
        die("needs MODEL.safetensors and OUT.bin");
    }
    import_hf(pos[0], pos[1], heads);
    return 0;
}
