"""
dev/cuda/models.py: numpy models of the kernel lab's tiled algorithms, runnable
without a GPU. They check what the CUDA files can only show on a device:

1. the tile-staging index maps of matmul_kernels.cuh (versions 3 and 4) cover
   every element of a tile exactly once, for both operand layouts;
2. the tile loops of attention_forward.cu and attention_backward.cu version 3
   (16-query warps, 64- and 16-key tiles, causal masks, online softmax with
   rescaling, dK/dV and dQ passes) give the exact attention and its gradient;
3. with bf16 rounding where the kernels round (inputs, P, dS), the errors stay
   inside the tolerances the lab files use (printed as a fraction of them).

    /usr/bin/python3 dev/cuda/models.py      (numpy; exits 1 if a check fails)
"""
import sys

import numpy as np

failed = []


def expect(name, ok, detail=""):
    print(f"{'OK  ' if ok else 'FAIL'} {name} {detail}")
    if not ok:
        failed.append(name)


# ---- 1. index maps ---------------------------------------------------------------
def staged(rows, bk, threads, k_is_unit):  # mm3_stage and kernel 4's A staging
    seen = set()
    for tid in range(threads):
        for j in range(rows * bk // threads):
            e = tid + j * threads
            r, k = (e // bk, e % bk) if k_is_unit else (e % rows, e // rows)
            seen.add((r, k))
    return len(seen) == rows * bk and all(0 <= r < rows and 0 <= k < bk for r, k in seen)


ok = all(staged(128, 16, 256, u) and staged(128, 32, 256, u) for u in (False, True))
for b_cs_is_1 in (False, True):  # kernel 4's B staging
    seen = {(e % 128, e // 128) if b_cs_is_1 else (e // 32, e % 32)
            for e in (t + j * 256 for t in range(256) for j in range(16))}
    ok &= len(seen) == 128 * 32
off = lambda t, i: (0 if i < 4 else 64) + t * 4 + (i & 3)  # mm3_offset
ok &= sorted(off(t, i) for t in range(16) for i in range(8)) == list(range(128))
cells = {(w // 4 * 64 + i * 16 + a, w % 4 * 32 + j * 16 + b)  # kernel 4's 8 warps
         for w in range(8) for i in range(4) for j in range(2) for a in range(16) for b in range(16)}
ok &= len(cells) == 128 * 128
expect("matmul tile index maps", ok)


# ---- 2. attention tile loops (float64) -------------------------------------------
def bf16(x):
    x = np.asarray(x, np.float32).copy()
    u = x.view(np.uint32)
    u += 0x7FFF + ((u >> 16) & 1)  # round to nearest even
    u &= 0xFFFF0000
    return u.view(np.float32).astype(np.float64)


def forward_tiles(q, k, v, round_p):
    """attention_forward_kernel3: out and lse; P rounded to bf16 for P V when round_p"""
    T, hs = q.shape
    out, lse = np.zeros((T, hs)), np.zeros(T)
    for q0 in range(0, T, 16):
        O, m, l = np.zeros((16, hs)), np.zeros(16), np.zeros(16)
        for k0 in range(0, q0 + 16, 64):
            S = q[q0:q0 + 16] @ k[k0:k0 + 64].T / np.sqrt(hs)
            valid = (k0 + np.arange(64))[None, :] <= (q0 + np.arange(16))[:, None]
            assert valid[:, 0].all()  # every row has its tile's first key
            tile_max = np.where(valid, S, -np.inf).max(1)
            m_new = tile_max if k0 == 0 else np.maximum(m, tile_max)
            corr = np.zeros(16) if k0 == 0 else np.exp(m - m_new)
            p = np.where(valid, np.exp(S - m_new[:, None]), 0.0)
            l = l * corr + p.sum(1)
            O = O * corr[:, None] + (bf16(p) if round_p else p) @ v[k0:k0 + 64]
            m = m_new
        out[q0:q0 + 16], lse[q0:q0 + 16] = O / l[:, None], m + np.log(l)
    return out, lse


def backward_tiles(q, k, v, do, out, lse, round_pds):
    """attention_dkdv_kernel3 and attention_dq_kernel3: dq, dk, dv"""
    T, hs = q.shape
    sc = 1 / np.sqrt(hs)
    D = (do * out).sum(1)
    r = bf16 if round_pds else (lambda x: x)

    def tile(q0, k0):
        S = q[q0:q0 + 16] @ k[k0:k0 + 16].T
        dP = do[q0:q0 + 16] @ v[k0:k0 + 16].T
        valid = (k0 + np.arange(16))[None, :] <= (q0 + np.arange(16))[:, None]
        P = np.where(valid, np.exp(S * sc - lse[q0:q0 + 16, None]), 0)
        return r(P), r(np.where(valid, P * (dP - D[q0:q0 + 16, None]) * sc, 0))

    dq, dk, dv = np.zeros((T, hs)), np.zeros((T, hs)), np.zeros((T, hs))
    for k0 in range(0, T, 16):
        for q0 in range(k0, T, 16):
            P, dS = tile(q0, k0)
            dv[k0:k0 + 16] += P.T @ do[q0:q0 + 16]
            dk[k0:k0 + 16] += dS.T @ q[q0:q0 + 16]
    for q0 in range(0, T, 16):
        for k0 in range(0, q0 + 1, 16):
            _, dS = tile(q0, k0)
            dq[q0:q0 + 16] += dS @ k[k0:k0 + 16]
    return np.concatenate([dq, dk, dv], 1)


def dense(q, k, v, do):
    """the definitions: out, lse, and dinp = [dq dk dv]"""
    T, hs = q.shape
    mask = np.tril(np.ones((T, T), bool))
    S = np.where(mask, q @ k.T / np.sqrt(hs), -np.inf)
    m = S.max(1, keepdims=True)
    E = np.exp(S - m)
    P = E / E.sum(1, keepdims=True)
    out, lse = P @ v, (m + np.log(E.sum(1, keepdims=True))).ravel()
    dS = P * (do @ v.T - (do * out).sum(1, keepdims=True))
    return out, lse, np.concatenate([dS @ k, dS.T @ q, P.T @ do], 1) / np.array([np.sqrt(hs)] * 2 * hs + [1] * hs)


rng = np.random.default_rng(0)
T, hs = 192, 64
q, k, v, do = (rng.standard_normal((T, hs)) for _ in range(4))
out_ref, lse_ref, dinp_ref = dense(q, k, v, do)
out, lse = forward_tiles(q, k, v, False)
dinp = backward_tiles(q, k, v, do, out, lse, False)
expect("attention v3 tile loops, forward", np.abs(out - out_ref).max() < 1e-12 and np.abs(lse - lse_ref).max() < 1e-12)
expect("attention v3 tile loops, backward", np.abs(dinp - dinp_ref).max() < 1e-12)


# ---- 3. bf16 error against the lab's tolerances ------------------------------------
def used(x, ref, atol, rtol):  # the largest fraction of |x - ref| <= atol + rtol |ref| used
    return (np.abs(x - ref) / (atol + rtol * np.abs(ref))).max()


rms = lambda x: np.sqrt((x ** 2).mean())
# matmul v4/v6 (mm_tolerance): bf16 operands, fp32 sums, against fp32 operands
N, C, OC = 1024, 768, 3072
inp, w = rng.standard_normal((N, C)), 0.02 * rng.standard_normal((OC, C))
ref = inp @ w.T
f = used(bf16(inp) @ bf16(w).T, ref, 3e-2 * rms(ref), 1e-2)
expect("matmul bf16 within tolerance", f < 0.7, f"({f:.2f} of it)")
# attention v3 against the CPU twin on the same rounded inputs (T = 1024, one head)
T = 1024
q, k, v, do = (bf16(rng.standard_normal((T, hs))) for _ in range(4))
out_ref, lse_ref, dinp_ref = dense(q, k, v, do)
out, lse = forward_tiles(q, k, v, True)
f = used(out, out_ref, 1e-2, 2e-2)
expect("attention forward bf16 within tolerance", f < 0.7, f"({f:.2f} of it)")
dinp0 = 0.1 * rng.standard_normal((T, 3 * hs))
ref = dinp_ref + dinp0
x = backward_tiles(q, k, v, do, out_ref, lse_ref, True) + dinp0
f = used(x, ref, 5e-2 * rms(ref), 2e-2)
expect("attention backward bf16 within tolerance", f < 0.7, f"({f:.2f} of it)")

sys.exit(1 if failed else 0)
