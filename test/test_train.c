/*
Tests of train.c, the CPU trainer. Built by `make test` (and with
-fsanitize=address,undefined as test/test_train_asan):
    test/test_train test/fixtures/gpt2_tiny.bin

1. PyTorch parity: logits, loss, all 16 parameter gradients and the losses
   and grad norms of 10 AdamW steps against the fixture dev/reference.py wrote.
2. Every layer's backward against central finite differences.
3. Overfitting one batch drives the loss below a stated threshold.
4. Resume: 2k steps straight equal k steps, checkpoint, resume, k steps (bitwise);
   gradient accumulation equals the whole batch; sampling follows its law.
5. A model file written and read back gives the same logits (bitwise).
6. The bill: bytes reported equal bytes allocated.
7. LoRA: logits, loss, the trainable set's gradients and 10 AdamW steps
   against test/fixtures/gpt2_tiny_lora.bin (dev/reference.py --lora);
   lora_backward against finite differences; at step 0 the model is the base
   model; the base weights stay bitwise unchanged in training; resume is
   bitwise; the merged model file gives the LoRA model's logits; the LoRA
   bill's bytes equal the bytes allocated.

Each check prints `OK|FAIL name maxabs maxrel`; the last line is the overall
result, and the exit status is non-zero on any failure.
*/
#define TRAIN_NO_MAIN
// the command-line half of train.c is not used here
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../train.c"

#define FIXTURE_MAGIC 20261128
#define FIXTURE_VERSION 1

typedef struct {
    int failures;
    int checks;
} TestLog;

// ----------------------------------------------------------------------------
// comparing tensors

// Passes when every |a - ref| <= atol + rtol * |ref|. Prints the largest
// absolute difference and the largest relative one (|a - ref| / |ref| over
// elements with |ref| > atol, so that near-zeros do not swamp it).
static int expect_close(TestLog *log, const char *name, const float *a, const float *ref, size_t n,
                        double atol, double rtol) {
    double maxabs = 0.0, maxrel = 0.0;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (!(d <= atol + rtol * fabs((double)ref[i]))) { ok = 0; }  // NaN fails too
        if (!(d <= maxabs)) { maxabs = d; }
        if (fabs((double)ref[i]) > atol && d / fabs((double)ref[i]) > maxrel) {
            maxrel = d / fabs((double)ref[i]);
        }
    }
    printf("%s %-34s maxabs %.3e maxrel %.3e (atol %.1e rtol %.0e)\n", ok ? "OK  " : "FAIL", name,
           maxabs, maxrel, atol, rtol);
    log->checks++;
    if (!ok) { log->failures++; }
    return ok;
}

static int expect_true(TestLog *log, const char *name, int cond, const char *detail) {
    printf("%s %-34s %s\n", cond ? "OK  " : "FAIL", name, detail);
    log->checks++;
    if (!cond) { log->failures++; }
    return cond;
}

static int expect_bitwise(TestLog *log, const char *name, const void *a, const void *b, size_t bytes) {
    return expect_true(log, name, memcmp(a, b, bytes) == 0, "bitwise");
}

// ----------------------------------------------------------------------------
// 1. the PyTorch fixture

typedef struct {
    GPT2Config cfg;
    int B, T, nsteps, warmup, max_steps;
    float lr, final_lr_frac, weight_decay, beta1, beta2, eps, grad_clip;
    float *params;       // (num_parameters)
    int *inputs;         // (B, T)
    int *targets;        // (B, T)
    float *logits;       // (B, T, V) not padded
    float loss;
    float *grads;        // (num_parameters)
    float *step_losses;  // (nsteps)
    float *step_norms;   // (nsteps)
    size_t num_parameters;
} Fixture;

static float header_float(const int *header, int i) {
    float f;
    memcpy(&f, &header[i], sizeof(float));
    return f;
}

static void fixture_load(Fixture *fx, const char *path) {
    int h[HEADER_INTS];
    read_header(h, path, FIXTURE_MAGIC, "test fixture");
    if (h[1] != FIXTURE_VERSION) { die("fixture '%s': version %d", path, h[1]); }
    config_from_header(&fx->cfg, h, path);  // [2..7]: the model file's layout
    fx->B = h[8];
    fx->T = h[9];
    fx->nsteps = h[10];
    fx->warmup = h[11];
    fx->max_steps = h[12];
    fx->lr = header_float(h, 16);
    fx->final_lr_frac = header_float(h, 17);
    fx->weight_decay = header_float(h, 18);
    fx->beta1 = header_float(h, 19);
    fx->beta2 = header_float(h, 20);
    fx->eps = header_float(h, 21);
    fx->grad_clip = header_float(h, 22);
    size_t N = count_parameters(&fx->cfg), BT = (size_t)fx->B * fx->T;
    size_t V = fx->cfg.vocab_size;
    fx->num_parameters = N;
    int64_t want = (int64_t)(HEADER_INTS * 4 + N * 4 + 2 * BT * 4 + BT * V * 4 + 4 + N * 4 +
                             2 * (size_t)fx->nsteps * 4);
    if (file_size(path) != want) { die("fixture '%s' has the wrong size", path); }
    fx->params = (float *)mallocCheck(N * sizeof(float));
    fx->inputs = (int *)mallocCheck(BT * sizeof(int));
    fx->targets = (int *)mallocCheck(BT * sizeof(int));
    fx->logits = (float *)mallocCheck(BT * V * sizeof(float));
    fx->grads = (float *)mallocCheck(N * sizeof(float));
    fx->step_losses = (float *)mallocCheck(fx->nsteps * sizeof(float));
    fx->step_norms = (float *)mallocCheck(fx->nsteps * sizeof(float));
    FILE *fp = fopenCheck(path, "rb");
    fseekCheck(fp, HEADER_INTS * 4, SEEK_SET);
    freadCheck(fx->params, 4, N, fp);
    freadCheck(fx->inputs, 4, BT, fp);
    freadCheck(fx->targets, 4, BT, fp);
    freadCheck(fx->logits, 4, BT * V, fp);
    freadCheck(&fx->loss, 4, 1, fp);
    freadCheck(fx->grads, 4, N, fp);
    freadCheck(fx->step_losses, 4, fx->nsteps, fp);
    freadCheck(fx->step_norms, 4, fx->nsteps, fp);
    fcloseCheck(fp);
}

static void fixture_free(Fixture *fx) {
    free(fx->params);
    free(fx->inputs);
    free(fx->targets);
    free(fx->logits);
    free(fx->grads);
    free(fx->step_losses);
    free(fx->step_norms);
}

// a model with the fixture's shape and parameters, activations for its batch
static void model_from_fixture(GPT2 *model, const Fixture *fx) {
    gpt2_init(model, &fx->cfg);
    memcpy(model->params_memory, fx->params, fx->num_parameters * sizeof(float));
    gpt2_alloc_activations(model, fx->B, fx->T);
}

// Tolerances. fp32 C against fp32 PyTorch differ only by summation order:
// about 1e-6 relative in each dot product. Logits and the loss are compared
// at 1e-5. A gradient tensor mixes large and near-zero entries, so its
// absolute tolerance scales with the tensor: atol = 1e-5 * max|ref|, plus
// rtol 1e-4 (seen: at most 5e-7 * max|ref|; a backward that is 0.1% off
// breaks it, see dev/mutation_check.sh). The 10 losses at 1e-5 relative
// (seen: 2e-7): Adam divides by sqrt(v), so tiny gradient differences grow,
// but over 10 steps stay well below that.
#define TOL_LOGITS_ATOL 2e-5
#define TOL_LOGITS_RTOL 1e-5
#define TOL_GRAD_SCALED_ATOL 1e-5
#define TOL_GRAD_RTOL 1e-4
#define TOL_STEP_RTOL 1e-5

static void test_fixture(TestLog *log, const Fixture *fx) {
    GPT2 model;
    model_from_fixture(&model, fx);
    const GPT2Config *c = &fx->cfg;
    int B = fx->B, T = fx->T, V = c->vocab_size, Vp = c->padded_vocab_size;
    size_t BT = (size_t)B * T;
    gpt2_forward(&model, fx->inputs, B, T);
    float *logits = (float *)mallocCheck(BT * V * sizeof(float));
    for (size_t i = 0; i < BT; i++) {
        memcpy(logits + i * V, model.acts.logits + i * Vp, V * sizeof(float));
    }
    expect_close(log, "fixture logits", logits, fx->logits, BT * V, TOL_LOGITS_ATOL, TOL_LOGITS_RTOL);
    free(logits);
    float loss = gpt2_loss(&model, fx->targets);
    expect_close(log, "fixture loss", &loss, &fx->loss, 1, 0, TOL_LOGITS_RTOL);
    // gpt2_zero_grad writes nothing: the backward after it must write every
    // gradient. Stale NaNs everywhere first: any element the backward only
    // added into (or never wrote) stays NaN and fails its check below.
    for (size_t i = 0; i < model.num_parameters; i++) { model.grads_memory[i] = NAN; }
    gpt2_zero_grad(&model);
    gpt2_backward(&model, 1.0f / (float)BT);
    for (int k = 0; k < NUM_PARAMETER_TENSORS; k++) {
        const TensorSpec *s = &model.param_specs[k];
        char name[64];
        snprintf(name, sizeof(name), "fixture grad %s", s->name);
        const float *ref = fx->grads + s->start;
        double scale = 0.0;
        for (size_t i = 0; i < spec_numel(s); i++) { scale = fmax(scale, fabs((double)ref[i])); }
        expect_close(log, name, model.grads_memory + s->start, ref, spec_numel(s),
                     TOL_GRAD_SCALED_ATOL * scale, TOL_GRAD_RTOL);
    }
    // 10 AdamW steps on the same batch, with the fixture's schedule and clipping
    RunConfig rc;
    run_config_defaults(&rc);
    rc.lr = fx->lr;
    rc.warmup = fx->warmup;
    rc.final_lr_frac = fx->final_lr_frac;
    float *losses = (float *)mallocCheck(fx->nsteps * sizeof(float));
    float *norms = (float *)mallocCheck(fx->nsteps * sizeof(float));
    int clipped = 0;
    for (int step = 0; step < fx->nsteps; step++) {
        gpt2_forward(&model, fx->inputs, B, T);
        losses[step] = gpt2_loss(&model, fx->targets);
        gpt2_zero_grad(&model);
        gpt2_backward(&model, 1.0f / (float)BT);
        norms[step] = (float)sqrt(gpt2_grad_sumsq(&model, 0, model.num_parameters));
        AdamWArgs args = {learning_rate(&rc, step, fx->max_steps), fx->beta1, fx->beta2, fx->eps,
                          fx->weight_decay, clip_scale(norms[step], fx->grad_clip), step + 1};
        if (norms[step] > fx->grad_clip) { clipped++; }
        gpt2_update(&model, &args);
    }
    expect_close(log, "fixture 10-step losses", losses, fx->step_losses, fx->nsteps, 0, TOL_STEP_RTOL);
    expect_close(log, "fixture 10-step grad norms", norms, fx->step_norms, fx->nsteps, 0, 1e-4);
    char detail[64];
    snprintf(detail, sizeof(detail), "%d of %d steps clipped", clipped, fx->nsteps);
    expect_true(log, "fixture exercises clipping", clipped > 0 && clipped < fx->nsteps, detail);
    free(losses);
    free(norms);
    gpt2_free(&model);
}

// ----------------------------------------------------------------------------
// 2. each layer's backward against central finite differences of
//    f = sum_i r_i * out_i (r random), whose gradient wrt out is r

typedef double (*Objective)(void *ctx);

static void fill_normal(float *x, size_t n, float scale, Rng *rng) {
    for (size_t i = 0; i < n; i++) { x[i] = scale * rng_normal(rng); }
}

static double dot_double(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) { s += (double)a[i] * b[i]; }
    return s;
}

// numeric gradient of f wrt every element of x, compared with analytic
static void fd_check(TestLog *log, const char *name, float *x, size_t n, const float *analytic,
                     Objective f, void *ctx) {
    const float h = 1e-2f;
    float *numeric = (float *)mallocCheck(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float saved = x[i];
        x[i] = saved + h;
        double fp = f(ctx);
        x[i] = saved - h;
        double fm = f(ctx);
        x[i] = saved;
        numeric[i] = (float)((fp - fm) / (2.0 * h));
    }
    // float forwards and h = 1e-2: the central difference is good to ~1e-4
    // here (its error is O(h^2) in the third derivative, plus rounding)
    expect_close(log, name, analytic, numeric, n, 2e-3, 2e-2);
    free(numeric);
}

enum { FD_B = 2, FD_T = 5, FD_C = 8, FD_NH = 2, FD_OC = 6, FD_V = 7, FD_VP = 9, FD_R = 3 };
#define FD_LORA_SCALE 1.5f

typedef struct {
    float *inp, *weight, *bias, *out, *r, *mean, *rstd;
    int *tokens;
} FdLayer;

static double obj_encoder(void *p) {
    FdLayer *s = (FdLayer *)p;
    encoder_forward(s->out, s->tokens, s->weight, s->bias, FD_B, FD_T, FD_C);
    return dot_double(s->out, s->r, FD_B * FD_T * FD_C);
}
static double obj_layernorm(void *p) {
    FdLayer *s = (FdLayer *)p;
    layernorm_forward(s->out, s->mean, s->rstd, s->inp, s->weight, s->bias, FD_B, FD_T, FD_C);
    return dot_double(s->out, s->r, FD_B * FD_T * FD_C);
}
static double obj_matmul(void *p) {
    FdLayer *s = (FdLayer *)p;
    matmul_forward(s->out, s->inp, s->weight, s->bias, FD_B, FD_T, FD_C, FD_OC);
    return dot_double(s->out, s->r, FD_B * FD_T * FD_OC);
}
static double obj_attention(void *p) {
    FdLayer *s = (FdLayer *)p;
    attention_forward(s->out, s->mean, s->inp, FD_B, FD_T, FD_C, FD_NH);  // mean holds att
    return dot_double(s->out, s->r, FD_B * FD_T * FD_C);
}
static double obj_gelu(void *p) {
    FdLayer *s = (FdLayer *)p;
    gelu_forward(s->out, s->inp, FD_B * FD_T * FD_C);
    return dot_double(s->out, s->r, FD_B * FD_T * FD_C);
}
static double obj_residual(void *p) {
    FdLayer *s = (FdLayer *)p;
    residual_forward(s->out, s->inp, s->weight, FD_B * FD_T * FD_C);
    return dot_double(s->out, s->r, FD_B * FD_T * FD_C);
}
// lora_forward adds into out, so out starts at 0 each time; mean holds h
static double obj_lora(void *p) {
    FdLayer *s = (FdLayer *)p;
    memset(s->out, 0, FD_B * FD_T * FD_OC * sizeof(float));
    lora_forward(s->out, s->mean, s->inp, s->weight, s->bias, FD_LORA_SCALE, FD_B, FD_T, FD_C, FD_OC, FD_R);
    return dot_double(s->out, s->r, FD_B * FD_T * FD_OC);
}
static double obj_softmax_ce(void *p) {
    FdLayer *s = (FdLayer *)p;
    softmax_crossentropy_forward(s->out, s->mean, s->rstd, s->inp, s->tokens, FD_B, FD_T, FD_V, FD_VP);  // lmax, linv
    return dot_double(s->out, s->r, FD_B * FD_T);
}

static void test_finite_differences(TestLog *log) {
    Rng rng;
    rng_seed(&rng, 42);
    const size_t BT = FD_B * FD_T, big = BT * 3 * FD_C * FD_T + 64;
    FdLayer s;
    s.inp = (float *)callocCheck(big, sizeof(float));
    s.weight = (float *)callocCheck(big, sizeof(float));
    s.bias = (float *)callocCheck(big, sizeof(float));
    s.out = (float *)callocCheck(big, sizeof(float));
    s.r = (float *)callocCheck(big, sizeof(float));
    s.mean = (float *)callocCheck(big, sizeof(float));
    s.rstd = (float *)callocCheck(big, sizeof(float));
    s.tokens = (int *)callocCheck(BT, sizeof(int));
    float *dinp = (float *)callocCheck(big, sizeof(float));
    float *dweight = (float *)callocCheck(big, sizeof(float));
    float *dbias = (float *)callocCheck(big, sizeof(float));
    float *scratch = (float *)callocCheck(big, sizeof(float));
    fill_normal(s.r, big, 1.0f, &rng);
    #define FD_RESET() do { memset(dinp, 0, big * 4); memset(dweight, 0, big * 4); \
                            memset(dbias, 0, big * 4); } while (0)

    // encoder: tokens repeat, so rows of dwte collect from several positions
    for (size_t i = 0; i < BT; i++) { s.tokens[i] = (int)(i % 3); }
    fill_normal(s.weight, 3 * FD_C, 1.0f, &rng);
    fill_normal(s.bias, FD_T * FD_C, 1.0f, &rng);
    FD_RESET();
    encoder_backward(dweight, dbias, s.r, s.tokens, FD_B, FD_T, FD_C, 0);
    fd_check(log, "fd encoder dwte", s.weight, 3 * FD_C, dweight, obj_encoder, &s);
    fd_check(log, "fd encoder dwpe", s.bias, FD_T * FD_C, dbias, obj_encoder, &s);

    // layernorm
    fill_normal(s.inp, BT * FD_C, 1.0f, &rng);
    fill_normal(s.weight, FD_C, 1.0f, &rng);
    fill_normal(s.bias, FD_C, 1.0f, &rng);
    obj_layernorm(&s);
    FD_RESET();
    layernorm_backward(dinp, dweight, dbias, s.r, s.inp, s.weight, s.mean, s.rstd, FD_B, FD_T, FD_C, 0);
    fd_check(log, "fd layernorm dinp", s.inp, BT * FD_C, dinp, obj_layernorm, &s);
    fd_check(log, "fd layernorm dweight", s.weight, FD_C, dweight, obj_layernorm, &s);
    fd_check(log, "fd layernorm dbias", s.bias, FD_C, dbias, obj_layernorm, &s);

    // matmul (BT = 10 rows: one full tile of 4, another, and a partial tile)
    fill_normal(s.inp, BT * FD_C, 1.0f, &rng);
    fill_normal(s.weight, FD_OC * FD_C, 1.0f, &rng);
    fill_normal(s.bias, FD_OC, 1.0f, &rng);
    FD_RESET();
    matmul_backward(dinp, dweight, dbias, s.r, s.inp, s.weight, FD_B, FD_T, FD_C, FD_OC, 0);
    fd_check(log, "fd matmul dinp", s.inp, BT * FD_C, dinp, obj_matmul, &s);
    fd_check(log, "fd matmul dweight", s.weight, FD_OC * FD_C, dweight, obj_matmul, &s);
    fd_check(log, "fd matmul dbias", s.bias, FD_OC, dbias, obj_matmul, &s);

    // attention
    fill_normal(s.inp, BT * 3 * FD_C, 1.0f, &rng);
    obj_attention(&s);
    FD_RESET();
    attention_backward(dinp, s.r, s.inp, s.mean, FD_B, FD_T, FD_C, FD_NH);
    fd_check(log, "fd attention dinp (q, k, v)", s.inp, BT * 3 * FD_C, dinp, obj_attention, &s);

    // gelu
    fill_normal(s.inp, BT * FD_C, 2.0f, &rng);
    FD_RESET();
    gelu_backward(dinp, s.inp, s.r, BT * FD_C);
    fd_check(log, "fd gelu dinp", s.inp, BT * FD_C, dinp, obj_gelu, &s);

    // residual
    fill_normal(s.inp, BT * FD_C, 1.0f, &rng);
    fill_normal(s.weight, BT * FD_C, 1.0f, &rng);
    FD_RESET();
    residual_backward(dinp, dweight, s.r, BT * FD_C);
    fd_check(log, "fd residual dinp1", s.inp, BT * FD_C, dinp, obj_residual, &s);
    fd_check(log, "fd residual dinp2", s.weight, BT * FD_C, dweight, obj_residual, &s);

    // LoRA: out += scale * (inp @ A^T) @ B^T, R = 3, OC = 6
    fill_normal(s.inp, BT * FD_C, 1.0f, &rng);
    fill_normal(s.weight, FD_R * FD_C, 1.0f, &rng);   // A (R, C)
    fill_normal(s.bias, FD_OC * FD_R, 1.0f, &rng);    // B (OC, R)
    obj_lora(&s);
    FD_RESET();
    lora_backward(dinp, dweight, dbias, scratch, s.r, s.inp, s.mean, s.weight, s.bias, FD_LORA_SCALE,
                  FD_B, FD_T, FD_C, FD_OC, FD_R);
    fd_check(log, "fd lora dinp", s.inp, BT * FD_C, dinp, obj_lora, &s);
    fd_check(log, "fd lora dA", s.weight, FD_R * FD_C, dweight, obj_lora, &s);
    fd_check(log, "fd lora dB", s.bias, FD_OC * FD_R, dbias, obj_lora, &s);

    // softmax + cross-entropy: V = 7 real columns of Vp = 9; the padding
    // logits must get no gradient and must not change the loss
    fill_normal(s.inp, BT * FD_VP, 2.0f, &rng);
    for (size_t i = 0; i < BT; i++) { s.tokens[i] = (int)((i * 5) % FD_V); }
    obj_softmax_ce(&s);
    FD_RESET();
    softmax_crossentropy_backward(dinp, s.r, s.inp, s.mean, s.rstd, s.tokens, FD_B, FD_T, FD_V, FD_VP);
    fd_check(log, "fd softmax+crossentropy dlogits", s.inp, BT * FD_VP, dinp, obj_softmax_ce, &s);
    #undef FD_RESET

    free(s.inp); free(s.weight); free(s.bias); free(s.out); free(s.r);
    free(s.mean); free(s.rstd); free(s.tokens);
    free(dinp); free(dweight); free(dbias); free(scratch);
}

// gradient accumulation: two micro-batches of B/2 sequences, each backward
// scaled by 1/(2 * B/2 * T), give the gradient of the whole batch of B
static void test_grad_accumulation(TestLog *log, const Fixture *fx) {
    GPT2 model;
    model_from_fixture(&model, fx);
    int B = fx->B, T = fx->T, half = B / 2;
    size_t BT = (size_t)B * T, N = model.num_parameters;
    gpt2_forward(&model, fx->inputs, B, T);
    gpt2_loss(&model, fx->targets);
    gpt2_zero_grad(&model);
    gpt2_backward(&model, 1.0f / (float)BT);
    float *whole = (float *)mallocCheck(N * sizeof(float));
    memcpy(whole, model.grads_memory, N * sizeof(float));
    gpt2_zero_grad(&model);
    for (int micro = 0; micro < 2; micro++) {
        size_t off = (size_t)micro * half * T;
        gpt2_forward(&model, fx->inputs + off, half, T);
        gpt2_loss(&model, fx->targets + off);
        gpt2_backward(&model, 1.0f / (float)BT);
    }
    double scale = 0.0;
    for (size_t i = 0; i < N; i++) { scale = fmax(scale, fabs((double)whole[i])); }
    expect_close(log, "grad accumulation (2 x B/2 == B)", model.grads_memory, whole, N,
                 1e-5 * scale, 1e-4);
    free(whole);
    gpt2_free(&model);
}

// gpt2_zero_grad writes nothing, and the backward after it writes every
// parameter gradient: the same bits as adding into zeros, whatever the
// gradients held before (NaNs here), at a T shorter than the position table
// (wpe's rows past T: zeros)
static void test_grad_overwrite(TestLog *log, const Fixture *fx) {
    GPT2 model;
    model_from_fixture(&model, fx);
    int B = fx->B, T = fx->T > 1 ? fx->T / 2 : 1;
    size_t N = model.num_parameters;
    float *ref = (float *)mallocCheck(N * sizeof(float));
    gpt2_forward(&model, fx->inputs, B, T);
    gpt2_loss(&model, fx->targets);
    memset(model.grads_memory, 0, N * sizeof(float));  // the reference: added into zeros
    gpt2_backward(&model, 1.0f / (float)(B * T));
    memcpy(ref, model.grads_memory, N * sizeof(float));
    gpt2_forward(&model, fx->inputs, B, T);  // (the backward wrote over the logits)
    gpt2_loss(&model, fx->targets);
    for (size_t i = 0; i < N; i++) { model.grads_memory[i] = NAN; }
    gpt2_zero_grad(&model);
    gpt2_backward(&model, 1.0f / (float)(B * T));
    expect_close(log, "zero_grad + backward writes all (T/2)", model.grads_memory, ref, N, 0.0, 0.0);
    free(ref);
    gpt2_free(&model);
}

// exp_fast against libm's expf over its whole range (x in [-87, 88], step
// 1e-3, plus the points around 0): a few ulps; and clamped, not NaN or inf,
// outside it
static void test_exp_fast(TestLog *log) {
    double worst = 0.0;
    for (int i = -87000; i <= 88000; i++) {
        float x = (float)i * 1e-3f;
        double ref = exp((double)x);
        double rel = fabs((double)exp_fast(x) - ref) / ref;
        if (!(rel <= worst)) { worst = rel; }
    }
    char detail[128];
    snprintf(detail, sizeof(detail), "max rel error %.2e over [-87, 88] (tolerance 1e-6)", worst);
    expect_true(log, "exp_fast matches exp", worst < 1e-6, detail);
    int clamped = exp_fast(-1000.0f) >= 0.0f && exp_fast(-1000.0f) < 1e-37f &&
                  isfinite(exp_fast(1000.0f)) && exp_fast(0.0f) == 1.0f && isnan(exp_fast(NAN));
    expect_true(log, "exp_fast clamps outside its range", clamped,
                "e^-1000 ~ 0, e^1000 finite, e^NaN NaN");
}

// sampling: greedy and top-1 take the argmax; otherwise the draws follow
// softmax(logits / temperature) over the allowed tokens
static void test_sampling(TestLog *log) {
    const int V = 5, draws = 20000;
    float logits[5] = {1.0f, 3.0f, 0.5f, 2.5f, -1.0f}, scratch[5];
    Rng rng;
    rng_seed(&rng, 3);
    int greedy = sample_token(logits, V, 0.0f, 0, scratch, &rng);
    int top1 = sample_token(logits, V, 1.0f, 1, scratch, &rng);
    expect_true(log, "sampling: greedy and top-1 = argmax", greedy == 1 && top1 == 1, "");
    // top-2 at temperature 2: only tokens 1 and 3, in the ratio exp((3 - 2.5) / 2)
    int count[5] = {0};
    for (int i = 0; i < draws; i++) { count[sample_token(logits, V, 2.0f, 2, scratch, &rng)]++; }
    double want = 1.0 / (1.0 + exp(-0.25)), got = (double)count[1] / draws;
    char detail[128];
    snprintf(detail, sizeof(detail), "P(token 1) %.4f, expected %.4f; others drawn %d times", got,
             want, count[0] + count[2] + count[4]);
    // 20000 draws: the standard error of the frequency is 0.0035
    expect_true(log, "sampling: top-k and temperature", fabs(got - want) < 0.015 &&
                count[0] + count[2] + count[4] == 0, detail);
    // no top-k, temperature 1: P(token 4) = exp(-1) / sum_v exp(l_v)
    int lowest = 0;
    for (int i = 0; i < draws; i++) { lowest += sample_token(logits, V, 1.0f, 0, scratch, &rng) == 4; }
    double z = 0.0;
    for (int v = 0; v < V; v++) { z += exp(logits[v]); }
    want = exp(-1.0) / z;
    got = (double)lowest / draws;
    snprintf(detail, sizeof(detail), "P(token 4) %.4f, expected %.4f", got, want);
    expect_true(log, "sampling: plain softmax", fabs(got - want) < 0.005, detail);
    // top-k's cutoff: kth_largest against a full sort, every k, on arrays
    // with many repeated values (the partition's equal-to-pivot case)
    enum { KTH_N = 97 };
    float x[KTH_N], sorted[KTH_N], work[KTH_N];
    int kth_ok = 1;
    for (int trial = 0; trial < 20; trial++) {
        for (int i = 0; i < KTH_N; i++) { x[i] = (float)(int)(rng_below(&rng, trial % 2 ? 8 : 1000)) - 4.0f; }
        memcpy(sorted, x, sizeof(x));
        for (int i = 1; i < KTH_N; i++) {  // insertion sort, descending
            for (int j = i; j > 0 && sorted[j - 1] < sorted[j]; j--) {
                float t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t;
            }
        }
        for (int k = 1; k <= KTH_N; k++) {
            memcpy(work, x, sizeof(x));
            if (kth_largest(work, KTH_N, k) != sorted[k - 1]) { kth_ok = 0; }
        }
    }
    expect_true(log, "sampling: top-k cutoff (quickselect)", kth_ok, "= a full sort, 20 arrays, every k");
}

// the KV cache: gpt2_forward_cached over a sequence of maxT tokens (a prompt
// of 7 in calls of at most 4 rows, then one token per call) gives at every
// position the logits of gpt2_forward over the whole sequence, and computes
// each position once; then a new sequence from position 0 reuses the cache
#define TOL_CACHE_SCALED_ATOL 1e-5  // of max|logit|: only the order of float sums differs
static void cached_logits(GPT2 *model, KVCache *cache, const int *tokens, int prompt, int P,
                          float *out) {
    size_t Vp = model->config.padded_vocab_size;
    for (int pos = 0; pos < P;) {
        int n = pos < prompt ? (prompt - pos < cache->max_rows ? prompt - pos : cache->max_rows) : 1;
        gpt2_forward_cached(model, cache, tokens + pos, pos, pos + n);
        memcpy(out + pos * Vp, cache->t.logits, n * Vp * sizeof(float));
        pos += n;
    }
}

static void test_kv_cache(TestLog *log, const Fixture *fx) {
    GPT2 model;
    model_from_fixture(&model, fx);
    const GPT2Config *cfg = &model.config;
    int P = cfg->max_seq_len < fx->T ? cfg->max_seq_len : fx->T, V = cfg->vocab_size;
    size_t n = (size_t)P * cfg->padded_vocab_size;
    int *tokens = (int *)mallocCheck((size_t)P * sizeof(int));
    float *got = (float *)mallocCheck(n * sizeof(float));
    Rng rng;
    rng_seed(&rng, 11);
    KVCache cache;
    kv_cache_init(&cache, cfg, 4);
    const int prompts[2] = {7, 3};
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < P; i++) { tokens[i] = (int)rng_below(&rng, (size_t)V); }
        size_t before = cache.positions_computed;
        cached_logits(&model, &cache, tokens, prompts[round], P, got);
        gpt2_forward(&model, tokens, 1, P);
        double scale = 0.0;
        for (size_t i = 0; i < n; i++) { scale = fmax(scale, fabs((double)model.acts.logits[i])); }
        char name[80], detail[128];
        snprintf(name, sizeof(name), "kv cache: logits at %d positions%s", P, round ? " (reused)" : "");
        expect_close(log, name, got, model.acts.logits, n, TOL_CACHE_SCALED_ATOL * scale, 0);
        size_t computed = cache.positions_computed - before;
        snprintf(detail, sizeof(detail), "%zu positions computed for %d tokens (%d without the cache)",
                 computed, P, prompts[round] + (P - prompts[round]) * (P + prompts[round] + 1) / 2);
        expect_true(log, "kv cache: one position per token", computed == (size_t)P, detail);
    }
    kv_cache_free(&cache);
    free(tokens);
    free(got);
    gpt2_free(&model);
}

// ----------------------------------------------------------------------------
// 3. overfitting one batch

#define OVERFIT_STEPS 60
#define OVERFIT_LR 3e-3f
#define OVERFIT_THRESHOLD 0.5f  // from ln(300) = 5.7 at the start

static void test_overfit(TestLog *log, const Fixture *fx) {
    GPT2 model;
    model_from_fixture(&model, fx);
    size_t BT = (size_t)fx->B * fx->T;
    float first = 0.0f, loss = 0.0f;
    for (int step = 0; step < OVERFIT_STEPS; step++) {
        gpt2_forward(&model, fx->inputs, fx->B, fx->T);
        loss = gpt2_loss(&model, fx->targets);
        if (step == 0) { first = loss; }
        gpt2_zero_grad(&model);
        gpt2_backward(&model, 1.0f / (float)BT);
        AdamWArgs args = {OVERFIT_LR, 0.9f, 0.95f, 1e-8f, 0.0f, 1.0f, step + 1};
        gpt2_update(&model, &args);
    }
    char detail[128];
    snprintf(detail, sizeof(detail), "loss %.4f -> %.4f after %d steps (threshold %.2f)", first,
             loss, OVERFIT_STEPS, OVERFIT_THRESHOLD);
    expect_true(log, "overfit one batch", loss < OVERFIT_THRESHOLD, detail);
    gpt2_free(&model);
}

// ----------------------------------------------------------------------------
// 4, 5, 6: files, resume and the bill, with a temp dir of token shards

static void write_shard(const char *path, int ntok, int V, Rng *rng) {
    int header[HEADER_INTS] = {0};
    header[0] = TOKENS_MAGIC;
    header[1] = TOKENS_VERSION;
    header[2] = ntok;
    FILE *fp = fopenCheck(path, "wb");
    fwriteCheck(header, sizeof(int), HEADER_INTS, fp);
    for (int i = 0; i < ntok; i++) {
        uint16_t t = (uint16_t)rng_below(rng, (size_t)V);
        fwriteCheck(&t, sizeof(t), 1, fp);
    }
    fcloseCheck(fp);
}

static void test_model_file_roundtrip(TestLog *log, const Fixture *fx, const char *dir) {
    GPT2 a, b;
    model_from_fixture(&a, fx);
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "%s/roundtrip.bin", dir);
    gpt2_save(&a, path);
    gpt2_load(&b, path);
    gpt2_alloc_activations(&b, fx->B, fx->T);
    expect_true(log, "model file: same config", memcmp(&a.config, &b.config, sizeof(GPT2Config)) == 0,
                "header fields");
    gpt2_forward(&a, fx->inputs, fx->B, fx->T);
    gpt2_forward(&b, fx->inputs, fx->B, fx->T);
    size_t n = (size_t)fx->B * fx->T * fx->cfg.padded_vocab_size;
    expect_bitwise(log, "model file: same logits", a.acts.logits, b.acts.logits, n * sizeof(float));
    char tmp[PATH_MAX_LEN + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    expect_true(log, "model file: no temp file left", file_size(tmp) < 0, path);
    gpt2_free(&a);
    gpt2_free(&b);
}

static void test_bill(TestLog *log, const Fixture *fx) {
    GPT2 model;
    model_from_fixture(&model, fx);
    Bill bill = compute_bill(&fx->cfg, fx->B, fx->T, 1, 1);
    char detail[128];
    snprintf(detail, sizeof(detail), "reported %zu, allocated %zu", bill.total_bytes,
             model.bytes_allocated);
    expect_true(log, "bill: bytes reported == allocated", bill.total_bytes == model.bytes_allocated,
                detail);
    expect_true(log, "bill: parameter count", bill.num_parameters == model.num_parameters, "");
    gpt2_free(&model);
}

// a run config for the tiny model on the temp shards: warmup, cosine decay,
// weight decay, clipping, shuffling and gradient accumulation all on
static RunConfig tiny_run_config(const char *dir, const char *model_path, const char *train_glob,
                                 int max_steps) {
    RunConfig c;
    run_config_defaults(&c);
    c.model = model_path;
    c.train_pattern = train_glob;
    c.tokenizer = "/nonexistent/tokenizer.bin";
    c.output_dir = dir;
    c.B = 2;
    c.T = 16;
    c.total_batch = 2 * 2 * 16;
    c.lr = 1e-3f;
    c.warmup = 2;
    c.final_lr_frac = 0.1f;
    c.weight_decay = 0.1f;
    c.grad_clip = 0.5f;
    c.max_steps = max_steps;
    c.val_every = 0;
    c.gen_tokens = 0;
    c.shuffle = 1;
    return c;
}

static void test_resume(TestLog *log, const Fixture *fx, const char *dir) {
    const int k = 4;
    Rng rng;
    rng_seed(&rng, 7);
    char model_path[PATH_MAX_LEN], shard_glob[PATH_MAX_LEN], shard[PATH_MAX_LEN];
    snprintf(model_path, sizeof(model_path), "%s/init.bin", dir);
    GPT2 init;
    model_from_fixture(&init, fx);
    gpt2_save(&init, model_path);
    gpt2_free(&init);
    // two shards of 3 and 4 batches: 2k = 8 steps of 2 micro-steps cross both
    // shards and an epoch boundary
    snprintf(shard, sizeof(shard), "%s/shard_train_000.bin", dir);
    write_shard(shard, 3 * 32 + 1, fx->cfg.vocab_size, &rng);
    snprintf(shard, sizeof(shard), "%s/shard_train_001.bin", dir);
    write_shard(shard, 4 * 32 + 5, fx->cfg.vocab_size, &rng);
    snprintf(shard_glob, sizeof(shard_glob), "%s/shard_train_*.bin", dir);

    char dir_a[PATH_MAX_LEN], dir_b[PATH_MAX_LEN];
    snprintf(dir_a, sizeof(dir_a), "%s/run_a", dir);
    snprintf(dir_b, sizeof(dir_b), "%s/run_b", dir);
    mkdir(dir_a, 0755);
    mkdir(dir_b, 0755);
    float losses_a[8], losses_b[8];
    // straight: 2k steps
    RunConfig ca = tiny_run_config(dir_a, model_path, shard_glob, 2 * k);
    Run a;
    run_init(&a, &ca);
    for (int i = 0; i < 2 * k; i++) { losses_a[i] = run_step(&a).loss; }
    // k steps, checkpoint, stop
    RunConfig cb = tiny_run_config(dir_b, model_path, shard_glob, 2 * k);
    Run b;
    run_init(&b, &cb);
    for (int i = 0; i < k; i++) { losses_b[i] = run_step(&b).loss; }
    run_checkpoint(&b);
    run_free(&b);
    // resume from it, k more steps
    cb.resume = 1;
    run_init(&b, &cb);
    expect_true(log, "resume: restarts at step k", b.step == k, "");
    for (int i = k; i < 2 * k; i++) { losses_b[i] = run_step(&b).loss; }
    size_t np = a.model.num_parameters * sizeof(float);
    expect_bitwise(log, "resume: losses", losses_a, losses_b, sizeof(losses_a));
    expect_bitwise(log, "resume: parameters", a.model.params_memory, b.model.params_memory, np);
    expect_bitwise(log, "resume: AdamW m", a.model.m_memory, b.model.m_memory, np);
    expect_bitwise(log, "resume: AdamW v", a.model.v_memory, b.model.v_memory, np);
    expect_bitwise(log, "resume: loader position", &a.train.pos, &b.train.pos, sizeof(LoaderPosition));
    expect_true(log, "resume: rng state", a.rng.state == b.rng.state, "");
    expect_true(log, "resume: crossed an epoch", a.train.pos.epoch >= 1, "8 steps x 2 batches > 7");
    run_free(&a);
    run_free(&b);
}

// ----------------------------------------------------------------------------
// 7. LoRA

#define LORA_FIXTURE_MAGIC 20261203

typedef struct {
    Fixture base;        // shape, batch, optimizer, base params, logits, loss, step losses and norms
    LoraConfig lora;
    float *adapters;     // (num_adapters) A and B of each target, the trainable table's order
    float *grads;        // (num_trainable) the trainable set's gradients at step 0
    size_t num_adapters, num_trainable;
} LoraFixture;

// dev/reference.py's LoRA fixture: as the plain one, plus [13]=R [14]=targets
// [15]=train_norms [23]=alpha in the header, the adapters' initial values
// after the batch, and the gradients of the trainable set only
static void lora_fixture_load(LoraFixture *lf, const char *path) {
    Fixture *fx = &lf->base;
    memset(lf, 0, sizeof(*lf));
    int h[HEADER_INTS];
    read_header(h, path, LORA_FIXTURE_MAGIC, "LoRA test fixture");
    if (h[1] != 1) { die("LoRA fixture '%s': version %d", path, h[1]); }
    config_from_header(&fx->cfg, h, path);
    fx->B = h[8];
    fx->T = h[9];
    fx->nsteps = h[10];
    fx->warmup = h[11];
    fx->max_steps = h[12];
    lf->lora.rank = h[13];
    lf->lora.targets = (unsigned)h[14];
    lf->lora.train_norms = h[15];
    fx->lr = header_float(h, 16);
    fx->final_lr_frac = header_float(h, 17);
    fx->weight_decay = header_float(h, 18);
    fx->beta1 = header_float(h, 19);
    fx->beta2 = header_float(h, 20);
    fx->eps = header_float(h, 21);
    fx->grad_clip = header_float(h, 22);
    lf->lora.alpha = header_float(h, 23);
    lora_check(&fx->cfg, &lf->lora);
    TensorSpec specs[LORA_MAX_TRAINABLE];
    int base[LORA_MAX_TRAINABLE];
    int n = lora_specs(specs, base, &fx->cfg, &lf->lora);
    lf->num_trainable = layout_specs(specs, n);
    for (int k = 0; k < n; k++) {
        if (base[k] < 0) { lf->num_adapters += spec_numel(&specs[k]); }
    }
    size_t N = count_parameters(&fx->cfg), BT = (size_t)fx->B * fx->T, V = fx->cfg.vocab_size;
    fx->num_parameters = N;
    int64_t want = (int64_t)(HEADER_INTS * 4 + N * 4 + 2 * BT * 4 + lf->num_adapters * 4 +
                             BT * V * 4 + 4 + lf->num_trainable * 4 + 2 * (size_t)fx->nsteps * 4);
    if (file_size(path) != want) { die("LoRA fixture '%s' has the wrong size", path); }
    fx->params = (float *)mallocCheck(N * sizeof(float));
    fx->inputs = (int *)mallocCheck(BT * sizeof(int));
    fx->targets = (int *)mallocCheck(BT * sizeof(int));
    fx->logits = (float *)mallocCheck(BT * V * sizeof(float));
    fx->grads = NULL;
    fx->step_losses = (float *)mallocCheck(fx->nsteps * sizeof(float));
    fx->step_norms = (float *)mallocCheck(fx->nsteps * sizeof(float));
    lf->adapters = (float *)mallocCheck(lf->num_adapters * sizeof(float));
    lf->grads = (float *)mallocCheck(lf->num_trainable * sizeof(float));
    FILE *fp = fopenCheck(path, "rb");
    fseekCheck(fp, HEADER_INTS * 4, SEEK_SET);
    freadCheck(fx->params, 4, N, fp);
    freadCheck(fx->inputs, 4, BT, fp);
    freadCheck(fx->targets, 4, BT, fp);
    freadCheck(lf->adapters, 4, lf->num_adapters, fp);
    freadCheck(fx->logits, 4, BT * V, fp);
    freadCheck(&fx->loss, 4, 1, fp);
    freadCheck(lf->grads, 4, lf->num_trainable, fp);
    freadCheck(fx->step_losses, 4, fx->nsteps, fp);
    freadCheck(fx->step_norms, 4, fx->nsteps, fp);
    fcloseCheck(fp);
}

static void lora_fixture_free(LoraFixture *lf) {
    fixture_free(&lf->base);
    free(lf->adapters);
    free(lf->grads);
}

// the fixture's base model, frozen, with its LoRA config and adapter values
static void model_from_lora_fixture(GPT2 *model, const LoraFixture *lf) {
    const Fixture *fx = &lf->base;
    gpt2_init(model, &fx->cfg);
    memcpy(model->params_memory, fx->params, fx->num_parameters * sizeof(float));
    gpt2_freeze(model);
    Rng rng;
    rng_seed(&rng, 5);
    lora_init(model, &lf->lora, &rng);
    memcpy(model->lora.w_memory, lf->adapters, lf->num_adapters * sizeof(float));
    gpt2_alloc_activations(model, fx->B, fx->T);
}

// PyTorch parity of the LoRA model, with the tolerances of test_fixture
static void test_lora_fixture(TestLog *log, const LoraFixture *lf) {
    const Fixture *fx = &lf->base;
    GPT2 model;
    model_from_lora_fixture(&model, lf);
    int B = fx->B, T = fx->T, V = fx->cfg.vocab_size, Vp = fx->cfg.padded_vocab_size;
    size_t BT = (size_t)B * T;
    gpt2_forward(&model, fx->inputs, B, T);
    float *logits = (float *)mallocCheck(BT * V * sizeof(float));
    for (size_t i = 0; i < BT; i++) { memcpy(logits + i * V, model.acts.logits + i * Vp, V * sizeof(float)); }
    expect_close(log, "lora fixture logits", logits, fx->logits, BT * V, TOL_LOGITS_ATOL, TOL_LOGITS_RTOL);
    free(logits);
    float loss = gpt2_loss(&model, fx->targets);
    expect_close(log, "lora fixture loss", &loss, &fx->loss, 1, 0, TOL_LOGITS_RTOL);
    gpt2_zero_grad(&model);
    gpt2_backward(&model, 1.0f / (float)BT);
    const LoraState *ls = &model.lora;
    expect_true(log, "lora fixture: trainable count", ls->num_trainable == lf->num_trainable, "");
    for (int k = 0; k < ls->num_specs; k++) {
        const TensorSpec *sp = &ls->specs[k];
        char name[64];
        snprintf(name, sizeof(name), "lora fixture grad %s", sp->name);
        const float *ref = lf->grads + sp->start;
        double scale = 0.0;
        for (size_t i = 0; i < spec_numel(sp); i++) { scale = fmax(scale, fabs((double)ref[i])); }
        expect_close(log, name, ls->g_memory + sp->start, ref, spec_numel(sp),
                     TOL_GRAD_SCALED_ATOL * scale, TOL_GRAD_RTOL);
    }
    RunConfig rc;
    run_config_defaults(&rc);
    rc.lr = fx->lr;
    rc.warmup = fx->warmup;
    rc.final_lr_frac = fx->final_lr_frac;
    float losses[64], norms[64];
    int clipped = 0;
    for (int step = 0; step < fx->nsteps && step < 64; step++) {
        gpt2_forward(&model, fx->inputs, B, T);
        losses[step] = gpt2_loss(&model, fx->targets);
        gpt2_zero_grad(&model);
        gpt2_backward(&model, 1.0f / (float)BT);
        norms[step] = (float)sqrt(gpt2_grad_sumsq(&model, 0, 0));
        AdamWArgs args = {learning_rate(&rc, step, fx->max_steps), fx->beta1, fx->beta2, fx->eps,
                          fx->weight_decay, clip_scale(norms[step], fx->grad_clip), step + 1};
        if (norms[step] > fx->grad_clip) { clipped++; }
        gpt2_update(&model, &args);
    }
    expect_close(log, "lora fixture 10-step losses", losses, fx->step_losses, fx->nsteps, 0, TOL_STEP_RTOL);
    expect_close(log, "lora fixture 10-step grad norms", norms, fx->step_norms, fx->nsteps, 0, 1e-4);
    char detail[64];
    snprintf(detail, sizeof(detail), "%d of %d steps clipped", clipped, fx->nsteps);
    expect_true(log, "lora fixture exercises clipping", clipped > 0 && clipped < fx->nsteps, detail);
    // the bill of this very model
    LoraBill bill = lora_bill(&fx->cfg, &lf->lora, B, T);
    snprintf(detail, sizeof(detail), "reported %zu, allocated %zu", bill.total_bytes, model.bytes_allocated);
    expect_true(log, "lora bill: bytes reported == allocated", bill.total_bytes == model.bytes_allocated,
                detail);
    gpt2_free(&model);
}

// at step 0 (B = 0) the LoRA model is exactly the base model
static void test_lora_step0(TestLog *log, const Fixture *fx) {
    GPT2 base, lora;
    model_from_fixture(&base, fx);
    gpt2_init(&lora, &fx->cfg);
    memcpy(lora.params_memory, fx->params, fx->num_parameters * sizeof(float));
    gpt2_freeze(&lora);
    Rng rng;
    rng_seed(&rng, 9);
    LoraConfig lc = {8, 16.0f, LORA_ALL_TARGETS, 0};
    lora_init(&lora, &lc, &rng);
    gpt2_alloc_activations(&lora, fx->B, fx->T);
    gpt2_forward(&base, fx->inputs, fx->B, fx->T);
    gpt2_forward(&lora, fx->inputs, fx->B, fx->T);
    size_t n = (size_t)fx->B * fx->T * fx->cfg.padded_vocab_size;
    expect_close(log, "lora at step 0 = the base model", lora.acts.logits, base.acts.logits, n, 0, 0);
    gpt2_free(&base);
    gpt2_free(&lora);
}

// LoRA runs through run_init/run_step: the frozen base stays bitwise as
// loaded; k steps, checkpoint, resume, k steps equal 2k straight (bitwise);
// the merged model file gives the LoRA model's logits
static void test_lora_run(TestLog *log, const Fixture *fx, const char *dir) {
    const int k = 4;
    char model_path[PATH_MAX_LEN], shard_glob[PATH_MAX_LEN], merged[PATH_MAX_LEN];
    snprintf(model_path, sizeof(model_path), "%s/init.bin", dir);  // written by test_resume
    snprintf(shard_glob, sizeof(shard_glob), "%s/shard_train_*.bin", dir);
    snprintf(merged, sizeof(merged), "%s/merged.bin", dir);
    char dir_a[PATH_MAX_LEN], dir_b[PATH_MAX_LEN];
    snprintf(dir_a, sizeof(dir_a), "%s/lora_a", dir);
    snprintf(dir_b, sizeof(dir_b), "%s/lora_b", dir);
    mkdir(dir_a, 0755);
    mkdir(dir_b, 0755);
    GPT2 init;
    gpt2_load(&init, model_path);
    // with --lora-train-norms: adapters of qkv and fc, the biases and layernorms
    RunConfig ca = tiny_run_config(dir_a, model_path, shard_glob, 2 * k);
    ca.lora = 4;
    ca.lora_alpha = 8.0f;
    ca.lora_targets = "qkv,fc";
    ca.lora_train_norms = 1;
    ca.lr = 1e-2f;
    RunConfig cb = ca;
    cb.output_dir = dir_b;
    float losses_a[8], losses_b[8];
    Run a, b;
    run_init(&a, &ca);
    for (int i = 0; i < 2 * k; i++) { losses_a[i] = run_step(&a).loss; }
    run_init(&b, &cb);
    for (int i = 0; i < k; i++) { losses_b[i] = run_step(&b).loss; }
    run_checkpoint(&b);
    run_free(&b);
    cb.resume = 1;
    run_init(&b, &cb);
    expect_true(log, "lora resume: restarts at step k", b.step == k, "");
    for (int i = k; i < 2 * k; i++) { losses_b[i] = run_step(&b).loss; }
    const LoraState *la = &a.model.lora, *lb = &b.model.lora;
    size_t nt = la->num_trainable * sizeof(float);
    expect_bitwise(log, "lora resume: losses", losses_a, losses_b, sizeof(losses_a));
    expect_bitwise(log, "lora resume: adapters", la->w_memory, lb->w_memory, la->num_adapters * sizeof(float));
    expect_bitwise(log, "lora resume: parameters (trained norms)", a.model.params_memory,
                   b.model.params_memory, a.model.num_parameters * sizeof(float));
    expect_bitwise(log, "lora resume: AdamW m", la->m_memory, lb->m_memory, nt);
    expect_bitwise(log, "lora resume: AdamW v", la->v_memory, lb->v_memory, nt);
    expect_bitwise(log, "lora resume: loader position", &a.train.pos, &b.train.pos, sizeof(LoaderPosition));
    expect_true(log, "lora resume: rng state", a.rng.state == b.rng.state, "");
    expect_true(log, "lora: no base gradients or moments",
                a.model.grads_memory == NULL && a.model.m_memory == NULL && a.model.v_memory == NULL &&
                a.model.grads.qkvw == NULL && a.model.grads.wte == NULL && a.model.grads.ln1w != NULL, "");
    // the matrices are frozen; the norms and biases trained
    int frozen = 1, trained = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        const TensorSpec *sp = &a.model.param_specs[i];
        int same = memcmp(a.model.params_memory + sp->start, init.params_memory + sp->start,
                          spec_numel(sp) * sizeof(float)) == 0;
        if (spec_decays(sp) && !same) { frozen = 0; }
        if (!spec_decays(sp) && !same) { trained++; }
    }
    char detail[128];
    snprintf(detail, sizeof(detail), "wte, wpe and the 4 matrices bitwise as loaded; %d of 10 norm/bias tensors moved",
             trained);
    expect_true(log, "lora --lora-train-norms: matrices frozen", frozen && trained == 10, detail);
    // merged: a plain model file whose logits are the LoRA model's
    int B = a.B_local, T = ca.T;
    size_t n = (size_t)B * T * fx->cfg.padded_vocab_size;
    float *want = (float *)mallocCheck(n * sizeof(float));
    a.model.lora.config.rank = 0;  // the same model without its adapters, for contrast
    gpt2_forward(&a.model, a.train.inputs, B, T);
    memcpy(want, a.model.acts.logits, n * sizeof(float));
    a.model.lora.config.rank = ca.lora;
    gpt2_forward(&a.model, a.train.inputs, B, T);
    double scale = 0.0, moved = 0.0;
    for (size_t i = 0; i < n; i++) {
        moved = fmax(moved, fabs((double)a.model.acts.logits[i] - want[i]));
        want[i] = a.model.acts.logits[i];
        scale = fmax(scale, fabs((double)want[i]));
    }
    lora_merge(&a.model);
    gpt2_save(&a.model, merged);
    GPT2 m;
    gpt2_load(&m, merged);
    gpt2_alloc_activations(&m, B, T);
    gpt2_forward(&m, a.train.inputs, B, T);
    snprintf(detail, sizeof(detail), "(the adapters moved the logits by up to %.2e)", moved);
    expect_close(log, "lora merge: merged model's logits", m.acts.logits, want, n, 1e-5 * scale, 0);
    expect_true(log, "lora merge: adapters matter here", moved > 1e-3 * scale, detail);
    free(want);
    gpt2_free(&m);
    run_free(&a);
    run_free(&b);
    // without --lora-train-norms every base parameter stays bitwise as loaded
    RunConfig cc = ca;
    cc.lora_train_norms = 0;
    cc.lora_targets = "qkv,attproj,fc,fcproj";
    cc.output_dir = "";
    Run c;
    run_init(&c, &cc);
    for (int i = 0; i < 3; i++) { run_step(&c); }
    expect_bitwise(log, "lora: base weights unchanged by training", c.model.params_memory,
                   init.params_memory, init.num_parameters * sizeof(float));
    run_free(&c);
    gpt2_free(&init);
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s test/fixtures/gpt2_tiny.bin [test/fixtures/gpt2_tiny_lora.bin]\n",
                argv[0]);
        return 2;
    }
    // the LoRA fixture: the second argument, or the one beside the first
    char lora_path[PATH_MAX_LEN];
    if (argc == 3) {
        snprintf(lora_path, sizeof(lora_path), "%s", argv[2]);
    } else {
        const char *slash = strrchr(argv[1], '/');
        int len = slash != NULL ? (int)(slash - argv[1] + 1) : 0;
        snprintf(lora_path, sizeof(lora_path), "%.*sgpt2_tiny_lora.bin", len, argv[1]);
    }
    TestLog log = {0, 0};
    Fixture fx;
    fixture_load(&fx, argv[1]);
    char dir[] = "/tmp/test_train_XXXXXX";
    if (mkdtemp(dir) == NULL) { die("mkdtemp: %s", strerror(errno)); }
    printf("fixture: L=%d NH=%d C=%d V=%d Vp=%d B=%d T=%d, %zu parameters; threads %d; matmul tile %d x %d\n",
           fx.cfg.num_layers, fx.cfg.num_heads, fx.cfg.channels, fx.cfg.vocab_size,
           fx.cfg.padded_vocab_size, fx.B, fx.T, fx.num_parameters, num_threads(), MATMUL_MR, MATMUL_NR);
    test_fixture(&log, &fx);
    test_finite_differences(&log);
    test_grad_accumulation(&log, &fx);
    test_grad_overwrite(&log, &fx);
    test_sampling(&log);
    test_kv_cache(&log, &fx);
    test_exp_fast(&log);
    test_overfit(&log, &fx);
    test_model_file_roundtrip(&log, &fx, dir);
    test_bill(&log, &fx);
    test_resume(&log, &fx, dir);
    LoraFixture lf;
    lora_fixture_load(&lf, lora_path);
    test_lora_fixture(&log, &lf);
    test_lora_step0(&log, &fx);
    test_lora_run(&log, &fx, dir);
    lora_fixture_free(&lf);
    fixture_free(&fx);
    char cmd[PATH_MAX_LEN];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) { fprintf(stderr, "warning: could not remove %s\n", dir); }
    printf("%s: %d of %d checks passed\n", log.failures == 0 ? "PASS" : "FAIL",
           log.checks - log.failures, log.checks);
    return log.failures == 0 ? 0 : 1;
}
