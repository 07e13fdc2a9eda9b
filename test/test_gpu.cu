/*
test_gpu.cu: the GPU trainer (train.cu) against the CPU reference (train.c)
in one process. For each shape: the same random parameters and batch on both,
then the logits, the loss and each of the 16 parameter gradients compared
with per-tensor tolerances; then 5 AdamW steps on the same batch, comparing
the losses and gradient norms; (first shape) that two GPU runs give the
same bits; and on every shape that the matmuls without cuBLASLt's fused
epilogues (--gelu-fusion 0: plain products, separate bias and GELU kernels)
give the fused path's logits, loss and gradients. Shapes with LoRA then
fine-tune the same way (train.c's LoRA against train.cu's): logits, loss,
the adapters' (and trainable norms') gradients, 5 AdamW steps, the adapters
after them, and the frozen base bitwise unchanged. Under the CPU emulation
(dev/cuda_emu) it also checks that a training step allocates nothing and
makes no blocking copy. Prints `OK|FAIL name maxabs maxrel` per tensor and an overall line;
exits 1 on any failure. Without a GPU it prints SKIPPED and exits 0.

    make gpu-test                 # bf16 build: builds test/test_gpu and runs it
    make gpu-test PRECISION=FP32
    ./test/test_gpu tiny tiny-u   # only the named shapes (gpu-check's sanitizer runs)
    ./test/test_gpu --device      # exit 0 when this binary can use the GPU (gpu-check's probe)

maxrel is max |gpu - cpu| over the tensor divided by max |cpu| over the
tensor: an error measured against the tensor's scale, so that elements near
zero (where a relative error means nothing) do not decide.
*/
#define TRAIN_GPU_NO_MAIN
#include "../train.cu"

// Tolerances, as a fraction of the tensor's max |cpu|.
// FP32 build: the same math in fp32; only the order of the sums differs
// (cuBLAS, the attention's tiles, warp trees), which moves results by a few
// ulps of the terms summed. Backward products go through twelve layers of
// such sums, hence a little more room than the forward.
// bf16 build: bf16 keeps 8 significant bits, so one rounding is off by up to
// u = 2^-8 = 0.39% of the value. Activations are rounded at every layer
// boundary (and weights once), and the errors of the L layers add up, so the
// forward gets 8u (3.1%) and gradients, which are products of the rounded
// activations and the rounded upstream gradients, 16u (6.3%).
#ifdef ENABLE_FP32
#define TOL_LOGITS 1e-5
#define TOL_LOSS 1e-5
#define TOL_GRAD 3e-5
#define TOL_STEP 1e-4  // AdamW turns tiny gradient differences into full-size steps
#else
#define BF16_U (1.0 / 256.0)
#define TOL_LOGITS (8 * BF16_U)
#define TOL_LOSS (2 * BF16_U)
#define TOL_GRAD (16 * BF16_U)
#define TOL_STEP (4 * BF16_U)
#endif
// fused against unfused epilogues, both on the GPU: the same products; the
// fused epilogue applies bias and GELU to the fp32 accumulator, the separate
// kernels to the product rounded to floatX first, so in bf16 one more
// rounding (u) per matmul, which the layers carry like the CPU comparison's
#ifdef ENABLE_FP32
#define TOL_FUSION 1e-5
#else
#define TOL_FUSION (8 * BF16_U)
#endif
#define ADAM_STEPS 5
#define ADAM_LR 1e-3f

typedef struct {
    const char *name;
    int L, NH, C, V, maxT, B, T;
    int recompute;  // the GPU recomputes GELU and layernorm outputs in the backward
    int fuse;       // 1: cuBLASLt's fused bias/GELU epilogues; 0: --gelu-fusion 0
    int lora;       // > 0: then LoRA of this rank (test_lora), alpha 2 R
    unsigned lora_targets;  // LoraTarget bits
    int lora_norms;         // --lora-train-norms
} TestShape;

typedef struct {
    int checks, failures;
} Tally;

// compares n values; prints one line; returns 1 when within tol * max|ref|
static int compare(Tally *tally, const char *shape, const char *name, const float *gpu,
                   const float *cpu, size_t n, double tol) {
    double maxabs = 0.0, maxref = 0.0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(gpu[i])) { finite = 0; }
        double d = fabs((double)gpu[i] - (double)cpu[i]);
        if (d > maxabs) { maxabs = d; }
        if (fabs((double)cpu[i]) > maxref) { maxref = fabs((double)cpu[i]); }
    }
    double maxrel = maxref > 0.0 ? maxabs / maxref : maxabs;
    int ok = finite && maxrel <= tol;
    printf("%-4s %-6s %-22s maxabs %.3e maxrel %.3e (tol %.1e)%s\n", ok ? "OK" : "FAIL", shape, name,
           maxabs, maxrel, tol, finite ? "" : " non-finite values");
    tally->checks++;
    tally->failures += !ok;
    return ok;
}

// a batch of random inputs and targets below V, drawn in turn
static void random_tokens(int *inputs, int *targets, size_t n, int V, Rng *rng) {
    for (size_t i = 0; i < n; i++) {
        inputs[i] = (int)rng_below(rng, (size_t)V);
        targets[i] = (int)rng_below(rng, (size_t)V);
    }
}

// the same small perturbation of every parameter on top of GPT-2's
// initialisation, so that biases and gains are not 0 and 1 (which would
// hide a bias or gain applied wrongly); the padding rows of wte stay 0
static void perturb(GPT2 *m, Rng *rng) {
    size_t V = m->config.vocab_size, C = m->config.channels;
    for (size_t i = 0; i < m->num_parameters; i++) {
        if (m->params_memory + i >= m->params.wte + V * C && m->params_memory + i < m->params.wpe) { continue; }
        m->params_memory[i] += 0.02f * rng_normal(rng);
    }
}

// the GPU's logits (B*T*Vp floatX) as floats on the host
static void gpu_logits_host(GPT2GPU *g, float *out, size_t n) {
    float *tmp = NULL;
    cudaCheck(cudaMalloc(&tmp, n * sizeof(float)));
    LAUNCH(ceil_div(n, 256), 256, 0, x_to_float_kernel)(tmp, g->a.logits, n);
    launchCheck();
    cudaCheck(cudaMemcpy(out, tmp, n * sizeof(float), cudaMemcpyDeviceToHost));
    cudaCheck(cudaFree(tmp));
}

// fused against unfused: a second GPU model with the other setting of
// mm.fuse, the same parameters and batch; logits, loss and all gradients
// compared with the first's (which has just run forward, loss and backward)
static void compare_fusion(Tally *tally, const TestShape *ts, GPT2GPU *g, const GPT2Config *cfg,
                           const float *params, const int *inputs, const int *targets, float loss,
                           const float *logits, const float *grads, size_t np) {
    int B = ts->B, T = ts->T;
    size_t BT = (size_t)B * T, Vp = cfg->padded_vocab_size;
    GPT2GPU u;
    gpu_model_init(&u, cfg, B, T, 0, 1, 0, np, ts->recompute);
    u.mm.fuse = !g->mm.fuse;
    gpu_upload(&u, params, params, params);  // m and v: any np floats (no update runs here)
    gpu_zero_grad(&u);
    gpu_forward(&u, inputs, B, T);
    float *host = (float *)mallocCheck(BT * Vp * sizeof(float));
    gpu_logits_host(&u, host, BT * Vp);
    float lu = gpu_loss(&u, targets, 1, 1.0f / (float)BT);
    gpu_backward(&u);
    float *gu = (float *)mallocCheck(np * sizeof(float));
    cudaCheck(cudaMemcpy(gu, u.grads, np * sizeof(float), cudaMemcpyDeviceToHost));
    const char *other = u.mm.fuse ? "fused" : "unfused";
    char name[64];
    snprintf(name, sizeof(name), "%s logits", other);
    compare(tally, ts->name, name, host, logits, BT * Vp, TOL_FUSION);
    snprintf(name, sizeof(name), "%s loss", other);
    compare(tally, ts->name, name, &lu, &loss, 1, TOL_FUSION);
    snprintf(name, sizeof(name), "%s all grads", other);
    compare(tally, ts->name, name, gu, grads, np, TOL_FUSION);
    free(gu);
    free(host);
    gpu_model_free(&u);
}

// forward, loss and backward on the GPU from zeroed gradients; returns the loss
static float gpu_step_grads(GPT2GPU *g, const int *inputs, const int *targets, int B, int T) {
    gpu_zero_grad(g);
    gpu_forward(g, inputs, B, T);
    float loss = gpu_loss(g, targets, 1, 1.0f / ((float)B * T));
    gpu_backward(g);
    return loss;
}

// (the backward writes dlogits over the logits: logits, when not NULL,
// gets a copy of them first)
static float cpu_step_grads(GPT2 *m, const int *inputs, const int *targets, int B, int T, float *logits) {
    gpt2_zero_grad(m);
    gpt2_forward(m, inputs, B, T);
    float loss = gpt2_loss(m, targets);
    if (logits != NULL) { memcpy(logits, m->acts.logits, (size_t)B * T * m->config.padded_vocab_size * sizeof(float)); }
    gpt2_backward(m, 1.0f / ((float)B * T));
    return loss;
}

// the model config of a test shape
static GPT2Config shape_config(const TestShape *ts) {
    GPT2Config cfg;
    cfg.max_seq_len = ts->maxT;
    cfg.vocab_size = ts->V;
    cfg.padded_vocab_size = pad_vocab(ts->V);
    cfg.num_layers = ts->L;
    cfg.num_heads = ts->NH;
    cfg.channels = ts->C;
    return cfg;
}

// ADAM_STEPS AdamW steps on the same batch on both sides (full training or
// LoRA, whichever the models are set up for): the losses and gradient norms
// along the way; under the emulation, that the steps allocate nothing and
// never block on a copy
static void adamw_steps(Tally *tally, const char *shape, GPT2 *cpu, GPT2GPU *g, const int *inputs,
                        const int *targets, int B, int T) {
#ifdef CUDA_EMU
    EmuCounts before = emu_counts;
#endif
    for (int step = 1; step <= ADAM_STEPS; step++) {
        float lc = cpu_step_grads(cpu, inputs, targets, B, T, NULL);
        float lg = gpu_step_grads(g, inputs, targets, B, T);
        float nc = (float)sqrt(gpt2_grad_sumsq(cpu, 0, cpu->num_parameters));
        float ng = (float)sqrt(gpu_grad_sumsq(g));
        char name[64];
        snprintf(name, sizeof(name), "step %d loss", step);
        compare(tally, shape, name, &lg, &lc, 1, TOL_STEP);
        snprintf(name, sizeof(name), "step %d grad norm", step);
        compare(tally, shape, name, &ng, &nc, 1, TOL_GRAD);
        AdamWArgs ac = {ADAM_LR, 0.9f, 0.95f, 1e-8f, 0.1f, clip_scale(nc, 1.0f), step};
        AdamWArgs ag = ac;
        ag.grad_scale = clip_scale(ng, 1.0f);
        gpt2_update(cpu, &ac);
        gpu_update(g, &ag);
    }
#ifdef CUDA_EMU
    long allocs = emu_counts.device_allocs - before.device_allocs + emu_counts.pinned_allocs -
                  before.pinned_allocs;
    long copies = emu_counts.blocking_copies - before.blocking_copies;
    int ok = allocs == 0 && copies == 0;
    printf("%-4s %-6s %-22s %d steps: %ld allocations, %ld blocking copies (emulation counts)\n",
           ok ? "OK" : "FAIL", shape, "no alloc in a step", ADAM_STEPS, allocs, copies);
    tally->checks++;
    tally->failures += !ok;
#endif
}

static void test_shape(Tally *tally, const TestShape *ts, int check_determinism) {
    GPT2Config cfg = shape_config(ts);
    int B = ts->B, T = ts->T;
    size_t BT = (size_t)B * T, Vp = cfg.padded_vocab_size;
    printf("-- %s: L=%d NH=%d C=%d (hs %d) V=%d, B=%d T=%d%s, %s epilogues\n", ts->name, ts->L, ts->NH,
           ts->C, ts->C / ts->NH, ts->V, B, T, ts->recompute ? ", recompute" : "",
           ts->fuse ? "fused" : "unfused (--gelu-fusion 0)");
    Rng rng;
    rng_seed(&rng, 1234);
    GPT2 cpu;
    gpt2_init(&cpu, &cfg);
    gpt2_init_random(&cpu, &rng);
    perturb(&cpu, &rng);
    gpt2_alloc_activations(&cpu, B, T);
    int *inputs = (int *)mallocCheck(BT * sizeof(int));
    int *targets = (int *)mallocCheck(BT * sizeof(int));
    random_tokens(inputs, targets, BT, ts->V, &rng);
    GPT2GPU g;
    gpu_model_init(&g, &cfg, B, T, 0, 1, 0, cpu.num_parameters, ts->recompute);
    g.mm.fuse = ts->fuse;
    gpu_upload(&g, cpu.params_memory, cpu.m_memory, cpu.v_memory);

    // forward: logits and loss
    float *cpu_logits = (float *)mallocCheck(BT * Vp * sizeof(float));
    float cpu_loss = cpu_step_grads(&cpu, inputs, targets, B, T, cpu_logits);
    float *host = (float *)mallocCheck(BT * Vp * sizeof(float));
    gpu_zero_grad(&g);
    gpu_forward(&g, inputs, B, T);
    gpu_logits_host(&g, host, BT * Vp);
    compare(tally, ts->name, "logits", host, cpu_logits, BT * Vp, TOL_LOGITS);
    free(cpu_logits);
    float gpu_loss_v = gpu_loss(&g, targets, 1, 1.0f / (float)BT);
    compare(tally, ts->name, "loss", &gpu_loss_v, &cpu_loss, 1, TOL_LOSS);
    gpu_backward(&g);

    // backward: every parameter gradient
    float *grads = (float *)mallocCheck(cpu.num_parameters * sizeof(float));
    cudaCheck(cudaMemcpy(grads, g.grads, cpu.num_parameters * sizeof(float), cudaMemcpyDeviceToHost));
    for (int k = 0; k < NUM_PARAMETER_TENSORS; k++) {
        const TensorSpec *s = &cpu.param_specs[k];
        char name[64];
        snprintf(name, sizeof(name), "d%s", s->name);
        compare(tally, ts->name, name, grads + s->start, cpu.grads_memory + s->start, spec_numel(s), TOL_GRAD);
    }
    // the other setting of the epilogues, on the GPU, against this one
    compare_fusion(tally, ts, &g, &cfg, cpu.params_memory, inputs, targets, gpu_loss_v, host, grads,
                   cpu.num_parameters);

    // determinism: a second GPU forward + backward gives the same bits
    if (check_determinism) {
        float again = gpu_step_grads(&g, inputs, targets, B, T);
        float *grads2 = (float *)mallocCheck(cpu.num_parameters * sizeof(float));
        cudaCheck(cudaMemcpy(grads2, g.grads, cpu.num_parameters * sizeof(float), cudaMemcpyDeviceToHost));
        int same = again == gpu_loss_v &&
                   memcmp(grads, grads2, cpu.num_parameters * sizeof(float)) == 0;
        printf("%-4s %-6s %-22s two GPU runs give %s\n", same ? "OK" : "FAIL", ts->name,
               "determinism", same ? "the same bits" : "different bits");
        tally->checks++;
        tally->failures += !same;
        free(grads2);
    }

    adamw_steps(tally, ts->name, &cpu, &g, inputs, targets, B, T);
    // and the parameters after the steps. An AdamW step moves a parameter by
    // about lr at most (|m^ / sqrt(v^)| <= 1 for a steady gradient), so where
    // a gradient is nearly 0 and the two sides' roundings give it opposite
    // signs, the parameters part by up to 2 lr per step: that is the bound,
    // as a fraction of the largest parameter. The losses above are the check
    // that the steps agree.
    float *params = (float *)mallocCheck(cpu.num_parameters * sizeof(float));
    gpu_download(&g, params, NULL, NULL);
    double maxp = 0.0;
    for (size_t i = 0; i < cpu.num_parameters; i++) { maxp = fmax(maxp, fabs((double)cpu.params_memory[i])); }
    compare(tally, ts->name, "params after AdamW", params, cpu.params_memory, cpu.num_parameters,
            2.0 * ADAM_LR * ADAM_STEPS / maxp);

    free(params);
    free(grads);
    free(host);
    free(inputs);
    free(targets);
    gpu_model_free(&g);
    gpt2_free(&cpu);
}

// LoRA fine-tuning on both sides from the same base, adapters and batch:
// the forward with the adapters' term, the trainable set's gradients, AdamW
// steps, and the frozen base's compute copy unchanged on the GPU
static void test_lora(Tally *tally, const TestShape *ts) {
    GPT2Config cfg = shape_config(ts);
    int B = ts->B, T = ts->T;
    size_t BT = (size_t)B * T, Vp = cfg.padded_vocab_size;
    char name[64];
    snprintf(name, sizeof(name), "%s+lora", ts->name);
    printf("-- %s: LoRA R=%d alpha %d, targets 0x%x%s, %s epilogues%s\n", name, ts->lora, 2 * ts->lora,
           ts->lora_targets, ts->lora_norms ? ", biases and layernorms trained" : "",
           ts->fuse ? "fused" : "unfused", ts->recompute ? ", recompute" : "");
    Rng rng;
    rng_seed(&rng, 4321);
    GPT2 cpu;
    gpt2_init(&cpu, &cfg);
    gpt2_init_random(&cpu, &rng);
    perturb(&cpu, &rng);
    gpt2_freeze(&cpu);
    LoraConfig lc = {ts->lora, 2.0f * ts->lora, ts->lora_targets, ts->lora_norms};  // scale 2, not 1
    lora_init(&cpu, &lc, &rng);
    // B starts at 0 (the model is then the base): give it values, so that the
    // adapters' term and both adapters' gradients are not zero
    LoraState *ls = &cpu.lora;
    for (int k = 0; k < ls->num_specs; k++) {
        const TensorSpec *sp = &ls->specs[k];
        if (ls->base[k] >= 0 || sp->init != INIT_ZEROS) { continue; }
        for (size_t i = 0; i < spec_numel(sp); i++) { ls->w_memory[sp->start + i] = 0.05f * rng_normal(&rng); }
    }
    gpt2_alloc_activations(&cpu, B, T);
    int *inputs = (int *)mallocCheck(BT * sizeof(int));
    int *targets = (int *)mallocCheck(BT * sizeof(int));
    random_tokens(inputs, targets, BT, ts->V, &rng);
    GPT2GPU g;
    gpu_model_init_lora(&g, &cfg, B, T, 0, 1, 0, 0, ts->recompute, ls);
    g.mm.fuse = ts->fuse;
    gpu_lora_upload(&g, &cpu);
    size_t np = cpu.num_parameters, n = ls->num_trainable;
    floatX *base_before = (floatX *)mallocCheck(np * sizeof(floatX));
    cudaCheck(cudaMemcpy(base_before, g.params_x, np * sizeof(floatX), cudaMemcpyDeviceToHost));

    // forward and backward
    float *cpu_logits = (float *)mallocCheck(BT * Vp * sizeof(float));
    float lc0 = cpu_step_grads(&cpu, inputs, targets, B, T, cpu_logits);
    float *host = (float *)mallocCheck(BT * Vp * sizeof(float));
    gpu_zero_grad(&g);
    gpu_forward(&g, inputs, B, T);
    gpu_logits_host(&g, host, BT * Vp);  // before the loss turns them into dlogits
    float lg0 = gpu_loss(&g, targets, 1, 1.0f / (float)BT);
    gpu_backward(&g);
    compare(tally, name, "logits", host, cpu_logits, BT * Vp, TOL_LOGITS);
    free(cpu_logits);
    compare(tally, name, "loss", &lg0, &lc0, 1, TOL_LOSS);
    float *grads = (float *)mallocCheck(n * sizeof(float));
    cudaCheck(cudaMemcpy(grads, g.lora.g, n * sizeof(float), cudaMemcpyDeviceToHost));
    for (int k = 0; k < ls->num_specs; k++) {
        const TensorSpec *sp = &ls->specs[k];
        char what[64];
        snprintf(what, sizeof(what), "d%s", sp->name);
        compare(tally, name, what, grads + sp->start, ls->g_memory + sp->start, spec_numel(sp), TOL_GRAD);
    }

    adamw_steps(tally, name, &cpu, &g, inputs, targets, B, T);
    // the trainable set after the steps (the bound of test_shape's parameters)
    float *w = (float *)mallocCheck(n * sizeof(float)), *wc = (float *)mallocCheck(n * sizeof(float));
    cudaCheck(cudaMemcpy(w, g.lora.w, n * sizeof(float), cudaMemcpyDeviceToHost));
    double maxp = 0.0;
    for (int k = 0; k < ls->num_specs; k++) {
        const TensorSpec *sp = &ls->specs[k];
        memcpy(wc + sp->start, lora_values(&cpu, k), spec_numel(sp) * sizeof(float));
    }
    for (size_t i = 0; i < n; i++) { maxp = fmax(maxp, fabs((double)wc[i])); }
    compare(tally, name, "trainable after AdamW", w, wc, n, 2.0 * ADAM_LR * ADAM_STEPS / maxp);
    // the frozen base: every tensor outside the trainable set, the same bits
    floatX *base_after = (floatX *)mallocCheck(np * sizeof(floatX));
    cudaCheck(cudaMemcpy(base_after, g.params_x, np * sizeof(floatX), cudaMemcpyDeviceToHost));
    int frozen = 1, trained = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        const TensorSpec *sp = &cpu.param_specs[i];
        int trainable = ls->config.train_norms && !spec_decays(sp);
        int same = memcmp(base_after + sp->start, base_before + sp->start, spec_numel(sp) * sizeof(floatX)) == 0;
        if (!trainable && !same) { frozen = 0; }
        if (trainable && !same) { trained = 1; }
    }
    int ok = frozen && trained == ls->config.train_norms;
    printf("%-4s %-6s %-22s the frozen base %s%s\n", ok ? "OK" : "FAIL", name, "base unchanged",
           frozen ? "has the same bits" : "CHANGED",
           ls->config.train_norms ? (trained ? "; the trained norms moved" : "; the trained norms did NOT move")
                                  : "");
    tally->checks++;
    tally->failures += !ok;

    free(base_after);
    free(base_before);
    free(w);
    free(wc);
    free(grads);
    free(host);
    free(inputs);
    free(targets);
    gpu_model_free(&g);
    gpt2_free(&cpu);
}

int main(int argc, char **argv) {
    (void)train_main;  // the program's entry and backend: not used by this test
    (void)cuda_backend;
    int probe = argc == 2 && strcmp(argv[1], "--device") == 0;
    int ndev = 0;
    cudaError_t err = cudaGetDeviceCount(&ndev);
    if (err != cudaSuccess || ndev == 0) {
        (void)cudaGetLastError();
        // a GPU the driver sees but this binary cannot use (a driver older
        // than the CUDA it was built with) also lands here: say which
        printf("SKIPPED test_gpu (%s): no CUDA GPU on this machine (cudaGetDeviceCount: %s)\n", FLOATX_NAME,
               err != cudaSuccess ? cudaGetErrorString(err) : "0 devices");
        return probe ? 1 : 0;
    }
    cudaCheck(cudaSetDevice(0));
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, 0));
    printf("test_gpu (%s) on %s, sm_%d%d\n", FLOATX_NAME, prop.name, prop.major, prop.minor);
    if (probe) { return 0; }
    // T not a multiple of the attention tiles, head sizes 16 (padded to 64),
    // 128 (the 32-row tiles), and GPT-2 124M's 64; --recompute and
    // --gelu-fusion 0 on the tiny shape
    // LoRA: on tiny the attention's two matrices only (the MLP keeps its
    // fused GELU epilogues), on tiny-r all four with the norms trained
    static const unsigned attn = (1u << LORA_QKV) | (1u << LORA_ATTPROJ);
    static const TestShape shapes[] = {
        {"tiny", 2, 4, 64, 100, 64, 2, 40, 0, 1, 8, attn, 0},
        {"tiny-u", 2, 4, 64, 100, 64, 2, 40, 0, 0, 0, 0, 0},
        {"tiny-r", 2, 4, 64, 100, 64, 2, 40, 1, 1, 8, LORA_ALL_TARGETS, 1},
        {"hs128", 1, 2, 256, 200, 128, 1, 100, 0, 1, 0, 0, 0},
#ifndef TEST_GPU_NO_124M  // the CPU emulation (dev/cuda_emu) leaves out the large shape
        {"124M", 12, 12, 768, 50257, 1024, 4, 64, 0, 1, 0, 0, 0},
#endif
    };
    Tally tally = {0, 0};
    size_t nshapes = sizeof(shapes) / sizeof(shapes[0]);
    for (int a = 1; a < argc; a++) {  // every name given must be a shape
        int known = 0;
        for (size_t i = 0; i < nshapes; i++) { known |= strcmp(argv[a], shapes[i].name) == 0; }
        if (!known) { die("test_gpu: no shape named '%s' (tiny, tiny-u, tiny-r, hs128, 124M)", argv[a]); }
    }
    for (size_t i = 0; i < nshapes; i++) {
        int wanted = argc == 1;  // no names: every shape
        for (int a = 1; a < argc; a++) { wanted |= strcmp(argv[a], shapes[i].name) == 0; }
        if (wanted) { test_shape(&tally, &shapes[i], i == 0); }
        if (wanted && shapes[i].lora > 0) { test_lora(&tally, &shapes[i]); }
    }
    printf("%s: %d of %d checks passed (%s)\n", tally.failures == 0 ? "OK" : "FAIL",
           tally.checks - tally.failures, tally.checks, FLOATX_NAME);
    return tally.failures == 0 ? 0 : 1;
}
