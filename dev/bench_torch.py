"""
Time full PyTorch training steps of the GPT-2 in dev/reference.py on the CPU:
the same model and step that ./train runs, for a side-by-side comparison
(dev/bench_cpu.sh runs both).

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 dev/bench_torch.py --preset d12 -B 4 -T 64 --threads 2

One step: zero_grad, forward, mean cross-entropy, backward, clip the gradient
norm to 1.0, AdamW (lr 3e-4, betas 0.9/0.95, eps 1e-8, no weight decay), on a
fresh random token batch. Prints `step i ms X loss L norm N` (norm before
clipping) for every timed step and at the end `torch min_ms X median_ms Y`. The
--warmup steps first are run, not timed.

Threads and BLAS, set before torch loads (BLAS libraries read them once):
- --threads sets PyTorch's threads and OMP_NUM_THREADS, OPENBLAS_NUM_THREADS.
- OPENBLAS_CORETYPE, unless already set: OpenBLAS 0.3.21 (Debian 12) does not
  recognise newer CPUs behind a hypervisor (Sapphire Rapids under KVM reads as
  "Prescott") and falls back to SSE3 kernels, about 8x slower at matmul; so we
  name its AVX-512 (SkylakeX) or AVX2 (Haswell) kernels when the CPU has them.
  --coretype auto leaves the choice to OpenBLAS, or to OPENBLAS_CORETYPE when
  the environment sets it (on some CPUs OpenBLAS's own pick is the faster one;
  an environment may name slower kernels than the CPU has: dev/bench_cpu.sh
  tries OpenBLAS's own, the environment's and the named ones, keeps the fastest
  and passes it here through OPENBLAS_CORETYPE with --coretype auto).
- Run with OMP_WAIT_POLICY=PASSIVE: otherwise PyTorch's OpenMP threads
  spin-wait between parallel regions and take the cores from OpenBLAS's threads.
"""
import argparse
import os
import statistics
import sys
import time


PRESETS = {  # name: (L, NH, C); V 50257 and maxT 1024 unless given
    "d12": (12, 12, 768),  # GPT-2 124M
    "d6": (6, 6, 384),
}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), help="model shape (L, NH, C)")
    ap.add_argument("--L", type=int)
    ap.add_argument("--NH", type=int)
    ap.add_argument("--C", type=int)
    ap.add_argument("--V", type=int, default=50257)
    ap.add_argument("--maxT", type=int, default=1024)
    ap.add_argument("-B", type=int, default=4)
    ap.add_argument("-T", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--coretype", choices=("cpu", "auto"), default="cpu",
                    help="cpu: name OpenBLAS's kernels from /proc/cpuinfo (unless "
                         "OPENBLAS_CORETYPE is set); auto: leave the choice to OpenBLAS")
    ap.add_argument("--peak", action="store_true",
                    help="only measure this machine's SGEMM GFLOP/s (OpenBLAS, 2048^3) and exit")
    a = ap.parse_args()

    L, NH, C = PRESETS[a.preset] if a.preset else (None, None, None)
    L, NH, C = a.L or L, a.NH or NH, a.C or C
    if None in (L, NH, C):
        if a.peak:
            return a, (0, 0, 0)
        ap.error("give --preset or all of --L --NH --C")
    if a.T > a.maxT:
        ap.error(f"-T {a.T} is longer than --maxT {a.maxT}")
    return a, (L, NH, C)


def openblas_coretype():
    """OpenBLAS's name for the best kernels this x86 CPU can run, or None."""
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        return None
    return "SkylakeX" if "avx512f" in flags else "Haswell" if "avx2" in flags else None


def main():
    a, (L, NH, C) = parse_args()
    # BLAS libraries read their thread count once, when they load, so set it first.
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    coretype = openblas_coretype()
    if a.coretype == "cpu" and coretype and "OPENBLAS_CORETYPE" not in os.environ:
        os.environ["OPENBLAS_CORETYPE"] = coretype
    import torch
    if a.peak:  # the yardstick: the best SGEMM rate this CPU reaches with these threads
        torch.set_num_threads(a.threads)
        n = 2048
        x, y = torch.randn(n, n), torch.randn(n, n)
        best = float("inf")
        for _ in range(12):  # the best of 12: the machine's neighbours come and go
            t0 = time.perf_counter()
            torch.mm(x, y)
            best = min(best, time.perf_counter() - t0)
        print(f"peak_gflops {2 * n**3 / best / 1e9:.1f}")
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from reference import GPT, init_params  # the same model as the fixture

    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(a.seed)
    model = GPT(L, NH, C, a.V, a.maxT)
    init_params(model, gen, nontrivial_norms_and_biases=False)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__} threads {torch.get_num_threads()} "
          f"OPENBLAS_CORETYPE {os.environ.get('OPENBLAS_CORETYPE', 'auto')} "
          f"L {L} NH {NH} C {C} V {a.V} Vp {model.Vp} maxT {a.maxT} B {a.B} T {a.T} "
          f"params {nparams}", flush=True)

    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    times = []
    for i in range(a.warmup + a.steps):
        tokens = torch.randint(0, a.V, (a.B, a.T + 1), generator=gen)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        _, loss = model(tokens[:, :-1], tokens[:, 1:])
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ms = (time.perf_counter() - t0) * 1e3
        if i >= a.warmup:
            times.append(ms)
            print(f"step {i - a.warmup} ms {ms:.1f} loss {loss.item():.4f} norm {norm.item():.4f}",
                  flush=True)
    print(f"torch min_ms {min(times):.1f} median_ms {statistics.median(times):.1f}")


if __name__ == "__main__":
    main()
