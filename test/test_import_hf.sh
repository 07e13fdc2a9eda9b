#!/usr/bin/env bash
# Tests of ./import_hf (Hugging Face GPT-2 safetensors -> model file):
#   bash test/test_import_hf.sh IMPORT_HF CHECK [IMPORT_HF_ASAN]
# CHECK is test/test_import_hf built: it compares the imported model's logits
# with PyTorch's (the fixtures test/fixtures/hf_*, from dev/reference.py --hf).
# Then bad input: each must exit 1 with a clear message, never crash (run with
# the sanitizer build when given). Prints OK|FAIL per case and an overall line.
set -u
IMPORT=${1:-./import_hf}
CHECK=${2:-./test/test_import_hf}
BAD=${3:-$IMPORT}
FX=test/fixtures
for b in "$IMPORT" "$CHECK" "$BAD"; do [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }; done
TMP=$(mktemp -d /tmp/test_import_hf.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
ok()  { echo "OK   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

# ---- the imports: F32 with the "transformer." prefix, the mask buffers and a
# tied lm_head; and F16/BF16/F32 mixed, no prefix, data in reverse order
for case in "f32 4" "mixed 2"; do
    set -- $case
    if "$IMPORT" "$FX/hf_$1.safetensors" "$TMP/$1.bin" --heads "$2" > "$TMP/out" 2>&1; then
        if "$CHECK" "$TMP/$1.bin" "$FX/hf_$1.logits.bin" > "$TMP/check" 2>&1; then
            ok "hf_$1: $(cat "$TMP/check" | cut -c6-)"
        else bad "hf_$1: $(cat "$TMP/check")"; fi
    else bad "import hf_$1: $(tail -3 "$TMP/out")"; fi
done
"$BAD" "$FX/hf_mixed.safetensors" "$TMP/asan.bin" --heads 2 > /dev/null 2>&1 \
    && cmp -s "$TMP/asan.bin" "$TMP/mixed.bin" && ok "sanitizer build writes the same model file" \
    || bad "sanitizer build of the import"

# expect_error NAME PATTERN ARGS...: exit status 1 and PATTERN on stderr
expect_error() {
    local name=$1 pattern=$2; shift 2
    "$BAD" "$@" > "$TMP/eout" 2> "$TMP/err"
    local rc=$?
    if [ $rc -ne 1 ]; then bad "$name (exit $rc, expected 1)"; head -5 "$TMP/err"; return; fi
    if ! grep -qiE -- "$pattern" "$TMP/err"; then bad "$name (message lacks /$pattern/)"; head -5 "$TMP/err"; return; fi
    ok "$name: $(grep -m1 -i error "$TMP/err" | cut -c1-110)"
}

# ---- bad input
expect_error "no arguments" "needs MODEL" 
expect_error "--heads out of range" "--heads" "$FX/hf_f32.safetensors" "$TMP/x.bin" --heads 0
expect_error "width not in GPT-2's table without --heads" "--heads NH" "$FX/hf_f32.safetensors" "$TMP/x.bin"
expect_error "C not a multiple of --heads" "not a multiple" "$FX/hf_f32.safetensors" "$TMP/x.bin" --heads 5
expect_error "missing file" "cannot open" "$TMP/nope.safetensors" "$TMP/x.bin" --heads 4
: > "$TMP/empty"
expect_error "empty file" "too short" "$TMP/empty" "$TMP/x.bin"
expect_error "foreign file (a train.c fixture)" "not a safetensors file" "$FX/gpt2_tiny.bin" "$TMP/x.bin"
head -c -1000 "$FX/hf_f32.safetensors" > "$TMP/trunc.safetensors"
expect_error "truncated download" "truncated" "$TMP/trunc.safetensors" "$TMP/x.bin" --heads 4
head -c 200 "$FX/hf_f32.safetensors" > "$TMP/cut.safetensors"
expect_error "cut inside the header" "not a safetensors file" "$TMP/cut.safetensors" "$TMP/x.bin" --heads 4
# the JSON broken, a shape changed, an extra tensor name: edit the header in place
edit_header() {  # edit_header OUT PERL_SUBSTITUTION: same length, so the offsets stay put
    perl -e 'local $/; open(my $f,"<:raw",$ARGV[0]) or die; my $d=<$f>; my $n=unpack("Q<",$d);
             my $h=substr($d,8,$n); my $before=length($h); eval "\$h =~ $ARGV[2]"; die if length($h)!=$before;
             open(my $o,">:raw",$ARGV[1]) or die; print $o substr($d,0,8).$h.substr($d,8+$n);' \
        "$FX/hf_mixed.safetensors" "$1" "$2"
}
edit_header "$TMP/json.st" 's/"shape"/"shap\x01"/'
expect_error "header JSON broken" "not the expected JSON" "$TMP/json.st" "$TMP/x.bin" --heads 2
edit_header "$TMP/shape.st" 's/"wpe.weight":\{"dtype":"BF16","shape":\[16,32\]/"wpe.weight":{"dtype":"BF16","shape":[32,16]/'
expect_error "a tensor of the wrong shape" "wte.*wpe|has shape" "$TMP/shape.st" "$TMP/x.bin" --heads 2
edit_header "$TMP/extra.st" 's/"ln_f.bias"/"ln_x.bias"/'
expect_error "a tensor GPT-2 lacks" "has no tensor 'ln_f.bias'|unexpected tensor" "$TMP/extra.st" "$TMP/x.bin" --heads 2
edit_header "$TMP/dtype.st" 's/"F16"/"F64"/'
expect_error "offsets that do not match the dtype" "need [0-9]+ bytes" "$TMP/dtype.st" "$TMP/x.bin" --heads 2
perl -e 'print pack("Q<", 1 << 40), "{}"' > "$TMP/huge.st"
expect_error "header length beyond the file" "header length" "$TMP/huge.st" "$TMP/x.bin"
[ ! -e "$TMP/x.bin" ] && ok "no output file after any failure" || bad "a failed import left $TMP/x.bin"

echo "$([ $fail = 0 ] && echo PASS || echo FAIL): $pass of $((pass + fail)) import checks passed"
[ $fail = 0 ]
