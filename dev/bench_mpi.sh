#!/usr/bin/env bash
# Step time of data-parallel training on this machine: 1 rank with all the
# threads against N ranks (MPI, one thread each), same model and total batch,
# interleaved runs; prints min/median ms per step of each.
#   bash dev/bench_mpi.sh [preset] [B] [T] [ranks] [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${1:-d6} B=${2:-8} T=${3:-64} NP=${4:-2} REPEATS=${5:-3}
BIN=tmp/train_mpi
[ -x "$BIN" ] || make "$BIN" > /dev/null
# ./train's default data (tinyshakespeare): prepared here when missing
# (data/prepare.sh: from ../shared when present, else downloaded and verified)
if ! compgen -G 'data/tinyshakespeare/gpt2_train_*.bin' > /dev/null; then
    echo "bench_mpi.sh: preparing the default data first (make data)" >&2
    make data > /dev/null
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ARGS=(-e "$PRESET" -b "$B" -t "$T" -x 6 -v 0 -g 0)
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
# ms of steps 2.. (step 1 warms the caches)
ms() { grep '^step' "$1" | tail -n +2 | sed -E 's/.*\| ms ([0-9.]+).*/\1/'; }
for r in $(seq "$REPEATS"); do
    # --bind-to none: with 2 or fewer ranks OpenMPI binds each rank to one core,
    # which would put the single rank's threads all on one core
    OMP_NUM_THREADS=$NP mpirun -np 1 --bind-to none "$BIN" "${ARGS[@]}" > "$TMP/one.$r" 2>&1
    OMP_NUM_THREADS=1 mpirun -np "$NP" --oversubscribe "$BIN" "${ARGS[@]}" > "$TMP/many.$r" 2>&1
done
stats() { sort -n | awk '{a[NR]=$1} END {printf "min %.1f median %.1f ms/step (%d steps)", a[1], a[int((NR+1)/2)], NR}'; }
echo "$PRESET B=$B T=$T, $REPEATS interleaved runs of 5 timed steps each"
echo "1 rank x $NP threads : $(for f in "$TMP"/one.*; do ms "$f"; done | stats)"
echo "$NP ranks x 1 thread: $(for f in "$TMP"/many.*; do ms "$f"; done | stats)"
