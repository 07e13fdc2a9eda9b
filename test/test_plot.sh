#!/usr/bin/env bash
# test/test_plot.sh: dev/plot_loss on fixed small logs. One line per case
# (OK|FAIL name), an overall line, exit 1 on any failure.
#   bash test/test_plot.sh [dev/plot_loss]
set -uo pipefail
PLOT=${1:-dev/plot_loss}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/test_plot.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
fails=0

ok() { echo "OK   $1"; }
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

# points N CLASS SVG: the number of x,y pairs in <polyline class="CLASS">
points() {
    grep -o "<polyline class=\"$1\"[^>]*points=\"[^\"]*\"" "$2" | sed 's/.*points="//; s/"$//' | wc -w
}

# attr AXIS NAME SVG: data-NAME of <g id="AXIS">
attr() {
    grep -o "<g id=\"$1\"[^>]*>" "$3" | sed "s/.*data-$2=\"\\([^\"]*\\)\".*/\\1/"
}

# expect_fail NAME WHAT LOG: dev/plot_loss must exit 1, say WHAT on stderr,
# and leave no SVG
expect_fail() {
    local name=$1 what=$2 log=$3 err
    rm -f "$DIR/out.svg"
    err=$("$PLOT" "$log" "$DIR/out.svg" 2>&1 > /dev/null)
    local rc=$?
    if [ $rc -ne 1 ]; then bad "$name" "exit status $rc, expected 1"
    elif ! grep -q "$what" <<< "$err"; then bad "$name" "message '$err' lacks '$what'"
    elif [ -e "$DIR/out.svg" ]; then bad "$name" "an SVG was written"
    else ok "$name ($err)"; fi
}

# 1. a run of 6 steps, val every 2, resumed from step 4 (steps 5 and 6 and the
#    val at 6 logged twice: the later lines win), plus a line of another kind
cat > "$DIR/run.log" <<'EOF'
s:0 tel:10.900000
s:1 trl:10.800000 lr:1.0e-03 norm:3.0 ms:10.0 tok/s:100.0
s:2 trl:9.500000 lr:1.0e-03 norm:3.0 ms:10.0 tok/s:100.0
s:2 tel:9.700000
s:3 trl:8.100000 lr:1.0e-03 norm:3.0 ms:10.0 tok/s:100.0
s:4 trl:7.300000 lr:1.0e-03 norm:3.0 ms:10.0 tok/s:100.0
s:4 tel:7.600000
s:5 trl:99.000000 lr:1.0e-03 norm:3.0 ms:10.0 tok/s:100.0
s:6 trl:99.000000 lr:1.0e-03 norm:3.0 ms:10.0 tok/s:100.0
s:6 tel:99.000000
s:5 trl:6.900000 lr:1.0e-03 norm:3.0 ms:10.0 tok/s:100.0
s:5 eta:12s
s:6 trl:6.200000 lr:1.0e-03 norm:3.0 ms:10.0 tok/s:100.0
s:6 tel:6.500000
EOF
if out=$("$PLOT" "$DIR/run.log" "$DIR/run.svg" 2> "$DIR/err"); then
    svg=$DIR/run.svg
    nt=$(points train "$svg"); nv=$(points val "$svg")
    [ "$nt" = 6 ] && ok "train polyline has 6 points (steps 1..6, repeats dropped)" || bad "train points" "$nt, expected 6"
    [ "$nv" = 4 ] && ok "val polyline has 4 points (steps 0 2 4 6)" || bad "val points" "$nv, expected 4"
    xr="$(attr x-axis min "$svg")..$(attr x-axis max "$svg")"
    yr="$(attr y-axis min "$svg")..$(attr y-axis max "$svg")"
    [ "$xr" = "0..6" ] && ok "x axis 0..6" || bad "x axis" "$xr, expected 0..6"
    [ "$yr" = "6..11" ] && ok "y axis 6..11 (the 99s of the abandoned run are gone)" || bad "y axis" "$yr, expected 6..11"
    grep -q 'repeated step' "$DIR/err" && ok "repeated steps reported" || bad "repeats" "no note on stderr"
    grep -q 'train loss' "$svg" && grep -q 'val loss' "$svg" && grep -q '>step<' "$svg" \
        && ok "legend and axis labels" || bad "labels" "legend or axis label missing"
    grep -q '6 train and 4 val points' <<< "$out" && ok "summary line" || bad "summary" "$out"
    [ ! -e "$svg.tmp" ] && ok "no temporary file left" || bad "tmp" "$svg.tmp left behind"
else
    bad "plot of a resumed log" "$(cat "$DIR/err")"
fi

# 2. val only, and --ymin/--ymax
printf 's:0 tel:5.0\ns:10 tel:4.0\n' > "$DIR/val.log"
if "$PLOT" "$DIR/val.log" "$DIR/val.svg" --ymin 3 --ymax 6 > /dev/null 2>&1; then
    nt=$(points train "$DIR/val.svg"); nv=$(points val "$DIR/val.svg")
    yr="$(attr y-axis min "$DIR/val.svg")..$(attr y-axis max "$DIR/val.svg")"
    [ "$nt" = 0 ] && [ "$nv" = 2 ] && [ "$yr" = "3..6" ] && ok "val-only log, --ymin 3 --ymax 6" \
        || bad "val-only" "train $nt val $nv y $yr"
else
    bad "val-only" "exit status $?"
fi

# 3. bad input: a message and exit status 1, no picture
: > "$DIR/empty.log"
expect_fail "empty log" "no loss lines" "$DIR/empty.log"
printf 'step 1/10 | loss 5.0\n' > "$DIR/stdout.log"
expect_fail "not a log (./train's stdout)" "malformed line" "$DIR/stdout.log"
printf 's:1 trl:5.0\ns:2 trl:\n' > "$DIR/noval.log"
expect_fail "missing number" "main.log\|malformed" "$DIR/noval.log"
printf 's:1 trl:nan\n' > "$DIR/nan.log"
expect_fail "NaN loss" "malformed line" "$DIR/nan.log"
printf 's:x trl:5.0\n' > "$DIR/step.log"
expect_fail "step not a number" ":1: malformed" "$DIR/step.log"
printf 's:-3 trl:5.0\n' > "$DIR/neg.log"
expect_fail "negative step" "malformed" "$DIR/neg.log"
printf 's:1 lr:0.1\n' > "$DIR/nolosses.log"
expect_fail "no trl/tel lines" "no loss lines" "$DIR/nolosses.log"
expect_fail "missing file" "cannot open" "$DIR/nonexistent.log"
# fuzzing regressions (test/fuzz/, make fuzz): each must finish, plot or refuse
REG=$(dirname "$0")/fixtures/fuzz_regressions
timeout 20 "$PLOT" "$REG/plot_tick_below_rounding.log" "$DIR/reg.svg" > /dev/null 2>&1
rc=$?
[ $rc -eq 0 ] && [ -s "$DIR/reg.svg" ] && ok "losses 1e16 and 1e16+2: the axis ends (tick below rounding)" \
    || bad "tick below rounding" "exit status $rc (124: it hung)"
if "$PLOT" "$DIR/run.log" > /dev/null 2>&1; then bad "one argument" "accepted"; else ok "one argument: usage, exit $?"; fi
if "$PLOT" "$DIR/run.log" "$DIR/x.svg" --ymin 5 --ymax 4 > /dev/null 2>&1; then bad "--ymin > --ymax" "accepted"; else ok "--ymin > --ymax refused"; fi

if [ $fails -eq 0 ]; then echo "test_plot: all OK"; else echo "test_plot: $fails FAILED"; exit 1; fi
