/*
dev/cpu/classifier.c: the classifier's softmax and cross-entropy, forward and backward.
    probs = softmax(logits[:V]),  loss = log(sum_v e^(l_v - max)) + max - l[target]
    dlogits[:V] = (probs - onehot(target)) * dloss    (the padding up to Vp gets 0)
logits, dlogits (N, Vp); losses, targets (N). Timed as forward + backward
together; the bytes counted are the least any version must move: the logits
read once and dlogits read and written once (GB/s; this op is bound by memory
and by the exponentials, so no % of the SGEMM peak).

Versions:
  1. the plain loops: expf, and the probabilities stored (B,T,Vp) between the
     forward and the backward; the reference
  2. train.c's softmax_crossentropy_forward / _backward: the forward keeps
     each row's max and 1 / sum, not the probabilities, and the backward
     recomputes each probability from its logit (vectorised max and sums,
     omp simd, exp_fast, threads over rows): two exponentials per logit,
     and no (B,T,Vp) floats written and read back in between
  3. the same loops with the probabilities stored, as train.c had them
     before: one exponential per logit, (B,T,Vp) more floats to move
  4. fused, which only a training step could use (the loss's gradient known
     before the forward runs): per row a max pass and a sum-of-exp pass over
     the logits, then one pass that recomputes each exponential and writes
     the gradient, while the row is still in cache

    make dev/cpu/classifier && OMP_NUM_THREADS=2 dev/cpu/classifier [N] [V] [repeats]
(repeats 0: the checks only, no timing)
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "lab.h"

// ----------------------------------------------------------------------------
// 1. the plain loops

static void classifier_plain(float *dlogits, float *losses, float *probs, const float *logits, const int *targets,
                             float dloss, int N, int V, int Vp) {
    for (int i = 0; i < N; i++) {
        const float *l = logits + (size_t)i * Vp;
        float *p = probs + (size_t)i * Vp;
        float m = l[0];
        for (int v = 1; v < V; v++) { m = l[v] > m ? l[v] : m; }
        float sum = 0.0f;
        for (int v = 0; v < V; v++) { p[v] = expf(l[v] - m); sum += p[v]; }
        for (int v = 0; v < V; v++) { p[v] /= sum; }
        losses[i] = logf(sum) + m - l[targets[i]];
    }
    for (int i = 0; i < N; i++) {
        float *dl = dlogits + (size_t)i * Vp;
        const float *p = probs + (size_t)i * Vp;
        for (int v = 0; v < V; v++) { dl[v] += (p[v] - (v == targets[i] ? 1.0f : 0.0f)) * dloss; }
    }
}

// ----------------------------------------------------------------------------
// 3. the probabilities stored (train.c's loops before the statistics)

static void classifier_stored(float *dlogits, float *losses, float *probs, const float *logits,
                              const float *dlosses, const int *targets, int N, int V, int Vp) {
    #pragma omp parallel for  // threads own rows
    for (int i = 0; i < N; i++) {
        const float *l = logits + (size_t)i * Vp;
        float *p = probs + (size_t)i * Vp;
        float m = l[0];
        for (int v = 1; v < V; v++) { m = l[v] > m ? l[v] : m; }
        float sum = 0.0f;
        #pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++) {
            p[v] = exp_fast(l[v] - m);
            sum += p[v];
        }
        float inv = 1.0f / sum;
        for (int v = 0; v < V; v++) { p[v] *= inv; }
        for (int v = V; v < Vp; v++) { p[v] = 0.0f; }
        losses[i] = logf(sum) + m - l[targets[i]];
    }
    #pragma omp parallel for
    for (int i = 0; i < N; i++) {
        float *dl = dlogits + (size_t)i * Vp;
        const float *p = probs + (size_t)i * Vp;
        const float g = dlosses[i];
        for (int v = 0; v < V; v++) { dl[v] = p[v] * g; }
        for (int v = V; v < Vp; v++) { dl[v] = 0.0f; }
        dl[targets[i]] -= g;
    }
}

// ----------------------------------------------------------------------------
// 4. fused: the gradient straight from the logits

static void classifier_fused(float *dlogits, float *losses, const float *logits, const int *targets,
                             float dloss, int N, int V, int Vp) {
    #pragma omp parallel for  // threads own rows
    for (int i = 0; i < N; i++) {
        const float *l = logits + (size_t)i * Vp;
        float *dl = dlogits + (size_t)i * Vp;
        float m = l[0];
        #pragma omp simd reduction(max : m)
        for (int v = 1; v < V; v++) { m = l[v] > m ? l[v] : m; }
        float sum = 0.0f;
        #pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++) { sum += exp_fast(l[v] - m); }
        const float scale = dloss / sum;
        const int target = targets[i];
        losses[i] = logf(sum) + m - l[target];
        #pragma omp simd  // dlogits and logits are different arrays
        for (int v = 0; v < V; v++) { dl[v] = exp_fast(l[v] - m) * scale; }
        for (int v = V; v < Vp; v++) { dl[v] = 0.0f; }
        dl[target] -= dloss;
    }
}

// ----------------------------------------------------------------------------

typedef struct {
    int N, V, Vp, version;
    float dloss;
    float *logits, *dlogits, *losses, *probs, *dlosses, *lmax, *linv;
    int *targets;
} ClsRun;

static void run_both(void *ctx) {
    ClsRun *r = (ClsRun *)ctx;
    switch (r->version) {
        case 1: classifier_plain(r->dlogits, r->losses, r->probs, r->logits, r->targets, r->dloss, r->N, r->V, r->Vp); break;
        case 2:
            softmax_crossentropy_forward(r->losses, r->lmax, r->linv, r->logits, r->targets, 1, r->N, r->V, r->Vp);
            softmax_crossentropy_backward(r->dlogits, r->dlosses, r->logits, r->lmax, r->linv, r->targets, 1, r->N,
                                          r->V, r->Vp);
            break;
        case 3:
            classifier_stored(r->dlogits, r->losses, r->probs, r->logits, r->dlosses, r->targets, r->N, r->V, r->Vp);
            break;
        default: classifier_fused(r->dlogits, r->losses, r->logits, r->targets, r->dloss, r->N, r->V, r->Vp); break;
    }
}

static const char *names[] = {"", "plain loops", "train.c (max, 1/sum kept)", "probs stored", "fused"};

int main(int argc, char **argv) {
    int dims[3] = {256, 50257, 5};  // N = B*T, V (GPT-2's vocabulary), repeats
    lab_args(argc, argv, dims, 3, "classifier [N] [V] [repeats]");
    const int N = dims[0], V = dims[1], Vp = pad_vocab(V), reps = dims[2];
    const size_t nl = (size_t)N * Vp;
    ClsRun r = {N, V, Vp, 1, 1.0f / (float)N, lab_random(nl, 2.0f, 1), (float *)callocCheck(nl, 4),
                (float *)mallocCheck((size_t)N * 4), (float *)mallocCheck(nl * 4), (float *)mallocCheck((size_t)N * 4),
                (float *)mallocCheck((size_t)N * 4), (float *)mallocCheck((size_t)N * 4),
                (int *)mallocCheck((size_t)N * sizeof(int))};
    Rng rng;
    rng_seed(&rng, 2);
    for (int i = 0; i < N; i++) { r.targets[i] = (int)rng_below(&rng, (size_t)V); r.dlosses[i] = r.dloss; }
    printf("classifier N=%d V=%d Vp=%d, %d threads, %d repeats\n", N, V, Vp, num_threads(), reps);
    float *dl_ref = (float *)callocCheck(nl, 4), *loss_ref = (float *)mallocCheck((size_t)N * 4);
    classifier_plain(dl_ref, loss_ref, r.probs, r.logits, r.targets, r.dloss, N, V, Vp);
    int ok = 1;
    float *dl_stored = (float *)mallocCheck(nl * 4), *loss_stored = (float *)mallocCheck((size_t)N * 4);
    for (int v = 4; v >= 2; v--) {  // (v3 before v2: v2 is compared with it below)
        char what[64];
        r.version = v;
        memset(r.dlogits, 0, nl * 4);
        run_both(&r);
        snprintf(what, sizeof(what), "losses: v%d %s", v, names[v]);
        ok &= lab_check(what, r.losses, loss_ref, N, 1e-5, 1e-5);
        // probabilities to ~1e-6 relative (exp_fast against expf, sums in other orders)
        snprintf(what, sizeof(what), "dlogits: v%d %s", v, names[v]);
        ok &= lab_check(what, r.dlogits, dl_ref, nl, 1e-6 * r.dloss, 1e-4);
        if (v == 3) {
            memcpy(dl_stored, r.dlogits, nl * 4);
            memcpy(loss_stored, r.losses, (size_t)N * 4);
        }
    }
    // train.c recomputes each probability with the operations that made the
    // stored one, in the same order: the same bits, not just close
    ok &= lab_check("dlogits: v2 against v3 (bits)", r.dlogits, dl_stored, nl, 0.0, 0.0);
    ok &= lab_check("losses: v2 against v3 (bits)", r.losses, loss_stored, N, 0.0, 0.0);
    if (!ok) { return 1; }
    if (reps == 0) { return 0; }  // checks only (make test-cpu-lab)
    const double bytes = 3.0 * N * (double)V * 4;
    for (int v = 1; v <= 4; v++) {
        double tmin, tmed;
        r.version = v;
        lab_time(run_both, &r, reps, &tmin, &tmed);
        lab_report("fwd+bwd", v, names[v], 0.0, bytes, tmin, tmed);
    }
    free(r.logits); free(r.dlogits); free(r.losses); free(r.probs); free(r.dlosses); free(r.lmax); free(r.linv);
    free(r.targets); free(dl_ref); free(loss_ref); free(dl_stored); free(loss_stored);
    return 0;
}
