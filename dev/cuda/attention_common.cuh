// dev/cuda/attention_common.cuh: what attention_forward.cu and attention_backward.cu
// share (one copy): the host reference for the statistic the fused versions save.
#ifndef DEV_CUDA_ATTENTION_COMMON_CUH
#define DEV_CUDA_ATTENTION_COMMON_CUH

// lse (B,NH,T) = log sum_{t2<=t} exp(q_t . k_t2 / sqrt(hs)), in double on the host:
// the reference for the statistic the fused versions save
static void attention_lse_reference(float *lse, const float *inp, int B, int T, int C, int NH) {
    const int hs = C / NH;
    const size_t C3 = 3 * (size_t)C;
    #pragma omp parallel for collapse(3)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                const float *q = inp + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                double *s = (double *)mallocCheck(((size_t)t + 1) * sizeof(double));
                double m = 0.0;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = inp + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    double d = 0.0;
                    for (int i = 0; i < hs; i++) { d += (double)q[i] * k[i]; }
                    s[t2] = d / sqrt((double)hs);
                    m = t2 == 0 ? s[t2] : fmax(m, s[t2]);
                }
                double sum = 0.0;
                for (int t2 = 0; t2 <= t; t2++) { sum += exp(s[t2] - m); }
                lse[((size_t)b * NH + h) * T + t] = (float)(m + log(sum));
                free(s);
            }
        }
    }
}

#endif  // DEV_CUDA_ATTENTION_COMMON_CUH
