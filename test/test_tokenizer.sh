#!/usr/bin/env bash
# test/test_tokenizer.sh: the tests of ./tokenizer, run by `make test-tokenizer`.
#
#   test/test_tokenizer.sh TOKENIZER [ASAN_TOKENIZER [ASAN_HEAP_TOKENIZER [TESTGEN [TRAIN_CHECK]]]]
#
# TOKENIZER is the optimised build; ASAN_TOKENIZER the same source built with
# -fsanitize=address,undefined; ASAN_HEAP_TOKENIZER that build with
# -DBPE_SMALL_MAX=1, so every piece goes through the heap BPE (the path that
# normally only long pieces take); TESTGEN is test/tokenizer_testgen.c built;
# TRAIN_CHECK is test/tokenizer_train_check.c built (a naive reference trainer).
# Offline, no node, no Python: the tiktoken ids are committed fixtures
# (test/fixtures/tiktoken_*, written by dev/tiktoken/gen_fixtures.js).
# GPT-2's full vocabulary and tinyshakespeare are used from ../shared/data
# (override with SHARED_DATA=dir) when present; without them those parts are
# skipped with a message and the "mini" vocabulary (GPT-2 cut to 1024 ranks,
# committed in GPT-2's own file formats) carries the parity tests.
#
# Prints one line per case, OK|FAIL|SKIP, then an overall line; exits non-zero
# if any case failed.
set -u
cd "$(dirname "$0")/.." || exit 1

TOK=${1:-./tokenizer}
ASAN=${2:-}
HEAP=${3:-}
GEN=${4:-}
TRAIN_CHECK=${5:-}
SHARED=${SHARED_DATA:-../shared/data}
FX=test/fixtures
CASES=$FX/tiktoken_cases
W=tmp/test_tokenizer
rm -rf "$W" && mkdir -p "$W" || exit 1
# Leaks are checked on the success paths; error paths exit from deep inside.
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1

n_ok=0 n_fail=0 n_skip=0
ok()   { echo "OK   $*"; n_ok=$((n_ok + 1)); }
bad()  { echo "FAIL $*"; n_fail=$((n_fail + 1)); }
skip() { echo "SKIP $*"; n_skip=$((n_skip + 1)); }
# check NAME COMMAND...: OK if the command succeeds.
check() { local name=$1; shift; if "$@" > "$W/check.out" 2>&1; then ok "$name"; else bad "$name: $(tail -n 3 "$W/check.out" | tr '\n' ' ')"; fi; }
# same NAME FILE_A FILE_B: OK if the files are identical.
same() { if cmp -s "$2" "$3"; then ok "$1"; else bad "$1: $2 and $3 differ ($(cmp "$2" "$3" 2>&1 | head -n 1))"; fi; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# Shard payload as one line of decimal ids (skips the 1024-byte header).
shard_ids() { tail -c +1025 "$1" | od -An -v -tu2 | tr -s ' \n' '\n' | sed '/^$/d'; }
shard_count() { od -An -v -t d4 -j 8 -N 4 "$1" | tr -d ' '; }

BINS="$TOK"
[ -n "$ASAN" ] && BINS="$BINS $ASAN"
[ -n "$HEAP" ] && BINS="$BINS $HEAP"
BAD=${ASAN:-$TOK} # the binary for bad-input tests: the sanitizer build when there is one

# ---- vocabularies: import --------------------------------------------------
check "import mini (GPT-2 cut to 1024 ranks)" "$TOK" import "$FX/tiktoken_mini_encoder.json" "$FX/tiktoken_mini_vocab.bpe" "$W/mini.bin"
if [ -n "$ASAN" ]; then
    check "import mini, sanitizer build" "$ASAN" import "$FX/tiktoken_mini_encoder.json" "$FX/tiktoken_mini_vocab.bpe" "$W/mini_asan.bin"
    same "import mini, sanitizer build writes the same file" "$W/mini.bin" "$W/mini_asan.bin"
fi
VOCABS="mini"
if [ -f "$SHARED/gpt2/encoder.json" ] && [ -f "$SHARED/gpt2/vocab.bpe" ]; then
    check "import gpt2 ($SHARED/gpt2)" "$TOK" import "$SHARED/gpt2/encoder.json" "$SHARED/gpt2/vocab.bpe" "$W/gpt2.bin"
    [ -f "$W/gpt2.bin" ] && VOCABS="mini gpt2"
    if [ -n "$ASAN" ]; then
        check "import gpt2, sanitizer build" "$ASAN" import "$SHARED/gpt2/encoder.json" "$SHARED/gpt2/vocab.bpe" "$W/gpt2_asan.bin"
        same "import gpt2, sanitizer build writes the same file" "$W/gpt2.bin" "$W/gpt2_asan.bin"
    fi
else
    skip "gpt2 vocabulary: $SHARED/gpt2/{encoder.json,vocab.bpe} not found; parity runs on the mini vocabulary only"
fi

# ---- parity with tiktoken on the committed fixture --------------------------
for bin in $BINS; do
    for v in $VOCABS; do
        for txt in "$CASES"/*.txt; do
            name=$(basename "$txt" .txt)
            if "$bin" encode -k "$W/$v.bin" "$txt" > "$W/out.ids" 2> "$W/err"; then
                same "parity $v $name ($(wc -w < "$CASES/$name.$v") tokens) [$bin]" "$W/out.ids" "$CASES/$name.$v"
            else
                bad "parity $v $name [$bin]: $(head -n 3 "$W/err")"
            fi
        done
        "$bin" encode --special -k "$W/$v.bin" "$CASES/special.txt" > "$W/out.ids" 2>&1
        same "parity $v special, --special (<|endoftext|> allowed) [$bin]" "$W/out.ids" "$CASES/special.${v}_special"
    done
done
# Decoding tiktoken's ids gives back the texts (independent of our encoder).
for v in $VOCABS; do
    for txt in "$CASES"/*.txt; do
        name=$(basename "$txt" .txt)
        "$BAD" decode -k "$W/$v.bin" "$CASES/$name.$v" > "$W/out.txt" 2>&1
        same "decode tiktoken's $v ids of $name" "$W/out.txt" "$txt"
    done
done

# ---- tinyshakespeare in full ------------------------------------------------
TS=$SHARED/tinyshakespeare.txt
if [ -f "$TS" ] && [ -f "$W/gpt2.bin" ]; then
    want_text=$(awk '$1 == "text_sha256" {print $2}' "$FX/tiktoken_tinyshakespeare.txt")
    want_ids=$(awk '$1 == "ids_sha256" {print $2}' "$FX/tiktoken_tinyshakespeare.txt")
    want_n=$(awk '$1 == "tokens" {print $2}' "$FX/tiktoken_tinyshakespeare.txt")
    if [ "$(sha "$TS")" != "$want_text" ]; then
        bad "tinyshakespeare: $TS is not the text the fixture was made from (sha256 differs)"
    else
        "$TOK" encode -k "$W/gpt2.bin" "$TS" > "$W/ts.ids"
        n=$(wc -w < "$W/ts.ids")
        if [ "$(sha "$W/ts.ids")" = "$want_ids" ]; then
            ok "parity gpt2 tinyshakespeare: $n tokens, identical to tiktoken's $want_n"
        else
            bad "parity gpt2 tinyshakespeare: $n tokens (tiktoken: $want_n), ids differ; diff against: node dev/tiktoken/encode.js $TS"
        fi
        "$TOK" decode -k "$W/gpt2.bin" "$W/ts.ids" > "$W/ts.txt"
        same "round trip gpt2 tinyshakespeare" "$W/ts.txt" "$TS"
        if [ -n "$HEAP" ]; then
            "$HEAP" encode -k "$W/gpt2.bin" "$TS" > "$W/ts_heap.ids"
            same "parity gpt2 tinyshakespeare, heap BPE + sanitizers" "$W/ts_heap.ids" "$W/ts.ids"
        fi
    fi
else
    skip "tinyshakespeare parity: $TS or the gpt2 vocabulary not found"
fi

# ---- round trips: random valid UTF-8, random bytes, invalid UTF-8 -----------
if [ -n "$GEN" ]; then
    for seed in 1 2 3; do
        "$GEN" utf8 $seed 20000 > "$W/rand_utf8_$seed.txt"
        "$GEN" bytes $seed 20000 > "$W/rand_bytes_$seed.txt"
    done
    for bin in $TOK $ASAN; do
        for v in $VOCABS; do
            for f in "$W"/rand_utf8_*.txt "$W"/rand_bytes_*.txt; do
                "$bin" encode -k "$W/$v.bin" "$f" > "$W/rt.ids" && "$bin" decode -k "$W/$v.bin" "$W/rt.ids" > "$W/rt.txt"
                same "round trip $v $(basename "$f" .txt) ($(wc -c < "$f") bytes) [$bin]" "$W/rt.txt" "$f"
            done
        done
    done
else
    skip "random round trips: no test generator given"
fi
# Invalid UTF-8, by hand: every byte that doesn't start a valid sequence is a
# character of class "other" of its own, encoded through its single-byte token.
printf 'caf\xc3\xa9 \xff\xfe \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82 \x80end\xe2' > "$W/invalid.txt"
"$BAD" encode -k "$W/mini.bin" "$W/invalid.txt" > "$W/invalid.ids" && "$BAD" decode -k "$W/mini.bin" "$W/invalid.ids" > "$W/invalid.out"
same "round trip invalid UTF-8 (bad bytes, overlong, surrogate, > U+10FFFF, truncated)" "$W/invalid.out" "$W/invalid.txt"
for p in 'a' '\xff' 'b'; do printf "$p" > "$W/p.txt"; "$TOK" encode -k "$W/mini.bin" "$W/p.txt"; done | tr '\n' ' ' | sed 's/ $//' > "$W/want"
printf 'a\xffb' > "$W/p.txt"; "$TOK" encode -k "$W/mini.bin" "$W/p.txt" | tr '\n' ' ' | sed 's/ $//' > "$W/got"
same "invalid byte between letters splits them: a|\\xff|b" "$W/got" "$W/want"
printf '' > "$W/empty.txt"
"$BAD" encode -k "$W/mini.bin" "$W/empty.txt" > "$W/empty.ids"
same "empty text encodes to nothing" "$W/empty.ids" "$W/empty.txt"
printf 'stdin works' | "$TOK" encode -k "$W/mini.bin" - > "$W/stdin.ids"; printf 'stdin works' > "$W/stdin.txt"
"$TOK" encode -k "$W/mini.bin" "$W/stdin.txt" | cmp -s - "$W/stdin.ids" && ok "encode reads stdin with -" || bad "encode reads stdin with -"

# ---- training -----------------------------------------------------------------
# Hand-checkable: "abababab" is one piece; (a,b) x4 -> "ab" (256); (ab,ab) x3 ->
# "abab" (257); (abab,abab) x1 -> "abababab" (258); <|endoftext|> = 259.
printf 'abababab' > "$W/t1.txt"
"$BAD" train "$W/t1.txt" --vocab 260 "$W/t1.bin" > /dev/null
echo "256 257 258 259" | tr ' ' '\n' | while read -r id; do echo "$id" > "$W/id"; "$BAD" decode -k "$W/t1.bin" "$W/id"; echo; done > "$W/t1.tokens"
printf 'ab\nabab\nabababab\n<|endoftext|>\n' > "$W/t1.want"
same "train abababab: merges ab, abab, abababab, then <|endoftext|>" "$W/t1.tokens" "$W/t1.want"
echo 258 > "$W/t1.want_ids"
"$BAD" encode -k "$W/t1.bin" "$W/t1.txt" > "$W/t1.ids"
same "train abababab: the text encodes to the one token 258" "$W/t1.ids" "$W/t1.want_ids"
# Tie-break: "ab cd" has pieces "ab", " cd", pairs (a,b) (' ',c) (c,d) once each:
# the smallest left id wins, ' ' (32) < 'a' (97) < 'c' (99): " c" first; then
# (a,b) beats (" c" = 256, d); then " cd".
printf 'ab cd' > "$W/t2.txt"
"$BAD" train "$W/t2.txt" --vocab 260 "$W/t2.bin" > /dev/null
for id in 256 257 258; do echo "$id" > "$W/id"; printf '['; "$BAD" decode -k "$W/t2.bin" "$W/id"; printf ']'; done > "$W/t2.tokens"
printf '[ c][ab][ cd]' > "$W/t2.want"
same "train tie-break (count, then smaller left id, then right id): ' c', 'ab', ' cd'" "$W/t2.tokens" "$W/t2.want"
# Too few pairs for the requested size: a warning and a smaller vocabulary.
"$BAD" train "$W/t1.txt" --vocab 300 "$W/t1b.bin" > /dev/null 2> "$W/warn"
grep -q "only enough distinct pairs for 3 merges" "$W/warn" && ok "train: fewer pairs than merges asked for gives a warning" \
    || bad "train: fewer pairs than merges asked for: $(cat "$W/warn")"
# A corpus: tinyshakespeare when present, else the fixture texts.
if [ -f "$TS" ]; then CORPUS=$TS; else cat "$CASES"/*.txt > "$W/corpus.txt"; CORPUS=$W/corpus.txt; fi
"$TOK" train "$CORPUS" --vocab 1024 "$W/v1.bin" > /dev/null && "$TOK" train "$CORPUS" --vocab 1024 "$W/v2.bin" > /dev/null
same "train is deterministic ($(basename "$CORPUS"), 1024 tokens, twice)" "$W/v1.bin" "$W/v2.bin"
if [ -n "$ASAN" ]; then
    cat "$CASES"/*.txt > "$W/small_corpus.txt"
    "$TOK" train "$W/small_corpus.txt" --vocab 2000 "$W/s1.bin" > /dev/null
    "$ASAN" train "$W/small_corpus.txt" --vocab 2000 "$W/s2.bin" > /dev/null
    same "train, sanitizer build gives the same vocabulary (fixture texts, 2000 tokens)" "$W/s1.bin" "$W/s2.bin"
    "$ASAN" encode -k "$W/s2.bin" "$W/small_corpus.txt" > "$W/s.ids" && "$ASAN" decode -k "$W/s2.bin" "$W/s.ids" > "$W/s.txt"
    same "round trip with the learned vocabulary, sanitizer build" "$W/s.txt" "$W/small_corpus.txt"
fi
# Against the naive trainer (recounts every pair at every step): the fixture
# texts, tinyshakespeare, and runs of one letter (tokens that would pass 255
# bytes are never made).
if [ -n "$TRAIN_CHECK" ]; then
    cat "$CASES"/*.txt > "$W/fixture_corpus.txt"
    { head -c 1000 /dev/zero | tr '\0' a; printf ' '; head -c 999 /dev/zero | tr '\0' a; printf ' b '
      head -c 700 /dev/zero | tr '\0' a; printf '\n'; head -c 333 /dev/zero | tr '\0' a; } > "$W/runs.txt"
    for spec in "$W/fixture_corpus.txt:1500" "$W/runs.txt:400" "$TS:2048"; do
        f=${spec%:*} n=${spec##*:}
        [ -f "$f" ] || { skip "train vs naive reference on $f: not found"; continue; }
        "$TOK" train "$f" --vocab "$n" "$W/ref.bin" > /dev/null 2>&1
        if "$TRAIN_CHECK" "$f" "$n" "$W/ref.bin" > "$W/ref.out" 2>&1; then ok "$(sed 's/^OK *//' "$W/ref.out")"; else bad "$(cat "$W/ref.out")"; fi
    done
else
    skip "train vs naive reference: no checker given"
fi
"$TOK" encode -k "$W/v1.bin" "$CORPUS" > "$W/v1.ids" && "$TOK" decode -k "$W/v1.bin" "$W/v1.ids" > "$W/v1.txt"
same "round trip of the training text with the learned vocabulary" "$W/v1.txt" "$CORPUS"
n_bytes=$(wc -c < "$CORPUS"); n_tok=$(wc -w < "$W/v1.ids")
[ "$n_tok" -lt $((n_bytes / 2)) ] && ok "learned vocabulary compresses: $n_bytes bytes -> $n_tok tokens" \
    || bad "learned vocabulary compresses poorly: $n_bytes bytes -> $n_tok tokens"
if [ -f "$TS" ]; then
    start=$(date +%s%N)
    "$TOK" train "$TS" --vocab 4096 "$W/v4096.bin" > "$W/train.log"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ "$ms" -lt 30000 ]; then ok "train 4096 tokens on tinyshakespeare: $ms ms"; else bad "train 4096 tokens took $ms ms"; fi
fi

# ---- shards -------------------------------------------------------------------
"$BAD" shard -k "$W/mini.bin" "$CORPUS" "$W/sh" --val 0.1 > /dev/null
"$TOK" encode -k "$W/mini.bin" "$CORPUS" | tr ' ' '\n' > "$W/all.ids"
n_all=$(wc -l < "$W/all.ids"); n_val=$(shard_count "$W/sh_val_000.bin"); n_train=$(shard_count "$W/sh_train_000.bin")
want_val=$(awk -v n="$n_all" 'BEGIN { printf "%d", 0.1 * n + 0.5 }')
[ "$n_val" = "$want_val" ] && [ $((n_val + n_train)) = "$n_all" ] \
    && ok "shard: val = first round(0.1 N) = $n_val tokens, train = $n_train" \
    || bad "shard: val $n_val (want $want_val) + train $n_train != $n_all"
{ shard_ids "$W/sh_val_000.bin"; shard_ids "$W/sh_train_000.bin"; } > "$W/sh.ids"
same "shard: val then train hold exactly the encoded tokens" "$W/sh.ids" "$W/all.ids"
size=$(wc -c < "$W/sh_train_000.bin")
[ "$size" = $((1024 + 2 * n_train)) ] && ok "shard: file size = 1024 + 2 x tokens" || bad "shard: file size $size"
head -c 8 "$W/sh_train_000.bin" | od -An -t d4 | tr -s ' ' > "$W/magic"
echo " 20240520 1" > "$W/magic.want"
same "shard: header magic 20240520, version 1" "$W/magic" "$W/magic.want"
"$BAD" shard -k "$W/mini.bin" "$CASES/english.txt" "$W/small" --val 0.2 --shard-size 20 > /dev/null
n_eng=$(wc -w < "$CASES/english.mini")
n_files=$(ls "$W"/small_train_*.bin "$W"/small_val_*.bin | wc -l)
want_files=$(( ( (n_eng * 2 + 5) / 10 + 19) / 20 + ( n_eng - (n_eng * 2 + 5) / 10 + 19) / 20 ))
[ "$n_files" = "$want_files" ] && ok "shard --shard-size 20: $n_eng tokens in $n_files files" || bad "shard --shard-size 20: $n_files files, want $want_files"
ls "$W"/*.tmp.* > /dev/null 2>&1 && bad "shard left temporary files behind" || ok "shard leaves no temporary files"
printf 'one<|endoftext|>two<|endoftext|><|endoftext|>three' > "$W/docs.txt"
"$BAD" shard -k "$W/mini.bin" "$W/docs.txt" "$W/docs" --val 0 --docs > /dev/null
for p in one two three; do printf '%s\n' 1024; printf '%s' "$p" > "$W/p.txt"; "$TOK" encode -k "$W/mini.bin" "$W/p.txt" | tr ' ' '\n'; done > "$W/docs.want"
shard_ids "$W/docs_train_000.bin" > "$W/docs.got"
same "shard --docs: <|endoftext|> before each non-empty document, separators dropped" "$W/docs.got" "$W/docs.want"
printf 'one\n\ntwo' > "$W/sep.txt"
"$BAD" shard -k "$W/mini.bin" "$W/sep.txt" "$W/sep" --val 0 --sep '\n\n' > /dev/null
for p in one two; do printf '%s\n' 1024; printf '%s' "$p" > "$W/p.txt"; "$TOK" encode -k "$W/mini.bin" "$W/p.txt" | tr ' ' '\n'; done > "$W/sep.want"
shard_ids "$W/sep_train_000.bin" > "$W/sep.got"
same "shard --sep '\\n\\n': documents split at blank lines" "$W/sep.got" "$W/sep.want"

# ---- bad input: a clear message and exit status 1, never a crash --------------
# expect_fail NAME MESSAGE_PART COMMAND...
expect_fail() {
    local name=$1 want=$2; shift 2
    "$@" > "$W/bad.out" 2> "$W/bad.err"
    local rc=$?
    if grep -q -e "Sanitizer" -e "runtime error" "$W/bad.err"; then
        bad "bad input: $name: sanitizer report: $(grep -m 1 -e Sanitizer -e 'runtime error' "$W/bad.err")"
    elif [ $rc -ne 1 ]; then
        bad "bad input: $name: exit status $rc, expected 1: $(head -c 300 "$W/bad.err")"
    elif ! grep -q -F -e "$want" "$W/bad.err"; then
        bad "bad input: $name: message lacks '$want': $(head -c 300 "$W/bad.err")"
    else
        ok "bad input: $name -> $(head -n 1 "$W/bad.err" | cut -c 1-110)"
    fi
}
export ASAN_OPTIONS=detect_leaks=0
M=$W/mini.bin
# Damaged tokenizer files, made from the good one.
head -c 100 "$M" > "$W/short.bin"
head -c 3000 "$M" > "$W/trunc.bin"
cp "$M" "$W/v1.bin";   printf '\x01\x00\x00\x00' | dd of="$W/v1.bin" bs=1 seek=4 conv=notrunc 2> /dev/null
cp "$M" "$W/v0.bin";   printf '\x00\x00\x00\x00' | dd of="$W/v0.bin" bs=1 seek=8 conv=notrunc 2> /dev/null
cp "$M" "$W/eot.bin";  printf '\x00\x10\x00\x00' | dd of="$W/eot.bin" bs=1 seek=12 conv=notrunc 2> /dev/null
cp "$M" "$W/len0.bin"; printf '\x00' | dd of="$W/len0.bin" bs=1 seek=1024 conv=notrunc 2> /dev/null
cp "$M" "$W/trail.bin"; printf 'x' >> "$W/trail.bin"
# Token 0 made equal to token 1: its byte then has no token of its own.
cp "$M" "$W/nobyte.bin"; dd if="$M" of="$W/nobyte.bin" bs=1 skip=1027 seek=1025 count=1 conv=notrunc 2> /dev/null
T=$CASES/english.txt
expect_fail "missing tokenizer file" "cannot open" "$BAD" encode -k "$W/missing.bin" "$T"
expect_fail "missing text file" "cannot open" "$BAD" encode -k "$M" "$W/missing.txt"
expect_fail "wrong magic (a JSON file)" "not a tokenizer file: magic" "$BAD" encode -k "$FX/tiktoken_mini_encoder.json" "$T"
expect_fail "wrong magic (a token shard)" "a token shard has 20240520" "$BAD" decode -k "$W/sh_train_000.bin" "$CASES/english.mini"
expect_fail "file shorter than the header" "shorter than the 1024-byte header" "$BAD" encode -k "$W/short.bin" "$T"
expect_fail "truncated tokenizer file" "truncated" "$BAD" encode -k "$W/trunc.bin" "$T"
expect_fail "tokenizer version 1" "version 1 is not supported" "$BAD" encode -k "$W/v1.bin" "$T"
expect_fail "vocabulary size 0" "bad vocabulary size 0" "$BAD" encode -k "$W/v0.bin" "$T"
expect_fail "end-of-text id out of range" "end-of-text id 4096 out of range" "$BAD" encode -k "$W/eot.bin" "$T"
expect_fail "token of length 0" "has length 0" "$BAD" decode -k "$W/len0.bin" "$CASES/english.mini"
expect_fail "trailing bytes after the tokens" "unexpected bytes after the last" "$BAD" encode -k "$W/trail.bin" "$T"
expect_fail "a byte without a token" "no token for the byte" "$BAD" encode -k "$W/nobyte.bin" "$T"
if [ -n "$GEN" ]; then
    "$GEN" vocab 70000 "$W/big.bin"
    expect_fail "vocabulary too large for uint16 shards" "too many for token shards" "$BAD" shard -k "$W/big.bin" "$T" "$W/big"
    "$GEN" vocab 70000 "$W/big.bin" && echo "69999 65536 1" > "$W/big.ids"
    "$BAD" decode -k "$W/big.bin" "$W/big.ids" > /dev/null 2>&1 && ok "a vocabulary > 65536 still encodes and decodes" || bad "vocabulary > 65536 decode"
fi
echo "15 1025 3" > "$W/range.ids"
expect_fail "decode: id out of range" "token id 1025 (token #1, offset 3) is out of range: the vocabulary has 1025" "$BAD" decode -k "$M" "$W/range.ids"
echo "15 x 3" > "$W/junk.ids"
expect_fail "decode: not a number" "expected token ids" "$BAD" decode -k "$M" "$W/junk.ids"
echo "15 -3" > "$W/neg.ids"
expect_fail "decode: negative id" "expected token ids" "$BAD" decode -k "$M" "$W/neg.ids"
echo "99999999999999999999999" > "$W/huge.ids"
expect_fail "decode: huge id" "out of range" "$BAD" decode -k "$M" "$W/huge.ids"
printf '{"a": }' > "$W/bad.json"
expect_fail "import: malformed encoder.json" "not a valid encoder.json" "$BAD" import "$W/bad.json" "$FX/tiktoken_mini_vocab.bpe" "$W/x.bin"
printf '{"a": 0, "b": 2, "c": 3, "d": 4}' > "$W/gap.json"
expect_fail "import: ids with a gap" "token id 1 is missing" "$BAD" import "$W/gap.json" "$FX/tiktoken_mini_vocab.bpe" "$W/x.bin"
printf '{"a": 0, "b": 9999999}' > "$W/huge.json"
expect_fail "import: an id the file can't hold" "token id too large for the file" "$BAD" import "$W/huge.json" "$FX/tiktoken_mini_vocab.bpe" "$W/x.bin"
printf '{"\\ud800": 0}' > "$W/surrogate.json"
expect_fail "import: lone surrogate escape" "lone high surrogate" "$BAD" import "$W/surrogate.json" "$FX/tiktoken_mini_vocab.bpe" "$W/x.bin"
{ head -n 1 "$FX/tiktoken_mini_vocab.bpe"; sed -n 3p "$FX/tiktoken_mini_vocab.bpe"; sed -n 2p "$FX/tiktoken_mini_vocab.bpe"; tail -n +4 "$FX/tiktoken_mini_vocab.bpe"; } > "$W/swapped.bpe"
expect_fail "import: merges out of rank order" "does not give token 256" "$BAD" import "$FX/tiktoken_mini_encoder.json" "$W/swapped.bpe" "$W/x.bin"
head -n 100 "$FX/tiktoken_mini_vocab.bpe" > "$W/few.bpe"
expect_fail "import: too few merges" "has 99 merges but encoder.json has 1025 tokens" "$BAD" import "$FX/tiktoken_mini_encoder.json" "$W/few.bpe" "$W/x.bin"
expect_fail "import: missing file" "cannot open" "$BAD" import "$W/none.json" "$FX/tiktoken_mini_vocab.bpe" "$W/x.bin"
expect_fail "train: vocabulary too small" "--vocab expects an integer in [257" "$BAD" train "$T" --vocab 100 "$W/x.bin"
expect_fail "train: --vocab missing" "train needs --vocab" "$BAD" train "$T" "$W/x.bin"
expect_fail "train: --vocab not a number" "--vocab expects an integer" "$BAD" train "$T" --vocab 12x "$W/x.bin"
expect_fail "shard: --val out of range" "--val expects a fraction in [0, 1)" "$BAD" shard -k "$M" "$T" "$W/x" --val 1.5
expect_fail "shard: output directory missing" "cannot open" "$BAD" shard -k "$M" "$T" "$W/no/such/dir/x"
expect_fail "shard: empty text" "gives no tokens" "$BAD" shard -k "$M" "$W/empty.txt" "$W/x"
expect_fail "unknown option" "unknown option '--frobnicate'" "$BAD" encode -k "$M" "$T" --frobnicate
expect_fail "unknown command" "unknown command 'frobnicate'" "$BAD" frobnicate
expect_fail "missing arguments" "usage: ./tokenizer encode" "$BAD" encode "$T"
expect_fail "option without its value" "option -k needs a value" "$BAD" encode "$T" -k
"$BAD" -h > /dev/null && ok "-h prints the usage and exits 0" || bad "-h"

echo "tokenizer tests: $n_ok passed, $n_fail failed, $n_skip skipped"
[ "$n_fail" -eq 0 ]
