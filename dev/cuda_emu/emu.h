// emu.h: just enough of CUDA, emulated on the CPU, to run train.cu's kernels
// under g++ on a machine without a GPU (dev/cuda_emu/run.sh). Reached through
// the fake <cuda_runtime.h> of dev/cuda_emu/include, so a program is built
// for the emulation by its flags alone, with no change to its text:
//     g++ -x c++ -DCUDA_EMU -I dev/cuda_emu/include ... train.cu
// The seam with the real CUDA code (cuda_common.h, train.cu):
//   LAUNCH(grid, block, smem_bytes, kernel)(args...)
//       every launch; here emu_launch_grid over the kernel called as a plain
//       C++ function (with the kernel's own parameter types, so arguments
//       convert as they do in a <<< >>> launch)
//   DYNAMIC_SMEM(name)
//       a kernel's dynamic shared memory; here the block's buffer
//   CUDA_EMU
//       train.cu's matmul_lt becomes dev/cuda_emu/matmul_lt_emu.inc (no cuBLASLt)
// The kernels themselves are train_kernels.cuh, the same header nvcc compiles;
// check_kernels.cpp includes it and checks each kernel against its train.c twin.
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
#ifndef CUDA_EMU
#error "dev/cuda_emu: build with -DCUDA_EMU (see dev/cuda_emu/run.sh)"
#endif
#include <barrier>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

typedef float __nv_bfloat16;  // so floatX (cuda_common.h) is float in both builds
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

struct dim3 {
    int x, y, z;
    dim3(int x_ = 1, int y_ = 1, int z_ = 1) : x(x_), y(y_), z(z_) {}
};
static thread_local EmuDim3 gridDim;

// a launch with CUDA's dim3 grid and block: emu_launch's blocks are 1-D, so
// a (bx, by) block runs bx*by threads, and each sets its 2-D threadIdx from its
// linear index (a kernel with 2-D blocks must then use no warp-level calls,
// which key on the linear threadIdx.x; the kernel lab's do not)
template <typename F>
static void emu_launch_grid(dim3 grid, dim3 block, size_t smem, F f) {
    const int bx = block.x, by = block.y;
    emu_launch(grid.x, grid.y, bx * by, smem, [&] {
        const int t = threadIdx.x + threadIdx.y * blockDim.x;  // linear, before and after the first block
        threadIdx = {t % bx, t / bx, 0};
        blockDim = {bx, by, 1};
        gridDim = {grid.x, grid.y, 1};
        f();
    });
}

// LAUNCH(grid, block, smem_bytes, kernel)(args...): emu_launcher keeps the
// launch configuration and the kernel; its operator() takes the kernel's own
// parameter types (P...), so the arguments convert as in a CUDA launch, and
// runs the kernel as every thread of the grid
template <typename... P>
struct EmuLaunch {
    dim3 grid, block;
    size_t smem;
    void (*kernel)(P...);
    void operator()(P... args) const {
        emu_launch_grid(grid, block, smem, [&] { kernel(args...); });
    }
};
template <typename... P>
static EmuLaunch<P...> emu_launcher(dim3 grid, dim3 block, size_t smem, void (*kernel)(P...)) {
    return EmuLaunch<P...>{grid, block, smem, kernel};
}
#define LAUNCH(grid, block, smem_bytes, ...) emu_launcher(grid, block, smem_bytes, __VA_ARGS__)
#define DYNAMIC_SMEM(name) unsigned char *name = g_smem

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

#endif
