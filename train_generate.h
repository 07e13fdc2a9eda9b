/*
train_generate.h: using a model rather than training it. Part of train.c
(included by it, after the model and the flags): decoding tokens, sampling
(temperature, top-k), inference with a KV cache (gpt2_forward_cached, one
new position per token instead of the whole context) and the --prompt
command. Training samples through the same sampler (train.c's run_sample).
*/

// ----------------------------------------------------------------------------
// decoding: tokenizer.h loads the tokenizer file (tokenizer_load) and
// encodes prompts; decoding writes each token's bytes

// writes the bytes of token id to fp (or "<id>" for an id the vocabulary lacks)
static void tokenizer_print(const Tokenizer *tok, int id, FILE *fp) {
    if (tok == NULL || id < 0 || (size_t)id >= tok->vocab_size) {
        fprintf(fp, "<%d>", id);
        return;
    }
    fwriteCheck(token_bytes(tok, (size_t)id), 1, token_len(tok, (size_t)id), fp);
}

// ----------------------------------------------------------------------------
// sampling

// the k-th largest of x[0..n), 1 <= k <= n, by quickselect (Hoare's
// partition around a middle pivot, then only the side that holds it): O(n) on
// average where sorting all V logits for every sampled token was O(V log V).
// Reorders x.
static float kth_largest(float *x, int n, int k) {
    int lo = 0, hi = n - 1, want = k - 1;  // want: the index in descending order
    while (lo < hi) {
        float pivot = x[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {  // afterwards x[lo..j] >= pivot >= x[i..hi], x[j+1..i-1] == pivot
            while (x[i] > pivot) { i++; }
            while (x[j] < pivot) { j--; }
            if (i <= j) {
                float t = x[i];
                x[i] = x[j];
                x[j] = t;
                i++;
                j--;
            }
        }
        if (want <= j) {
            hi = j;
        } else if (want >= i) {
            lo = i;
        } else {
            return x[want];
        }
    }
    return x[want];
}

// draws a token from the first V logits: temperature 0 is greedy, otherwise
// softmax(logits / temperature) restricted to the top_k largest (0 = all).
// scratch holds V floats.
static int sample_token(const float *logits, int V, float temperature, int top_k, float *scratch,
                        Rng *rng) {
    int best = 0;
    for (int v = 1; v < V; v++) { if (logits[v] > logits[best]) { best = v; } }
    if (temperature == 0.0f) { return best; }
    int use_top_k = top_k > 0 && top_k < V;
    float cutoff = logits[best];
    if (use_top_k) {
        memcpy(scratch, logits, (size_t)V * sizeof(float));
        cutoff = kth_largest(scratch, V, top_k);  // ties with the k-th largest are kept too
    }
    double sum = 0.0;
    for (int v = 0; v < V; v++) {
        if (!use_top_k || logits[v] >= cutoff) {
            sum += exp((logits[v] - logits[best]) / temperature);
        }
    }
    double coin = rng_uniform(rng) * sum, cdf = 0.0;
    for (int v = 0; v < V; v++) {
        if (!use_top_k || logits[v] >= cutoff) {
            cdf += exp((logits[v] - logits[best]) / temperature);
            if (coin < cdf) { return v; }
        }
    }
    return best;  // rounding left coin at the very top: the most likely token
}

// ----------------------------------------------------------------------------
// Inference with a KV cache. Generating token by token, gpt2_forward would
// rerun every earlier position for each new token; but a position's keys and
// values depend only on the tokens up to it, so each layer keeps them, and a
// new token runs only its own row through the layers (one position's worth
// of matmuls) plus attention over the cached rows. Its tensors, for R rows
// per call and the model's maxT, come from one table like the activations.
#define NUM_CACHE_TENSORS 13
#define PREFILL_ROWS 64  // positions per gpt2_forward_cached call while prefilling
typedef struct {
    float *k;         // (L, maxT, C) keys of every cached position, per layer
    float *v;         // (L, maxT, C) values
    float *x;         // (R, C) residual stream of the rows being computed
    float *ln;        // (R, C) layernorm output (ln1, ln2, then lnf)
    float *mean;      // (R)
    float *rstd;      // (R)
    float *qkv;       // (R, 3*C)
    float *atty;      // (R, C)
    float *proj;      // (R, C) a projection's output, before the residual add
    float *fch;       // (R, 4*C)
    float *fch_gelu;  // (R, 4*C)
    float *att;       // (R, NH, maxT) attention weights (scratch)
    float *logits;    // (R, Vp) logits of the rows of the last call
} CacheTensors;

static void cache_specs(TensorSpec *specs, const GPT2Config *cfg, int R_) {
    size_t R = R_, C = cfg->channels, L = cfg->num_layers, NH = cfg->num_heads;
    size_t maxT = cfg->max_seq_len, Vp = cfg->padded_vocab_size;
    TensorSpec table[NUM_CACHE_TENSORS] = {
        {"k",        offsetof(CacheTensors, k),        3, {L, maxT, C}, 1, INIT_NONE, 0},
        {"v",        offsetof(CacheTensors, v),        3, {L, maxT, C}, 1, INIT_NONE, 0},
        {"x",        offsetof(CacheTensors, x),        2, {R, C},       0, INIT_NONE, 0},
        {"ln",       offsetof(CacheTensors, ln),       2, {R, C},       0, INIT_NONE, 0},
        {"mean",     offsetof(CacheTensors, mean),     1, {R},          0, INIT_NONE, 0},
        {"rstd",     offsetof(CacheTensors, rstd),     1, {R},          0, INIT_NONE, 0},
        {"qkv",      offsetof(CacheTensors, qkv),      2, {R, 3 * C},   0, INIT_NONE, 0},
        {"atty",     offsetof(CacheTensors, atty),     2, {R, C},       0, INIT_NONE, 0},
        {"proj",     offsetof(CacheTensors, proj),     2, {R, C},       0, INIT_NONE, 0},
        {"fch",      offsetof(CacheTensors, fch),      2, {R, 4 * C},   0, INIT_NONE, 0},
        {"fch_gelu", offsetof(CacheTensors, fch_gelu), 2, {R, 4 * C},   0, INIT_NONE, 0},
        {"att",      offsetof(CacheTensors, att),      3, {R, NH, maxT}, 0, INIT_NONE, 0},
        {"logits",   offsetof(CacheTensors, logits),   2, {R, Vp},      0, INIT_NONE, 0},
    };
    memcpy(specs, table, sizeof(table));
}

typedef struct {
    CacheTensors t;
    float *memory;
    int max_rows;               // R: the most positions one call computes
    int len;                    // positions cached: rows 0..len-1 of k and v are valid
    size_t positions_computed;  // positions run through the layers, over all calls
    size_t bytes_allocated;     // the cache's memory, for the bill check
} KVCache;

// an empty cache for a model, computing up to max_rows positions per call
static void kv_cache_init(KVCache *cache, const GPT2Config *cfg, int max_rows) {
    memset(cache, 0, sizeof(*cache));
    TensorSpec specs[NUM_CACHE_TENSORS];
    cache_specs(specs, cfg, max_rows);
    size_t n = layout_specs(specs, NUM_CACHE_TENSORS);
    cache->memory = (float *)callocCheck(n, sizeof(float));
    point_tensors(&cache->t, specs, NUM_CACHE_TENSORS, cache->memory);
    cache->max_rows = max_rows;
    cache->bytes_allocated = n * sizeof(float);
}

// The inference column of the bill (train_bill.h): B sequences of T tokens,
// each with the cache --prompt allocates (kv_cache_init for a context of T
// positions, PREFILL_ROWS rows per call): keys and values of every position
// (the KV cache), the working rows of one call (activations), the weights; no
// gradients, no moments. On the GPU (gpu 1) the same tensors in bf16: a
// layout train_gpu does not run yet. FLOPs: a prefilled position runs every
// weight once (2 FLOPs each) and attends to at most T positions (4 C per
// layer and position, over the full T as compute_bill counts); a decoded
// token with a cache of T costs the same, exactly.
static BillColumn bill_inference(const GPT2Config *cfg, int B, int T, int gpu) {
    GPT2Config ctx = *cfg;
    ctx.max_seq_len = T;  // the cache holds the T positions of the context
    TensorSpec specs[NUM_CACHE_TENSORS];
    cache_specs(specs, &ctx, PREFILL_ROWS < T ? PREFILL_ROWS : T);
    size_t per_seq = layout_specs(specs, NUM_CACHE_TENSORS);
    size_t kv = 2 * (size_t)cfg->num_layers * (size_t)T * (size_t)cfg->channels;
    size_t elem = gpu ? BILL_BF16 : sizeof(float);
    BillColumn c;
    memset(&c, 0, sizeof(c));
    c.weights = count_parameters(cfg) * elem;
    c.kv_cache = (size_t)B * kv * elem;
    c.acts = (size_t)B * (per_seq - kv) * elem;
    double attention = 4.0 * cfg->num_layers * (double)cfg->channels * T;
    c.flops_per_token = 2.0 * bill_matmul_weights(cfg) + attention;
    c.flops_per_decode = c.flops_per_token;
    bill_sum(&c);
    return c;
}

// inference needs only the weights: frees the gradients, AdamW moments and
// norm sums that gpt2_init allocated for training (the bill's inference
// column has none of them)
static void gpt2_drop_training_memory(GPT2 *model) {
    free(model->grads_memory);
    free(model->m_memory);
    free(model->v_memory);
    free(model->norm_partials);
    model->grads_memory = model->m_memory = model->v_memory = NULL;
    model->norm_partials = NULL;
    memset(&model->grads, 0, sizeof(model->grads));
    model->opt_start = model->opt_end = 0;
    model->bytes_allocated = model->num_parameters * sizeof(float);
}

static void kv_cache_free(KVCache *cache) {
    free(cache->memory);
    memset(cache, 0, sizeof(*cache));
}

// Runs positions pos_from..pos_to-1 of one sequence (tokens holds their
// pos_to - pos_from tokens) through the model, each layer on these rows
// only, attention also reading the cached keys and values of positions
// 0..pos_from-1. pos_from <= cache->len: a smaller pos_from forgets the cached
// positions from there on (0 starts a new sequence). The logits of the new
// rows go to cache->t.logits (n, Vp): gpt2_forward's rows pos_from..pos_to-1
// for tokens 0..pos_to-1, up to the order of float sums.
static void gpt2_forward_cached(GPT2 *model, KVCache *cache, const int *tokens, int pos_from,
                                int pos_to) {
    const GPT2Config *cfg = &model->config;
    int n = pos_to - pos_from;
    if (pos_from < 0 || pos_from > cache->len || n < 1 || n > cache->max_rows ||
        pos_to > cfg->max_seq_len) {
        die("gpt2_forward_cached: positions [%d, %d) do not fit a cache of %d positions (maxT=%d, "
            "at most %d per call)", pos_from, pos_to, cache->len, cfg->max_seq_len, cache->max_rows);
    }
    check_tokens(tokens, (size_t)n, cfg->vocab_size, "inputs");
    int C = cfg->channels, NH = cfg->num_heads, L = cfg->num_layers, Vp = cfg->padded_vocab_size;
    size_t layer_kv = (size_t)cfg->max_seq_len * C, nC = (size_t)n * C;
    const ParameterTensors *p = &model->params;
    CacheTensors *c = &cache->t;
    encoder_forward(c->x, tokens, p->wte, p->wpe + (size_t)pos_from * C, 1, n, C);
    for (int l = 0; l < L; l++) {
        LayerParams lp = layer_params(p, cfg, l);
        layernorm_forward(c->ln, c->mean, c->rstd, c->x, lp.ln1w, lp.ln1b, 1, n, C);
        matmul_forward(c->qkv, c->ln, lp.qkvw, lp.qkvb, 1, n, C, 3 * C);
        attention_forward_cached(c->atty, c->att, c->k + l * layer_kv, c->v + l * layer_kv, c->qkv,
                                 pos_from, n, C, NH);
        matmul_forward(c->proj, c->atty, lp.attprojw, lp.attprojb, 1, n, C, C);
        residual_forward(c->x, c->x, c->proj, nC);
        layernorm_forward(c->ln, c->mean, c->rstd, c->x, lp.ln2w, lp.ln2b, 1, n, C);
        matmul_forward(c->fch, c->ln, lp.fcw, lp.fcb, 1, n, C, 4 * C);
        gelu_forward(c->fch_gelu, c->fch, 4 * nC);
        matmul_forward(c->proj, c->fch_gelu, lp.fcprojw, lp.fcprojb, 1, n, 4 * C, C);
        residual_forward(c->x, c->x, c->proj, nC);
    }
    layernorm_forward(c->ln, c->mean, c->rstd, c->x, p->lnfw, p->lnfb, 1, n, C);
    matmul_forward(c->logits, c->ln, p->wte, NULL, 1, n, C, Vp);
    cache->len = pos_to;
    cache->positions_computed += (size_t)n;
}

// ----------------------------------------------------------------------------
// generation: continue a sequence token by token (./train --prompt)
//
// With the KV cache, each new token runs one position through the model
// (gpt2_forward_cached). The context is at most maxT tokens, because the
// model has maxT position embeddings. When a new token would make it longer,
// it slides: the newest maxT/2 tokens become the whole context and are run
// again from position 0 (their cached keys and values were computed at other
// positions, so they cannot be reused): one prefill of maxT/2 positions every
// maxT/2 tokens, at most 2 positions per token on average. Without the cache
// (use_cache 0, the reference) every token reruns gpt2_forward over the same
// context: both give the same logits, and the same tokens for a given seed.

// how long generate() took: the prefill (the first token's forward over the
// whole prompt) and the decoding of every later token (sampling included;
// a slide of the context past maxT re-prefills inside the decoding time)
typedef struct {
    int prefill_tokens;
    double prefill_s;
    int decode_tokens;
    double decode_s;
    size_t cache_bytes;  // what the KV cache allocated (0 without it)
} GenerateTimes;

typedef struct {
    int max_new;          // tokens to append
    float temperature;    // 0 = greedy
    int top_k;            // sample from the k most likely (0 = all)
    int use_cache;        // 0: rerun the whole context for each token
} GenerateArgs;

// the index where the context of a sequence of n tokens starts, given the
// start so far: the context slides by maxT/2 tokens when it exceeds maxT
static int context_start(int start, int n, int maxT) {
    int keep = maxT / 2 > 0 ? maxT / 2 : 1;
    return n - start > maxT ? n - keep : start;
}

// Appends args->max_new tokens to tokens[0..n) (which has room for them),
// sampled with rng and printed to out (decoded with tok, or as ids) as they
// come. 1 <= n <= maxT. Without the cache, model needs activations for 1 x
// maxT. Returns the number of positions run through the model.
static size_t generate(GPT2 *model, const Tokenizer *tok, int *tokens, int n,
                       const GenerateArgs *args, Rng *rng, FILE *out, GenerateTimes *times) {
    const GPT2Config *cfg = &model->config;
    int maxT = cfg->max_seq_len, V = cfg->vocab_size;
    size_t Vp = cfg->padded_vocab_size, computed = 0;
    if (n < 1 || n > maxT) { die("generate: %d tokens of context, expected 1..%d", n, maxT); }
    float *scratch = (float *)mallocCheck((size_t)V * sizeof(float));
    KVCache cache;
    if (args->use_cache) { kv_cache_init(&cache, cfg, PREFILL_ROWS < maxT ? PREFILL_ROWS : maxT); }
    int start = 0;   // the context is tokens[start..n)
    int cached = 0;  // its first `cached` tokens are in the KV cache
    memset(times, 0, sizeof(*times));
    times->prefill_tokens = n;
    double t0 = now_seconds();
    for (int i = 0; i < args->max_new; i++) {
        int new_start = context_start(start, n, maxT);
        if (new_start != start) {
            start = new_start;
            cached = 0;
        }
        int len = n - start;
        const float *logits;
        if (args->use_cache) {
            int rows = 0;
            while (cached < len) {
                rows = len - cached < cache.max_rows ? len - cached : cache.max_rows;
                gpt2_forward_cached(model, &cache, tokens + start + cached, cached, cached + rows);
                cached += rows;
            }
            logits = cache.t.logits + (size_t)(rows - 1) * Vp;
        } else {
            gpt2_forward(model, tokens + start, 1, len);
            logits = model->acts.logits + (size_t)(len - 1) * Vp;
            computed += (size_t)len;
        }
        if (i == 0) {
            double t1 = now_seconds();
            times->prefill_s = t1 - t0;
            t0 = t1;
        }
        tokens[n] = sample_token(logits, V, args->temperature, args->top_k, scratch, rng);
        tokenizer_print(tok, tokens[n], out);
        if (tok == NULL) { fputc(' ', out); }
        fflush(out);
        n++;
    }
    times->decode_tokens = args->max_new > 1 ? args->max_new - 1 : 0;
    times->decode_s = args->max_new > 1 ? now_seconds() - t0 : 0.0;
    if (args->use_cache) {
        computed = cache.positions_computed;
        times->cache_bytes = cache.bytes_allocated;
        kv_cache_free(&cache);
    }
    free(scratch);
    return computed;
}

// --prompt: encodes the prompt with the tokenizer (a literal <|endoftext|> in
// it is the end-of-text token), prints it and then -g tokens of the model
// file's continuation as they come (--temperature, --top-k, --seed), and how
// long that took. On the CPU, with the KV cache unless --kv-cache 0.
static int generate_main(const RunConfig *c) {
    if (c->prompt[0] == '\0') {
        die("--prompt is empty: give the text to continue (\"<|endoftext|>\" starts a new document)");
    }
    GPT2Config preset;
    if (config_from_preset(&preset, c->model, 1)) {
        die("--prompt needs a trained model file for -e, not the preset '%s'", c->model);
    }
    if (file_size(c->model) < 0) { die("-e '%s': no such model file", c->model); }
    if (file_size(c->tokenizer) < 0) {
        die("--prompt needs a tokenizer file to encode the prompt: '%s' not found (give it with -k)",
            c->tokenizer);
    }
    Tokenizer tok;
    tokenizer_load(&tok, c->tokenizer);
    tokenizer_build_encoder(&tok);
    GPT2 model;
    gpt2_load(&model, c->model);
    gpt2_drop_training_memory(&model);
    const GPT2Config *mc = &model.config;
    if (tok.vocab_size > (size_t)mc->vocab_size) {
        die("the tokenizer '%s' has %zu tokens, the model '%s' only V=%d: they do not belong together",
            c->tokenizer, tok.vocab_size, c->model, mc->vocab_size);
    }
    Encoder enc;
    encoder_init(&enc, &tok);
    IdVec ids = {NULL, 0, 0};
    encode_split(&enc, (const uint8_t *)c->prompt, strlen(c->prompt), EOT_STRING, SEP_AS_EOT, &ids);
    encoder_free(&enc);
    if (ids.n > (size_t)mc->max_seq_len) {
        die("the prompt is %zu tokens, longer than the model's context of maxT=%d tokens: shorten it",
            ids.n, mc->max_seq_len);
    }
    int n = (int)ids.n;
    int *tokens = (int *)mallocCheck(((size_t)n + (size_t)c->gen_tokens) * sizeof(int));
    for (int i = 0; i < n; i++) { tokens[i] = (int)ids.ids[i]; }
    free(ids.ids);
    if (!c->kv_cache) { gpt2_alloc_activations(&model, 1, mc->max_seq_len); }
    Rng rng;
    rng_seed(&rng, (uint64_t)c->seed);
    GenerateArgs args = {c->gen_tokens, c->temperature, c->top_k, c->kv_cache};
    printf("generate: %s (L=%d C=%d maxT=%d), prompt of %d tokens + %d, temperature %g, top-k %d, "
           "seed %d\n---\n", c->model, mc->num_layers, mc->channels, mc->max_seq_len, n,
           c->gen_tokens, c->temperature, c->top_k, c->seed);
    for (int i = 0; i < n; i++) { tokenizer_print(&tok, tokens[i], stdout); }
    fflush(stdout);
    double t0 = now_seconds();
    GenerateTimes times;
    size_t computed = generate(&model, &tok, tokens, n, &args, &rng, stdout, &times);
    double dt = now_seconds() - t0;
    printf("\n---\n%d tokens in %.2f s (%.1f tokens/s), %zu positions computed (%s)\n",
           c->gen_tokens, dt, dt > 0 ? c->gen_tokens / dt : 0.0, computed,
           c->kv_cache ? "KV cache" : "--kv-cache 0: the whole context per token");
    printf("prefill: %d tokens in %.3f s (%.1f tokens/s); decode: %d tokens in %.3f s "
           "(%.1f tokens/s)\n", times.prefill_tokens, times.prefill_s,
           times.prefill_s > 0 ? times.prefill_tokens / times.prefill_s : 0.0,
           times.decode_tokens, times.decode_s,
           times.decode_s > 0 ? times.decode_tokens / times.decode_s : 0.0);
    // the bill of one sequence with a context of maxT: what the cache allocates
    BillColumn bill = bill_inference(mc, 1, mc->max_seq_len, 0);
    if (!c->kv_cache) {  // no cache: the weights and 1 x maxT activations (and their gradients)
        bill = bill_cpu_train(mc, 1, mc->max_seq_len, 1);
        bill.total = bill.weights + bill.acts + bill.act_grads + 2 * (size_t)mc->max_seq_len * sizeof(int);
    }
    print_run_memory(c->kv_cache ? "inference, B=1 T=maxT" : "inference without the cache",
                     model.bytes_allocated + times.cache_bytes, bill.total);
    free(tokens);
    gpt2_free(&model);
    tokenizer_free(&tok);
    return 0;
}

// Decoding speed for --dry-run --measure: prefills a prompt of random tokens
// (MEASURE_DECODE of them, at most maxT / 2), then decodes MEASURE_DECODE
// more one at a time with the KV cache, the newest token fed back (greedy:
// the speed does not depend on which). Returns decoded tokens per second.
static double measure_decode(GPT2 *model, Rng *rng) {
    const GPT2Config *cfg = &model->config;
    int prompt = MEASURE_DECODE < cfg->max_seq_len / 2 ? MEASURE_DECODE : cfg->max_seq_len / 2;
    int n = prompt > 0 ? prompt : 1, steps = MEASURE_DECODE;
    if (n + steps > cfg->max_seq_len) { steps = cfg->max_seq_len - n; }
    if (steps < 1) { return 0.0; }
    int *tokens = (int *)mallocCheck((size_t)(n + steps) * sizeof(int));
    for (int i = 0; i < n; i++) { tokens[i] = (int)rng_below(rng, (size_t)cfg->vocab_size); }
    KVCache cache;
    kv_cache_init(&cache, cfg, PREFILL_ROWS < cfg->max_seq_len ? PREFILL_ROWS : cfg->max_seq_len);
    for (int done = 0; done < n; done += cache.max_rows) {
        int rows = n - done < cache.max_rows ? n - done : cache.max_rows;
        gpt2_forward_cached(model, &cache, tokens + done, done, done + rows);
    }
    double t0 = now_seconds();
    for (int i = 0; i < steps; i++) {
        const float *logits = cache.t.logits;  // the last call's first row: any token will do
        int best = 0;
        for (int v = 1; v < cfg->vocab_size; v++) { if (logits[v] > logits[best]) { best = v; } }
        tokens[n + i] = best;
        gpt2_forward_cached(model, &cache, tokens + n + i, n + i, n + i + 1);
    }
    double dt = now_seconds() - t0;
    kv_cache_free(&cache);
    free(tokens);
    return dt > 0 ? steps / dt : 0.0;
}
