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
// mma.sync m16n8k16 (emu_mma_m16n8k16) is emulated lane by lane: each lane
// holds only its fragment, laid out as the PTX ISA documents, and the product
// is gathered through the warp's exchange; so is ldmatrix .x4 .trans; cp.async is queued per thread and
// lands at its wait_group (emu_cp_async*); __nv_bfloat162 is two of bf16.
//
// bf16 is float by default: then floatX is float in both builds, and the
// bf16 build's code (its 64-row attention tiles, the tensor-core kernels, the
// WMMA path) runs in fp32, so check_kernels.cpp can hold every kernel to its
// train.c twin at fp32 tolerances. With -DEMU_BF16 it is a real 16-bit bf16
// (below): the bf16 build as a GPU runs it, 8 elements per 128-bit pack, its
// roundings, its shared-memory sizes, at test_gpu's bf16 tolerances.
//
// What this checks: indexing, masking, tiling, barriers, the online softmax,
// the reductions and the formulas, and (EMU_BF16) where the bf16 build
// rounds. What it cannot: real WMMA and mma hardware (their sums' order and
// internal precision), cuBLASLt, timing. test/test_gpu checks those on a GPU.
#ifndef CUDA_EMU_H
#define CUDA_EMU_H
#ifndef CUDA_EMU
#error "dev/cuda_emu: build with -DCUDA_EMU (see dev/cuda_emu/run.sh)"
#endif
#include <barrier>
#include <string.h>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#ifdef EMU_BF16
// -DEMU_BF16: bf16 as the GPU stores it, 16 bits (the top half of a float:
// sign, 8 exponent bits, 7 mantissa bits), so the bf16 build runs here with
// its real element size (8 per 128-bit pack, half the bytes per row) and its
// real roundings. A float becomes bf16 rounded to nearest, ties to even, as
// __float2bfloat16 does on the GPU; bf16 becomes float exactly. The kernels
// use it as they use CUDA's type: assigned from and converted to float, and
// float arithmetic on the converted values.
struct __nv_bfloat16 {
    unsigned short bits;
    __nv_bfloat16() = default;
    template <class T, class = typename std::enable_if<std::is_arithmetic<T>::value>::type>
    __nv_bfloat16(T v) : bits(from_float((float)v)) {}
    operator float() const {
        unsigned u = (unsigned)bits << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    __nv_bfloat16 &operator+=(float v) { return *this = __nv_bfloat16((float)*this + v); }
    __nv_bfloat16 &operator-=(float v) { return *this = __nv_bfloat16((float)*this - v); }
    __nv_bfloat16 &operator*=(float v) { return *this = __nv_bfloat16((float)*this * v); }
    static unsigned short from_float(float f) {
        unsigned u;
        memcpy(&u, &f, 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) { return (unsigned short)((u >> 16) | 0x40); }  // NaN stays NaN
        u += 0x7fffu + ((u >> 16) & 1);  // round to nearest even (overflow to inf, as on the GPU)
        return (unsigned short)(u >> 16);
    }
};
static_assert(sizeof(__nv_bfloat16) == 2, "bf16 is 2 bytes");
#else
typedef float __nv_bfloat16;  // so floatX (cuda_common.h) is float in both builds
#endif
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
    std::vector<float> mma[2];     // EMU_MMA_SLOTS per thread, for mma (two: see emu_mma_m16n8k16)
    std::vector<const __nv_bfloat16 *> ldm[2];  // one row address per thread, for ldmatrix (two, as mma)
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

// ---- bf16 pairs, mma.sync m16n8k16 and cp.async (train_attention.cuh's
// tensor-core attention). A pair is two bf16 (two floats by default; with
// EMU_BF16 4 bytes, as on the GPU); x is the low half (the first element),
// as in cuda_bf16.h.
struct __nv_bfloat162 { __nv_bfloat16 x, y; };
static inline __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat162{a, b}; }
static inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
    return __nv_bfloat162{__nv_bfloat16(a), __nv_bfloat16(b)};
}

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32: D (16 x 8) += A (16 x 16)
// B (16 x 8), a warp-wide instruction in which each lane holds only its own
// fragment. The emulation is faithful at the lane level: every lane puts its
// 8 A and 4 B elements in the warp's exchange (a[i].x = a_2i, a[i].y =
// a_2i+1, "low to high" as the PTX ISA lists them), and each lane then
// computes its 4 outputs by fetching A(row, k) and B(k, col) from the lanes
// that the PTX ISA's layout says hold them (groupID = lane >> 2,
// threadID_in_group = lane % 4):
//   A: a_i at row groupID (+8 for i = 2,3,6,7), column 2*threadID_in_group +
//      (i & 1) (+8 for i >= 4)
//   B: b_i at row 2*threadID_in_group + (i & 1) (+8 for i >= 2), column groupID
//   C, D: c_i at row groupID (+8 for i >= 2), column 2*threadID_in_group + (i & 1)
// so a kernel that loads a fragment in any other order gets a wrong product.
// Sums in fp32, in k order (the hardware's order is unspecified). Every lane
// of the warp must take part, as on the GPU (else the barrier deadlocks).
// One warp barrier per call: calls alternate between two exchange buffers, and
// a lane can only write a buffer again (two calls later) after every lane has
// passed the barrier of the call in between, so after every read of it.
#define EMU_MMA_SLOTS 12
static thread_local unsigned g_mma_parity;
static void emu_mma_m16n8k16(float d[4], const __nv_bfloat162 a[4], const __nv_bfloat162 b[2]) {
    const int t = threadIdx.x, w0 = t & ~31, lane = t & 31;
    float *x = g_block->mma[g_mma_parity].data();
    g_mma_parity ^= 1;
    float *mine = x + (size_t)t * EMU_MMA_SLOTS;  // a_0..a_7, then b_0..b_3
    for (int i = 0; i < 4; i++) { mine[2 * i] = a[i].x; mine[2 * i + 1] = a[i].y; }
    for (int i = 0; i < 2; i++) { mine[8 + 2 * i] = b[i].x; mine[8 + 2 * i + 1] = b[i].y; }
    g_block->warps[t / 32]->arrive_and_wait();
    const int g = lane >> 2, tig = lane & 3;
    for (int i = 0; i < 4; i++) {
        const int row = g + 8 * (i >> 1), col = 2 * tig + (i & 1);
        float s = 0.0f;
        for (int k = 0; k < 16; k++) {
            // A(row, k): lane (row % 8) * 4 + (k % 8) / 2, element (k & 1) + 2 (row >= 8) + 4 (k >= 8)
            const int la = (row & 7) * 4 + ((k & 7) >> 1), ia = (k & 1) + 2 * (row >> 3) + 4 * (k >> 3);
            // B(k, col): lane col * 4 + (k % 8) / 2, element (k & 1) + 2 (k >= 8)
            const int lb = col * 4 + ((k & 7) >> 1), ib = (k & 1) + 2 * (k >> 3);
            s += x[(size_t)(w0 + la) * EMU_MMA_SLOTS + ia] * x[(size_t)(w0 + lb) * EMU_MMA_SLOTS + 8 + ib];
        }
        d[i] += s;
    }
}

// ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16: four 8 x 8 matrices of
// 16-bit elements, row j of matrix i at the address lane 8i + j gives; with
// .trans lane l receives, of matrix i, M[2 (l % 4)][l / 4] and M[2 (l % 4) +
// 1][l / 4] (the transpose's row l / 4, columns 2 (l % 4) and + 1) as r[i]
// (PTX ISA, "Warp-level matrix load instruction: ldmatrix"). Emulated as mma
// is: the lanes' row addresses through the warp's exchange (two buffers,
// one barrier), then each lane reads its own elements.
static thread_local unsigned g_ldm_parity;
static void emu_ldmatrix_x4_trans(__nv_bfloat162 r[4], const __nv_bfloat16 *row) {
    const int t = threadIdx.x, w0 = t & ~31, lane = t & 31;
    std::vector<const __nv_bfloat16 *> &x = g_block->ldm[g_ldm_parity];
    g_ldm_parity ^= 1;
    x[t] = row;
    g_block->warps[t / 32]->arrive_and_wait();
    for (int i = 0; i < 4; i++) {
        const __nv_bfloat16 *a = x[w0 + 8 * i + 2 * (lane & 3)], *b = x[w0 + 8 * i + 2 * (lane & 3) + 1];
        r[i] = __nv_bfloat162{a[lane >> 2], b[lane >> 2]};
    }
}

// cp.async (16 bytes, global to shared, zero-filled when src is NULL), its
// commit_group and wait_group N. Each thread queues its copies; commit closes
// a group; wait_group N performs all but the newest N groups (in order). So
// data lands only at the wait, never earlier: a kernel that reads a tile
// before waiting for it (or without the barrier after the wait, when other
// threads copied it) reads stale shared memory here too.
struct EmuCopy { void *dst; const void *src; };
static thread_local std::vector<EmuCopy> g_cp_open;
static thread_local std::vector<std::vector<EmuCopy>> g_cp_groups;
static void emu_cp_async16(void *dst, const void *src) { g_cp_open.push_back(EmuCopy{dst, src}); }
static void emu_cp_async_commit() {
    g_cp_groups.push_back(g_cp_open);
    g_cp_open.clear();
}
static void emu_cp_async_wait(int n) {
    while ((int)g_cp_groups.size() > n) {
        for (const EmuCopy &c : g_cp_groups.front()) {
            if (c.src != nullptr) { memcpy(c.dst, c.src, 16); } else { memset(c.dst, 0, 16); }
        }
        g_cp_groups.erase(g_cp_groups.begin());
    }
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
    blk.mma[0].resize((size_t)threads * EMU_MMA_SLOTS);
    blk.mma[1].resize((size_t)threads * EMU_MMA_SLOTS);
    blk.ldm[0].resize(threads);
    blk.ldm[1].resize(threads);
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
                    emu_cp_async_wait(0);  // a block's copies land before it ends
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
template <class Use, int M, int N, int K, class T, class Layout, class P>
static void load_matrix_sync(fragment<Use, M, N, K, T, Layout> &f, const P *p, unsigned ld) {
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
