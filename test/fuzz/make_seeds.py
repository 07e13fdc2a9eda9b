#!/usr/bin/env python3
# test/fuzz/make_seeds.py: writes the seed corpora test/fuzz/corpus/<harness>/
# (a few valid and a few broken inputs each; run once from the repository
# root, the output is committed). Formats: data/README.md.
import os, struct

OUT = "test/fuzz/corpus"
def put(h, name, data):
    os.makedirs(f"{OUT}/{h}", exist_ok=True)
    with open(f"{OUT}/{h}/{name}", "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def header(*ints):
    return struct.pack("<256i", *(list(ints) + [0] * (256 - len(ints))))

# the tiny model of state.c: maxT 8, V 16, L 1, NH 2, C 8, Vp 32
T, V, L, NH, C, Vp = 8, 16, 1, 2, 8, 32
nparams = Vp*C + T*C + L*(C + C + 3*C*C + 3*C + C*C + C + C + C + 4*C*C + 4*C + 4*C*C + C) + C + C
params = struct.pack(f"<{nparams}f", *[((i * 7919) % 200 - 100) / 1000.0 for i in range(nparams)])
model_fp32 = header(20240326, 3, T, V, L, NH, C, Vp) + params
model_bf16 = header(20240326, 5, T, V, L, NH, C, Vp) + b"".join(params[i+2:i+4] for i in range(0, len(params), 4))
put("model", "fp32.bin", model_fp32)
put("model", "bf16.bin", model_bf16)
put("model", "truncated.bin", model_fp32[:-4])
put("model", "version4.bin", header(20240326, 4, T, V, L, NH, C, Vp) + params)
put("model", "bad_heads.bin", header(20240326, 3, T, V, L, 3, C, Vp) + params)
put("model", "short.bin", model_fp32[:100])

# state.c's first byte: bit 0 --shuffle, bit 1 sharded moments
state = header(20261129, 1, T, V, L, NH, C, Vp, 2, 4, 7, 0) + \
    struct.pack("<6Q", 12345, 0, 0, 3, nparams, 1337) + params + params
put("state", "valid.bin", b"\x00" + state)
put("state", "sharded.bin", b"\x02" + state)
put("state", "shuffle_other_seed.bin", b"\x01" + state[:1024] + struct.pack("<6Q", 1, 0, 0, 0, nparams, 7) + state[1072:])
put("state", "truncated.bin", b"\x00" + state[:-8])
put("state", "other_B.bin", b"\x00" + header(20261129, 1, T, V, L, NH, C, Vp, 3, 4, 7, 0) + state[1024:])

# shard.c: 8 bytes of settings (B-1, T-1, V lo, V hi, shuffle, batches, shard, batch), then the shard
def shard(tokens):
    return header(20240520, 1, len(tokens)) + struct.pack(f"<{len(tokens)}H", *tokens)
ok = shard([(i * 5) % 50 for i in range(41)])
put("shard", "valid.bin", bytes([1, 3, 50, 0, 0, 5, 0, 2]) + ok)
put("shard", "shuffled.bin", bytes([0, 7, 50, 0, 1, 9, 0, 1]) + ok)
put("shard", "out_of_vocab.bin", bytes([1, 3, 10, 0, 0, 3, 0, 0]) + ok)
put("shard", "too_few_tokens.bin", bytes([3, 7, 50, 0, 0, 1, 0, 0]) + shard([1, 2, 3]))
put("shard", "wrong_size.bin", bytes([0, 0, 50, 0, 0, 1, 0, 0]) + ok[:-2])

# tokfile.c: 256 bytes, a few merges, <|endoftext|> last
def tokfile(tokens, eot):
    return header(20240328, 2, len(tokens), eot) + b"".join(bytes([len(t)]) + t for t in tokens)
toks = [bytes([b]) for b in range(256)] + [b"he", b"ll", b"hell", b"hello", b" w", b"or", b" wor", b"<|endoftext|>"]
put("tokfile", "valid.bin", tokfile(toks, len(toks) - 1))
put("tokfile", "eot_first.bin", tokfile([b"<|endoftext|>"] + toks[:-1], 0))
put("tokfile", "missing_byte.bin", tokfile(toks[1:], len(toks) - 2))
put("tokfile", "truncated.bin", tokfile(toks, len(toks) - 1)[:-3])
put("tokfile", "version1.bin", header(20240328, 1, len(toks)) + tokfile(toks, 0)[1024:])

# import.c: encoder.json NUL vocab.bpe
mini = open("test/fixtures/tiktoken_mini_encoder.json", "rb").read() + b"\0" + \
    open("test/fixtures/tiktoken_mini_vocab.bpe", "rb").read()
put("import", "mini.txt", mini)
def g2(b):  # GPT-2's printable form of a byte
    printable = [x for x in range(256) if 33 <= x <= 126 or 0xA1 <= x <= 0xAC or 0xAE <= x <= 0xFF]
    return chr(b) if b in printable else chr(256 + [x for x in range(256) if x not in printable].index(b))
def json_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
enc = {g2(b): b for b in range(256)}
enc[g2(ord("h")) + g2(ord("e"))] = 256
enc[g2(ord(" ")) + g2(ord("t"))] = 257
enc["<|endoftext|>"] = 258
small_json = "{" + ", ".join(f"{json_str(k)}: {v}" for k, v in enc.items()) + "}"
small_bpe = "#version: 0.2\n" + g2(ord("h")) + " " + g2(ord("e")) + "\n" + g2(ord(" ")) + " " + g2(ord("t")) + "\n"
put("import", "small.txt", small_json.encode() + b"\0" + small_bpe.encode())
put("import", "escapes.txt", '{"\\u0041": 0, "\\ud83d\\ude00": 1}\0#version\n')
put("import", "bad_merge.txt", small_json.encode() + b"\0" + (small_bpe.replace("h e", "e h")).encode())
put("import", "dup_id.txt", '{"a": 0, "b": 0}\0')

# safetensors.c: --heads byte, then the file
def st(tensors, extra=b""):
    hdr, data = {}, b""
    import json
    for name, dtype, shape, blob in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    hdr["__metadata__"] = {"format": "pt"}
    j = json.dumps(hdr).encode() + extra
    return struct.pack("<Q", len(j)) + j + data
def f32(n): return struct.pack(f"<{n}f", *[0.01 * (i % 7) for i in range(n)])
c, v, t = 4, 5, 3
ts = [("wte.weight", "F32", [v, c], f32(v*c)), ("wpe.weight", "F32", [t, c], f32(t*c))]
for name, shape in [("ln_1.weight", [c]), ("ln_1.bias", [c]), ("attn.c_attn.weight", [c, 3*c]), ("attn.c_attn.bias", [3*c]),
                    ("attn.c_proj.weight", [c, c]), ("attn.c_proj.bias", [c]), ("ln_2.weight", [c]), ("ln_2.bias", [c]),
                    ("mlp.c_fc.weight", [c, 4*c]), ("mlp.c_fc.bias", [4*c]), ("mlp.c_proj.weight", [4*c, c]), ("mlp.c_proj.bias", [c])]:
    n = 1
    for d in shape: n *= d
    ts.append((f"h.0.{name}", "F32", shape, f32(n)))
ts += [("ln_f.weight", "F32", [c], f32(c)), ("ln_f.bias", "F32", [c], f32(c))]
put("safetensors", "tiny_f32.st", b"\x02" + st(ts))
put("safetensors", "tiny_bf16.st", b"\x01" + st([(n, "BF16", s, b[:len(b)//2]) for n, _, s, b in ts]))
put("safetensors", "no_heads.st", b"\x00" + st(ts))
put("safetensors", "truncated.st", b"\x02" + st(ts)[:-10])
put("safetensors", "bad_json.st", b"\x02" + struct.pack("<Q", 20) + b'{"a": {"dtype": "F32"')
put("safetensors", "hf_mixed.st", b"\x00" + open("test/fixtures/hf_mixed.safetensors", "rb").read())

# plot.c: a ./train log
log = "s:0 tel:10.900000\n" + "".join(f"s:{i} trl:{10 - i * 0.5:.6f} lr:1.0e-03 norm:3.0 ms:10.0 tok/s:100.0\n" for i in range(1, 12)) + "s:10 tel:6.0\n"
put("plot", "valid.log", log)
put("plot", "resumed.log", log + "s:5 trl:7.0\ns:6 trl:6.9\n")
put("plot", "malformed.log", "s:1 trl:\n")
put("plot", "empty.log", "")
put("plot", "other_lines.log", "s:3 foo:1\n\n  s:4 tel:1e300\n")

# flags.c: argv at NUL bytes
for name, args in [("model", ["-e", "d12", "-b", "8", "-t", "1024"]), ("floats", ["--lr", "1e-3", "--beta2", "0.99", "--eps", "1e-30"]),
                   ("bad_int", ["-b", "0x10"]), ("missing", ["-x"]), ("switch", ["--dry-run", "--prompt", "hi"]), ("help", ["-h"])]:
    put("flags", name + ".txt", "\0".join(args))

# encode.c: first byte odd = <|endoftext|> special; then any bytes
put("encode", "hello.txt", b"\x00Hello world, it's 2024!  \n\n  x")
put("encode", "special.txt", b"\x01a<|endoftext|>b<|endo")
put("encode", "invalid_utf8.txt", b"\x00caf\xc3\xa9 \xff\xfe\xc3 \xe2\x82 na\xefve   \t\r\n")
put("encode", "long_piece.txt", b"\x00" + b"a" * 100 + b" " * 90 + b"'s'll'VE 123456789")
for name in ["accents", "code", "contractions", "emoji", "scripts", "whitespace"]:
    put("encode", name + ".txt", b"\x00" + open(f"test/fixtures/tiktoken_cases/{name}.txt", "rb").read())
