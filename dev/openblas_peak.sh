# dev/openblas_peak.sh: OpenBLAS's SGEMM peak on this machine, with the
# fastest of its kernel settings. Sourced by dev/bench_cpu.sh and
# dev/cpu/bench.sh (from the repository root, with PYTHON set).
#
# OpenBLAS's kernels can be left to its own choice (OPENBLAS_CORETYPE unset),
# named by the environment (OPENBLAS_CORETYPE set), or named from
# /proc/cpuinfo (SkylakeX where the CPU has AVX-512, else Haswell where it has
# AVX2: dev/bench_torch.py's openblas_coretype). Each can be the slow one:
# where OpenBLAS 0.3.21 does not know a CPU behind a hypervisor it may fall
# back to old kernels, and on a Zen 5 the environment named Haswell's, at
# half the rate of OpenBLAS's own choice. So best_peak times each.

# malloc_keep: env's arguments for glibc's malloc keeping freed memory: large
# blocks come from the heap (not a fresh mapping each), which is never trimmed
malloc_keep=(MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=100000000000 MALLOC_TOP_PAD_=1000000000)

# with_core SETTING CMD...: CMD with OpenBLAS's kernels set: "own" leaves the
# choice to OpenBLAS (OPENBLAS_CORETYPE unset), anything else is the name
with_core() {
    local setting=$1; shift
    if [ "$setting" = own ]; then env -u OPENBLAS_CORETYPE "$@"; else env OPENBLAS_CORETYPE="$setting" "$@"; fi
}

# openblas_settings: sets core_auto (OpenBLAS's own choice under PyTorch, ""
# when PyTorch is not on OpenBLAS), env_core, core_cpu and settings (the list
# to try: own, the environment's, the named one)
openblas_settings() {
    # which BLAS PyTorch runs on: OpenBLAS says its core when OPENBLAS_VERBOSE=2
    core_auto=$(with_core own env OPENBLAS_VERBOSE=2 "$PYTHON" -c \
                    'import torch; torch.mm(torch.ones(64, 64), torch.ones(64, 64))' 2>&1 \
                | sed -n 's/^Core: //p' | head -1)
    core_cpu=$("$PYTHON" -c 'import sys; sys.path.insert(0, "dev"); import bench_torch; print(bench_torch.openblas_coretype() or "")')
    env_core=${OPENBLAS_CORETYPE:-}
    settings=(own)
    [ -n "$env_core" ] && settings+=("$env_core")
    [ -n "$core_cpu" ] && [ "$core_cpu" != "$env_core" ] && settings+=("$core_cpu")
    return 0
}

# peak THREADS SETTING: OpenBLAS SGEMM 2048^3 GFLOP/s through PyTorch with that kernel setting
peak() {
    with_core "$2" env "${malloc_keep[@]}" OMP_WAIT_POLICY=PASSIVE "$PYTHON" dev/bench_torch.py --peak --threads "$1" --coretype auto \
        | sed -n 's/^peak_gflops //p'
}

# best_peak THREADS: times every setting (after openblas_settings); sets sgemm
# (the fastest rate), best (its setting) and peak_line (each rate, for printing)
best_peak() {
    local setting rate name
    sgemm=0 best=own peak_line=""
    for setting in "${settings[@]}"; do
        rate=$(peak "$1" "$setting")
        [ "$setting" = own ] && name="own: ${core_auto:-?}" || name=$setting
        peak_line+="${peak_line:+, }${rate:-?} ($name)"
        if awk -v r="${rate:-0}" -v b="$sgemm" 'BEGIN { exit !(r + 0 > b + 0) }'; then sgemm=$rate best=$setting; fi
    done
}
