// check_kernels.cpp: train.cu's kernels (train_kernels.cuh, included as it is),
// emulated on the CPU (emu.h), against train.c's CPU twins: every kernel, the
// attention at several shapes and every tile size train.cu can pick (the
// encoder backward also with split buckets), each launched with LAUNCH as
// train.cu launches it. One line per check, OK|FAIL, maxrel = max |emu - cpu| /
// max |cpu|; exits 1 on a failure. Built and run by dev/cuda_emu/run.sh (make
// check-cuda-emu) with -DCUDA_EMU -I dev/cuda_emu/include, with the WMMA tile
// code (default) or the FP32 build's scalar one (-DEMU_SCALAR).
#define TRAIN_NO_MAIN
#include "../../train.c"
#ifdef EMU_SCALAR
#define ENABLE_FP32
#endif
#include "../../train_kernels.cuh"

static int fails = 0;
static void cmp(const char *name, const float *a, const float *b, size_t n, double tol = 1e-5) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) { e = fmax(e, fabs((double)a[i] - b[i])); m = fmax(m, fabs((double)b[i])); }
    double r = m > 0 ? e / m : e;
    printf("%-4s %-28s maxrel %.2e\n", r <= tol ? "OK" : "FAIL", name, r);
    fails += r > tol;
}
static std::vector<float> randv(Rng *rng, size_t n, float s = 1.0f) {
    std::vector<float> v(n); for (auto &x : v) x = s * rng_normal(rng); return v;
}
// encoder_backward's dwte through the buckets, split into chunks of `chunk`
// positions, launched as train.cu launches it; returns the number of chunks
static int encoder_backward_case(float *dwte, const float *dout, const int *inp, size_t N, int C, int V,
                                 int chunk) {
    TokenBuckets tb;
    tb.chunk = chunk;
    size_t mc = token_buckets_max_chunks(N, chunk);
    // the host arrays pinned, as train.cu allocates them: token_buckets_upload's
    // asynchronous copies need it (the emulation refuses pageable memory)
    int **host[] = {&tb.ids, &tb.starts, &tb.positions, &tb.partial_starts, &tb.chunk_starts, &tb.chunk_ends};
    size_t sizes[] = {N, N + 1, N, N + 1, mc, mc};
    for (int i = 0; i < 6; i++) { cudaCheck(cudaMallocHost(host[i], sizes[i] * sizeof(int))); }
    std::vector<int> count(V);
    std::vector<float> partials(mc * C, 777.f);
    tb.count = count.data();
    std::vector<int> dids(N), dstarts(N + 1), dpos(N), dps(N + 1), dcs(mc), dce(mc);  // "device" copies
    tb.d_ids = dids.data(); tb.d_starts = dstarts.data(); tb.d_positions = dpos.data();
    tb.d_partial_starts = dps.data(); tb.d_chunk_starts = dcs.data(); tb.d_chunk_ends = dce.data();
    tb.d_partials = partials.data();
    token_buckets_build(&tb, inp, N, V);
    token_buckets_upload(&tb, N);
    encoder_backward_wte_launch(dwte, dout, &tb, C);
    for (int i = 0; i < 6; i++) { cudaCheck(cudaFreeHost(*host[i])); }
    return tb.num_chunks;
}

static void check_layers() {
    Rng rng; rng_seed(&rng, 7);
    int B = 2, T = 5, C = 96, V = 37, Vp = 64;
    size_t N = (size_t)B * T, NC = N * C;
    std::vector<int> inp(N);
    for (auto &x : inp) x = (int)rng_below(&rng, 4);  // repeats, to exercise the buckets
    auto wte = randv(&rng, (size_t)V * C), wpe = randv(&rng, (size_t)T * C);
    // encoder forward
    std::vector<float> o1(NC), o2(NC);
    LAUNCH(ceil_div(NC / X128, 256), 256, 0, encoder_forward_kernel)(o1.data(), inp.data(), wte.data(), wpe.data(), B, T, C);
    encoder_forward(o2.data(), inp.data(), wte.data(), wpe.data(), B, T, C);
    cmp("encoder_forward", o1.data(), o2.data(), NC);
    // encoder backward (+= into nonzero grads)
    auto dout = randv(&rng, NC);
    auto dwte1 = randv(&rng, (size_t)V * C), dwpe1 = randv(&rng, (size_t)T * C);
    auto dwte2 = dwte1, dwpe2 = dwpe1;
    encoder_backward_case(dwte1.data(), dout.data(), inp.data(), N, C, V, ENCODER_CHUNK);
    encoder_backward_wpe_launch(dwpe1.data(), dout.data(), B, T, C);
    encoder_backward(dwte2.data(), dwpe2.data(), dout.data(), inp.data(), B, T, C, 0);
    cmp("encoder_backward dwte", dwte1.data(), dwte2.data(), dwte1.size());
    cmp("encoder_backward dwpe", dwpe1.data(), dwpe2.data(), dwpe1.size());
    // the split of frequent tokens' buckets, with chunks of 3 positions: of 40
    // positions token 5 has 27 (9 full chunks), 2 has 5 and 1 has 4 (2 chunks,
    // the last shorter), 3 has exactly 3 and 6 has 1 (unsplit): 13 chunks
    // (at C = 1032: 258 packs of 4 per row, two blocks of threads per row)
    { int B2 = 4, T2 = 10, C = 1032; size_t N2 = (size_t)B2 * T2;
      std::vector<int> inp2(N2);
      for (size_t i = 0; i < N2; i++) inp2[i] = i % 4 == 1 ? (int)(i % 3) + 1 : 5;
      inp2[3] = 1; inp2[7] = 2; inp2[0] = 6;
      auto d2 = randv(&rng, N2 * C), e1 = randv(&rng, (size_t)V * C), p1 = randv(&rng, (size_t)T2 * C);
      auto e2 = e1, p2 = p1;
      int chunks = encoder_backward_case(e1.data(), d2.data(), inp2.data(), N2, C, V, 3);
      encoder_backward(e2.data(), p2.data(), d2.data(), inp2.data(), B2, T2, C, 0);
      char name[64]; snprintf(name, sizeof(name), "encoder_backward dwte (%d chunks)", chunks);
      cmp(name, e1.data(), e2.data(), e1.size()); }
    // layernorm: check_layernorm, at several shapes (main)
    auto x = randv(&rng, NC, 3.0f);
    // bias gradient via the column sums (rows > COLSUM_ROWS: several chunks;
    // OC = 1032: 258 packs of 4, two blocks of threads per row)
    for (int OC : {40, 1032}) {
      size_t R = 150; auto d = randv(&rng, R * OC); auto db = randv(&rng, OC); auto dbc = db;
      std::vector<float> cs((R + COLSUM_ROWS - 1) / COLSUM_ROWS * OC);
      column_sums_launch(db.data(), d.data(), R, OC, cs.data());
      for (size_t i = 0; i < R; i++) for (int o = 0; o < OC; o++) dbc[o] += d[i * OC + o];
      char name[64]; snprintf(name, sizeof(name), "column sums (dbias), OC=%d", OC);
      cmp(name, db.data(), dbc.data(), OC); }
    // gelu, over NC - 3 elements: the last thread's tail of 1 (X128 = 4)
    { size_t n = NC - 3; auto g1 = std::vector<float>(NC, 777.f), g2 = std::vector<float>(NC, 777.f);
      LAUNCH(ceil_div(n, (size_t)256 * X128), 256, 0, gelu_forward_kernel)(g1.data(), x.data(), n);
      gelu_forward(g2.data(), x.data(), n); cmp("gelu_forward (tail)", g1.data(), g2.data(), NC);
      std::vector<float> gb1(NC, 777.f), gb2(NC, 0.0f);
      LAUNCH(ceil_div(n, (size_t)256 * X128), 256, 0, gelu_backward_kernel)(gb1.data(), x.data(), dout.data(), n);
      gelu_backward(gb2.data(), x.data(), dout.data(), n);
      for (size_t i = n; i < NC; i++) gb2[i] = 777.f;
      cmp("gelu_backward (tail)", gb1.data(), gb2.data(), NC); }
    // the float <-> floatX copies, with a tail (bits)
    { size_t n = 1003; auto a = randv(&rng, n); std::vector<float> b(n, 777.f), c(n, 777.f);
      LAUNCH(ceil_div(n, (size_t)256 * X128), 256, 0, float_to_x_kernel)(b.data(), a.data(), n);
      LAUNCH(ceil_div(n, (size_t)256 * X128), 256, 0, x_to_float_kernel)(c.data(), b.data(), n);
      cmp("float_to_x, x_to_float (bits)", c.data(), a.data(), n, 0.0); }
    // classifier: loss and dlogits in place
    { auto logits = randv(&rng, N * Vp, 4.0f);
      for (size_t i = 0; i < N; i++) for (int v = V; v < Vp; v++) logits[i * Vp + v] = 0.0f;
      std::vector<int> tg(N); for (auto &t : tg) t = (int)rng_below(&rng, V);
      std::vector<float> loss1(N), loss2(N), lmax(N), linv(N), dl2(N * Vp, 0.0f), dls(N, 0.37f);
      softmax_crossentropy_forward(loss2.data(), lmax.data(), linv.data(), logits.data(), tg.data(), B, T, V, Vp);
      softmax_crossentropy_backward(dl2.data(), dls.data(), logits.data(), lmax.data(), linv.data(), tg.data(),
                                    B, T, V, Vp);
      auto l0 = logits;
      LAUNCH((int)N, CLASSIFIER_THREADS, 0, classifier_kernel)(l0.data(), loss1.data(), tg.data(), 0.37f, 0, V, Vp);
      cmp("classifier loss (no grad)", loss1.data(), loss2.data(), N);
      cmp("classifier leaves logits", l0.data(), logits.data(), N * Vp, 0.0);
      LAUNCH((int)N, CLASSIFIER_THREADS, 0, classifier_kernel)(logits.data(), loss1.data(), tg.data(), 0.37f, 1, V, Vp);
      cmp("classifier loss", loss1.data(), loss2.data(), N);
      cmp("classifier dlogits", logits.data(), dl2.data(), N * Vp); }
    // grad norm (two chunks) and AdamW over a fake parameter table
    { size_t n = 70000; auto g = randv(&rng, n); std::vector<double> part(2);
      for (int off : {0, 1}) {  // 1: a ZeRO-1 shard that starts off a 16-byte boundary (scalar loads)
        size_t nn = n - 2 - off;  // and ends inside a pack (the tail)
        LAUNCH(2, 256, 0, grad_norm_kernel)(part.data(), g.data() + off, nn);
        double ref = 0; for (size_t i = 0; i < nn; i++) ref += (double)g[off + i] * g[off + i];
        float a = (float)(part[0] + part[1]), b = (float)ref;
        cmp(off ? "grad_norm sum of squares (unaligned)" : "grad_norm sum of squares", &a, &b, 1); }
      // lo = 1000: the 128-bit path (and its first and last packs); 1001:
      // a shard that starts inside a pack, one element at a time
      for (size_t lo : {(size_t)1000, (size_t)1001}) {
      size_t cnt = 50001;
      auto p1 = randv(&rng, n), mm = randv(&rng, cnt, 0.01f), vv = randv(&rng, cnt, 0.01f);
      for (auto &q : vv) q = fabsf(q);
      auto p2 = p1, m2v = mm, v2v = vv; std::vector<float> px(n);
      AdamWTable tab; for (int k = 0; k < NUM_PARAMETER_TENSORS; k++) { tab.end[k] = (size_t)(k + 1) * n / NUM_PARAMETER_TENSORS; tab.decays[k] = k % 2; }
      float lr = 1e-3f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, gs = 0.7f; int t = 3;
      float bc1 = (float)(1.0 - pow(b1, t)), bc2 = (float)(1.0 - pow(b2, t));
      LAUNCH(adamw_blocks(lo, cnt), 256, 0, adamw_kernel)(p1.data(), px.data(), g.data(), mm.data(), vv.data(), lo, cnt, tab, lr, b1, b2, eps, wd, gs, bc1, bc2);
      for (size_t i = lo; i < lo + cnt; i++) {  // gpt2_update's lines, with the table's decay
          int k = 0; while (i >= tab.end[k]) k++;
          float wdk = tab.decays[k] ? wd : 0.0f, grad = g[i] * gs; size_t j = i - lo;
          m2v[j] = b1 * m2v[j] + (1.0f - b1) * grad; v2v[j] = b2 * v2v[j] + (1.0f - b2) * grad * grad;
          p2[i] -= lr * (m2v[j] / bc1 / (sqrtf(v2v[j] / bc2) + eps) + wdk * p2[i]); }
      const char *tag = lo % X128 ? " (unaligned)" : "";
      char name[64];
      snprintf(name, sizeof(name), "adamw params%s", tag); cmp(name, p1.data(), p2.data(), n);
      snprintf(name, sizeof(name), "adamw m%s", tag); cmp(name, mm.data(), m2v.data(), cnt);
      snprintf(name, sizeof(name), "adamw v%s", tag); cmp(name, vv.data(), v2v.data(), cnt);
      snprintf(name, sizeof(name), "adamw params_x copy%s", tag); cmp(name, px.data() + lo, p1.data() + lo, cnt, 0.0);
      float touched = 0.0f, none = 0.0f;  // params_x outside [lo, lo + cnt) written?
      for (size_t i = 0; i < n; i++) touched += (i < lo || i >= lo + cnt) && px[i] != 0.0f;
      snprintf(name, sizeof(name), "adamw only its range%s", tag); cmp(name, &touched, &none, 1, 0.0); } }
    // the step's device-side reductions: the mean loss and the norm's partials
    { size_t n = 1000; auto l = randv(&rng, n); for (auto &v : l) v = fabsf(v);
      float mean = 0; LAUNCH(1, LOSS_THREADS, 0, loss_mean_kernel)(&mean, l.data(), n);
      double s = 0; for (size_t i = 0; i < n; i++) s += l[i];
      float ref = (float)(s / (double)n); cmp("loss_mean (gpt2_loss's mean)", &mean, &ref, 1, 1e-7);
      std::vector<double> part = {1.5, 1e-3, 2.25, 7.0}; double tot = 0;
      LAUNCH(1, 1, 0, grad_norm_finish_kernel)(&tot, part.data(), part.size());
      float a = (float)tot, b = (float)(((1.5 + 1e-3) + 2.25) + 7.0); cmp("grad_norm_finish (in order)", &a, &b, 1, 0.0); }
}

// the layernorm kernels at one shape, launched as train.cu launches them
// (layernorm_forward_launch, layernorm_backward_launch): forward, the fused
// residual + layernorm, the recompute, and the backward with its fused
// dweight and dbias partial sums, against train.c's twins. C picks the
// template instance (packs of 4 floats per lane: 4, 8 or 16) and N the
// number of blocks of COLSUM_ROWS rows in the backward.
static void check_layernorm(int B, int T, int C, unsigned seed) {
    Rng rng; rng_seed(&rng, seed);
    size_t N = (size_t)B * T, NC = N * C;
    auto x = randv(&rng, NC, 3.0f), x2 = randv(&rng, NC), w = randv(&rng, C), bb = randv(&rng, C);
    for (auto &v : x) v += 1.5f;
    std::vector<float> l1(NC), l2(NC), m1(N), m2(N), r1(N), r2(N), res1(NC), res2(NC), l3(NC);
    char tag[64], name[128];
    snprintf(tag, sizeof(tag), "C=%d N=%zu packs %d", C, N, layernorm_packs(C));
    layernorm_forward_launch(NULL, l1.data(), m1.data(), r1.data(), x.data(), NULL, w.data(), bb.data(), N, C);
    layernorm_forward(l2.data(), m2.data(), r2.data(), x.data(), w.data(), bb.data(), B, T, C);
    snprintf(name, sizeof(name), "layernorm_forward out %s", tag); cmp(name, l1.data(), l2.data(), NC);
    snprintf(name, sizeof(name), "layernorm_forward mean %s", tag); cmp(name, m1.data(), m2.data(), N);
    snprintf(name, sizeof(name), "layernorm_forward rstd %s", tag); cmp(name, r1.data(), r2.data(), N);
    LAUNCH(ceil_div(NC / X128, 256), 256, 0, layernorm_recompute_kernel)(l3.data(), x.data(), m1.data(), r1.data(), w.data(), bb.data(), N, C);
    snprintf(name, sizeof(name), "layernorm_recompute (bits) %s", tag); cmp(name, l3.data(), l1.data(), NC, 0.0);
    layernorm_forward_launch(res1.data(), l1.data(), m1.data(), r1.data(), x.data(), x2.data(), w.data(), bb.data(), N, C);
    residual_forward(res2.data(), x.data(), x2.data(), NC);
    layernorm_forward(l2.data(), m2.data(), r2.data(), res2.data(), w.data(), bb.data(), B, T, C);
    snprintf(name, sizeof(name), "residual_layernorm residual %s", tag); cmp(name, res1.data(), res2.data(), NC);
    snprintf(name, sizeof(name), "residual_layernorm out %s", tag); cmp(name, l1.data(), l2.data(), NC);
    snprintf(name, sizeof(name), "residual_layernorm rstd %s", tag); cmp(name, r1.data(), r2.data(), N);
    // backward (+= everywhere), from the statistics of x
    auto dout = randv(&rng, NC), dinp1 = randv(&rng, NC), dw1 = randv(&rng, C), db1 = randv(&rng, C);
    auto dinp2 = dinp1, dw2 = dw1, db2 = db1;
    std::vector<float> scratch(2 * ((N + COLSUM_ROWS - 1) / COLSUM_ROWS) * C, 777.f);
    layernorm_forward(l2.data(), m2.data(), r2.data(), x.data(), w.data(), bb.data(), B, T, C);
    layernorm_backward_launch(dinp1.data(), dw1.data(), db1.data(), dout.data(), x.data(), w.data(), m2.data(),
                              r2.data(), N, C, scratch.data());
    layernorm_backward(dinp2.data(), dw2.data(), db2.data(), dout.data(), x.data(), w.data(), m2.data(), r2.data(), B, T, C, 0);
    snprintf(tag, sizeof(tag), "C=%d N=%zu, %d warps", C, N, layernorm_backward_warps(C));
    snprintf(name, sizeof(name), "layernorm_backward dinp %s", tag); cmp(name, dinp1.data(), dinp2.data(), NC);
    snprintf(name, sizeof(name), "layernorm_backward dweight %s", tag); cmp(name, dw1.data(), dw2.data(), C);
    snprintf(name, sizeof(name), "layernorm_backward dbias %s", tag); cmp(name, db1.data(), db2.data(), C);
}

// --gelu-fusion 0: matmul_forward and matmul_backward as train.cu runs them
// without cuBLASLt's epilogues: a plain product (here by its definition, in
// place of cuBLASLt's), then add_bias_kernel and gelu_forward_kernel; in the
// backward gelu_backward_kernel in place on the plain dinp product, and dbias
// by the column sums; each against train.c's matmul, gelu and their backwards
static void check_unfused_matmul() {
    Rng rng; rng_seed(&rng, 11);
    int B = 2, T = 7, C = 24, OC = 40;
    size_t N = (size_t)B * T;
    auto inp = randv(&rng, N * C), w = randv(&rng, (size_t)OC * C, 0.3f), bias = randv(&rng, OC);
    std::vector<float> fch(N * OC), gl(N * OC), rfch(N * OC), rgl(N * OC);
    for (size_t i = 0; i < N; i++) {  // the plain product, out = inp @ w^T
        for (int o = 0; o < OC; o++) {
            double sum = 0; for (int c = 0; c < C; c++) sum += (double)inp[i * C + c] * w[(size_t)o * C + c];
            fch[i * OC + o] = (float)sum; } }
    LAUNCH(ceil_div(N * OC / X128, 256), 256, 0, add_bias_kernel)(fch.data(), bias.data(), N, OC);
    LAUNCH(ceil_div(N * OC, (size_t)256 * X128), 256, 0, gelu_forward_kernel)(gl.data(), fch.data(), N * OC);
    matmul_forward(rfch.data(), inp.data(), w.data(), bias.data(), B, T, C, OC);
    gelu_forward(rgl.data(), rfch.data(), N * OC);
    cmp("unfused matmul_forward + add_bias", fch.data(), rfch.data(), N * OC);
    cmp("unfused fc + gelu_forward", gl.data(), rgl.data(), N * OC);
    // backward through fcproj (weight wp (C, OC)) and the GELU before it:
    // dfch = gelu'(fch) * (dout @ wp), dwp += dout^T @ gelu, dbp += colsum(dout)
    auto wp = randv(&rng, (size_t)C * OC, 0.3f), dout = randv(&rng, N * C);
    std::vector<float> dfch(N * OC), rdgl(N * OC, 0.0f), rdfch(N * OC, 0.0f), rdwp((size_t)C * OC, 0.0f);
    auto db = randv(&rng, C); auto rdb = db;
    for (size_t i = 0; i < N; i++) {  // the plain product, dinp = dout @ wp
        for (int o = 0; o < OC; o++) {
            double sum = 0; for (int c = 0; c < C; c++) sum += (double)dout[i * C + c] * wp[(size_t)c * OC + o];
            dfch[i * OC + o] = (float)sum; } }
    LAUNCH(ceil_div(N * OC, (size_t)256 * X128), 256, 0, gelu_backward_kernel)(dfch.data(), fch.data(), dfch.data(), N * OC);
    std::vector<float> scratch((N + COLSUM_ROWS - 1) / COLSUM_ROWS * C);
    column_sums_launch(db.data(), dout.data(), N, C, scratch.data());
    matmul_backward(rdgl.data(), rdwp.data(), rdb.data(), dout.data(), rgl.data(), wp.data(), B, T, OC, C, 0);
    gelu_backward(rdfch.data(), rfch.data(), rdgl.data(), N * OC);
    cmp("unfused matmul_backward + gelu_backward", dfch.data(), rdfch.data(), N * OC);
    cmp("unfused matmul_backward dbias", db.data(), rdb.data(), C);
}

// one attention shape: forward (out, lse), the dot kernel, both backward kernels
template <int BLK, int HSP>
static double attention_case(int B, int T, int C, int NH, unsigned seed) {
    size_t C3 = 3 * (size_t)C;
    Rng rng; rng_seed(&rng, seed);
    std::vector<float> qkv(B * T * C3), out(B * T * C), lse(B * NH * T), dout(B * T * C), D(B * NH * T), dqkv(B * T * C3, 777.f);
    for (auto &x : qkv) x = rng_normal(&rng);
    for (auto &x : dout) x = rng_normal(&rng);
    int nt = (T + BLK - 1) / BLK;
    size_t fwd_smem = AttFwdSmem<BLK, HSP>::bytes, bwd_smem = AttBwdSmem<BLK, HSP>::bytes;  // (a macro argument takes no template commas)
    LAUNCH(dim3(nt, B * NH), BLK * 2, fwd_smem, attention_forward_kernel<BLK, HSP>)(out.data(), lse.data(), qkv.data(), B, T, C, NH);
    // D via the dot kernel: one warp per (b,t,h), blocks of 8 warps
    size_t warps = (size_t)B * T * NH;
    LAUNCH((int)((warps + 7) / 8), 256, 0, attention_dot_kernel)(D.data(), dout.data(), out.data(), B, T, C, NH);
    LAUNCH(dim3(nt, B * NH), BLK * 2, bwd_smem, attention_backward_dkv_kernel<BLK, HSP>)(dqkv.data(), dout.data(), qkv.data(), lse.data(), D.data(), B, T, C, NH);
    LAUNCH(dim3(nt, B * NH), BLK * 2, bwd_smem, attention_backward_dq_kernel<BLK, HSP>)(dqkv.data(), dout.data(), qkv.data(), lse.data(), D.data(), B, T, C, NH);
    // CPU reference
    std::vector<float> rout(B * T * C), att(B * NH * T * T), rd(B * T * C3, 0.f);
    attention_forward(rout.data(), att.data(), qkv.data(), B, T, C, NH);
    attention_backward(rd.data(), dout.data(), qkv.data(), att.data(), B, T, C, NH);
    double eo = 0, ed = 0, mo = 0, md = 0;
    for (size_t i = 0; i < rout.size(); i++) { eo = fmax(eo, fabs(out[i] - rout[i])); mo = fmax(mo, fabs(rout[i])); }
    for (size_t i = 0; i < rd.size(); i++) { ed = fmax(ed, fabs(dqkv[i] - rd[i])); md = fmax(md, fabs(rd[i])); }
    // lse check against att: lse = log sum exp of scores; check att[t,t] = exp(s_tt - lse)
    char name[96];
    snprintf(name, sizeof(name), "attention %dx%d tiles, hs %d, T=%d: out", BLK, HSP, C / NH, T);
    cmp(name, out.data(), rout.data(), rout.size());
    snprintf(name, sizeof(name), "attention %dx%d tiles, hs %d, T=%d: dqkv", BLK, HSP, C / NH, T);
    cmp(name, dqkv.data(), rd.data(), rd.size());
    return fmax(eo / mo, ed / md);
}

#ifndef EMU_SCALAR
// one attention shape through the bf16 build's tensor-core kernels
// (train_attention.cuh: forward, then the dot kernel, dK/dV and dQ), as
// train.cu launches them, against train.c; dqkv starts as garbage (777), as
// the kernels overwrite it. HS: the head size (64 or 128); FBK, QBK: keys
// per tile of the forward and of dQ; BQ: queries per tile of dK/dV
template <int HS, int FBK, int BQ, int QBK>
static void attention_mma_case(int B, int T, int NH, unsigned seed) {
    int C = NH * HS;
    size_t C3 = 3 * (size_t)C;
    Rng rng; rng_seed(&rng, seed);
    std::vector<float> qkv(B * T * C3), out(B * T * C, 777.f), lse(B * NH * T, 777.f), dout(B * T * C), D(B * NH * T), dqkv(B * T * C3, 777.f);
    for (auto &x : qkv) x = rng_normal(&rng);
    for (auto &x : dout) x = rng_normal(&rng);
    int nt = (T + FA_ROWS - 1) / FA_ROWS;
    size_t fwd = FaFwdSmem<HS, FBK>::bytes, dkv = FaDkvSmem<HS, BQ>::bytes, dq = FaDqSmem<HS, QBK>::bytes;
    LAUNCH(dim3(nt, B * NH), FA_ROWS * 2, fwd, attention_forward_mma_kernel<HS, FBK>)(out.data(), lse.data(), qkv.data(), B, T, C, NH);
    size_t warps = (size_t)B * T * NH;
    LAUNCH((int)((warps + 7) / 8), 256, 0, attention_dot_kernel)(D.data(), dout.data(), out.data(), B, T, C, NH);
    LAUNCH(dim3(nt, B * NH), FA_ROWS * 2, dkv, attention_backward_dkv_mma_kernel<HS, BQ>)(dqkv.data(), dout.data(), qkv.data(), lse.data(), D.data(), B, T, C, NH);
    LAUNCH(dim3(nt, B * NH), FA_ROWS * 2, dq, attention_backward_dq_mma_kernel<HS, QBK>)(dqkv.data(), dout.data(), qkv.data(), lse.data(), D.data(), B, T, C, NH);
    std::vector<float> rout(B * T * C), att(B * NH * T * T), rd(B * T * C3, 0.f), rlse(B * NH * T);
    attention_forward(rout.data(), att.data(), qkv.data(), B, T, C, NH);
    attention_backward(rd.data(), dout.data(), qkv.data(), att.data(), B, T, C, NH);
    // lse from the scores: log sum_{t2<=t} exp(q.k scale), in double
    for (int b = 0; b < B; b++) for (int h = 0; h < NH; h++) for (int t = 0; t < T; t++) {
        std::vector<double> s(t + 1); double m = 0;
        for (int t2 = 0; t2 <= t; t2++) {
            double d = 0; for (int i = 0; i < HS; i++) d += (double)qkv[(b * T + t) * C3 + h * HS + i] * qkv[(b * T + t2) * C3 + C + h * HS + i];
            s[t2] = d / sqrt((double)HS); m = t2 == 0 ? s[t2] : fmax(m, s[t2]); }
        double sum = 0; for (int t2 = 0; t2 <= t; t2++) sum += exp(s[t2] - m);
        rlse[(b * NH + h) * T + t] = (float)(m + log(sum)); }
    char name[96];
    snprintf(name, sizeof(name), "attention mma %d/%d/%d/%d, T=%d: out", HS, FBK, BQ, QBK, T);
    cmp(name, out.data(), rout.data(), rout.size());
    snprintf(name, sizeof(name), "attention mma %d/%d/%d/%d, T=%d: lse", HS, FBK, BQ, QBK, T);
    cmp(name, lse.data(), rlse.data(), rlse.size());
    snprintf(name, sizeof(name), "attention mma %d/%d/%d/%d, T=%d: dqkv", HS, FBK, BQ, QBK, T);
    cmp(name, dqkv.data(), rd.data(), rd.size());
}
#endif

int main() {
    check_layers();
    check_unfused_matmul();
    // the layernorm: one pack per lane, lanes 24..31 idle (C = 96); 5 of 8
    // (C = 520) and 9 of 16 (C = 1032, 5 warps per block in the backward);
    // 16 of 16 (C = 2048, the longest row, 3 warps); 1 to 3 blocks of rows
    check_layernorm(2, 5, 96, 21);
    check_layernorm(3, 50, 96, 22);
    check_layernorm(1, 70, 520, 23);
    check_layernorm(2, 33, 1032, 24);
    check_layernorm(1, 9, 2048, 25);
    attention_case<32, 64>(2, 40, 64, 4, 1);     // the FP32 build's tiles; hs 16 padded to 64
    attention_case<64, 64>(2, 100, 128, 2, 2);   // the bf16 build's tiles (4 warps), hs 64
    attention_case<32, 128>(1, 70, 256, 2, 3);   // hs 128
    attention_case<64, 64>(1, 64, 64, 1, 4);     // T a multiple of the tile
    attention_case<32, 64>(1, 1, 64, 1, 5);      // T = 1
    // the one-warp tiles train.cu picks where the larger ones exceed the
    // device's shared memory per block (ATT_BLK_MIN)
    attention_case<16, 64>(2, 40, 64, 4, 6);     // hs 16 padded to 64
    attention_case<16, 64>(1, 50, 128, 2, 7);    // hs 64
    attention_case<16, 128>(1, 70, 256, 2, 8);   // hs 128
    attention_case<16, 128>(1, 1, 192, 2, 9);    // hs 96 padded to 128, T = 1
#ifndef EMU_SCALAR
    // the bf16 build's tensor-core kernels (mma.sync, emulated lane by lane)
    // (names: head size / forward keys per tile / dK,dV queries per tile / dQ keys per tile)
    // train.cu's variants (attention_mma_variants): hs 64; hs 128 as on an
    // A100 or H100, and as on a GPU with 99 KiB per block
    attention_mma_case<64, 64, 64, 64>(2, 100, 2, 10);    // T not a multiple of the tiles: 2 query tiles
    attention_mma_case<64, 64, 64, 64>(1, 64, 1, 11);     // exactly one tile
    attention_mma_case<64, 64, 64, 64>(1, 1, 1, 12);      // T = 1
    attention_mma_case<128, 64, 32, 64>(1, 150, 2, 13);   // hs 128: 3 query tiles
    attention_mma_case<128, 64, 32, 32>(1, 100, 1, 14);
    // other tiles the kernels take (the lab's versions, smaller key tiles)
    attention_mma_case<64, 32, 32, 32>(1, 90, 2, 15);
    attention_mma_case<128, 32, 16, 32>(1, 70, 1, 16);
#endif
    printf("%s: %d failure(s) (%s tile code)\n", fails ? "FAIL" : "OK", fails,
#ifdef EMU_SCALAR
           "scalar");
#else
           "WMMA");
#endif
    return fails != 0;
}
