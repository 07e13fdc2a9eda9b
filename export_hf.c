/*
export_hf.c: a model file of ./train (llm.c's format: trained from scratch,
fine-tuned, or merged) as a Hugging Face GPT-2 checkpoint, so that
transformers' GPT2LMHeadModel.from_pretrained(OUTDIR) loads it. The inverse of
import_hf.c: ./import_hf OUTDIR/model.safetensors gives back the same model
file, byte for byte (test/test_export_hf.sh checks it).

Build and run:
    make export_hf
    ./export_hf out/run/model_00000150.bin out/hf      # writes out/hf/model.safetensors, config.json

What it writes, in OUTDIR (created if missing; each file written atomically):
    model.safetensors   every tensor F32, names as GPT2Model saves them (no
                        "transformer." prefix; from_pretrained takes both):
        wte.weight (V, C)                 <- wte (Vp, C) without its padding rows V..Vp-1
        wpe.weight (maxT, C)              <- wpe
        h.l.ln_1.weight, .bias (C)        <- ln1w[l], ln1b[l]
        h.l.attn.c_attn.weight (C, 3C)    <- qkvw[l] (3C, C) transposed
        h.l.attn.c_attn.bias (3C)         <- qkvb[l]
        h.l.attn.c_proj.weight (C, C)     <- attprojw[l] transposed
        h.l.attn.c_proj.bias (C)          <- attprojb[l]
        h.l.ln_2.weight, .bias (C)        <- ln2w[l], ln2b[l]
        h.l.mlp.c_fc.weight (C, 4C)       <- fcw[l] (4C, C) transposed
        h.l.mlp.c_fc.bias (4C)            <- fcb[l]
        h.l.mlp.c_proj.weight (4C, C)     <- fcprojw[l] (C, 4C) transposed
        h.l.mlp.c_proj.bias (C)           <- fcprojb[l]
        ln_f.weight, .bias (C)            <- lnfw, lnfb
      HF's Conv1D keeps a weight as (in, out), ours are (out, in): each matrix
      is transposed (c_attn's columns are q, k, v, as our rows are). No
      lm_head.weight: GPT-2 ties it to wte, and from_pretrained ties it
      again. No attn.bias / attn.masked_bias: they are the causal mask, a
      buffer transformers builds itself (non-persistent in current versions,
      and listed as ignorable when missing in older ones).
      __metadata__ {"format": "pt"}, which from_pretrained requires.
    config.json         model_type gpt2, GPT2LMHeadModel, vocab_size V,
                        n_positions = n_ctx = maxT, n_embd C, n_layer L,
                        n_head NH, activation gelu_new (GELU's tanh form, as
                        train.c), layer_norm_epsilon 1e-5, tied embeddings,
                        no dropout (train.c has none); end-of-text 50256 for
                        GPT-2's vocabulary.
The tokenizer is GPT-2's own (from the Hugging Face hub, or tokenizer.c's
input files) when the model uses GPT-2's vocabulary; a learned vocabulary has
no HF tokenizer files from here.

The safetensors format: a little-endian uint64 N, N bytes of JSON (padded
with spaces to a multiple of 8), then the tensors' bytes, row-major
little-endian, at [begin, end) counted from the end of the JSON, written in
the JSON's order without gaps. Like the model files, the data is written in
the host's byte order: little-endian machines only (x86, ARM).
*/
#define TRAIN_NO_MAIN
// train.c's training half (loader, optimizer, CLI) is not used here
#pragma GCC diagnostic ignored "-Wunused-function"
#include "train.c"

#define MAX_EXPORT_TENSORS (2 + 12 * 1024 + 2)  // L is at most 1024 (check_config)

// one tensor of the export: its HF name and shape, where its values are in
// our parameters, and whether it is stored transposed
typedef struct {
    char name[64];
    size_t d0, d1;       // HF's shape; d1 == 0 for a vector
    const float *src;    // ours: (d1, d0) when transposed, else (d0, d1) or (d0)
    int transpose;
} ExportTensor;

// the list of tensors, in the order of the file
static size_t export_tensors(ExportTensor *t, const GPT2 *model) {
    const GPT2Config *cfg = &model->config;
    size_t V = cfg->vocab_size, C = cfg->channels, maxT = cfg->max_seq_len, n = 0;
    const ParameterTensors *p = &model->params;
    t[n++] = (ExportTensor){"wte.weight", V, C, p->wte, 0};
    t[n++] = (ExportTensor){"wpe.weight", maxT, C, p->wpe, 0};
    for (int l = 0; l < cfg->num_layers; l++) {
        LayerParams lp = layer_params(p, cfg, l);
        const struct { const char *suffix; size_t d0, d1; const float *src; int transpose; } map[] = {
            {"ln_1.weight", C, 0, lp.ln1w, 0},
            {"ln_1.bias", C, 0, lp.ln1b, 0},
            {"attn.c_attn.weight", C, 3 * C, lp.qkvw, 1},
            {"attn.c_attn.bias", 3 * C, 0, lp.qkvb, 0},
            {"attn.c_proj.weight", C, C, lp.attprojw, 1},
            {"attn.c_proj.bias", C, 0, lp.attprojb, 0},
            {"ln_2.weight", C, 0, lp.ln2w, 0},
            {"ln_2.bias", C, 0, lp.ln2b, 0},
            {"mlp.c_fc.weight", C, 4 * C, lp.fcw, 1},
            {"mlp.c_fc.bias", 4 * C, 0, lp.fcb, 0},
            {"mlp.c_proj.weight", 4 * C, C, lp.fcprojw, 1},
            {"mlp.c_proj.bias", C, 0, lp.fcprojb, 0},
        };
        for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
            ExportTensor *e = &t[n++];
            snprintf(e->name, sizeof(e->name), "h.%d.%s", l, map[k].suffix);
            e->d0 = map[k].d0;
            e->d1 = map[k].d1;
            e->src = map[k].src;
            e->transpose = map[k].transpose;
        }
    }
    t[n++] = (ExportTensor){"ln_f.weight", C, 0, p->lnfw, 0};
    t[n++] = (ExportTensor){"ln_f.bias", C, 0, p->lnfb, 0};
    return n;
}

static size_t tensor_numel(const ExportTensor *t) {
    return t->d0 * (t->d1 > 0 ? t->d1 : 1);
}

// appends printf-formatted text to a growing buffer
static void buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    grow((void **)buf, cap, *len + (size_t)n + 1, 1);
    va_start(args, fmt);
    vsnprintf(*buf + *len, (size_t)n + 1, fmt, args);
    va_end(args);
    *len += (size_t)n;
}

// writes OUTDIR/model.safetensors: the header's JSON, then each tensor's
// bytes (the Conv1D weights transposed on the way out, one matrix at a time)
static void write_safetensors(const char *path, const GPT2 *model) {
    ExportTensor *t = (ExportTensor *)mallocCheck(MAX_EXPORT_TENSORS * sizeof(ExportTensor));
    size_t n = export_tensors(t, model);
    char *json = NULL;
    size_t len = 0, cap = 0, at = 0, biggest = 0;
    buf_printf(&json, &len, &cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < n; i++) {
        size_t bytes = tensor_numel(&t[i]) * sizeof(float);
        if (t[i].d1 > 0) {
            buf_printf(&json, &len, &cap, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu,%zu],"
                       "\"data_offsets\":[%zu,%zu]}", t[i].name, t[i].d0, t[i].d1, at, at + bytes);
        } else {
            buf_printf(&json, &len, &cap, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%zu],"
                       "\"data_offsets\":[%zu,%zu]}", t[i].name, t[i].d0, at, at + bytes);
        }
        at += bytes;
        if (t[i].transpose && tensor_numel(&t[i]) > biggest) { biggest = tensor_numel(&t[i]); }
    }
    buf_printf(&json, &len, &cap, "}");
    while (len % 8 != 0) { buf_printf(&json, &len, &cap, " "); }
    unsigned char n_bytes[8];
    for (int i = 0; i < 8; i++) { n_bytes[i] = (unsigned char)((uint64_t)len >> (8 * i)); }
    float *tmp = (float *)mallocCheck(biggest * sizeof(float));
    AtomicFile out = atomic_open(path);
    atomic_write(&out, n_bytes, 1, 8);
    atomic_write(&out, json, 1, len);
    for (size_t i = 0; i < n; i++) {
        size_t numel = tensor_numel(&t[i]);
        if (!t[i].transpose) {
            atomic_write(&out, t[i].src, sizeof(float), numel);
            continue;
        }
        // ours (d1, d0) row-major -> HF's (d0, d1)
        size_t d0 = t[i].d0, d1 = t[i].d1;
        for (size_t r = 0; r < d0; r++) {
            for (size_t c = 0; c < d1; c++) { tmp[r * d1 + c] = t[i].src[c * d0 + r]; }
        }
        atomic_write(&out, tmp, sizeof(float), numel);
    }
    atomic_commit(&out);
    free(tmp);
    free(json);
    free(t);
}

// writes OUTDIR/config.json: transformers' GPT2Config for this shape
static void write_config(const char *path, const GPT2Config *cfg) {
    char *json = NULL;
    size_t len = 0, cap = 0;
    buf_printf(&json, &len, &cap,
               "{\n"
               "  \"architectures\": [\"GPT2LMHeadModel\"],\n"
               "  \"model_type\": \"gpt2\",\n"
               "  \"vocab_size\": %d,\n"
               "  \"n_positions\": %d,\n"
               "  \"n_ctx\": %d,\n"
               "  \"n_embd\": %d,\n"
               "  \"n_layer\": %d,\n"
               "  \"n_head\": %d,\n"
               "  \"n_inner\": null,\n"
               "  \"activation_function\": \"gelu_new\",\n"
               "  \"layer_norm_epsilon\": 1e-05,\n"
               "  \"initializer_range\": 0.02,\n"
               "  \"resid_pdrop\": 0.0,\n"
               "  \"embd_pdrop\": 0.0,\n"
               "  \"attn_pdrop\": 0.0,\n"
               "  \"scale_attn_weights\": true,\n"
               "  \"tie_word_embeddings\": true,\n"
               "  \"use_cache\": true,\n",
               cfg->vocab_size, cfg->max_seq_len, cfg->max_seq_len, cfg->channels,
               cfg->num_layers, cfg->num_heads);
    if (cfg->vocab_size == 50257) {  // GPT-2's vocabulary: <|endoftext|> is 50256
        buf_printf(&json, &len, &cap, "  \"bos_token_id\": 50256,\n  \"eos_token_id\": 50256,\n");
    }
    buf_printf(&json, &len, &cap, "  \"torch_dtype\": \"float32\"\n}\n");
    AtomicFile out = atomic_open(path);
    atomic_write(&out, json, 1, len);
    atomic_commit(&out);
    free(json);
}

static void export_hf(const char *model_path, const char *out_dir) {
    GPT2Config shape;
    int version = read_model_header(&shape, model_path);  // checks magic, version, size
    GPT2 model;
    gpt2_load(&model, model_path);
    const GPT2Config *cfg = &model.config;
    size_t V = cfg->vocab_size, Vp = cfg->padded_vocab_size, C = cfg->channels;
    // the padding rows are not part of HF's wte: they must be 0 (train.c
    // never gives them a gradient), else the export loses them
    int padding_used = 0;
    for (size_t i = V * C; i < Vp * C; i++) { if (model.params.wte[i] != 0.0f) { padding_used = 1; } }
    if (padding_used) {
        fprintf(stderr, "warning: rows %zu..%zu of wte (the vocabulary's padding) are not zero; HF's "
                "wte has V=%zu rows, so they are dropped and ./import_hf will give zeros there\n",
                V, Vp - 1, V);
    }
    make_dirs(out_dir);
    char path[PATH_MAX_LEN];
    int n = snprintf(path, sizeof(path), "%s/model.safetensors", out_dir);
    if (n < 0 || n >= PATH_MAX_LEN) { die("path too long: %s", out_dir); }
    write_safetensors(path, &model);
    snprintf(path, sizeof(path), "%s/config.json", out_dir);
    write_config(path, cfg);
    printf("exported %s: L=%d NH=%d C=%d V=%d maxT=%d, %zu parameters (%zu without the padding "
           "rows), F32%s -> %s/{model.safetensors,config.json}\n", model_path, cfg->num_layers,
           cfg->num_heads, cfg->channels, cfg->vocab_size, cfg->max_seq_len, model.num_parameters,
           model.num_parameters - (Vp - V) * C,
           version == MODEL_VERSION_BF16 ? " (widened from the bf16 model file)" : "", out_dir);
    gpt2_free(&model);
}

static void usage(FILE *fp) {
    fprintf(fp, "usage: ./export_hf MODEL.bin OUTDIR\n"
                "  a model file of ./train as a Hugging Face GPT-2 checkpoint: OUTDIR/model.safetensors\n"
                "  (F32, GPT-2's Conv1D layout) and OUTDIR/config.json, for\n"
                "  transformers.GPT2LMHeadModel.from_pretrained(OUTDIR). ./import_hf reads it back.\n");
}

int main(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
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
        die("needs MODEL.bin and OUTDIR");
    }
    export_hf(pos[0], pos[1]);
    return 0;
}
