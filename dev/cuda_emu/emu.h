// emu.h: just enough of CUDA, emulated on the CPU, to run train.cu's kernels
// (their source, extracted by extract.awk) under g++ and check them against
// train.c's CPU twins on a machine without a GPU (dev/cuda_emu/run.sh).
//
// A launch runs its blocks one after another on real std::threads (one per
// CUDA thread of a block), so __syncthreads (a block barrier), __syncwarp (a warp
// barrier) and __shfl_xor_sync (an exchange through a per-warp array between
// two barriers) behave as on the GPU, and a missing barrier shows up as a
// race. Dynamic shared memory is one buffer per block, filled with garbage;
// static __shared__ arrays become function statics (blocks never overlap).
// WMMA fragments hold a whole 16x16 tile in every lane, with the documented
// layouts (matrix_a is M x K, matrix_b is K x N; row_major: element (r, c) at
// p[r * ld + c], col_major: at p[r + c * ld]); lane 0 stores.
//
// What this checks: indexing, masking, tiling, barriers, the online softmax,
// the reductions and the formulas, in fp32 (floatX = float; the bf16 build's
// 64-row attention tiles and WMMA path included). What it cannot: bf16
// rounding, real WMMA hardware, cuBLASLt, timing. test/test_gpu checks those
// on a GPU.
#ifndef CUDA_EMU_H
#define CUDA_EMU_H
#include <barrier>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

typedef float floatX;
typedef float __nv_bfloat16;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __shared__ static

struct EmuDim3 { int x, y, z; };
static thread_local EmuDim3 threadIdx, blockIdx, blockDim;
static thread_local unsigned char *g_smem;  // the block's dynamic shared memory

struct EmuBlock {
    std::unique_ptr<std::barrier<>> block;
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    std::vector<double> exchange;  // one slot per thread, for the shuffles
};
static thread_local EmuBlock *g_block;

static void __syncthreads() { g_block->block->arrive_and_wait(); }
static void __syncwarp() { g_block->warps[threadIdx.x / 32]->arrive_and_wait(); }

// v of lane (lane ^ o) of the same warp; every lane of the warp takes part
template <typename V>
static V __shfl_xor_sync(unsigned mask, V v, int o) {
    (void)mask;
    int t = threadIdx.x;
    std::barrier<> &w = *g_block->warps[t / 32];
    g_block->exchange[t] = (double)v;  // exact for float, int and double
    w.arrive_and_wait();
    V r = (V)g_block->exchange[(t & ~31) | ((t & 31) ^ o)];
    w.arrive_and_wait();
    return r;
}

// runs f() as every thread of a gx x gy grid of blocks of `threads` threads:
// one std::thread per CUDA thread of a block, each running the blocks in
// turn, with a block barrier between blocks (blocks run one at a time, so
// static __shared__ arrays and the dynamic shared buffer are theirs alone)
template <typename F>
static void emu_launch(int gx, int gy, int threads, size_t smem_bytes, F f) {
    EmuBlock blk;
    blk.block = std::make_unique<std::barrier<>>(threads);
    for (int w = 0; w < (threads + 31) / 32; w++) {
        blk.warps.push_back(std::make_unique<std::barrier<>>(threads - 32 * w < 32 ? threads - 32 * w : 32));
    }
    blk.exchange.resize(threads);
    std::vector<unsigned char> smem(smem_bytes + 1, 0xCD);  // garbage, as on the GPU
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++) {
        ts.emplace_back([&, t] {
            threadIdx = {t, 0, 0};
            blockDim = {threads, 1, 1};
            g_block = &blk;
            g_smem = smem.data();
            for (int by = 0; by < gy; by++) {
                for (int bx = 0; bx < gx; bx++) {
                    blockIdx = {bx, by, 0};
                    f();
                    blk.block->arrive_and_wait();
                }
            }
        });
    }
    for (std::thread &th : ts) { th.join(); }
}

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment { float x[256]; };  // element (r, c) at x[r * 16 + c]

template <int M, int N, int K, class T>
static void fill_fragment(fragment<accumulator, M, N, K, T> &f, float v) {
    for (int i = 0; i < 256; i++) { f.x[i] = v; }
}
template <class Use, int M, int N, int K, class T, class Layout>
static void load_matrix_sync(fragment<Use, M, N, K, T, Layout> &f, const float *p, unsigned ld) {
    for (int r = 0; r < 16; r++) {
        for (int c = 0; c < 16; c++) {
            f.x[r * 16 + c] = std::is_same<Layout, row_major>::value ? p[r * ld + c] : p[r + c * ld];
        }
    }
}
template <int M, int N, int K, class T>
static void load_matrix_sync(fragment<accumulator, M, N, K, T> &f, const float *p, unsigned ld, layout_t l) {
    for (int r = 0; r < 16; r++) {
        for (int c = 0; c < 16; c++) { f.x[r * 16 + c] = l == mem_row_major ? p[r * ld + c] : p[r + c * ld]; }
    }
}
template <class FA, class FB, int M, int N, int K, class T>
static void mma_sync(fragment<accumulator, M, N, K, T> &d, const FA &a, const FB &b,
                     const fragment<accumulator, M, N, K, T> &c) {
    float out[256];
    for (int i = 0; i < 16; i++) {
        for (int j = 0; j < 16; j++) {
            float s = c.x[i * 16 + j];
            for (int k = 0; k < 16; k++) { s += a.x[i * 16 + k] * b.x[k * 16 + j]; }
            out[i * 16 + j] = s;
        }
    }
    for (int i = 0; i < 256; i++) { d.x[i] = out[i]; }
}
template <int M, int N, int K, class T>
static void store_matrix_sync(float *p, const fragment<accumulator, M, N, K, T> &f, unsigned ld, layout_t l) {
    __syncwarp();  // every lane holds the same tile and has done its loads
    if (threadIdx.x % 32 == 0) {
        for (int r = 0; r < 16; r++) {
            for (int c = 0; c < 16; c++) { (l == mem_row_major ? p[r * ld + c] : p[r + c * ld]) = f.x[r * 16 + c]; }
        }
    }
    __syncwarp();
}
}  // namespace wmma
}  // namespace nvcuda

#ifndef EMU_RUNTIME
// host-side calls in the extracted code that only move data (the emulated
// "device" memory is host memory)
#define cudaCheck(x) (void)0
#define cudaMemcpy(...) 0
#define cudaGetLastError() 0
#endif
#endif
