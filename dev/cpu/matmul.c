/*
dev/cpu/matmul.c: the matmuls of train.c against their plain loops.

Versions of each of the three products of a linear layer:
  1. the plain loop: the definition, and the reference every version is checked against
  2. train.c's kernel (register tile + packed panel, see matmul_accumulate)
Each version is validated with |x - ref| <= atol + rtol*|ref| (exit 1 on a
mismatch), then timed: min and median of several repeats, in GFLOP/s.

    gcc -O3 -march=native -fopenmp -D_GNU_SOURCE dev/cpu/matmul.c -o dev/cpu/matmul -lm
    OMP_NUM_THREADS=1 dev/cpu/matmul [B*T] [C] [OC] [repeats]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../../train.c"

// 1. the plain loops
static void matmul_forward_plain(float *out, const float *inp, const float *weight,
                                 const float *bias, int N, int C, int OC) {
    for (int i = 0; i < N; i++) {
        for (int o = 0; o < OC; o++) {
            float s = bias != NULL ? bias[o] : 0.0f;
            for (int c = 0; c < C; c++) { s += inp[(size_t)i * C + c] * weight[(size_t)o * C + c]; }
            out[(size_t)i * OC + o] = s;
        }
    }
}

static void matmul_backward_plain(float *dinp, float *dweight, float *dbias, const float *dout,
                                  const float *inp, const float *weight, int N, int C, int OC) {
    for (int i = 0; i < N; i++) {
        for (int o = 0; o < OC; o++) {
            float d = dout[(size_t)i * OC + o];
            for (int c = 0; c < C; c++) {
                dinp[(size_t)i * C + c] += d * weight[(size_t)o * C + c];
                dweight[(size_t)o * C + c] += d * inp[(size_t)i * C + c];
            }
            dbias[o] += d;
        }
    }
}

static int check(const char *name, const float *x, const float *ref, size_t n) {
    const double atol = 1e-3, rtol = 1e-3;  // float sums of up to ~50k terms, in two orders
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - ref[i]);
        if (!(d <= atol + rtol * fabs((double)ref[i]))) {
            printf("FAIL %s: element %zu is %g, expected %g\n", name, i, x[i], ref[i]);
            return 0;
        }
        if (d > worst) { worst = d; }
    }
    printf("OK   %-28s maxabs %.2e\n", name, worst);
    return 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int N = argc > 1 ? atoi(argv[1]) : 256, C = argc > 2 ? atoi(argv[2]) : 768;
    int OC = argc > 3 ? atoi(argv[3]) : 3072, reps = argc > 4 ? atoi(argv[4]) : 5;
    if (N < 1 || C < 1 || OC < 1 || reps < 1) { die("usage: matmul [N] [C] [OC] [repeats]"); }
    Rng rng;
    rng_seed(&rng, 1);
    size_t ni = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
    float *inp = (float *)mallocCheck(ni * 4), *w = (float *)mallocCheck(nw * 4);
    float *bias = (float *)mallocCheck(OC * 4), *dout = (float *)mallocCheck(no * 4);
    float *out = (float *)mallocCheck(no * 4), *ref = (float *)mallocCheck(no * 4);
    float *dinp = (float *)callocCheck(ni, 4), *dinp_ref = (float *)callocCheck(ni, 4);
    float *dw = (float *)callocCheck(nw, 4), *dw_ref = (float *)callocCheck(nw, 4);
    float *db = (float *)callocCheck(OC, 4), *db_ref = (float *)callocCheck(OC, 4);
    for (size_t i = 0; i < ni; i++) { inp[i] = rng_normal(&rng); }
    for (size_t i = 0; i < nw; i++) { w[i] = 0.02f * rng_normal(&rng); }
    for (int i = 0; i < OC; i++) { bias[i] = rng_normal(&rng); }
    for (size_t i = 0; i < no; i++) { dout[i] = rng_normal(&rng); }
    printf("matmul N=%d C=%d OC=%d, %d threads\n", N, C, OC, num_threads());
    matmul_forward_plain(ref, inp, w, bias, N, C, OC);
    matmul_forward(out, inp, w, bias, 1, N, C, OC);
    int ok = check("forward: train.c", out, ref, no);
    matmul_backward_plain(dinp_ref, dw_ref, db_ref, dout, inp, w, N, C, OC);
    matmul_backward(dinp, dw, db, dout, inp, w, 1, N, C, OC);
    ok &= check("backward dinp: train.c", dinp, dinp_ref, ni);
    ok &= check("backward dweight: train.c", dw, dw_ref, nw);
    ok &= check("backward dbias: train.c", db, db_ref, OC);
    if (!ok) { return 1; }
    double flops = 2.0 * N * C * OC;
    double *t = (double *)mallocCheck(reps * sizeof(double));
    for (int version = 1; version <= 2; version++) {
        for (int pass = 0; pass < 2; pass++) {  // forward, then backward
            for (int r = 0; r < reps; r++) {
                double t0 = now_seconds();
                if (pass == 0 && version == 1) { matmul_forward_plain(out, inp, w, bias, N, C, OC); }
                if (pass == 0 && version == 2) { matmul_forward(out, inp, w, bias, 1, N, C, OC); }
                if (pass == 1 && version == 1) { matmul_backward_plain(dinp, dw, db, dout, inp, w, N, C, OC); }
                if (pass == 1 && version == 2) { matmul_backward(dinp, dw, db, dout, inp, w, 1, N, C, OC); }
                t[r] = now_seconds() - t0;
            }
            qsort(t, reps, sizeof(double), cmp_double);
            double f = pass == 0 ? flops : 2 * flops;
            printf("version %d %-9s min %8.2f ms  median %8.2f ms  %7.1f GFLOP/s (at min)\n", version,
                   pass == 0 ? "forward" : "backward", 1e3 * t[0], 1e3 * t[reps / 2], f / t[0] / 1e9);
        }
    }
    return 0;
}
