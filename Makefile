# Makefile for the GPT-2 trainer in C.
#   make            build ./train and ./tokenizer (OpenMP when the compiler has it)
#   make test       run every offline test (no GPU, no Python, no network)
#   make bench      ./train against PyTorch on this CPU, side by side
# Overridable: CC, OPT (optimisation flags), NO_OMP=1 (build without OpenMP).

ifeq ($(origin CC),default)
  CC = gcc
endif
OPT ?= -O3
WARN = -Wall -Wextra
CFLAGS_BASE = -std=c11 $(WARN) -D_GNU_SOURCE
LDLIBS = -lm

# -march=native when the compiler takes it (not every compiler or target does).
MARCH := $(shell echo 'int main(void){return 0;}' | $(CC) -march=native -x c - -o /dev/null 2>/dev/null && echo -march=native)

# OpenMP: probe by compiling and linking a tiny program that calls the runtime.
ifeq ($(NO_OMP),1)
  OMP_FLAGS :=
else
  OMP_FLAGS := $(shell printf '\043include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
endif
ifeq ($(OMP_FLAGS),)
  # single-threaded: keep the `omp simd` vectorisation hints when the compiler
  # has them, and let it skip the other pragmas quietly
  OMP_FLAGS := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp-simd -x c - -o /dev/null 2>/dev/null && echo -fopenmp-simd) -Wno-unknown-pragmas
  $(info OpenMP: not found, building single-threaded ($(OMP_FLAGS)))
else
  $(info OpenMP: $(OMP_FLAGS))
endif

# -ffp-contract=fast: fuse a*b+c into one FMA instruction (ISO C mode turns
# that off by default); twice the matmul speed, and each FMA rounds once
# instead of twice. The PyTorch parity tests pass at the same tolerances.
CFLAGS = $(CFLAGS_BASE) $(OPT) $(MARCH) -ffp-contract=fast $(OMP_FLAGS)
# The sanitizer build of the tests: address + undefined behaviour, no recovery.
SAN_FLAGS = $(CFLAGS_BASE) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all $(OMP_FLAGS)

.PHONY: all test test-train test-tokenizer test-import test-mutations run bench clean

all: train tokenizer

# MPI=1: ./train with data parallelism over MPI ranks (mpicc from Debian's
# libopenmpi-dev): mpirun -np N ./train ... ; tmp/train.flags makes a change
# of compiler or flags (MPI=1 or not) rebuild ./train.
TRAIN_CC = $(if $(filter 1,$(MPI)),mpicc,$(CC))
TRAIN_FLAGS = $(CFLAGS) $(if $(filter 1,$(MPI)),-DUSE_MPI)
tmp/train.flags: FORCE
	@mkdir -p tmp; echo '$(TRAIN_CC) $(TRAIN_FLAGS)' | cmp -s - $@ || echo '$(TRAIN_CC) $(TRAIN_FLAGS)' > $@
.PHONY: FORCE

# train.c includes tokenizer.c (the encoder for --prompt, the checked helpers)
TRAIN_SRC = train.c tokenizer.c tokenizer_unicode.h

train: $(TRAIN_SRC) tmp/train.flags
	$(TRAIN_CC) $(TRAIN_FLAGS) $< -o $@ $(LDLIBS)

# ---- tokenizer ---------------------------------------------------------------
# tokenizer: encode/decode/shard/train/import (tokenizer_unicode.h is generated
# by dev/tiktoken/gen_unicode.js and committed).
# test-tokenizer: test/test_tokenizer.sh with the optimised build, a sanitizer
# build (address + undefined) and a sanitizer build whose BPE takes the heap
# path for every piece; offline, uses ../shared/data when present.
# bench-tokenizer: encode MB/s of ./tokenizer and of tiktoken (npm, in node),
# side by side, one thread each (needs: cd dev/tiktoken && npm install).
# data: GPT-2's vocabulary and tinyshakespeare as GPT-2 token shards (data/prepare.sh).
.PHONY: bench-tokenizer data
TOKENIZER_SRC = tokenizer.c tokenizer_unicode.h
TOKENIZER_TEST_BINS = tmp/tokenizer_asan tmp/tokenizer_asan_heap tmp/tokenizer_testgen tmp/tokenizer_train_check

tokenizer: $(TOKENIZER_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

tmp/tokenizer_asan: $(TOKENIZER_SRC)
	@mkdir -p tmp
	$(CC) $(SAN_FLAGS) $< -o $@ $(LDLIBS)

tmp/tokenizer_asan_heap: $(TOKENIZER_SRC)
	@mkdir -p tmp
	$(CC) $(SAN_FLAGS) -DBPE_SMALL_MAX=1 $< -o $@ $(LDLIBS)

tmp/tokenizer_testgen: test/tokenizer_testgen.c
	@mkdir -p tmp
	$(CC) $(CFLAGS_BASE) -O2 $< -o $@

tmp/tokenizer_train_check: test/tokenizer_train_check.c $(TOKENIZER_SRC)
	@mkdir -p tmp
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

test-tokenizer: tokenizer $(TOKENIZER_TEST_BINS)
	bash test/test_tokenizer.sh ./tokenizer $(TOKENIZER_TEST_BINS)

bench-tokenizer: tokenizer
	bash dev/tiktoken/bench.sh

data: tokenizer
	bash data/prepare.sh

# ---- train tests ---------------------------------------------------------------
# test_train: PyTorch parity, finite differences, overfit, resume, files, bill.
# test_cli.sh: ./train as a program (bad input, dry run, checkpoints, resume).
# Both run twice: optimised, and built with address + undefined sanitizers.
# The CLI's error paths exit() on purpose without freeing, so leak checks are
# off there (they stay on for test_train).
FIXTURE = test/fixtures/gpt2_tiny.bin

test/test_train: test/test_train.c $(TRAIN_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

test/test_train_asan: test/test_train.c $(TRAIN_SRC)
	$(CC) $(SAN_FLAGS) $< -o $@ $(LDLIBS)

test/train_asan: $(TRAIN_SRC)
	$(CC) $(SAN_FLAGS) $< -o $@ $(LDLIBS)

dev/cpu/matmul: dev/cpu/matmul.c $(TRAIN_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

test-train: test/test_train test/test_train_asan train test/train_asan dev/cpu/matmul
	./test/test_train $(FIXTURE)
	./test/test_train_asan $(FIXTURE)
	./dev/cpu/matmul 100 50 70 1    # the kernel against its plain loops: partial tiles,
	./dev/cpu/matmul 130 300 1100 1 # several k blocks and column groups
	bash test/test_cli.sh ./train
	ASAN_OPTIONS=detect_leaks=0 bash test/test_cli.sh ./test/train_asan

# ---- kernel lab ------------------------------------------------------------------
# dev/cpu: train.c's hot CPU kernels (matmul, attention, classifier), versions
# side by side, each checked against its plain loops (dev/README.md).
# test-cpu-lab: the checks only, at small odd shapes (part of make test).
# bench-cpu: the timings at GPT-2 124M shapes, against this machine's SGEMM
# peak measured in the same run (dev/cpu/bench.sh; THREADS, default 2).
# cuda-lab: every dev/cuda/<op>.cu (nvcc; no GPU needed to build); run them on a
# GPU with bash dev/cuda/run_all.sh.
# cuda-lab-emu: every version of every op run on the CPU under dev/cuda_emu's
# emulation, checked against train.c (g++; slow, minutes; not part of make test).
.PHONY: test-cpu-lab bench-cpu cuda-lab cuda-lab-emu
CPU_LAB = dev/cpu/matmul dev/cpu/attention dev/cpu/classifier
THREADS ?= 2
dev/cpu/matmul: dev/cpu/lab.h
dev/cpu/attention: dev/cpu/attention.c dev/cpu/lab.h $(TRAIN_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)
dev/cpu/classifier: dev/cpu/classifier.c dev/cpu/lab.h $(TRAIN_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

test-cpu-lab: $(CPU_LAB)
	./dev/cpu/matmul 37 61 45 0         # partial register tiles in every direction
	./dev/cpu/attention 2 17 64 4 0     # odd T, hs 16
	./dev/cpu/attention 1 70 96 2 0     # hs 48
	./dev/cpu/classifier 5 1000 0       # V not a multiple of the padding

bench-cpu: $(CPU_LAB)
	bash dev/cpu/bench.sh $(THREADS)

cuda-lab:
	$(MAKE) -C dev/cuda

cuda-lab-emu:
	bash dev/cuda/emu/run.sh

# ---- import of Hugging Face GPT-2 weights ----------------------------------------
# import_hf: model.safetensors (gpt2 .. gpt2-xl; F32/F16/BF16) -> model file.
# test-import: the imported fixtures' logits against PyTorch's (fixtures from
# dev/reference.py --hf), then bad input through a sanitizer build.
import_hf: import_hf.c $(TRAIN_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

test/test_import_hf: test/test_import_hf.c $(TRAIN_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

tmp/import_hf_asan: import_hf.c $(TRAIN_SRC)
	@mkdir -p tmp
	$(CC) $(SAN_FLAGS) $< -o $@ $(LDLIBS)

test-import: import_hf test/test_import_hf tmp/import_hf_asan
	bash test/test_import_hf.sh ./import_hf ./test/test_import_hf tmp/import_hf_asan

# mutation check: breaks each backward (and AdamW) in a copy of train.c and
# shows that test_train then fails; slow, so not part of `make test`
test-mutations:
	bash dev/mutation_check.sh

test: test-train test-tokenizer test-import test-plot test-mpi test-cpu-lab test-cuda

# test-cuda: the GPU trainer without a GPU. With nvcc: every .cu compiled
# (check-cuda), and test_gpu built for sm_80 and run (on a GPU it compares
# with train.c; without one it says SKIPPED). Always: train.cu's kernels and
# the whole GPU trainer run on the CPU under dev/cuda_emu (check-cuda-emu).
.PHONY: test-cuda
test-cuda: check-cuda-emu
	@if [ -x "$(NVCC)" ]; then $(MAKE) check-cuda && $(MAKE) test_gpu GPU_ARCH=$(or $(GPU_ARCH),sm_80); \
	else echo "SKIPPED check-cuda: nvcc not found (CUDA in /usr/local/cuda, or NVCC=path)"; fi

# test-mpi: 2 MPI ranks against 1 process with the whole batch, ZeRO-1,
# resume (test/test_mpi.sh); skipped when mpicc/mpirun are not installed
# (apt-get install openmpi-bin libopenmpi-dev).
.PHONY: test-mpi
tmp/train_mpi: $(TRAIN_SRC)
	@mkdir -p tmp
	mpicc $(CFLAGS) -DUSE_MPI $< -o $@ $(LDLIBS)
ifneq ($(shell command -v mpicc 2>/dev/null),)
test-mpi: tmp/train_mpi
	bash test/test_mpi.sh tmp/train_mpi
else
test-mpi:
	@echo "SKIPPED test-mpi: mpicc not found (apt-get install openmpi-bin libopenmpi-dev)"
endif

# ---- the quick start and the benchmark -------------------------------------------
# run: data, then a small GPT-2 (d6 shape, GPT-2 vocabulary) trained for a few
# minutes on the CPU, with val loss and a sample; model, state, log and the
# loss curve (loss.svg) in RUN_OUT. DATA=text.txt trains on that text instead
# of tinyshakespeare (shards in data/NAME/, NAME = the file name without its
# extension; val = the first 10% of its tokens).
RUN_STEPS ?= 150
RUN_OUT ?= out/run
RUN_GEN ?= 128
RUN_PREFIX = data/$(if $(DATA),$(basename $(notdir $(DATA))),tinyshakespeare)/gpt2
run: train tokenizer dev/plot_loss
	DATA='$(DATA)' OUT_PREFIX='$(RUN_PREFIX)' bash data/prepare.sh
	./train -e d6 -b 4 -t 64 -x $(RUN_STEPS) -l 1e-3 -u 10 -q 0.1 -v 50 -m 10 -g $(RUN_GEN) \
		-i '$(RUN_PREFIX)_train_*.bin' -j '$(RUN_PREFIX)_val_*.bin' -o $(RUN_OUT)
	./dev/plot_loss $(RUN_OUT)/main.log $(RUN_OUT)/loss.svg

# bench: ./train against PyTorch (Debian's python3-torch) on this CPU, same
# shapes, same threads, side by side (dev/bench_cpu.sh)
bench: train
	bash dev/bench_cpu.sh

# ---- quick start picture, recipe, baseline (issue 7) ------------------------------
# plot: DIR/main.log -> an SVG of train and val loss against step
#       (dev/plot_loss.c, plain C, no gnuplot); LOG=... SVG=... to choose.
# recipe: data/recipe_shakespeare.sh, the README's results table: d6 from
#       scratch on tinyshakespeare, GPT-2's and a learned vocabulary, each
#       beside an add-k bigram baseline (dev/bigram.c). Long: see README, Results.
.PHONY: plot recipe
LOG ?= out/run/main.log
SVG ?= $(dir $(LOG))loss.svg

dev/plot_loss: dev/plot_loss.c
	$(CC) $(CFLAGS_BASE) -O2 $< -o $@ $(LDLIBS)

dev/bigram: dev/bigram.c
	$(CC) $(CFLAGS_BASE) -O2 $< -o $@ $(LDLIBS)

plot: dev/plot_loss
	./dev/plot_loss $(LOG) $(SVG)

recipe: train tokenizer dev/bigram dev/plot_loss
	bash data/recipe_shakespeare.sh

# test-plot: dev/plot_loss on fixed logs (point counts, axis ranges, resumed
#       logs, bad input). Part of `make test`.
# test-quickstart: `make run` shortened for CI, offline: a small committed text
#       (test/fixtures/quickstart.txt), 4 steps, a short sample; checks that the
#       model, the training state and the picture are there. GPT-2's vocabulary
#       from ../shared/data/gpt2 (or GPT2_VOCAB_DIR).
.PHONY: test-plot test-quickstart
QS_OUT = tmp/quickstart
test-plot: dev/plot_loss
	bash test/test_plot.sh ./dev/plot_loss

test-quickstart:
	rm -rf $(QS_OUT)
	$(MAKE) --no-print-directory run DATA=test/fixtures/quickstart.txt RUN_STEPS=4 RUN_GEN=16 RUN_OUT=$(QS_OUT)
	test -s $(QS_OUT)/model_00000004.bin && test -s $(QS_OUT)/state_00000004.bin
	grep -q '<polyline class="train"' $(QS_OUT)/loss.svg && grep -q '<polyline class="val"' $(QS_OUT)/loss.svg
	@echo "test-quickstart: OK (model, state and $(QS_OUT)/loss.svg written)"

# ---- GPU ---------------------------------------------------------------------------
# train_gpu: the GPU trainer (train.cu includes train.c) built with nvcc.
#   make train_gpu                  bf16 mixed precision, fp32 master weights
#   make train_gpu PRECISION=FP32   all fp32: exact comparisons with ./train
#   make train_gpu MPI=1            + NCCL over MPI: mpirun -np N ./train_gpu ...
#   GPU_ARCH=sm_90                  the architecture; default: the compute
#                                   capability nvidia-smi reports, else a fat
#                                   binary for sm_80 sm_86 sm_89 sm_90 sm_120
# test_gpu: test/test_gpu, the GPU against train.c in one process (prints
#   SKIPPED and passes without a GPU); the same PRECISION flag.
# check-cuda: what CI runs without a GPU: every .cu (train.cu, test_gpu.cu and
#   the dev/cuda lab) compiled in FP32 and BF16 for sm_80, all warnings errors.
# check-cuda-emu: train.cu on the CPU under a small CUDA emulation (dev/cuda_emu:
#   std::threads as CUDA threads, real barriers and shuffles, cuBLASLt's
#   matmuls by their definition): each kernel against its train.c twin, then
#   test_gpu's checks of the whole trainer; g++ only, about 2.5 min on 2 cores.
# check-cuda-emu-program: the emulated ./train_gpu program against ./train
#   (same losses, resume of a CPU checkpoint, 2 MPI ranks and ZeRO-1 over
#   NCCL done by MPI); about 10 min on 2 cores.
# gpu-check: on a GPU machine: builds, test_gpu in both precisions, the lab's
#   checks, then GPT-2 124M tokens/s and MFU (dev/gpu_check.sh; results also
#   in $OUT/gpu-check.txt when OUT is set, else tmp/gpu-check.txt).
.PHONY: test_gpu check-cuda check-cuda-emu check-cuda-emu-program gpu-check
NVCC ?= $(shell command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)
PRECISION ?= BF16
ifeq ($(filter FP32 BF16,$(PRECISION)),)
  $(error PRECISION=$(PRECISION): use BF16 (the default) or FP32)
endif
# evaluated only when a GPU target is built ('=' is lazy)
GPU_CAP = $(shell nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | grep -E '^[0-9]+\.[0-9]+$$' | tr -d .)
GPU_FAT = -gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 \
          -gencode arch=compute_89,code=sm_89 -gencode arch=compute_90,code=sm_90 \
          -gencode arch=compute_120,code=[sm_120,compute_120]
GPU_ARCH_FLAGS = $(if $(GPU_ARCH),-arch=$(GPU_ARCH),$(if $(GPU_CAP),-arch=sm_$(GPU_CAP),$(GPU_FAT)))
# host code: the same warnings as the C build, as errors; device code too
NVCC_WARN = -Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror
NVCC_BASE = -O3 -std=c++17 -lineinfo $(NVCC_WARN) -Xcompiler -fopenmp
NVCC_PREC = $(if $(filter FP32,$(PRECISION)),-DENABLE_FP32)
# MPI=1: OpenMPI's include and link flags from mpicc (the C API: its C++
# bindings are skipped, they do not build warning-free), and NCCL (from the
# CUDA install)
NVCC_MPI_ON = -DUSE_MPI -DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX $(shell mpicc --showme:compile)
NVCC_MPI = $(if $(filter 1,$(MPI)),$(NVCC_MPI_ON))
NVCC_MPI_LIBS = $(if $(filter 1,$(MPI)),$(shell mpicc --showme:link) -lnccl)
NVCC_LIBS = -lcublasLt -lcublas -lgomp
GPU_SRC = train.cu train_kernels.cuh cuda_common.h $(TRAIN_SRC)

tmp/train_gpu.flags: FORCE
	@mkdir -p tmp; echo '$(NVCC) $(NVCC_BASE) $(NVCC_PREC) $(NVCC_MPI) $(GPU_ARCH_FLAGS)' | cmp -s - $@ || \
	  echo '$(NVCC) $(NVCC_BASE) $(NVCC_PREC) $(NVCC_MPI) $(GPU_ARCH_FLAGS)' > $@

train_gpu: $(GPU_SRC) tmp/train_gpu.flags
	@echo "nvcc: $(NVCC); arch: $(GPU_ARCH_FLAGS); precision: $(PRECISION)$(if $(filter 1,$(MPI)),; MPI + NCCL)"
	$(NVCC) $(NVCC_BASE) $(NVCC_PREC) $(NVCC_MPI) $(GPU_ARCH_FLAGS) $< -o $@ $(NVCC_LIBS) $(NVCC_MPI_LIBS)

test/test_gpu: test/test_gpu.cu $(GPU_SRC) tmp/train_gpu.flags
	$(NVCC) $(NVCC_BASE) $(NVCC_PREC) $(GPU_ARCH_FLAGS) $< -o $@ $(NVCC_LIBS)

test_gpu: test/test_gpu
	./test/test_gpu

# one architecture, both precisions, objects only (-c: no link, half the time)
check-cuda:
	@mkdir -p tmp/check-cuda
	$(NVCC) $(NVCC_BASE) -arch=sm_80 -c train.cu -o tmp/check-cuda/train_bf16.o
	$(NVCC) $(NVCC_BASE) -arch=sm_80 -DENABLE_FP32 -c train.cu -o tmp/check-cuda/train_fp32.o
	$(NVCC) $(NVCC_BASE) -arch=sm_80 -c test/test_gpu.cu -o tmp/check-cuda/test_gpu_bf16.o
	$(NVCC) $(NVCC_BASE) -arch=sm_80 -DENABLE_FP32 -c test/test_gpu.cu -o tmp/check-cuda/test_gpu_fp32.o
	@if command -v mpicc > /dev/null; then echo "train.cu with MPI + NCCL:"; \
	  $(NVCC) $(NVCC_BASE) -arch=sm_80 $(NVCC_MPI_ON) -c train.cu -o tmp/check-cuda/train_nccl.o; \
	else echo "check-cuda: mpicc not found, the NCCL path is not compiled"; fi
	@if [ -f dev/cuda/Makefile ]; then $(MAKE) -C dev/cuda GPU_ARCH=sm_80; fi
	@echo "check-cuda: OK (train.cu and test_gpu.cu, FP32 and BF16, sm_80, no warnings)"

check-cuda-emu:
	bash dev/cuda_emu/run.sh

check-cuda-emu-program:
	bash dev/cuda_emu/run_program.sh

gpu-check:
	bash dev/gpu_check.sh

clean:
	rm -f train tokenizer test/test_train test/test_train_asan test/train_asan dev/cpu/matmul
	rm -f dev/cpu/attention dev/cpu/classifier
	rm -f import_hf test/test_import_hf
	rm -f train_gpu test/test_gpu
	rm -rf tmp
