// bench.js: tiktoken's encode speed on a text file, the reference for
// `./tokenizer bench` (same measure: encode_ordinary of the whole text, loading
// not timed, R runs, best and median), one thread.
// Usage: node bench.js FILE [--repeat R]
// The npm package runs tiktoken's Rust core compiled to WASM; the time includes
// passing the JS string into WASM and the ids back, which any caller pays.
"use strict";
const fs = require("fs");
const { get_encoding } = require("tiktoken");

const args = process.argv.slice(2);
const file = args[0];
const ri = args.indexOf("--repeat");
const repeat = ri >= 0 ? parseInt(args[ri + 1], 10) : 5;
if (!file || !(repeat >= 1)) { console.error("usage: node bench.js FILE [--repeat R]"); process.exit(1); }
const text = fs.readFileSync(file, "utf8");
const bytes = Buffer.byteLength(text, "utf8");
const enc = get_encoding("gpt2");
enc.encode_ordinary(text.slice(0, 10000)); // instantiate and warm the WASM module
const sec = [];
let n = 0;
for (let r = 0; r < repeat; r++) {
  const t0 = process.hrtime.bigint();
  n = enc.encode_ordinary(text).length;
  sec.push(Number(process.hrtime.bigint() - t0) / 1e9);
}
sec.sort((a, b) => a - b);
const mb = bytes / 1e6, med = sec[Math.floor(repeat / 2)];
console.log(`tiktoken     ${bytes} bytes -> ${n} tokens; ${repeat} runs: best ${(mb / sec[0]).toFixed(2)} MB/s ` +
            `(${(1e3 * sec[0]).toFixed(1)} ms), median ${(mb / med).toFixed(2)} MB/s (${(1e3 * med).toFixed(1)} ms)`);
enc.free();
