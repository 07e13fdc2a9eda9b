// check_all.js: dev-only exhaustive parity check of ../../tokenizer against
// tiktoken: every Unicode scalar value in several contexts (after a letter,
// before a digit, after a space, in whitespace runs, after an apostrophe, ...),
// plus seeded random strings. Too big to commit as a fixture; run by hand:
//   (cd dev/tiktoken && node check_all.js ../../data/gpt2/tokenizer.bin)
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFileSync } = require("child_process");
const { get_encoding } = require("tiktoken");

const tokPath = process.argv[2];
if (!tokPath) { console.error("usage: node check_all.js TOKENIZER_BIN"); process.exit(1); }
const exe = path.join(__dirname, "..", "..", "tokenizer");
const enc = get_encoding("gpt2");

function check(name, text) {
  const file = path.join(os.tmpdir(), `tok_check_${process.pid}.txt`);
  fs.writeFileSync(file, text, "utf8");
  const ours = execFileSync(exe, ["encode", "-k", tokPath, file], { maxBuffer: 1 << 30 })
    .toString().trim().split(/\s+/).filter((x) => x.length).map(Number);
  fs.unlinkSync(file);
  const ref = Array.from(enc.encode_ordinary(text));
  let i = 0;
  while (i < ours.length && i < ref.length && ours[i] === ref[i]) i++;
  if (i === ours.length && i === ref.length) {
    console.log(`OK   ${name}: ${text.length} UTF-16 units, ${ref.length} tokens`);
    return true;
  }
  const prefix = Buffer.from(enc.decode(new Uint32Array(ref.slice(0, i))));
  const at = Buffer.from(text, "utf8").subarray(Math.max(0, prefix.length - 20), prefix.length + 20);
  console.log(`FAIL ${name}: first difference at token ${i} (byte ${prefix.length}): ` +
              `ours ${ours.slice(i, i + 5)} tiktoken ${ref.slice(i, i + 5)}; context ${JSON.stringify(at.toString("utf8"))}`);
  return false;
}

// Deterministic PRNG (mulberry32) so failures reproduce.
function rng(seed) {
  return () => { seed |= 0; seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}

let ok = true;
const contexts = [(c) => "a" + c + "b", (c) => " " + c + c + "1", (c) => "1" + c + " ", (c) => "!" + c + "  ",
                  (c) => "'" + c + "\n", (c) => "  " + c + "x"];
for (let k = 0; k < contexts.length; k++) {
  const parts = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    parts.push(contexts[k](String.fromCodePoint(cp)));
  }
  ok = check(`every code point, context ${k}: ${JSON.stringify(contexts[k]("C"))}`, parts.join("")) && ok;
}
// Random strings over a pool of characters from every class.
const pool = Array.from("aZé日本ДжΩ \u00a0\u3000\t\n\r\u2028\u0085'sdtmlrev0123٣Ⅻ½!?.,-_'\"()$€😀👍🏽‍\u0301\u200b\ufeff");
const r = rng(12345);
for (let t = 0; t < 5; t++) {
  let s = "";
  for (let i = 0; i < 200000; i++) s += pool[Math.floor(r() * pool.length)];
  ok = check(`random pool string ${t}`, s) && ok;
}
enc.free();
process.exit(ok ? 0 : 1);
