// gen_fixtures.js: writes the committed tokenizer test fixtures, with tiktoken
// (npm package, the real tiktoken core in WASM) as the reference.
//
// Usage (from the repository root; needs GPT-2's encoder.json and vocab.bpe in
// GPT2_VOCAB_DIR, default ../shared/data/gpt2, and for the last fixture the
// tinyshakespeare text in TINYSHAKESPEARE, default ../shared/data/tinyshakespeare.txt):
//   (cd dev/tiktoken && npm install && node gen_fixtures.js)
//
// Writes, under test/fixtures/:
// - tiktoken_cases/NAME.txt: texts covering the hard cases of GPT-2's
//   pre-tokenisation and BPE (contractions, whitespace runs and the lookahead
//   rule, Unicode letters/numbers/marks/spaces in many scripts, emoji, code,
//   very long pieces, random mixes, the boundaries of every Unicode range);
//   NAME.gpt2: tiktoken's encode_ordinary ids with the gpt2 encoding;
//   NAME.mini: the same with "mini", GPT-2 cut to its first MINI_RANKS ranks;
//   for special.txt also NAME.gpt2_special / NAME.mini_special: encode(text,
//   "all"), where a literal <|endoftext|> is the end-of-text token.
//   Ids are written as `./tokenizer encode` writes them: one line, spaces.
// - tiktoken_mini_encoder.json, tiktoken_mini_vocab.bpe: the mini vocabulary in
//   GPT-2's own file formats (first MINI_RANKS tokens of encoder.json plus
//   <|endoftext|> = MINI_RANKS, first MINI_RANKS - 256 merges of vocab.bpe), so
//   the tests can run `./tokenizer import` and check parity without GPT-2's
//   1.5 MB files.
// - tiktoken_tinyshakespeare.txt: sha256 of the text and of tiktoken's ids
//   for it (338,025 tokens), so the full-corpus parity test needs no node.
"use strict";
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const { get_encoding, Tiktoken } = require("tiktoken");

const ROOT = path.join(__dirname, "..", "..");
const OUT = path.join(ROOT, "test", "fixtures");
const CASES = path.join(OUT, "tiktoken_cases");
const VOCAB_DIR = process.env.GPT2_VOCAB_DIR || path.join(ROOT, "..", "shared", "data", "gpt2");
const TS = process.env.TINYSHAKESPEARE || path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt");
const MINI_RANKS = 1024;

const gpt2 = get_encoding("gpt2");
const gpt2json = JSON.parse(fs.readFileSync(path.join(__dirname, "node_modules", "tiktoken", "encoders", "gpt2.json"), "utf8"));
const GPT2_PATTERN = gpt2json.pat_str;
const ranks = gpt2json.bpe_ranks.split(" ");
if (ranks[0] !== "!" || ranks[1] !== "0") throw new Error("unexpected bpe_ranks format");
const mini = new Tiktoken("! 0 " + ranks.slice(2, 2 + MINI_RANKS).join(" "),
                          { "<|endoftext|>": MINI_RANKS }, GPT2_PATTERN);

// Deterministic PRNG (mulberry32).
function rng(seed) {
  return () => { seed |= 0; seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}

function cases() {
  const c = {};
  c.english = "Hello world! It's a test, isn't it? We'll see: they've gone, I'm here, you'd know.\n" +
    "The quick brown fox jumps over the lazy dog. THE END.\n\nSecond paragraph...   with  odd   spacing.\n" +
    "Trailing spaces here   \nand a tab\there, CRLF line\r\nend.  ";
  c.contractions = "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'Ve 'LL ''s '''ll it's we'LL don't I'd 'sa 're' x'y 'x ' ' " +
    "rock'n'roll o'clock ma'am y'all 'tis '' ''' 'll've 's's  's\t's\n'd 'r 'l 'v 'm";
  c.whitespace = "a  b   c\n\n\nd \n e\t\tf  \t g\r\n\r\nh \u00a0i\u00a0\u00a0j \u3000k\u3000\u3000l\u2028m \u2029 n" +
    "\u0085o \u0085 p\ufeffq \ufeff r\u200bs \u200b t\u180eu \u1680v\u1680 w\u2000\u2001\u2002x \u202f\u205fy" +
    "\u000b\u000cz \n  \n\t\n    indented\n\t\ttabbed   \n\n\n   \t  \u00a0 ";
  c.accents = "café naïve résumé Ægir Øresund Straße Ĳssel Łódź İstanbul ıi Tiếng Việt có dấu " +
    "e\u0301 cafe\u0301 n\u0303 a\u0308\u0304 \u0301start x\u0327\u0327\u0327 Å Å ǅ ǈ ǋ Ⅷ ᾯ ﬁﬂ ß ẞ";
  c.scripts = "日本語のテキストです。中文测试，繁體中文。한국어 텍스트입니다. Русский текст, ёж. " +
    "Ελληνικά κείμενα. العربية مَكْتَبَة 123 עברית שָׁלוֹם हिन्दी भाषा का पाठ ภาษาไทย தமிழ் ქართული Հայերեն " +
    "ኢትዮጵያ ᏣᎳᎩ ᚠᚢᚦ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐌰𐌱𐌲 𓀀𓀁 𠀀𠀁 ꧁꧂ ᠮᠣᠩᠭᠣᠯ";
  c.numbers = "0 1 12 123 1234 12345678901234567890 3.14159 1,000,000 -42 +7 1e10 0x1F 2024-01-01 " +
    "١٢٣ ٤٥٦ ۱۲۳ १२३ ๑๒๓ Ⅻ ⅻ ½ ¾ ⅓ ² ³ ¹ ① ⑳ １２３ 𝟙𝟚𝟛 abc123def 12abc 1.2.3 $100 100% #1 №5";
  c.emoji = "😀 👍🏽 👨‍👩‍👧‍👦 🇯🇵🇺🇸 ❤️ ❤ 1️⃣ #️⃣ © ™ ® ✓ ✔️ 🤖🤖🤖 a😀b 😀1 ' 😀' 🏳️‍🌈 " +
    "👩🏿‍💻 🫠 🥲 🧑‍🤝‍🧑 ⭐ ☃ ♥♦♣♠ 🀄 😀😀😀😀";
  c.code = "#include <stdio.h>\nint main(void) {\n    printf(\"hi %d\\n\", 42);\n    return 0; // ok\n}\n" +
    "def f(x):\n\tif x >= 10 and x != 3:\n\t\treturn [i**2 for i in range(x)]\n" +
    "{\"key\": [1, 2.5, null, true], \"url\": \"https://example.com/a?b=c&d=e#f\"}\n" +
    "<div class=\"x\">&amp; &lt;tag&gt;</div> <|endoftext|> <|endoftext|>x <|end|> @user #tag $var " +
    "a->b a::b a&&b a||b i++ --j x+=1 /* c */ ``` ~~~ ---- ==== **** .... ____ |||| \\\\ \\n";
  c.special = "First document.<|endoftext|>Second document with  spaces <|endoftext|><|endoftext|>" +
    " Third<|endoftext|>\n<|endoftext|>lone <|endoftext|";
  c.long = "a".repeat(5000) + " " + "ab".repeat(1500) + " " + " ".repeat(2000) + "x" + "7".repeat(3000) +
    " " + "=".repeat(1000) + "中".repeat(2000) + " " + "😀".repeat(300) + "\n".repeat(500) + "z" +
    " \u00a0".repeat(300) + "!" + "The".repeat(700) + "'s" + "é".repeat(400) + "e\u0301".repeat(300) +
    "\t".repeat(100) + ".".repeat(777) + " ".repeat(100);
  const pool = Array.from("aZé日本ДжΩ \u00a0\u3000\t\n\r\u2028\u0085'sdtmlrev0123٣Ⅻ½!?.,-_'\"()$€😀👍🏽‍\u0301\u200b\ufeff");
  const r = rng(2024);
  let s = "";
  for (let i = 0; i < 12000; i++) s += pool[Math.floor(r() * pool.length)];
  c.random = s;
  // Boundaries of every range of the Unicode class table, in two contexts.
  const header = fs.readFileSync(path.join(ROOT, "tokenizer_unicode.h"), "utf8");
  const parts = [];
  for (const m of header.matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+), UC_/g)) {
    const lo = parseInt(m[1], 16), hi = parseInt(m[2], 16);
    for (const cp of [lo - 1, lo, hi, hi + 1]) {
      if (cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) continue;
      const ch = String.fromCodePoint(cp);
      parts.push("a" + ch + " " + ch + "1 ");
    }
  }
  c.boundaries = parts.join("");
  return c;
}

function ids(arr) { return Array.from(arr).join(" ") + "\n"; }

function writeMiniVocab() {
  const enc = JSON.parse(fs.readFileSync(path.join(VOCAB_DIR, "encoder.json"), "utf8"));
  const miniEnc = {};
  for (const [k, v] of Object.entries(enc)) if (v < MINI_RANKS) miniEnc[k] = v;
  miniEnc["<|endoftext|>"] = MINI_RANKS;
  // Like GPT-2's file: non-ASCII characters as \u escapes (tests the JSON parser).
  const json = JSON.stringify(miniEnc).replace(/[\u007f-\uffff]/g,
    (ch) => "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0"));
  fs.writeFileSync(path.join(OUT, "tiktoken_mini_encoder.json"), json);
  const bpe = fs.readFileSync(path.join(VOCAB_DIR, "vocab.bpe"), "utf8").split("\n");
  fs.writeFileSync(path.join(OUT, "tiktoken_mini_vocab.bpe"), bpe.slice(0, 1 + MINI_RANKS - 256).join("\n") + "\n");
}

function main() {
  fs.mkdirSync(CASES, { recursive: true });
  writeMiniVocab();
  for (const [name, text] of Object.entries(cases())) {
    fs.writeFileSync(path.join(CASES, name + ".txt"), text, "utf8");
    fs.writeFileSync(path.join(CASES, name + ".gpt2"), ids(gpt2.encode_ordinary(text)));
    fs.writeFileSync(path.join(CASES, name + ".mini"), ids(mini.encode_ordinary(text)));
    if (name === "special") {
      fs.writeFileSync(path.join(CASES, name + ".gpt2_special"), ids(gpt2.encode(text, "all")));
      fs.writeFileSync(path.join(CASES, name + ".mini_special"), ids(mini.encode(text, "all")));
    }
    console.log(`${name}: ${Buffer.byteLength(text)} bytes, ${gpt2.encode_ordinary(text).length} gpt2 tokens`);
  }
  const sha = (b) => crypto.createHash("sha256").update(b).digest("hex");
  const text = fs.readFileSync(TS);
  const tsIds = gpt2.encode_ordinary(text.toString("utf8"));
  fs.writeFileSync(path.join(OUT, "tiktoken_tinyshakespeare.txt"),
    `# tiktoken ${JSON.parse(fs.readFileSync(path.join(__dirname, "node_modules", "tiktoken", "package.json"))).version} ` +
    "gpt2 encode_ordinary of tinyshakespeare; ids as `./tokenizer encode` writes them\n" +
    `text_sha256 ${sha(text)}\nids_sha256 ${sha(ids(tsIds))}\ntokens ${tsIds.length}\n`);
  console.log(`tinyshakespeare: ${tsIds.length} tokens`);
}

main();
gpt2.free();
mini.free();
