/*
dev/cpu/attention.c: causal multi-head self-attention, forward and backward.
    inp (B, T, 3C): q, k, v side by side; out (B, T, C)
    att[t2] = softmax_{t2 <= t}(q_t . k_t2 / sqrt(hs)),  out_t = sum_{t2<=t} att[t2] v_t2

Versions:
  1. the plain loops (expf, one lane wide, one thread), saving att (B,NH,T,T);
     the reference every other version is checked against
  2. train.c's attention_forward / attention_backward: per head, blocks of 128
     query rows; the scores Q K^T, the output P V and the backward's four
     products (dP = dO V^T, dQ = dS K, dV = P^T dO, dK = dS^T Q) all run
     through train.c's packed matmul (keys past the block's last row skipped),
     exp_fast for the softmax; threads own whole heads when there are at least
     two per thread, else share each product. The backward is one pass over
     the query blocks (dq, dv and dk of a block straight after its softmax
     pass; att's gradient one block at a time in a scratch): 42.9 / 58.7
     GFLOP/s forward / backward at B 1, T 1024, C 768, NH 12 on 1 thread,
     2026-12-02. (Until 2026-12 it was one query row at a time with omp
     simd dot products: 7.5 / 5.2 GFLOP/s forward / backward at the same
     shape on 1 thread of an AVX2 EPYC, against 20.2 / 14.4 for the blocked
     products, measured side by side.)
  3. online softmax, no T x T matrix: the forward visits each key once with a
     running max m, sum l and output row (rescaled by e^(m_old - m_new) when the
     max grows) and saves only lse = m + log l per row; the backward recomputes
     att[t,t2] = exp(q_t.k_t2 scale - lse_t) and uses D_t = dout_t . out_t for
     the softmax's backward. Memory O(T) per head instead of O(T^2), for more
     arithmetic in the backward. Threads over (b,t,h) / (b,h).
FLOPs counted: 4 hs per (t, t2 <= t) forward, 8 hs backward (the recomputed
scores of version 3 are not counted). Checked with |x - ref| <= atol + rtol*|ref|
against version 1 (exit 1 on a mismatch), then timed.

    make dev/cpu/attention && OMP_NUM_THREADS=2 dev/cpu/attention [B] [T] [C] [NH] [repeats]
(repeats 0: the checks only, no timing)
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "lab.h"

// ----------------------------------------------------------------------------
// 1. the plain loops

static void attention_forward_plain(float *out, float *att, const float *inp, int B, int T, int C, int NH) {
    const int hs = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < NH; h++) {
                const float *q = inp + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float m = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = inp + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    float s = 0.0f;
                    for (int i = 0; i < hs; i++) { s += q[i] * k[i]; }
                    a[t2] = s * scale;
                    m = t2 == 0 || a[t2] > m ? a[t2] : m;
                }
                float sum = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) { a[t2] = expf(a[t2] - m); sum += a[t2]; }
                for (int t2 = 0; t2 <= t; t2++) { a[t2] /= sum; }
                for (int t2 = t + 1; t2 < T; t2++) { a[t2] = 0.0f; }
                float *o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
                for (int i = 0; i < hs; i++) {
                    float s = 0.0f;
                    for (int t2 = 0; t2 <= t; t2++) { s += a[t2] * inp[((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs + i]; }
                    o[i] = s;
                }
            }
        }
    }
}

// dinp (B,T,3C) += the gradient; datt: scratch (T) for one row
static void attention_backward_plain(float *dinp, float *datt, const float *dout, const float *inp,
                                     const float *att, int B, int T, int C, int NH) {
    const int hs = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                const float *d = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
                float dot = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {  // datt = dout . v, and dv += att * dout
                    const float *v = inp + ((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs;
                    float *dv = dinp + ((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs;
                    float s = 0.0f;
                    for (int i = 0; i < hs; i++) { s += d[i] * v[i]; dv[i] += a[t2] * d[i]; }
                    datt[t2] = s;
                    dot += a[t2] * s;
                }
                const float *q = inp + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float *dq = dinp + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                for (int t2 = 0; t2 <= t; t2++) {  // through the softmax and the scaled scores
                    const float *k = inp + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    float *dk = dinp + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    float ds = a[t2] * (datt[t2] - dot) * scale;
                    for (int i = 0; i < hs; i++) { dq[i] += ds * k[i]; dk[i] += ds * q[i]; }
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------
// 3. online softmax; lse (B,NH,T)

static void attention_forward_online(float *out, float *lse, const float *inp, int B, int T, int C, int NH) {
    const int hs = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel for collapse(3)  // threads own (b,t,h): one row of out and of lse
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < NH; h++) {
                const float *q = inp + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float *o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
                float m = 0.0f, l = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = inp + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    const float *v = k + C;
                    float s = 0.0f;
                    #pragma omp simd reduction(+ : s)
                    for (int i = 0; i < hs; i++) { s += q[i] * k[i]; }
                    s *= scale;
                    if (t2 == 0) {  // the first key starts the running statistics
                        m = s;
                        l = 1.0f;
                        for (int i = 0; i < hs; i++) { o[i] = v[i]; }
                    } else if (s > m) {  // a new max: what was summed shrinks by e^(m - s)
                        float corr = exp_fast(m - s);
                        l = l * corr + 1.0f;
                        for (int i = 0; i < hs; i++) { o[i] = o[i] * corr + v[i]; }
                        m = s;
                    } else {
                        float p = exp_fast(s - m);
                        l += p;
                        for (int i = 0; i < hs; i++) { o[i] += p * v[i]; }
                    }
                }
                for (int i = 0; i < hs; i++) { o[i] /= l; }
                lse[((size_t)b * NH + h) * T + t] = m + logf(l);
            }
        }
    }
}

static void attention_backward_online(float *dinp, const float *dout, const float *inp, const float *out,
                                      const float *lse, int B, int T, int C, int NH) {
    const int hs = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel for collapse(2)  // threads own (b,h): that head's channels of dinp
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                const float *q = inp + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float *dq = dinp + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                const float *d = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
                const float *o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
                float D = 0.0f;  // = sum_t2 att[t2] datt[t2], the softmax's backward term
                #pragma omp simd reduction(+ : D)
                for (int i = 0; i < hs; i++) { D += d[i] * o[i]; }
                const float l = lse[((size_t)b * NH + h) * T + t];
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = inp + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    const float *v = k + C;
                    float *dk = dinp + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    float *dv = dk + C;
                    float s = 0.0f, dp = 0.0f;
                    #pragma omp simd reduction(+ : s, dp)
                    for (int i = 0; i < hs; i++) { s += q[i] * k[i]; dp += d[i] * v[i]; }
                    const float p = exp_fast(s * scale - l);
                    const float ds = p * (dp - D) * scale;
                    // dq, dk and dv are disjoint channel ranges of dinp: no dependence between lanes
                    #pragma omp simd
                    for (int i = 0; i < hs; i++) {
                        dq[i] += ds * k[i];
                        dk[i] += ds * q[i];
                        dv[i] += p * d[i];
                    }
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------

typedef struct {
    int B, T, C, NH, version;
    float *inp, *dout, *out, *att, *lse, *dinp, *datt;
} AttRun;

static void run_forward(void *ctx) {
    AttRun *r = (AttRun *)ctx;
    switch (r->version) {
        case 1: attention_forward_plain(r->out, r->att, r->inp, r->B, r->T, r->C, r->NH); break;
        case 2: attention_forward(r->out, r->att, r->inp, r->B, r->T, r->C, r->NH); break;
        default: attention_forward_online(r->out, r->lse, r->inp, r->B, r->T, r->C, r->NH); break;
    }
}

static void run_backward(void *ctx) {  // after run_forward of the same version
    AttRun *r = (AttRun *)ctx;
    switch (r->version) {
        case 1: attention_backward_plain(r->dinp, r->datt, r->dout, r->inp, r->att, r->B, r->T, r->C, r->NH); break;
        case 2: attention_backward(r->dinp, r->dout, r->inp, r->att, r->B, r->T, r->C, r->NH); break;
        default: attention_backward_online(r->dinp, r->dout, r->inp, r->out, r->lse, r->B, r->T, r->C, r->NH); break;
    }
}

static const char *names[] = {"", "plain loops", "train.c", "online softmax, no TxT"};

int main(int argc, char **argv) {
    int dims[5] = {4, 256, 768, 12, 3};  // B, T, C, NH (GPT-2 124M's heads), repeats
    lab_args(argc, argv, dims, 5, "attention [B] [T] [C] [NH] [repeats]");
    const int B = dims[0], T = dims[1], C = dims[2], NH = dims[3], reps = dims[4];
    if (C % NH != 0) { die("C=%d must be a multiple of NH=%d", C, NH); }
    const size_t ni = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    AttRun r = {B, T, C, NH, 1, lab_random(ni, 1.0f, 1), lab_random(no, 1.0f, 2), (float *)mallocCheck(no * 4),
                (float *)mallocCheck(na * 4), (float *)mallocCheck((size_t)B * NH * T * 4),
                (float *)mallocCheck(ni * 4), (float *)callocCheck((size_t)T, 4)};  // datt: the plain loops' row
    printf("attention B=%d T=%d C=%d NH=%d, %d threads, %d repeats\n", B, T, C, NH, num_threads(), reps);
    float *out_ref = (float *)mallocCheck(no * 4), *att_ref = (float *)mallocCheck(na * 4);
    float *dinp_ref = (float *)callocCheck(ni, 4);
    attention_forward_plain(out_ref, att_ref, r.inp, B, T, C, NH);
    attention_backward_plain(dinp_ref, r.datt, r.dout, r.inp, att_ref, B, T, C, NH);
    int ok = 1;
    for (int v = 2; v <= 3; v++) {
        char what[64];
        r.version = v;
        run_forward(&r);
        snprintf(what, sizeof(what), "forward out: v%d", v);
        ok &= lab_check(what, r.out, out_ref, no, 1e-5, 1e-4);
        if (v == 2) { ok &= lab_check("forward att: v2", r.att, att_ref, na, 1e-6, 1e-4); }
        memset(r.dinp, 0, ni * 4);
        run_backward(&r);
        snprintf(what, sizeof(what), "backward dinp: v%d", v);
        ok &= lab_check(what, r.dinp, dinp_ref, ni, 1e-4, 1e-3);  // float sums of up to T terms
    }
    if (!ok) { return 1; }
    if (reps == 0) { return 0; }  // checks only (make test-cpu-lab)
    const double pairs = (double)B * NH * T * (T + 1) / 2.0;
    for (int v = 1; v <= 3; v++) {
        double tmin, tmed;
        r.version = v;
        lab_time(run_forward, &r, reps, &tmin, &tmed);
        lab_report("forward", v, names[v], 4.0 * pairs * (C / NH), 0.0, tmin, tmed);
        lab_time(run_backward, &r, reps, &tmin, &tmed);
        lab_report("backward", v, names[v], 8.0 * pairs * (C / NH), 0.0, tmin, tmed);
    }
    free(r.inp); free(r.dout); free(r.out); free(r.att); free(r.lse); free(r.dinp); free(r.datt);
    free(out_ref); free(att_ref); free(dinp_ref);
    return 0;
}
