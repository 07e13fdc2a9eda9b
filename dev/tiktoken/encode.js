// encode.js: tiktoken's ids for a UTF-8 text file, the reference for tokenizer.c.
// Usage: node encode.js FILE [--special]   (ids separated by spaces on stdout)
//   --special: encode(text, "all"), a literal <|endoftext|> becomes token 50256;
//   default: encode_ordinary(text), as `./tokenizer encode`.
"use strict";
const fs = require("fs");
const { get_encoding } = require("tiktoken");

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
if (!file) { console.error("usage: node encode.js FILE [--special]"); process.exit(1); }
const text = fs.readFileSync(file, "utf8");
const enc = get_encoding("gpt2");
const ids = args.includes("--special") ? enc.encode(text, "all") : enc.encode_ordinary(text);
process.stdout.write(Array.from(ids).join(" ") + "\n");
enc.free();
