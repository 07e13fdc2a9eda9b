#!/usr/bin/env bash
# Data-parallel training with MPI, on one machine: 2 ranks that each compute
# half of every batch give the losses of 1 process with the whole batch (to
# fp32 rounding: the gradient sums are added in another order), with and
# without ZeRO-1; the ranks end with identical parameters; a 2-rank run that
# stopped and resumed continues exactly; a 2-rank checkpoint resumes on 1 rank;
# SIGUSR1 to mpirun stops both ranks cleanly and the run resumes bitwise.
#   bash test/test_mpi.sh path/to/train_built_with_MPI
# Prints `OK|FAIL name` per case and an overall line; exits non-zero on failure.
set -u
TRAIN=${1:-tmp/train_mpi}
[ -x "$TRAIN" ] || { echo "FAIL: $TRAIN not built (make test-mpi builds it)"; exit 1; }
TMP=$(mktemp -d /tmp/test_mpi.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
source "$(dirname "$0")/lib.sh"  # ok, bad, write_tokens, write_model

# one OpenMP thread per rank; root in containers and CI needs the two
# OpenMPI switches; more ranks than cores is fine here
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
mpi() { local np=$1; shift; mpirun -np "$np" --oversubscribe "$TRAIN" "$@"; }

write_model "$TMP/model.bin" 2 4 64 300 32
write_tokens "$TMP/train.bin" 3000 300
write_tokens "$TMP/val.bin" 600 300
# B=4 sequences per micro-step, 2 micro-steps per step, warmup + cosine,
# weight decay and clipping: every part of the update is exercised
COMMON=(-e "$TMP/model.bin" -i "$TMP/train.bin" -j "$TMP/val.bin" -k "$TMP/none" -b 4 -t 16
        -d 128 -l 3e-3 -u 3 -q 0.1 -c 0.1 --clip 0.5 -v 5 -m 2 -g 0 --shuffle 1)

# losses NAME FILE: "step loss norm" per step line, and val losses
losses() { grep -E '^(step|val)' "$2" | sed -E 's/^step ([0-9]+)\/[0-9]+ \| loss ([^ ]+) \| lr [^|]+\| norm ([^ ]+).*/\1 \2 \3/; s/^val loss /val /'; }

# close A B TOL: every number of A within TOL (relative) of B's, same lines
close() {
    perl -e 'my ($fa, $fb, $tol) = @ARGV;
        open(my $a, "<", $fa) or die; open(my $b, "<", $fb) or die;
        my @a = <$a>; my @b = <$b>; my $worst = 0;
        exit 2 if @a != @b || @a == 0;
        for my $i (0..$#a) {
            my @x = split " ", $a[$i]; my @y = split " ", $b[$i];
            exit 2 if @x != @y;
            for my $j (0..$#x) {
                if ($x[$j] =~ /^[0-9]+$/ || $x[$j] !~ /[0-9]/) { exit 2 if $x[$j] ne $y[$j]; next; }
                my $d = abs($x[$j] - $y[$j]) / (abs($y[$j]) > 1e-30 ? abs($y[$j]) : 1);
                $worst = $d if $d > $worst;
            }
        }
        printf "%.1e\n", $worst; exit($worst <= $tol ? 0 : 1);' "$1" "$2" "$3"
}

# ---- 1 rank with the whole batch, the reference
mpi 1 "${COMMON[@]}" -x 10 > "$TMP/one.out" 2>&1 || { bad "1 rank runs"; tail -5 "$TMP/one.out"; }
losses x "$TMP/one.out" > "$TMP/one.loss"
[ "$(grep -c '^step' "$TMP/one.out")" = 10 ] && ok "1 rank: 10 steps" || bad "1 rank: 10 steps"

# ---- 2 ranks, each half of every batch: the same losses and norms
for zero in 0 1; do
    name="2 ranks$([ $zero = 1 ] && echo ', ZeRO-1')"
    if mpi 2 "${COMMON[@]}" -x 10 --zero $zero -o "$TMP/two$zero" > "$TMP/two$zero.out" 2>&1; then
        losses x "$TMP/two$zero.out" > "$TMP/two$zero.loss"
        worst=$(close "$TMP/two$zero.loss" "$TMP/one.loss" 1e-5) \
            && ok "$name: 10 step losses, norms and val losses equal 1 rank's (worst rel diff $worst)" \
            || { bad "$name: losses differ from 1 rank's (worst $worst)"; paste "$TMP/two$zero.loss" "$TMP/one.loss" | head -12; }
        grep -q "^ranks: all 2 hold the same parameters" "$TMP/two$zero.out" \
            && ok "$name: parameters identical on both ranks at the end" \
            || bad "$name: parameter agreement line missing"
        [ "$(grep -c '^step' "$TMP/two$zero.out")" = 10 ] && [ "$(grep -c 'trl' "$TMP/two$zero/main.log")" = 10 ] \
            && ok "$name: rank 0 alone prints and logs (10 lines each)" || bad "$name: output lines"
    else bad "$name runs"; tail -5 "$TMP/two$zero.out"; fi
done
grep -q "ZeRO-1" "$TMP/two1.out" && grep -q "rank(s) of B=2" "$TMP/two1.out" \
    && ok "ZeRO-1 run says so, with B=2 per rank" || bad "ZeRO-1 config line"

# ---- resume with 2 ranks: stop at 6 (checkpoints every 3), resume to 10;
# steps 7-10 must print exactly what the straight 2-rank run printed
for zero in 0 1; do
    name="resume with 2 ranks$([ $zero = 1 ] && echo ', ZeRO-1')"
    mpi 2 "${COMMON[@]}" -x 10 -n 3 --zero $zero -o "$TMP/res$zero" > "$TMP/res${zero}a.out" 2>&1
    rm -f "$TMP/res$zero"/*_00000009.bin "$TMP/res$zero"/*_00000010.bin
    mpi 2 "${COMMON[@]}" -x 10 -n 3 --zero $zero -o "$TMP/res$zero" -y 1 > "$TMP/res${zero}b.out" 2>&1
    if grep -q "resume: from .*model_00000006.bin" "$TMP/res${zero}b.out" \
        && diff <(losses x "$TMP/two$zero.out" | grep -E '^([7-9]|10) ') \
                <(losses x "$TMP/res${zero}b.out" | grep -E '^([7-9]|10) ') > /dev/null \
        && [ "$(losses x "$TMP/res${zero}b.out" | grep -cE '^([7-9]|10) ')" = 4 ]; then
        ok "$name: steps 7-10 identical to the straight run"
    else bad "$name"; tail -5 "$TMP/res${zero}b.out"; fi
done

# ---- a 2-rank ZeRO-1 checkpoint (moments gathered from both shards) resumes
# on 1 rank: to fp32 rounding, the 1-rank run's steps 7-10
mkdir -p "$TMP/moved"
cp "$TMP/res1"/*_00000006.bin "$TMP/moved/"
mpi 1 "${COMMON[@]}" -x 10 -o "$TMP/moved" -y 1 > "$TMP/moved.out" 2>&1
losses x "$TMP/moved.out" | grep -E '^([7-9]|10) ' > "$TMP/moved.loss"
grep -E '^([7-9]|10) ' "$TMP/one.loss" > "$TMP/one7.loss"
worst=$(close "$TMP/moved.loss" "$TMP/one7.loss" 1e-5) \
    && ok "2-rank ZeRO-1 checkpoint resumed on 1 rank: steps 7-10 as 1 rank's (worst rel diff $worst)" \
    || { bad "2-rank checkpoint on 1 rank (worst $worst)"; tail -5 "$TMP/moved.out"; }

# ---- a signal: mpirun kills its ranks on SIGINT/SIGTERM but forwards SIGUSR1;
# rank 0's signal stops every rank after the same step, with one checkpoint;
# resumed, the run ends bitwise equal to a straight 2-rank run (constant lr,
# ZeRO-1, so that the gathered moments are in the state file too)
SIG=(-e "$TMP/model.bin" -i "$TMP/train.bin" -k "$TMP/none" -b 4 -t 16 -v 0 -g 0 --shuffle 1 --zero 1)
mpirun -np 2 --oversubscribe "$TRAIN" "${SIG[@]}" -x 100000 -o "$TMP/sig" > "$TMP/sig.out" 2>&1 &
pid=$!  # mpirun's own pid (not a function's subshell)
for _ in $(seq 600); do grep -q '^step ' "$TMP/sig.out" 2> /dev/null && break; sleep 0.1; done
kill -USR1 "$pid"
wait "$pid" 2> /dev/null
n=$(grep -oE "stopped by SIGUSR1 after step [0-9]+" "$TMP/sig.out" | grep -oE '[0-9]+$')
if [ -n "$n" ] && [ -f "$TMP/sig/state_$(printf %08d "$n").bin" ]; then
    mpi 2 "${SIG[@]}" -x $((n + 2)) -o "$TMP/sig" -y 1 > "$TMP/sig2.out" 2>&1
    mpi 2 "${SIG[@]}" -x $((n + 2)) -o "$TMP/sigref" > "$TMP/sigref.out" 2>&1
    f=$(printf %08d $((n + 2)))
    cmp -s "$TMP/sig/model_$f.bin" "$TMP/sigref/model_$f.bin" && cmp -s "$TMP/sig/state_$f.bin" "$TMP/sigref/state_$f.bin" \
        && ok "SIGUSR1 to mpirun: both ranks stopped after step $n with a checkpoint; resumed, bitwise a straight run" \
        || bad "SIGUSR1: the resumed 2-rank run differs from the straight one"
else bad "SIGUSR1 to mpirun: no clean stop"; tail -5 "$TMP/sig.out"; fi

# ---- bad input: a batch that does not split over the ranks
mpi 2 "${COMMON[@]}" -b 3 -d 0 -x 1 > "$TMP/odd.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "does not split over 2 ranks" "$TMP/odd.out" \
    && ok "-b 3 on 2 ranks: clear error, exit $rc" || { bad "-b 3 on 2 ranks (exit $rc)"; tail -3 "$TMP/odd.out"; }

echo "$([ $fail = 0 ] && echo PASS || echo FAIL): $pass of $((pass + fail)) MPI checks passed"
[ $fail = 0 ]
