// dev/cuda/emu/lab_emu.h: what the kernel lab needs on top of the CUDA emulation
// in dev/cuda_emu (emu.h and its headers: std::threads per CUDA thread, real
// barriers and shuffles, WMMA by its documented layouts, bf16 16 bits with
// -DEMU_BF16, else float), so the lab's kernels run on a CPU: __align__,
// atomics, float4, and the runtime calls the lab's plumbing makes. Force-included by emu/run.sh. Launches are the
// lab's LAUNCH and DYNAMIC_SMEM (cuda_common.h), which emu.h defines.
#ifndef DEV_CUDA_LAB_EMU_H
#define DEV_CUDA_LAB_EMU_H
#include <cuda_runtime.h>  // dev/cuda_emu/include (run.sh puts it first on the path)
#include <atomic>
#include <math.h>

#define __align__(n) __attribute__((aligned(n)))

struct alignas(16) float4 { float x, y, z, w; };
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float atomicAdd(float *p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
#ifdef EMU_BF16  // the emulation's 16-bit bf16 (dev/cuda_emu/emu.h)
static inline __nv_bfloat16 __float2bfloat16(float x) { return __nv_bfloat16(x); }
static inline float __bfloat162float(__nv_bfloat16 x) { return (float)x; }
#else             // bf16 is float
static inline float __float2bfloat16(float x) { return x; }
static inline float __bfloat162float(float x) { return x; }
#endif

// cudaEvent_t and cudaDeviceSynchronize come with dev/cuda_emu's runtime (its
// cudaMemsetAsync takes a stream; the lab's flush calls it without one)
static cudaError_t cudaMemsetAsync(void *p, int v, size_t n) { memset(p, v, n); return cudaSuccess; }
#endif
