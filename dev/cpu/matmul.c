/*
dev/cpu/matmul.c: the three products of a linear layer, versions side by side.
    forward   out = inp @ weight^T + bias          out (N, OC), inp (N, C), weight (OC, C)
    backward  dinp += dout @ weight,  dweight += dout^T @ inp,  dbias += sum_i dout

Versions:
  1. the plain loops: the definitions, one output at a time (the forward's dot
     product is a float reduction, which the compiler may not reorder, so it
     runs one lane wide); the reference every other version is checked against
  2. train.c's matmul_forward / matmul_backward: one strided C += A @ B kernel
     with a register tile of vectors and packed panels of A and B (see
     matmul_accumulate in train.c)
  3. row axpy: the loops reordered so that the innermost one runs along a
     contiguous row of the output (out[i,:] += inp[i,c] * weight^T[c,:]), which
     the compiler vectorises, and threads over rows (each thread owns its rows of
     out, dinp and dweight). The forward transposes weight first (timed with it).
     Simple and parallel, but every k step reloads the output row: the middle
     ground between 1 and 2.
Each version is checked with |x - ref| <= atol + rtol*|ref| against version 1
(exit 1 on a mismatch), then timed: min and median of the repeats, GFLOP/s,
and the % of the machine's SGEMM peak when PEAK_GFLOPS is set (dev/cpu/bench.sh
measures it in the same run with OpenBLAS).

    make dev/cpu/matmul && OMP_NUM_THREADS=2 dev/cpu/matmul [N] [C] [OC] [repeats]
(repeats 0: the checks only, no timing)
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "lab.h"

// ----------------------------------------------------------------------------
// 1. the plain loops

static void matmul_forward_plain(float *out, const float *inp, const float *weight, const float *bias,
                                 int N, int C, int OC) {
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

// ----------------------------------------------------------------------------
// 3. row axpy. wt: scratch of C*OC floats for weight^T

static void matmul_forward_axpy(float *out, float *wt, const float *inp, const float *weight, const float *bias,
                                int N, int C, int OC) {
    #pragma omp parallel for  // threads own rows c of wt
    for (int c = 0; c < C; c++) {
        for (int o = 0; o < OC; o++) { wt[(size_t)c * OC + o] = weight[(size_t)o * C + c]; }
    }
    #pragma omp parallel for  // threads own rows i of out
    for (int i = 0; i < N; i++) {
        float *y = out + (size_t)i * OC;
        for (int o = 0; o < OC; o++) { y[o] = bias != NULL ? bias[o] : 0.0f; }
        for (int c = 0; c < C; c++) {
            const float a = inp[(size_t)i * C + c];
            const float *w = wt + (size_t)c * OC;
            for (int o = 0; o < OC; o++) { y[o] += a * w[o]; }
        }
    }
}

static void matmul_backward_axpy(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight, int N, int C, int OC) {
    #pragma omp parallel for  // threads own rows i of dinp
    for (int i = 0; i < N; i++) {
        float *dx = dinp + (size_t)i * C;
        for (int o = 0; o < OC; o++) {
            const float d = dout[(size_t)i * OC + o];
            const float *w = weight + (size_t)o * C;
            for (int c = 0; c < C; c++) { dx[c] += d * w[c]; }
        }
    }
    #pragma omp parallel for  // threads own rows o of dweight, and dbias[o]
    for (int o = 0; o < OC; o++) {
        float *dw = dweight + (size_t)o * C;
        float db = 0.0f;
        for (int i = 0; i < N; i++) {
            const float d = dout[(size_t)i * OC + o];
            const float *x = inp + (size_t)i * C;
            for (int c = 0; c < C; c++) { dw[c] += d * x[c]; }
            db += d;
        }
        dbias[o] += db;
    }
}

// ----------------------------------------------------------------------------
// the operands of one run, and the calls the timer makes

typedef struct {
    int N, C, OC, version;
    float *inp, *w, *bias, *dout, *out, *wt, *dinp, *dw, *db;
} MatmulRun;

static void run_forward(void *ctx) {
    MatmulRun *r = (MatmulRun *)ctx;
    switch (r->version) {
        case 1: matmul_forward_plain(r->out, r->inp, r->w, r->bias, r->N, r->C, r->OC); break;
        case 2: matmul_forward(r->out, r->inp, r->w, r->bias, 1, r->N, r->C, r->OC); break;
        default: matmul_forward_axpy(r->out, r->wt, r->inp, r->w, r->bias, r->N, r->C, r->OC); break;
    }
}

static void run_backward(void *ctx) {
    MatmulRun *r = (MatmulRun *)ctx;
    switch (r->version) {
        case 1: matmul_backward_plain(r->dinp, r->dw, r->db, r->dout, r->inp, r->w, r->N, r->C, r->OC); break;
        case 2: matmul_backward(r->dinp, r->dw, r->db, r->dout, r->inp, r->w, 1, r->N, r->C, r->OC, 0); break;
        default: matmul_backward_axpy(r->dinp, r->dw, r->db, r->dout, r->inp, r->w, r->N, r->C, r->OC); break;
    }
}

static const char *names[] = {"", "plain loops", "train.c", "row axpy"};

int main(int argc, char **argv) {
    int dims[4] = {256, 768, 3072, 5};  // N = B*T, C, OC (GPT-2 124M's MLP), repeats
    lab_args(argc, argv, dims, 4, "matmul [N] [C] [OC] [repeats]");
    const int N = dims[0], C = dims[1], OC = dims[2], reps = dims[3];
    const size_t ni = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
    MatmulRun r = {N, C, OC, 1, lab_random(ni, 1.0f, 1), lab_random(nw, 0.02f, 2), lab_random(OC, 1.0f, 3),
                   lab_random(no, 1.0f, 4), (float *)mallocCheck(no * 4), (float *)mallocCheck(nw * 4),
                   (float *)callocCheck(ni, 4), (float *)callocCheck(nw, 4), (float *)callocCheck(OC, 4)};
    printf("matmul N=%d C=%d OC=%d, %d threads, %d repeats, register tile %d x %d (vectors of %d)\n", N, C, OC,
           num_threads(), reps, MATMUL_MR, MATMUL_NR, MATMUL_VEC);
    // references: version 1
    float *out_ref = (float *)mallocCheck(no * 4), *dinp_ref = (float *)callocCheck(ni, 4);
    float *dw_ref = (float *)callocCheck(nw, 4), *db_ref = (float *)callocCheck(OC, 4);
    matmul_forward_plain(out_ref, r.inp, r.w, r.bias, N, C, OC);
    matmul_backward_plain(dinp_ref, dw_ref, db_ref, r.dout, r.inp, r.w, N, C, OC);
    // float sums of up to max(C, OC, N) terms, in other orders: 1e-3 is ~100x their error here
    const double atol = 1e-3, rtol = 1e-3;
    int ok = 1;
    for (int v = 2; v <= 3; v++) {
        char what[64];
        r.version = v;
        run_forward(&r);
        snprintf(what, sizeof(what), "forward out: v%d %s", v, names[v]);
        ok &= lab_check(what, r.out, out_ref, no, atol, rtol);
        memset(r.dinp, 0, ni * 4);
        memset(r.dw, 0, nw * 4);
        memset(r.db, 0, (size_t)OC * 4);
        run_backward(&r);
        snprintf(what, sizeof(what), "backward dinp: v%d %s", v, names[v]);
        ok &= lab_check(what, r.dinp, dinp_ref, ni, atol, rtol);
        snprintf(what, sizeof(what), "backward dweight: v%d %s", v, names[v]);
        ok &= lab_check(what, r.dw, dw_ref, nw, atol, rtol);
        snprintf(what, sizeof(what), "backward dbias: v%d %s", v, names[v]);
        ok &= lab_check(what, r.db, db_ref, OC, atol, rtol);
    }
    if (!ok) { return 1; }
    if (reps == 0) { return 0; }  // checks only (make test-cpu-lab)
    const double flops = 2.0 * N * C * OC;
    for (int v = 1; v <= 3; v++) {
        double tmin, tmed;
        r.version = v;
        lab_time(run_forward, &r, reps, &tmin, &tmed);
        lab_report("forward", v, names[v], flops, 0.0, tmin, tmed);
        lab_time(run_backward, &r, reps, &tmin, &tmed);
        lab_report("backward", v, names[v], 2.0 * flops, 0.0, tmin, tmed);
    }
    free(r.inp); free(r.w); free(r.bias); free(r.dout); free(r.out); free(r.wt); free(r.dinp); free(r.dw);
    free(r.db); free(out_ref); free(dinp_ref); free(dw_ref); free(db_ref);
    return 0;
}
