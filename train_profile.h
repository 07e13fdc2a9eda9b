/*
train_profile.h: where a training step's time goes (--profile). Part of
train.c (included by it, after the model); not about how training works.

The model's functions end each operation with lap() (train.c, section 3), so
the stopwatch holds the seconds of every operation over the timed steps, and
they add up to the steps' time. This file turns them into a table: ms per
step, share of the step, and the rate against what this machine can do,
measured here and now in the same run:
  - compute: GFLOP/s of the operation against the FMA peak, which is
    matmul_micro_kernel's rate on data in L1 on every thread (the rate no
    matmul can beat here; OpenBLAS's SGEMM reaches about the same, see
    dev/bench_cpu.sh, which measures both);
  - memory: GB/s (bytes read + bytes written, counting each tensor once)
    against a stream y += x over 64 MiB arrays on every thread; the grad
    norm, which only reads, against a read-only stream (sum of x) instead:
    on the 2-core machine where this was written, reading alone ran at about
    half the rate of y += x's reads plus writes.
The FLOPs and bytes are counted per operation from the shapes below (what
the code does: the causal attention computes only t2 <= t), so the rates are
estimates of work over measured time.
*/

static const char *op_name(Op op) {
    static const char *names[NUM_OPS] = {
        "matmul forward", "matmul backward", "attention forward", "attention backward",
        "layernorm", "gelu", "residual", "encoder", "softmax + loss", "zero grads",
        "grad norm", "AdamW", "communication", "data, loop, other",
    };
    return names[op];
}

// FLOPs and bytes moved by each operation in one optimizer step of
// grad_accum micro-steps of B x T tokens (params: the AdamW shard's size)
static void profile_work(const GPT2Config *cfg, int B, int T, int grad_accum, size_t params,
                         size_t shard, double flops[NUM_OPS], double bytes[NUM_OPS]) {
    const double BT = (double)B * T, C = cfg->channels, L = cfg->num_layers;
    const double Vp = cfg->padded_vocab_size, f = sizeof(float), micro = grad_accum;
    const double act_grads = (double)count_activation_grads(cfg, B, T);
    for (int op = 0; op < NUM_OPS; op++) { flops[op] = bytes[op] = 0.0; }
    // out = inp @ W^T: 2 FLOPs per weight per token; the backward twice that
    flops[OP_MATMUL_FORWARD] = micro * 2.0 * BT * (L * 12.0 * C * C + C * Vp);
    flops[OP_MATMUL_BACKWARD] = 2.0 * flops[OP_MATMUL_FORWARD];
    // causal: q.k and att.v over t2 <= t, 2 * 2 * hs * (t + 1) per (b, h, t);
    // the backward has four such products
    flops[OP_ATTENTION_FORWARD] = micro * L * B * 2.0 * C * (double)T * (T + 1);
    flops[OP_ATTENTION_BACKWARD] = 2.0 * flops[OP_ATTENTION_FORWARD];
    // memory-bound: (B,T,C) tensors read or written, per call
    //   layernorm: forward reads x, writes y; backward reads dy, x, adds into dx
    //   gelu (B,T,4C): forward 2; backward reads x, dy, adds into dx: 4
    //   residual: forward reads 2, writes 1; backward reads dy, adds into 2
    bytes[OP_LAYERNORM] = micro * (2.0 * L + 1.0) * (2.0 + 4.0) * BT * C * f;
    bytes[OP_GELU] = micro * L * (2.0 + 4.0) * BT * 4.0 * C * f;
    bytes[OP_RESIDUAL] = micro * 2.0 * L * (3.0 + 5.0) * BT * C * f;
    bytes[OP_ENCODER] = micro * (3.0 + 3.0) * BT * C * f;
    // logits (B,T,Vp): forward reads them; backward reads them again and
    // writes dlogits over them
    bytes[OP_CLASSIFIER] = micro * 3.0 * BT * Vp * f;
    // the parameters' gradients, and per micro-step the activations' but for
    // dlosses (gpt2_backward)
    bytes[OP_ZERO_GRAD] = ((double)params + micro * (act_grads - BT)) * f;
    bytes[OP_NORM] = (double)shard * f;
    bytes[OP_ADAMW] = 7.0 * (double)shard * f;  // reads p, g, m, v; writes p, m, v
}

// GFLOP/s of matmul_micro_kernel on a tile in L1, on every thread at once
static double measure_fma_peak(void) {
    const int kc = MATMUL_KC, reps = 40000;
    double best = 0.0;
    for (int trial = 0; trial < 3; trial++) {
        double t0 = now_seconds();
        #pragma omp parallel
        {
            // each thread its own tile, panel and strip (28 KiB: in L1)
            float c[MATMUL_MR * MATMUL_NR], a[MATMUL_KC * MATMUL_MR], b[MATMUL_KC * MATMUL_NR];
            for (int i = 0; i < MATMUL_KC * MATMUL_MR; i++) { a[i] = 1e-3f * (float)(i % 7); }
            for (int i = 0; i < MATMUL_KC * MATMUL_NR; i++) { b[i] = 1e-3f * (float)(i % 5); }
            memset(c, 0, sizeof(c));
            for (int r = 0; r < reps; r++) {
                matmul_micro_kernel(c, MATMUL_NR, a, 1, MATMUL_MR, b, kc, MATMUL_MR, MATMUL_NR, 0, NULL);
                // tells the compiler a and b may have changed, so that it
                // cannot compute the tile once and add it reps times
                __asm__ volatile("" : : "r"(a), "r"(b) : "memory");
            }
        }
        double rate = 2.0 * MATMUL_MR * MATMUL_NR * kc * reps * num_threads() / (now_seconds() - t0);
        if (rate > best) { best = rate; }
    }
    return best / 1e9;
}

// GB/s (bytes read + written) of y[i] += x[i] over 64 MiB arrays, threads
// owning slices: the access pattern of the memory-bound layers and of AdamW
// (every byte written was read first, so the count is the real traffic; a
// plain copy would also read its destination unseen)
static double measure_copy_bandwidth(void) {
    const size_t n = ((size_t)64 << 20) / sizeof(float);
    float *x = (float *)mallocCheck(n * sizeof(float)), *y = (float *)mallocCheck(n * sizeof(float));
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) { x[i] = 1.0f; y[i] = 0.0f; }  // (pages touched by their thread)
    double best = 0.0;
    for (int trial = 0; trial < 5; trial++) {
        double t0 = now_seconds();
        #pragma omp parallel for
        for (size_t i = 0; i < n; i++) { y[i] += x[i]; }
        double rate = 3.0 * n * sizeof(float) / (now_seconds() - t0);
        if (rate > best) { best = rate; }
    }
    free(x);
    free(y);
    return best / 1e9;
}

// GB/s of reading 64 MiB and summing it, threads owning slices: the access
// pattern of the grad norm (reads only). The sum is kept, so it is computed.
static double measure_read_bandwidth(void) {
    const size_t n = ((size_t)64 << 20) / sizeof(float);
    float *x = (float *)mallocCheck(n * sizeof(float));
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) { x[i] = 1.0f; }
    double best = 0.0;
    volatile float keep = 0.0f;
    for (int trial = 0; trial < 5; trial++) {
        double t0 = now_seconds();
        float sum = 0.0f;
        #pragma omp parallel for simd reduction(+ : sum)
        for (size_t i = 0; i < n; i++) { sum += x[i]; }
        double rate = (double)n * sizeof(float) / (now_seconds() - t0);
        keep = keep + sum;
        if (rate > best) { best = rate; }
    }
    free(x);
    return best / 1e9;
}

// the table: ms per step, share, rate and % of this machine's peak per
// operation; and the whole step's FLOPs (the bill's count) over the FMA peak
static void print_profile(const Stopwatch *sw, const GPT2Config *cfg, int B, int T, int grad_accum,
                          size_t params, size_t shard, double bill_flops_per_step) {
    if (sw->steps == 0) { return; }
    double flops[NUM_OPS], bytes[NUM_OPS];
    profile_work(cfg, B, T, grad_accum, params, shard, flops, bytes);
    double peak = measure_fma_peak(), copy = measure_copy_bandwidth(), read = measure_read_bandwidth();
    double total = 0.0;
    for (int op = 0; op < NUM_OPS; op++) { total += sw->seconds[op]; }
    double step_s = total / sw->steps;
    printf("profile: %d steps timed (the first of the run is not), %.1f ms per step, %d threads\n",
           sw->steps, 1000.0 * step_s, num_threads());
    printf("this machine now: FMA peak %.1f GFLOP/s (register tile, data in L1), stream y += x %.1f GB/s,"
           " read %.1f GB/s\n", peak, copy, read);
    printf("+----------------------+-----------+--------+----------------+---------+\n");
    printf("| %-20s | %9s | %6s | %14s | %7s |\n", "operation", "ms/step", "share", "rate", "of peak");
    printf("+----------------------+-----------+--------+----------------+---------+\n");
    for (int op = 0; op < NUM_OPS; op++) {
        double s = sw->seconds[op] / sw->steps;
        char rate[32] = "", frac[16] = "";
        if (s > 0.0 && flops[op] > 0.0) {
            snprintf(rate, sizeof(rate), "%.1f GFLOP/s", flops[op] / s / 1e9);
            snprintf(frac, sizeof(frac), "%.0f%%", 100.0 * flops[op] / s / 1e9 / peak);
        } else if (s > 0.0 && bytes[op] > 0.0) {
            snprintf(rate, sizeof(rate), "%.1f GB/s", bytes[op] / s / 1e9);
            double yardstick = op == OP_NORM ? read : copy;  // (see the top of this file)
            snprintf(frac, sizeof(frac), "%.0f%%", 100.0 * bytes[op] / s / 1e9 / yardstick);
        }
        printf("| %-20s | %9.2f | %5.1f%% | %14s | %7s |\n", op_name((Op)op), 1000.0 * s,
               100.0 * s / step_s, rate, frac);
    }
    printf("+----------------------+-----------+--------+----------------+---------+\n");
    printf("whole step: %.1f GFLOP (the bill's count) at %.1f GFLOP/s = %.0f%% of the FMA peak\n",
           bill_flops_per_step / 1e9, bill_flops_per_step / step_s / 1e9,
           100.0 * bill_flops_per_step / step_s / 1e9 / peak);
}
