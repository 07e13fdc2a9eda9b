#!/usr/bin/env bash
# dev/cuda_emu/run_program.sh (make check-cuda-emu-program): the emulated
# ./train_gpu program (train.cu as it is, built by g++ for the emulation with
# -DCUDA_EMU -I dev/cuda_emu/include, FP32; see run.sh) against ./train on the
# same tiny run: a d6 model with V=300 on random tokens, B=2 T=32. Checks that
#   1. the step lines' loss, lr and norm, the val losses and the sample equal
#      ./train's (printed precision), and a checkpoint is written
#   1b. LoRA fine-tuning of that checkpoint (--lora 4, the biases and
#      layernorms trained too): the same losses as ./train --lora, a
#      lora_STEP.bin; train.cu's allocations equal the bill's GPU layout at
#      the end of both runs; a ./train LoRA checkpoint resumed by train_gpu continues
#      as ./train does; train_gpu's --lora-merge writes a plain model whose
#      val loss under ./train is the LoRA run's
#   2. a ./train checkpoint resumed by the emulated ./train_gpu gives ./train's
#      next step (the files move between CPU and GPU), with --gelu-fusion 0
#      (separate bias and GELU kernels) and TRAIN_GPU_PROFILE=1 (the table of
#      the step's time per kernel family)
#   3. with mpirun (when installed; NCCL calls done by MPI, include/nccl.h):
#      2 ranks, and 2 ranks with ZeRO-1, give the 1-process losses, and the
#      two write identical checkpoints
# Slow (matmuls by their definition, an OS thread per CUDA thread): about 10
# minutes on 2 cores. Exit status: non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=tmp/cuda_emu/program
rm -rf "$out"
mkdir -p "$out"
fails=0
ok() { echo "OK   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
make -s train > /dev/null || { echo "run_program: make train failed"; exit 1; }
flags=(-std=c++20 -O2 -D_GNU_SOURCE -fopenmp -Wall -Wextra -Wno-unused-function -Wno-unused-parameter
       -DCLASSIFIER_THREADS=64 -DENABLE_FP32 -DCUDA_EMU -I dev/cuda_emu/include)
g++ "${flags[@]}" -x c++ train.cu -x none -o "$out/train_gpu" -lm -pthread || exit 1
perl -e 'my $n = $ARGV[0]; srand(5); print pack("l<3", 20240520, 1, $n), pack("l<253", (0) x 253);
         print pack("S<*", map { int(rand(300)) } 1 .. $n);' 4000 > "$out/tokens.bin"
args=(-e d6 --vocab 300 -b 2 -t 32 -i "$out/tokens.bin" -k /nonexistent)
# the deterministic part of a log: step lines without the timings, val losses, sample
digest() { grep -E '^(step|val loss|<)' "$1" | sed -E 's/ \| ms .*//'; }
# same_logs A B: the same lines, words equal, numbers within 1e-5 relative
# (the kernels sum in another order than train.c: a printed loss may differ
# in its last digit, 5.113371 against 5.113370)
same_logs() {
    perl -e 'my ($fa, $fb) = @ARGV; open(my $a, "<", $fa) or die; open(my $b, "<", $fb) or die;
        my @a = <$a>; my @b = <$b>; exit 1 if @a != @b || !@a;
        for my $i (0 .. $#a) {
            my @x = split /\s+/, $a[$i]; my @y = split /\s+/, $b[$i]; exit 1 if @x != @y;
            for my $j (0 .. $#x) {
                my ($p, $q) = ($x[$j], $y[$j]);
                next if $p eq $q;
                exit 1 unless $p =~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/i && $q =~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/i;
                exit 1 if abs($p - $q) > 1e-5 * (abs($p) > abs($q) ? abs($p) : abs($q)) + 1e-12;
            }
        }' <(digest "$1") <(digest "$2")
}

# 1. the same run on both
./train "${args[@]}" -x 3 -j "$out/tokens.bin" -v 2 -m 1 -g 5 -o "$out/cpu" > "$out/cpu.log" 2>&1
"$out/train_gpu" "${args[@]}" -x 3 -j "$out/tokens.bin" -v 2 -m 1 -g 5 -o "$out/gpu" > "$out/gpu.log" 2>&1
if same_logs "$out/cpu.log" "$out/gpu.log"; then
    ok "train_gpu (emulated) = train: losses, norms, val losses, sample"
else
    bad "train_gpu (emulated) and train differ (logs in $out)"
fi
grep -q "| mfu " "$out/gpu.log" && ok "the step line has mfu" || bad "no mfu in the step line"
[ -f "$out/gpu/model_00000003.bin" ] && [ -f "$out/gpu/state_00000003.bin" ] && ok "checkpoint written" \
    || bad "no checkpoint"

# 1b. LoRA fine-tuning of the model just trained, on both
lora=("${args[@]}" -e "$out/cpu/model_00000003.bin" --lora 4 --lora-alpha 8 --lora-train-norms 1 -l 1e-2
      -j "$out/tokens.bin" -v 2 -m 1 -g 0)
./train "${lora[@]}" -x 2 -o "$out/lora_cpu" > "$out/lora_cpu.log" 2>&1
"$out/train_gpu" "${lora[@]}" -x 2 -o "$out/lora_gpu" > "$out/lora_gpu.log" 2>&1
if same_logs "$out/lora_cpu.log" "$out/lora_gpu.log" && [ -f "$out/lora_gpu/lora_00000002.bin" ]; then
    ok "train_gpu --lora (emulated) = train --lora: losses, norms, val losses; lora_00000002.bin written"
else
    bad "train_gpu --lora and train --lora differ (logs in $out)"
fi
grep -q "LoRA trainable (fp32)" "$out/lora_gpu.log" && ok "train_gpu's bill has LoRA's rows" || bad "no LoRA rows in the GPU bill"
for f in gpu lora_gpu; do  # the end of a run: train.cu's allocations equal the bill's GPU layout
    grep -qE '^memory \((LoRA )?training, GPU 0\): allocated ([0-9]+) bytes, the bill \2 bytes' "$out/$f.log" \
        && ok "$f: allocated == the bill ($(grep -m1 -oE 'allocated [0-9]+' "$out/$f.log"))" \
        || bad "$f: allocated != the bill: $(grep -m1 '^memory (.*GPU' "$out/$f.log")"
done
cp -r "$out/lora_cpu" "$out/lora_mix"
./train "${lora[@]}" -x 3 -o "$out/lora_cpu" -y 1 > "$out/lora_cpu3.log" 2>&1
"$out/train_gpu" "${lora[@]}" -x 3 -o "$out/lora_mix" -y 1 --lora-merge "$out/merged.bin" > "$out/lora_mix3.log" 2>&1
if grep -q "resume: from .*lora_00000002.bin" "$out/lora_mix3.log" && same_logs "$out/lora_cpu3.log" "$out/lora_mix3.log"; then
    ok "a ./train LoRA checkpoint resumed by train_gpu continues as ./train does"
else
    bad "LoRA resume across backends differs (logs in $out)"
fi
lora_val=$(grep '^val loss' "$out/lora_mix3.log" | tail -1 | cut -d' ' -f3)
./train "${args[@]}" -e "$out/merged.bin" -j "$out/tokens.bin" -m 1 -x 0 -v 1 -g 0 > "$out/merged.log" 2>&1
merged_val=$(grep '^val loss' "$out/merged.log" | tail -1 | cut -d' ' -f3)
if [ -n "$lora_val" ] && [ -n "$merged_val" ] &&
   awk -v a="$lora_val" -v b="$merged_val" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }'; then
    ok "train_gpu --lora-merge: ./train reads the merged model, val loss $merged_val = LoRA's $lora_val"
else
    bad "train_gpu --lora-merge: merged val loss '$merged_val', LoRA's '$lora_val'"
fi

# 2. a CPU checkpoint resumed on the GPU backend
cp -r "$out/cpu" "$out/mix"
./train "${args[@]}" -x 4 -v 0 -g 0 -o "$out/cpu" -y 1 > "$out/cpu_resume.log" 2>&1
TRAIN_GPU_PROFILE=1 "$out/train_gpu" "${args[@]}" -x 4 -v 0 -g 0 -o "$out/mix" -y 1 --gelu-fusion 0 \
    > "$out/mix_resume.log" 2>&1
if same_logs "$out/cpu_resume.log" "$out/mix_resume.log"; then
    ok "a ./train checkpoint resumed by train_gpu --gelu-fusion 0 continues as ./train does"
else
    bad "resume across backends differs"
fi
grep -q "^matmuls: .*separate kernels" "$out/mix_resume.log" && ok "--gelu-fusion 0 said at start" \
    || bad "no --gelu-fusion 0 line"
grep -q "^profile | matmul forward" "$out/mix_resume.log" && grep -q "^profile | total .*100.0%" "$out/mix_resume.log" \
    && ok "TRAIN_GPU_PROFILE=1: a table of the step's time per kernel family" || bad "no profile table"

# 3. data parallel over (emulated) NCCL
if command -v mpirun > /dev/null && command -v mpicc > /dev/null; then
    g++ "${flags[@]}" -DUSE_MPI -DOMPI_SKIP_MPICXX $(mpicc --showme:compile) -x c++ train.cu -x none \
        -o "$out/train_gpu_mpi" -lm -pthread $(mpicc --showme:link) || exit 1
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
    run=(-x 2 -v 0 -g 0)
    "$out/train_gpu_mpi" "${args[@]}" "${run[@]}" -o "$out/r1" > "$out/r1.log" 2>&1
    mpirun -np 2 --oversubscribe "$out/train_gpu_mpi" "${args[@]}" "${run[@]}" -o "$out/r2" > "$out/r2.log" 2>&1
    mpirun -np 2 --oversubscribe "$out/train_gpu_mpi" "${args[@]}" "${run[@]}" --zero 1 -o "$out/r2z" > "$out/r2z.log" 2>&1
    if [ -n "$(digest "$out/r1.log")" ] && diff <(digest "$out/r1.log") <(digest "$out/r2.log") &&
       diff <(digest "$out/r1.log") <(digest "$out/r2z.log"); then
        ok "2 ranks, and 2 ranks with ZeRO-1, give the 1-rank losses"
    else
        bad "2 ranks differ from 1 (logs in $out)"
    fi
    grep -q "ranks: all 2 hold the same parameters" "$out/r2z.log" && ok "ZeRO-1 ranks agree" || bad "ZeRO-1 ranks disagree"
    cmp -s "$out/r2/state_00000002.bin" "$out/r2z/state_00000002.bin" &&
        cmp -s "$out/r2/model_00000002.bin" "$out/r2z/model_00000002.bin" &&
        ok "all-reduce and ZeRO-1 write identical checkpoints" || bad "ZeRO-1 checkpoint differs"
else
    echo "SKIPPED the NCCL part: mpirun/mpicc not found"
fi
echo "check-cuda-emu-program: $([ "$fails" -eq 0 ] && echo OK || echo FAIL) ($fails failure(s))"
[ "$fails" -eq 0 ]
