/*
dev/cpu/lab.h: the plumbing the CPU kernel-lab files share (include after train.c).
    lab_check(what, x, ref, n, atol, rtol)  |x - ref| <= atol + rtol*|ref| everywhere;
                                            prints OK|FAIL and the worst error
    lab_time(fn, ctx, reps, &min, &med)     seconds per call of fn(ctx): min and median
    lab_peak_gflops()                       the machine's SGEMM GFLOP/s, measured by the
                                            caller in the same run (dev/cpu/bench.sh puts
                                            it in PEAK_GFLOPS; 0 when absent)
    lab_report(...)                         one timed line: ms, GFLOP/s, % of that peak
    lab_args(argc, argv, dims, n, usage)    positional integer arguments, range checked
*/
#ifndef DEV_CPU_LAB_H
#define DEV_CPU_LAB_H

// every element against the reference; returns 1 when all are within tolerance
static int lab_check(const char *what, const float *x, const float *ref, size_t n, double atol, double rtol) {
    double worst = 0.0, worst_frac = 0.0;
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - (double)ref[i]);
        double tol = atol + rtol * fabs((double)ref[i]);
        if (!(d <= tol)) {  // also catches NaN
            if (bad == 0) { first_bad = i; }
            bad++;
        }
        if (d > worst) { worst = d; }
        if (tol > 0.0 && d / tol > worst_frac) { worst_frac = d / tol; }
    }
    if (bad > 0) {
        printf("FAIL %-34s %zu of %zu out of tolerance; first at %zu: %g, expected %g\n", what, bad, n,
               first_bad, x[first_bad], ref[first_bad]);
        return 0;
    }
    printf("OK   %-34s maxabs %.2e  worst %.2f of tol\n", what, worst, worst_frac);
    return 1;
}

static int lab_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*LabFn)(void *ctx);

// runs fn(ctx) reps times; min and median seconds of one call
static void lab_time(LabFn fn, void *ctx, int reps, double *min_s, double *med_s) {
    double *t = (double *)mallocCheck((size_t)reps * sizeof(double));
    for (int r = 0; r < reps; r++) {
        double t0 = now_seconds();
        fn(ctx);
        t[r] = now_seconds() - t0;
    }
    qsort(t, (size_t)reps, sizeof(double), lab_cmp_double);
    *min_s = t[0];
    *med_s = t[reps / 2];
    free(t);
}

static double lab_peak_gflops(void) {
    const char *s = getenv("PEAK_GFLOPS");
    if (s == NULL || *s == '\0') { return 0.0; }
    char *end = NULL;
    double p = strtod(s, &end);
    return (end != s && p > 0.0) ? p : 0.0;
}

// one timed line; flops 0: no GFLOP/s (then bytes, if given, for GB/s)
static void lab_report(const char *op, int version, const char *name, double flops, double bytes,
                       double min_s, double med_s) {
    double peak = lab_peak_gflops();
    printf("  v%d %-26s %-9s min %9.3f ms  median %9.3f ms", version, name, op, 1e3 * min_s, 1e3 * med_s);
    if (flops > 0.0) {
        double g = flops / min_s / 1e9;
        printf("  %8.1f GFLOP/s", g);
        if (peak > 0.0) { printf("  %5.1f%% of SGEMM peak", 100.0 * g / peak); }
    } else if (bytes > 0.0) {
        printf("  %8.2f GB/s", bytes / min_s / 1e9);
    }
    printf("\n");
}

// argv[1..n] into dims[0..n-1] (defaults kept when absent); each must lie in
// [1, 1<<24], except argument `zero_ok` (the repeats), which may be 0:
// checks only, no timing
static void lab_args_at(int argc, char **argv, int *dims, int n, int zero_ok, const char *usage) {
    if (argc > n + 1 || (argc > 1 && strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\n", usage);
        exit(argc > n + 1 ? 1 : 0);
    }
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        long v = strtol(argv[i], &end, 10);
        const long lo = i == zero_ok ? 0 : 1;
        if (end == argv[i] || *end != '\0' || v < lo || v > (1L << 24)) {
            die("argument %d ('%s') must be an integer in [%ld, %ld]\nusage: %s", i, argv[i], lo, 1L << 24, usage);
        }
        dims[i - 1] = (int)v;
    }
}

// as lab_args_at, the last argument being the repeats
static void lab_args(int argc, char **argv, int *dims, int n, const char *usage) {
    lab_args_at(argc, argv, dims, n, n, usage);
}

// n floats, normal(0, scale), from train.c's Rng
static float *lab_random(size_t n, float scale, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    float *x = (float *)mallocCheck(n * sizeof(float));
    for (size_t i = 0; i < n; i++) { x[i] = scale * rng_normal(&rng); }
    return x;
}

#endif  // DEV_CPU_LAB_H
