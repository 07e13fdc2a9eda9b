/*
dev/cpu/matmul_openblas.c: train.c's three matmul products against OpenBLAS's
cblas_sgemm, called directly (no PyTorch in between), in one process.
    forward          out (N, OC)     = inp (N, C) @ weight^T       (weight (OC, C))
    input gradient   dinp (N, C)    += dout (N, OC) @ weight
    weight gradient  dweight (OC, C) += dout^T @ inp               (and dbias for ours)
For the five linear layers of a GPT-2 of width C (qkv, attproj, fc, fcproj, the
classifier; C 768 by default: GPT-2 124M, d12; 384 is d6) at N rows (default
256: B*T = 4*64): each product is checked first (ours
against OpenBLAS, |x - ref| <= atol + rtol*|ref|, exit 1 on a mismatch), then
timed repeat by repeat, ours and OpenBLAS alternating (which goes first swaps
every repeat), so that the machine's drift falls on both alike. Prints per
shape and product both GFLOP/s (from the min) and OpenBLAS's median time over
ours (ours' speed as a fraction of OpenBLAS's: 1.00 is level, above 1 ours is
faster), then the sums over the five shapes of medians and of mins.

Two cache states, timed in the same repeats, one table each:
  warm  each product straight after the same one: every operand in cache
        (the weight too, when it fits: fcproj's is 9 MiB, in L3);
  cold  as in a training step, where a layer's weight and the input saved
        by its forward were last touched a whole pass earlier: before each
        call a 64 MiB write evicts every cache, then the operand that a step
        has just written is read back in (the forward's inp, the backward's
        dout); the weight, the saved inp and the output come from memory.
The two can rank the two libraries differently (they pack and prefetch
differently), so both are printed.

Then attention's six products for one head of hs 64 at T positions (default
1024), exactly as train.c's attention_forward and attention_backward call
matmul_accumulate (blocks of ATTENTION_BLOCK query rows, keys past a block's
last row skipped; the same pointers, strides and sizes), each call also made
through cblas_sgemm with the same strides:
    scores  S = Q K^T    (rows, keys, K hs)      dP  = dO V^T  (rows, keys, K hs)
    output  O = P V      (rows, hs, K keys)      dQ  = dS K    (rows, hs, K keys)
    dV = P^T dO, dK = dS^T Q  (keys, hs, K the block's rows; A transposed: att's and
                              dS's rows read in place, MR neighbouring keys per k)
Both sides on one thread, as train.c runs them when there are at least two
heads per thread (GPT-2's 12 heads: always in training); operands warm, as
in a step (a block's products follow each other). GFLOP/s count what is
computed (2 M N K per call, the block's masked triangle included).

OpenBLAS is loaded at run time (dlopen: libopenblas.so.0, or the file in
OPENBLAS_LIB), so this builds without it; Debian: apt-get install
libopenblas0-pthread. Both sides use OMP_NUM_THREADS threads. Inside a call
OpenBLAS's threads wait for each other by spinning; between calls they sleep
here (OPENBLAS_THREAD_TIMEOUT, set below unless set already). Ours should be
run the same way: OMP_WAIT_POLICY unset (OpenMP's default: a thread spins at
a barrier, then sleeps) and GOMP_SPINCOUNT=100000, as make bench runs it,
so that ours' threads sleep soon after a call; before each timed call the
lab pauses 2 ms, so that the other library's threads are asleep when it
starts. (With OMP_WAIT_POLICY=PASSIVE every barrier inside our product puts
the waiting thread to sleep and wakes it again: on the 2-core Zen 5 VM ours'
forward and input gradient ran 5-15% slower that way, OpenBLAS unchanged.)
OpenBLAS picks its kernels for the CPU it finds unless OPENBLAS_CORETYPE
names them, and the first line printed says which ("core"). An environment
may name slower ones than the CPU can run: on a Zen 5 development machine it
named Haswell's, at half the rate of OpenBLAS's own choice there (Cooperlake)
or of SkylakeX. make bench runs the lab with whichever setting gave the
fastest SGEMM.

    make dev/cpu/matmul_openblas && OMP_NUM_THREADS=2 dev/cpu/matmul_openblas [N] [T] [repeats] [C]
(repeats 0: the checks only, no timing; exit 2 when OpenBLAS cannot be loaded)
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "lab.h"
#include <dlfcn.h>

// the CBLAS constants (cblas.h's values; OpenBLAS's header is not needed to build)
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
typedef void (*SgemmFn)(int order, int trans_a, int trans_b, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
typedef struct {
    SgemmFn sgemm;
    void (*set_threads)(int);
    char *(*corename)(void);
} OpenBlas;

// OpenBLAS's functions, or 0 when the library cannot be loaded
static int openblas_load(OpenBlas *ob) {
    const char *path = getenv("OPENBLAS_LIB");
    void *lib = dlopen(path != NULL && *path != '\0' ? path : "libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "cannot load OpenBLAS: %s\n(Debian: apt-get install libopenblas0-pthread; "
                        "or OPENBLAS_LIB=/path/to/libopenblas.so)\n", dlerror());
        return 0;
    }
    // (POSIX: a function pointer from dlsym's object pointer, through memcpy)
    void *s = dlsym(lib, "cblas_sgemm"), *t = dlsym(lib, "openblas_set_num_threads");
    void *c = dlsym(lib, "openblas_get_corename");
    if (s == NULL || t == NULL) {
        fprintf(stderr, "'%s' has no cblas_sgemm or openblas_set_num_threads\n", path != NULL ? path : "libopenblas.so.0");
        return 0;
    }
    memcpy(&ob->sgemm, &s, sizeof(s));
    memcpy(&ob->set_threads, &t, sizeof(t));
    ob->corename = NULL;
    if (c != NULL) { memcpy(&ob->corename, &c, sizeof(c)); }
    return 1;
}

enum { PRODUCTS = 3 };
static const char *const product_names[PRODUCTS] = {"forward", "input grad", "weight grad"};

typedef struct {
    const OpenBlas *ob;
    int N, C, OC;
    const float *inp, *weight, *dout;
    float *out, *dinp, *dweight, *dbias;
} Problem;

// product p (0 forward, 1 input gradient, 2 weight gradient), ours or OpenBLAS's
static void run_product(const Problem *pb, int p, int blas) {
    const int N = pb->N, C = pb->C, OC = pb->OC;
    if (p == 0 && !blas) {
        matmul_forward(pb->out, pb->inp, pb->weight, NULL, 1, N, C, OC);
    } else if (p == 0) {
        pb->ob->sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, N, OC, C, 1.0f, pb->inp, C, pb->weight, C,
                      0.0f, pb->out, OC);
    } else if (p == 1 && !blas) {  // as matmul_backward's first product
        matmul_accumulate(pb->dinp, (size_t)C, NULL, pb->dout, (size_t)OC, 1, pb->weight, (size_t)C, 1, N, C, OC);
    } else if (p == 1) {
        pb->ob->sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, N, C, OC, 1.0f, pb->dout, OC, pb->weight, C,
                      1.0f, pb->dinp, C);
    } else if (!blas) {  // as matmul_backward's second: the bias gradient comes with it
        matmul_accumulate(pb->dweight, (size_t)C, pb->dbias, pb->dout, 1, (size_t)OC, pb->inp, (size_t)C, 1, OC, C, N);
    } else {
        pb->ob->sgemm(CBLAS_ROW_MAJOR, CBLAS_TRANS, CBLAS_NO_TRANS, OC, C, N, 1.0f, pb->dout, OC, pb->inp, C, 1.0f,
                      pb->dweight, C);
    }
}

// the cold state before product p (see the top): every cache evicted by
// writing `flush` (flush_n bytes, more than the last-level cache), then the
// operand a training step has just written read back in
// (volatile: a sum stored to a plain static that nothing reads may be
// dropped by the compiler, and the reads with it)
static volatile float evict_sink;
static void evict_caches(const Problem *pb, int p, unsigned char *flush, size_t flush_n) {
    static unsigned char fill = 0;
    memset(flush, ++fill, flush_n);
    const float *hot = p == 0 ? pb->inp : pb->dout;
    const size_t n = p == 0 ? (size_t)pb->N * pb->C : (size_t)pb->N * pb->OC;
    float s = 0.0f;
    for (size_t i = 0; i < n; i += 16) { s += hot[i]; }  // one float per 64-byte line
    evict_sink = s;
}

// ours against OpenBLAS's for product p, from zeroed outputs; 1 when they agree
static int check_product(Problem *pb, int p, const char *shape) {
    const size_t n = p == 0 ? (size_t)pb->N * pb->OC : p == 1 ? (size_t)pb->N * pb->C : (size_t)pb->OC * pb->C;
    float *dst = p == 0 ? pb->out : p == 1 ? pb->dinp : pb->dweight;
    float *ref = (float *)mallocCheck(n * sizeof(float));
    memset(dst, 0, n * sizeof(float));
    run_product(pb, p, 1);
    memcpy(ref, dst, n * sizeof(float));
    memset(dst, 0, n * sizeof(float));
    run_product(pb, p, 0);
    char what[64];
    snprintf(what, sizeof(what), "%s %s", shape, product_names[p]);
    // each output is a sum of K products of values of sizes sa and sb (1 and 0.02
    // in the forward and the input gradient, 1 and 1 in the weight gradient), so
    // of size sqrt(K) sa sb, summed in another order: its rounding grows with
    // K, so the absolute tolerance does (an element near 0 has no relative one)
    const double K = p == 0 ? pb->C : p == 1 ? pb->OC : pb->N, sab = p == 2 ? 1.0 : 0.02;
    const int ok = lab_check(what, dst, ref, n, 5e-7 * K * sab, 1e-4);
    free(ref);
    return ok;
}

// before each timed call: 2 ms with nothing running, so that the threads of
// the library called last have stopped spinning and gone to sleep (OpenMP's
// after GOMP_SPINCOUNT spins, OpenBLAS's after OPENBLAS_THREAD_TIMEOUT) and
// do not take a core from the call being timed
static void settle(void) {
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
}

// ----------------------------------------------------------------------------
// attention's products

// one call C (M, N) += A (M, K) @ B (K, N), in matmul_accumulate's strides
typedef struct {
    float *c;
    size_t ldc;
    const float *a;
    size_t a_rs, a_cs;
    const float *b;
    size_t b_rs, b_cs;
    int M, N, K;
} Call;

// the same product through cblas_sgemm: an operand with unit column stride is
// row-major as it is (leading dimension its row stride), one with unit row
// stride is the transpose of a row-major matrix (leading dimension its column
// stride); matmul_accumulate's operands are always one or the other here
static void sgemm_call(const OpenBlas *ob, const Call *k) {
    ob->sgemm(CBLAS_ROW_MAJOR, k->a_cs == 1 ? CBLAS_NO_TRANS : CBLAS_TRANS, k->b_cs == 1 ? CBLAS_NO_TRANS : CBLAS_TRANS,
              k->M, k->N, k->K, 1.0f, k->a, (int)(k->a_cs == 1 ? k->a_rs : k->a_cs), k->b,
              (int)(k->b_cs == 1 ? k->b_rs : k->b_cs), 1.0f, k->c, (int)k->ldc);
}

enum { ATT_PRODUCTS = 6 };
static const char *const att_names[ATT_PRODUCTS] = {"scores QK^T", "output PV", "dP = dO V^T",
                                                    "dQ = dS K", "dV = P^T dO", "dK = dS^T Q"};

// one head (hs channels of C) at T positions: its inputs, and one output per product
typedef struct {
    int T, C, hs;
    const float *qkv, *att, *ds, *dout;  // qkv (T, 3C): q, k, v; att (T, T); ds (T, LD); dout (T, C)
    float *out[ATT_PRODUCTS];            // scores (T, T); dP (T, LD); output (T, C); dq, dv, dk (T, 3C)
    // (LD: ATTENTION_DATT_LD(T), the row stride of train.c's datt and ds scratch)
} Head;

// product p's calls, in the order attention_forward / attention_backward make
// them (the same arguments: see train.c), one per block of query rows (calls
// holds head_blocks(h)); returns how many
static int head_blocks(const Head *h) { return (h->T + ATTENTION_BLOCK - 1) / ATTENTION_BLOCK; }
static int head_calls(const Head *h, int p, Call *calls) {
    const int T = h->T, hs = h->hs;
    const size_t C = (size_t)h->C, C3 = 3 * C, TT = (size_t)T, LD = ATTENTION_DATT_LD(T);
    const float *q = h->qkv, *k = q + C, *v = q + 2 * C;
    int n = 0;
    for (int r0 = 0; r0 < T; r0 += ATTENTION_BLOCK) {
        const int rows = T - r0 < ATTENTION_BLOCK ? T - r0 : ATTENTION_BLOCK, keys = r0 + rows;
        Call c;
        switch (p) {
            case 0: c = (Call){h->out[0] + (size_t)r0 * TT, TT, q + r0 * C3, C3, 1, k, 1, C3, rows, keys, hs}; break;
            case 1: c = (Call){h->out[1] + (size_t)r0 * C, C, h->att + (size_t)r0 * TT, TT, 1, v, C3, 1, rows, hs, keys}; break;
            case 2: c = (Call){h->out[2] + (size_t)r0 * LD, LD, h->dout + (size_t)r0 * C, C, 1, v, 1, C3, rows, keys, hs}; break;
            case 3: c = (Call){h->out[3] + r0 * C3, C3, h->ds + (size_t)r0 * LD, LD, 1, k, C3, 1, rows, hs, keys}; break;
            case 4: c = (Call){h->out[4], C3, h->att + (size_t)r0 * TT, 1, TT, h->dout + (size_t)r0 * C, C, 1, keys, hs, rows}; break;
            default: c = (Call){h->out[5], C3, h->ds + (size_t)r0 * LD, 1, LD, q + r0 * C3, C3, 1, keys, hs, rows}; break;
        }
        calls[n++] = c;
    }
    return n;
}

static void run_calls(const OpenBlas *ob, const Call *calls, int n, int blas) {
    for (int i = 0; i < n; i++) {
        const Call *k = &calls[i];
        if (blas) {
            sgemm_call(ob, k);
        } else {
            matmul_accumulate(k->c, k->ldc, NULL, k->a, k->a_rs, k->a_cs, k->b, k->b_rs, k->b_cs, k->M, k->N, k->K);
        }
    }
}

// the output product p writes (its calls' C), its size in floats
static size_t head_out_floats(const Head *h, int p) {
    return p == 0 ? (size_t)h->T * h->T : p == 2 ? (size_t)h->T * ATTENTION_DATT_LD(h->T)
         : p == 1 ? (size_t)h->T * h->C : (size_t)h->T * 3 * h->C;
}

// ours against OpenBLAS's for each product, then timed alternating (one
// thread each); returns 1 when every product agrees
static int attention_products(const OpenBlas *ob, int T, int reps) {
    const int C = 768, hs = 64;
    Head h = {T, C, hs, lab_random((size_t)T * 3 * C, 1.0f, 4), lab_random((size_t)T * T, 1.0f, 5),
              lab_random((size_t)T * ATTENTION_DATT_LD(T), 1.0f, 6), lab_random((size_t)T * C, 1.0f, 7), {NULL}};
    for (int p = 0; p < ATT_PRODUCTS; p++) { h.out[p] = (float *)callocCheck(head_out_floats(&h, p), sizeof(float)); }
    Call *calls = (Call *)mallocCheck((size_t)head_blocks(&h) * sizeof(Call));
    const int threads = num_threads();
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    ob->set_threads(1);
    printf("attention's products, one head (hs %d) at T %d, 1 thread each:\n", hs, T);
    int all_ok = 1;
    for (int p = 0; p < ATT_PRODUCTS; p++) {  // from zeroed outputs: OpenBLAS's, then ours
        const size_t n = head_out_floats(&h, p);
        float *ref = (float *)mallocCheck(n * sizeof(float));
        const int nc = head_calls(&h, p, calls);
        memset(h.out[p], 0, n * sizeof(float));
        run_calls(ob, calls, nc, 1);
        memcpy(ref, h.out[p], n * sizeof(float));
        memset(h.out[p], 0, n * sizeof(float));
        run_calls(ob, calls, nc, 0);
        char what[64];
        snprintf(what, sizeof(what), "attention %s", att_names[p]);
        // sums of K products of normal(0, 1) values (K hs or up to T)
        all_ok &= lab_check(what, h.out[p], ref, n, 5e-7 * (p == 0 || p == 2 ? hs : T), 1e-4);
        free(ref);
    }
    if (reps > 0) {
        double *t = (double *)mallocCheck((size_t)ATT_PRODUCTS * 2 * reps * sizeof(double));  // [(p * 2 + blas) * reps + r]
        double flops[ATT_PRODUCTS], sum_med[2] = {0.0, 0.0}, sum_min[2] = {0.0, 0.0}, worst = 1e30;
        int worst_p = 0;
        for (int p = 0; p < ATT_PRODUCTS; p++) {
            const int nc = head_calls(&h, p, calls);
            flops[p] = 0.0;
            for (int i = 0; i < nc; i++) { flops[p] += 2.0 * calls[i].M * calls[i].N * (double)calls[i].K; }
        }
        for (int r = 0; r < reps; r++) {
            for (int p = 0; p < ATT_PRODUCTS; p++) {
                const int nc = head_calls(&h, p, calls);
                for (int i = 0; i < 2; i++) {
                    const int blas = (r + i) % 2;  // who goes first swaps every repeat
                    settle();
                    const double t0 = now_seconds();
                    run_calls(ob, calls, nc, blas);
                    t[((size_t)p * 2 + blas) * reps + r] = now_seconds() - t0;
                }
            }
        }
        for (int p = 0; p < ATT_PRODUCTS; p++) {
            double mn[2], med[2];
            for (int blas = 0; blas < 2; blas++) {
                double *tp = t + ((size_t)p * 2 + blas) * reps;
                qsort(tp, (size_t)reps, sizeof(double), lab_cmp_double);
                mn[blas] = tp[0];
                med[blas] = tp[reps / 2];
                sum_med[blas] += med[blas];
                sum_min[blas] += mn[blas];
            }
            printf("  %-12s %6.1f / %6.1f GFLOP/s, %.2f\n", att_names[p], flops[p] / mn[0] / 1e9,
                   flops[p] / mn[1] / 1e9, med[1] / med[0]);
            if (med[1] / med[0] < worst) {
                worst = med[1] / med[0];
                worst_p = p;
            }
        }
        printf("  over the 6 products: medians %.2f / %.2f ms (%.3f), mins %.2f / %.2f ms (%.3f)\n", 1e3 * sum_med[0],
               1e3 * sum_med[1], sum_med[1] / sum_med[0], 1e3 * sum_min[0], 1e3 * sum_min[1], sum_min[1] / sum_min[0]);
        printf("  attention: the lowest ratio %.2f (%s)\n", worst, att_names[worst_p]);
        free(t);
    }
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    ob->set_threads(threads);
    free(calls);
    free((void *)h.qkv);
    free((void *)h.att);
    free((void *)h.ds);
    free((void *)h.dout);
    for (int p = 0; p < ATT_PRODUCTS; p++) { free(h.out[p]); }
    return all_ok;
}

int main(int argc, char **argv) {
    int dims[4] = {256, 1024, 31, 768};
    lab_args_at(argc, argv, dims, 4, 3, "OMP_NUM_THREADS=T dev/cpu/matmul_openblas [N] [T] [repeats] [C]");
    const int N = dims[0], T = dims[1], reps = dims[2], W = dims[3];
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);  // (read when OpenBLAS starts its threads)
    OpenBlas ob;
    if (!openblas_load(&ob)) { return 2; }
    const int threads = num_threads();
    ob.set_threads(threads);
    printf("train.c's matmul against OpenBLAS (core %s), %d threads, N %d rows, C %d, %d repeats, register tile %d x %d\n",
           ob.corename != NULL ? ob.corename() : "unknown", threads, N, W, reps, MATMUL_MR, MATMUL_NR);
    const struct { const char *name; int C, OC; } shapes[] = {
        {"qkv", W, 3 * W}, {"attproj", W, W}, {"fc", W, 4 * W}, {"fcproj", 4 * W, W}, {"cls", W, 50304},
    };
    const int n_shapes = (int)(sizeof(shapes) / sizeof(shapes[0]));
    enum { MODES = 2 };  // 0 warm, 1 cold
    static const char *const mode_names[MODES] = {"warm", "cold"};
    const size_t flush_n = (size_t)64 << 20;
    unsigned char *flush = reps > 0 ? (unsigned char *)mallocCheck(flush_n) : NULL;
    double sum_med[MODES][PRODUCTS][2] = {{{0.0}}}, sum_min[MODES][PRODUCTS][2] = {{{0.0}}};
    double worst_ratio[MODES] = {1e30, 1e30};
    const char *worst_shape[MODES] = {"", ""}, *worst_product[MODES] = {"", ""};
    int all_ok = 1;
    for (int s = 0; s < n_shapes; s++) {
        const int C = shapes[s].C, OC = shapes[s].OC;
        Problem pb = {&ob, N, C, OC, lab_random((size_t)N * C, 1.0f, 1), lab_random((size_t)OC * C, 0.02f, 2),
                      lab_random((size_t)N * OC, 1.0f, 3), (float *)callocCheck((size_t)N * OC, sizeof(float)),
                      (float *)callocCheck((size_t)N * C, sizeof(float)),
                      (float *)callocCheck((size_t)OC * C, sizeof(float)), (float *)callocCheck((size_t)OC, sizeof(float))};
        for (int p = 0; p < PRODUCTS; p++) { all_ok &= check_product(&pb, p, shapes[s].name); }
        if (reps > 0) {
            // t[((mode * PRODUCTS + p) * 2 + blas) * reps + r]
            double *t = (double *)mallocCheck((size_t)MODES * PRODUCTS * 2 * reps * sizeof(double));
            for (int r = 0; r < reps; r++) {
                for (int mode = 0; mode < MODES; mode++) {
                    for (int p = 0; p < PRODUCTS; p++) {
                        for (int i = 0; i < 2; i++) {
                            const int blas = (r + i) % 2;  // who goes first swaps every repeat
                            if (mode == 1) { evict_caches(&pb, p, flush, flush_n); }
                            settle();
                            const double t0 = now_seconds();
                            run_product(&pb, p, blas);
                            t[(((size_t)mode * PRODUCTS + p) * 2 + blas) * reps + r] = now_seconds() - t0;
                        }
                    }
                }
            }
            const double flops = 2.0 * N * (double)C * OC;
            for (int mode = 0; mode < MODES; mode++) {
                printf("  %-8s %s", shapes[s].name, mode_names[mode]);
                for (int p = 0; p < PRODUCTS; p++) {
                    double mn[2], med[2];
                    for (int blas = 0; blas < 2; blas++) {
                        double *tp = t + (((size_t)mode * PRODUCTS + p) * 2 + blas) * reps;
                        qsort(tp, (size_t)reps, sizeof(double), lab_cmp_double);
                        mn[blas] = tp[0];
                        med[blas] = tp[reps / 2];
                        sum_med[mode][p][blas] += med[blas];
                        sum_min[mode][p][blas] += mn[blas];
                    }
                    printf(" | %s %6.1f / %6.1f GFLOP/s, %.2f", product_names[p], flops / mn[0] / 1e9,
                           flops / mn[1] / 1e9, med[1] / med[0]);
                    if (med[1] / med[0] < worst_ratio[mode]) {
                        worst_ratio[mode] = med[1] / med[0];
                        worst_shape[mode] = shapes[s].name;
                        worst_product[mode] = product_names[p];
                    }
                }
                printf("\n");
            }
            free(t);
        }
        free((void *)pb.inp);
        free((void *)pb.weight);
        free((void *)pb.dout);
        free(pb.out);
        free(pb.dinp);
        free(pb.dweight);
        free(pb.dbias);
    }
    free(flush);
    if (reps > 0) {
        printf("(per product: ours / OpenBLAS GFLOP/s from the min, then OpenBLAS's median time over ours)\n");
        for (int mode = 0; mode < MODES; mode++) {
            for (int p = 0; p < PRODUCTS; p++) {
                printf("  %s %-12s over the %d shapes: medians %.1f / %.1f ms (%.3f), mins %.1f / %.1f ms (%.3f)\n",
                       mode_names[mode], product_names[p], n_shapes, 1e3 * sum_med[mode][p][0],
                       1e3 * sum_med[mode][p][1], sum_med[mode][p][1] / sum_med[mode][p][0],
                       1e3 * sum_min[mode][p][0], 1e3 * sum_min[mode][p][1], sum_min[mode][p][1] / sum_min[mode][p][0]);
            }
            printf("  %s: the lowest ratio %.2f (%s, %s)\n", mode_names[mode], worst_ratio[mode], worst_shape[mode],
                   worst_product[mode]);
        }
    }
    all_ok &= attention_products(&ob, T, reps);
    printf(all_ok ? "PASS: ours agrees with OpenBLAS on every product\n" : "FAIL: see above\n");
    return all_ok ? 0 : 1;
}
