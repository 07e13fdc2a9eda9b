"""
A small PyTorch GPT-2, the reference that train.c is checked against.

Run it to write the test fixture (float32, CPU, one thread, fixed seed, so the
bytes are the same on every run):

    /usr/bin/python3 dev/reference.py [out.bin]     (default test/fixtures/gpt2_tiny.bin)

dev/bench_torch.py imports GPT and init_params from here, so the model that is
checked and the model that is timed are the same code.

Dimension letters: B batch, T time, C channels, NH heads, hs = C/NH head size,
L layers, V vocab, Vp = V padded up to a multiple of 128, maxT context length.

The model (train.c computes exactly this):
    x = wte[inputs] + wpe[0:T]                                  (B,T,C)
    for each of the L blocks (pre-LayerNorm):
        q,k,v = split(qkv(ln1(x)), C)      head h is channels [h*hs, (h+1)*hs)
        a = softmax(q k^T / sqrt(hs) + causal mask) v           per head
        x = x + attproj(a)
        x = x + fcproj(gelu_tanh(fc(ln2(x))))
    logits = lnf(x) @ wte[0:V]^T                    (B,T,V), head tied to wte
    loss = mean over all B*T positions of cross-entropy(logits, targets)
LayerNorm has eps 1e-5, a weight and a bias; every Linear has a bias; GELU is
0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). wte has Vp rows; rows V..Vp-1
are zero, never read, and so get zero gradient.

Fixture format (little-endian; this docstring is the spec train.c's test reads):
  header: int32[256], zero except
      [0]=20261128 magic  [1]=1 version  [2]=maxT [3]=V [4]=L [5]=NH [6]=C [7]=Vp
      [8]=B [9]=T [10]=nsteps [11]=warmup_steps [12]=max_steps (of the schedule)
      and float32 values stored bit for bit in the int32 slots:
      [16]=lr [17]=final_lr_frac [18]=weight_decay [19]=beta1 [20]=beta2
      [21]=eps [22]=grad_clip
  params:  float32, llm.c's model-file order; matrices are (out,in) row-major:
      wte (Vp,C), wpe (maxT,C), ln1w (L,C), ln1b (L,C), qkvw (L,3C,C),
      qkvb (L,3C), attprojw (L,C,C), attprojb (L,C), ln2w (L,C), ln2b (L,C),
      fcw (L,4C,C), fcb (L,4C), fcprojw (L,C,4C), fcprojb (L,C), lnfw (C), lnfb (C)
  inputs:  int32 (B,T)
  targets: int32 (B,T)            (the batch is one (B,T+1) draw, shifted by one)
  logits:  float32 (B,T,V)        (not padded to Vp)
  loss:    float32 (1)
  grads:   float32, same layout as params: d(mean loss)/d(param) at the initial
           params (the padded rows of wte are zero)
  step_losses: float32 (nsteps)
  step_norms:  float32 (nsteps)
  and nothing after that.

The nsteps optimizer steps all use the same batch and start from the initial
params. Step s (0-based): forward, loss -> step_losses[s] (step_losses[0] is
the loss above), backward; norm = sqrt(sum of squares of every gradient) ->
step_norms[s] (before clipping); if norm > grad_clip every gradient is scaled
by grad_clip/norm; then AdamW with t = s+1 and lr = lr_at(s):
    m = b1 m + (1-b1) g         v = b2 v + (1-b2) g^2
    p -= lr (m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps) + wd p)
with wd = weight_decay for the matrices (wte, wpe, qkvw, attprojw, fcw,
fcprojw: rank >= 2) and 0 for every bias and LayerNorm parameter.
lr_at(s), with W = warmup_steps, M = max_steps, min_lr = lr * final_lr_frac:
    s < W:  lr (s+1)/W
    else:   min_lr + 0.5 (1 + cos(pi (s-W)/(M-W))) (lr - min_lr)

With --hf it writes instead the fixtures of ./import_hf (test/test_import_hf.sh):
the same kind of model, saved the way Hugging Face saves GPT-2, as
test/fixtures/hf_<name>.safetensors, and the logits PyTorch computes from
those weights for a fixed batch as test/fixtures/hf_<name>.logits.bin:
  f32:   L=2 NH=4 C=64 V=120 maxT=32, every tensor F32, names with the
         "transformer." prefix, the attn.bias / attn.masked_bias buffers, and
         lm_head.weight (a copy of wte, as an untied save would store it)
  mixed: L=1 NH=2 C=32 V=64 maxT=16, no prefix, the tensors F16, BF16 and F32
         in turn, data in the reverse order of the header's entries
The safetensors files are written by hand (the format is small: a u64 length,
JSON, raw little-endian data): Debian has no python3-safetensors. HF names
and layouts: wte.weight (V,C) without the padding rows, wpe.weight,
h.l.{ln_1,ln_2}.{weight,bias}, h.l.attn.c_attn.{weight (C,3C), bias},
h.l.attn.c_proj.{weight (C,C), bias}, h.l.mlp.c_fc.{weight (C,4C), bias},
h.l.mlp.c_proj.{weight (4C,C), bias}, ln_f.{weight,bias}: Conv1D stores its
weight as (in, out), the transpose of nn.Linear's, and c_attn's columns are
q, k, v. A tensor saved as F16 or BF16 is rounded to it in the model first,
so PyTorch's fp32 logits are those of exactly the weights in the file.
Logits file (little-endian): int32[256] header, zero except [0]=20261201
magic [1]=1 version [2]=B [3]=T [4]=V [5]=NH; then the inputs int32 (B,T) and
the logits float32 (B,T,V).

With --logits-of DIR OUT it reads what ./export_hf wrote in DIR (config.json
and model.safetensors, by the names and shapes transformers' GPT2LMHeadModel
expects) into this model and writes its logits for a fixed batch as such a
logits file OUT (test/test_export_hf.sh; transformers itself is not in
Debian, so the check is by names, shapes, config and logits).
"""
import argparse
import hashlib
import json
import math
import os
import struct

if __name__ == "__main__":
    # One thread everywhere, set before torch (and its BLAS) load: the float sums
    # then always run in the same order, so the fixture has the same bytes on
    # every run. (They can still differ between BLAS libraries or CPUs, by an
    # ulp or so; train.c's test compares with tolerances.)
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn
import torch.nn.functional as F

FIXTURE_MAGIC = 20261128
FIXTURE_VERSION = 1
LN_EPS = 1e-5


def padded_vocab(V, multiple=128):
    return (V + multiple - 1) // multiple * multiple


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.NH = NH
        self.ln1 = nn.LayerNorm(C, eps=LN_EPS)
        self.qkv = nn.Linear(C, 3 * C)
        self.attproj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C, eps=LN_EPS)
        self.fc = nn.Linear(C, 4 * C)
        self.fcproj = nn.Linear(4 * C, C)

    def attention(self, x):
        B, T, C = x.shape
        hs = C // self.NH
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B,T,C) -> (B,NH,T,hs): head h owns channels [h*hs, (h+1)*hs)
        q, k, v = (z.view(B, T, self.NH, hs).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B,NH,T,T)
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        att = att.masked_fill(future, float("-inf")).softmax(dim=-1)
        a = (att @ v).transpose(1, 2).reshape(B, T, C)  # heads side by side again
        return self.attproj(a)

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        x = x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x


class GPT(nn.Module):
    def __init__(self, L, NH, C, V, maxT):
        super().__init__()
        assert C % NH == 0
        self.L, self.NH, self.C, self.V, self.maxT = L, NH, C, V, maxT
        self.Vp = padded_vocab(V)
        self.wte = nn.Parameter(torch.zeros(self.Vp, C))  # (Vp,C), rows >= V stay 0
        self.wpe = nn.Parameter(torch.zeros(maxT, C))  # (maxT,C)
        self.blocks = nn.ModuleList(Block(C, NH) for _ in range(L))
        self.lnf = nn.LayerNorm(C, eps=LN_EPS)

    def forward(self, inputs, targets=None):
        """inputs, targets (B,T) int64 -> logits (B,T,V), mean loss (or None)."""
        B, T = inputs.shape
        assert T <= self.maxT
        x = self.wte[inputs] + self.wpe[:T]
        for block in self.blocks:
            x = block(x)
        logits = self.lnf(x) @ self.wte[: self.V].t()
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(B * T, self.V), targets.reshape(B * T))
        return logits, loss

    def tensors_in_file_order(self):
        """[(name, tensor, decays)] in llm.c's model-file order; the per-layer
        tensors are lists of L tensors, to be stacked. decays: rank >= 2."""
        def per_layer(get):
            return [get(b) for b in self.blocks]
        t = [
            ("wte", [self.wte]), ("wpe", [self.wpe]),
            ("ln1w", per_layer(lambda b: b.ln1.weight)), ("ln1b", per_layer(lambda b: b.ln1.bias)),
            ("qkvw", per_layer(lambda b: b.qkv.weight)), ("qkvb", per_layer(lambda b: b.qkv.bias)),
            ("attprojw", per_layer(lambda b: b.attproj.weight)), ("attprojb", per_layer(lambda b: b.attproj.bias)),
            ("ln2w", per_layer(lambda b: b.ln2.weight)), ("ln2b", per_layer(lambda b: b.ln2.bias)),
            ("fcw", per_layer(lambda b: b.fc.weight)), ("fcb", per_layer(lambda b: b.fc.bias)),
            ("fcprojw", per_layer(lambda b: b.fcproj.weight)), ("fcprojb", per_layer(lambda b: b.fcproj.bias)),
            ("lnfw", [self.lnf.weight]), ("lnfb", [self.lnf.bias]),
        ]
        return [(name, ts, ts[0].dim() >= 2) for name, ts in t]


def init_params(model, gen, nontrivial_norms_and_biases):
    """GPT-2 init: N(0, 0.02) for embeddings and Linear weights, N(0, 0.02/sqrt(2L))
    for the two projections into the residual stream. Biases and LayerNorms are
    0 and 1 normally; with nontrivial_norms_and_biases (the fixture) biases are
    N(0, 0.02) and LayerNorms 1 + N(0, 0.1), N(0, 0.1), so their gradients are
    tested for real. Draws go in a fixed order from gen."""
    def normal(p, std, mean=0.0):
        p.copy_(torch.randn(p.shape, generator=gen) * std + mean)

    std_proj = 0.02 / math.sqrt(2 * model.L)
    with torch.no_grad():
        normal(model.wte[: model.V], 0.02)
        model.wte[model.V:].zero_()
        normal(model.wpe, 0.02)
        modules = [m for b in model.blocks for m in b.children()] + [model.lnf]
        for block in model.blocks:
            for m in block.children():
                if isinstance(m, nn.Linear):
                    projects_into_residual = m is block.attproj or m is block.fcproj
                    normal(m.weight, std_proj if projects_into_residual else 0.02)
        for m in modules:
            if nontrivial_norms_and_biases:
                if isinstance(m, nn.Linear):
                    normal(m.bias, 0.02)
                else:  # LayerNorm
                    normal(m.weight, 0.1, mean=1.0)
                    normal(m.bias, 0.1)
            else:
                m.bias.zero_()
                if isinstance(m, nn.LayerNorm):
                    m.weight.fill_(1.0)


def lr_at(s, lr, warmup, max_steps, final_lr_frac):
    """The learning rate of step s (0-based): linear warmup, then cosine to lr*frac."""
    min_lr = lr * final_lr_frac
    if s < warmup:
        return lr * (s + 1) / warmup
    ratio = (s - warmup) / (max_steps - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


class AdamW:
    """AdamW written out (see the module docstring); equal to torch.optim.AdamW
    with decoupled weight decay, but with the step's lr passed in."""

    def __init__(self, tensors_with_decay, beta1, beta2, eps, weight_decay):
        self.params = tensors_with_decay  # [(tensor, decays)]
        self.b1, self.b2, self.eps, self.wd = beta1, beta2, eps, weight_decay
        self.m = [torch.zeros_like(p) for p, _ in self.params]
        self.v = [torch.zeros_like(p) for p, _ in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self, lr):
        self.t += 1
        for (p, decays), m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m.mul_(self.b1).add_((1 - self.b1) * g)
            v.mul_(self.b2).add_((1 - self.b2) * g * g)
            mhat = m / (1 - self.b1 ** self.t)
            vhat = v / (1 - self.b2 ** self.t)
            wd = self.wd if decays else 0.0
            p.sub_(lr * (mhat / (vhat.sqrt() + self.eps) + wd * p))


def flat(model, grads=False):
    """All parameters (or their gradients) as one float32 array in file order."""
    parts = []
    for _, ts, _ in model.tensors_in_file_order():
        for t in ts:
            t = t.grad if grads else t
            parts.append(t.detach().reshape(-1).numpy().astype("<f4"))
    return np.concatenate(parts)


def write_fixture(path):
    torch.set_num_threads(1)  # (and see the top of the file)
    torch.manual_seed(1337)
    gen = torch.Generator().manual_seed(1337)
    L, NH, C, V, maxT, B, T = 2, 4, 64, 300, 32, 4, 32
    nsteps, warmup, max_steps = 10, 3, 10
    lr, final_lr_frac, weight_decay = 3e-3, 0.1, 0.1
    beta1, beta2, eps = 0.9, 0.95, 1e-8
    grad_clip = 1.75  # between the step norms below, so some steps clip and some do not

    model = GPT(L, NH, C, V, maxT)
    init_params(model, gen, nontrivial_norms_and_biases=True)
    tokens = torch.randint(0, V, (B, T + 1), generator=gen)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    params0 = flat(model)
    logits, loss = model(inputs, targets)
    logits0 = logits.detach().numpy().astype("<f4")
    loss0 = float(loss)

    params = [p for p in model.parameters()]
    decays = {id(t): d for _, ts, d in model.tensors_in_file_order() for t in ts}
    assert len(decays) == len(params)
    opt = AdamW([(p, decays[id(p)]) for p in params], beta1, beta2, eps, weight_decay)
    step_losses, step_norms, grads0, clipped = [], [], None, []
    for s in range(nsteps):
        for p in params:
            p.grad = None
        _, loss = model(inputs, targets)
        loss.backward()
        if s == 0:
            grads0 = flat(model, grads=True)
        with torch.no_grad():
            norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in params))
            if norm > grad_clip:
                for p in params:
                    p.grad.mul_(grad_clip / norm)
        clipped.append(norm > grad_clip)
        step_losses.append(float(loss))
        step_norms.append(norm)
        opt.step(lr_at(s, lr, warmup, max_steps, final_lr_frac))
    assert step_losses[0] == loss0

    header = np.zeros(256, dtype="<i4")
    header[:13] = [FIXTURE_MAGIC, FIXTURE_VERSION, maxT, V, L, NH, C, model.Vp,
                   B, T, nsteps, warmup, max_steps]
    header[16:23] = np.array([lr, final_lr_frac, weight_decay, beta1, beta2, eps, grad_clip],
                             dtype="<f4").view("<i4")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(params0.tobytes())
        f.write(inputs.numpy().astype("<i4").tobytes())
        f.write(targets.numpy().astype("<i4").tobytes())
        f.write(logits0.tobytes())
        f.write(np.array([loss0], dtype="<f4").tobytes())
        f.write(grads0.tobytes())
        f.write(np.array(step_losses, dtype="<f4").tobytes())
        f.write(np.array(step_norms, dtype="<f4").tobytes())

    nparams = params0.size
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f"config: L={L} NH={NH} C={C} V={V} Vp={model.Vp} maxT={maxT} B={B} T={T} params={nparams}")
    print(f"optimizer: lr={lr} warmup={warmup} max_steps={max_steps} final_lr_frac={final_lr_frac} "
          f"wd={weight_decay} betas={beta1},{beta2} eps={eps} grad_clip={grad_clip}")
    print(f"loss {loss0:.6f}  (ln V = {math.log(V):.6f})")
    for s in range(nsteps):
        print(f"step {s} loss {step_losses[s]:.6f} norm {step_norms[s]:.6f} "
              f"lr {lr_at(s, lr, warmup, max_steps, final_lr_frac):.6e}"
              f"{'  clipped' if clipped[s] else ''}")
    print(f"wrote {path}: {os.path.getsize(path)} bytes, sha256 {digest}")


LORA_FIXTURE_MAGIC = 20261203
LORA_TARGETS = ["qkv", "attproj", "fc", "fcproj"]  # train.c's LoraTarget order


class LoRALinear(nn.Module):
    """A frozen nn.Linear W (out, in) plus the trainable low-rank update of
    train.c's lora_forward: y = W x + b + (alpha / R) B (A x), A (R, in), B (out, R)."""

    def __init__(self, base, R, alpha):
        super().__init__()
        self.base, self.scale = base, alpha / R
        self.A = nn.Parameter(torch.zeros(R, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, R))

    def forward(self, x):
        return self.base(x) + ((x @ self.A.t()) * self.scale) @ self.B.t()


def add_lora(model, R, alpha, targets, train_norms):
    """Wraps the targeted Linear layers of every block in LoRALinear, freezes
    the base (with train_norms the biases and LayerNorms stay trainable) and
    returns the trainable tensors in train.c's trainable-table order: per
    target A then B (each a list of L tensors, to be stacked), then with
    train_norms the base tensors that do not decay, in file order."""
    for p in model.parameters():
        p.requires_grad_(False)
    in_file_order = model.tensors_in_file_order()  # before wrapping renames the Linear weights
    table = []
    for name in LORA_TARGETS:
        if name not in targets:
            continue
        wrapped = []
        for b in model.blocks:
            setattr(b, name, LoRALinear(getattr(b, name), R, alpha))
            wrapped.append(getattr(b, name))
        table.append((name + "_lora_a", [m.A for m in wrapped], True))
        table.append((name + "_lora_b", [m.B for m in wrapped], True))
    if train_norms:
        for name, ts, decays in in_file_order:
            if not decays:
                for t in ts:
                    t.requires_grad_(True)
                table.append((name, ts, False))
    return table


def flat_list(table, grads=False):
    return np.concatenate([(t.grad if grads else t).detach().reshape(-1).numpy().astype("<f4")
                           for _, ts, _ in table for t in ts])


def write_lora_fixture(path):
    """The LoRA fixture (test_train's LoRA parity): the tiny model of
    write_fixture with adapters of rank R on targets, format in the docstring."""
    torch.set_num_threads(1)
    torch.manual_seed(1337)
    gen = torch.Generator().manual_seed(2024)
    L, NH, C, V, maxT, B, T = 2, 4, 64, 300, 32, 4, 32
    R, alpha, targets, train_norms = 4, 8.0, LORA_TARGETS, 1
    nsteps, warmup, max_steps = 10, 3, 10
    lr, final_lr_frac, weight_decay = 3e-3, 0.1, 0.1
    beta1, beta2, eps = 0.9, 0.95, 1e-8
    grad_clip = 0.3  # between the step norms below, so some steps clip and some do not

    model = GPT(L, NH, C, V, maxT)
    init_params(model, gen, nontrivial_norms_and_biases=True)
    params0 = flat(model)
    table = add_lora(model, R, alpha, targets, train_norms)
    with torch.no_grad():  # A as train.c draws it (uniform +-1/sqrt(in)); B not zero, so dA is tested
        for name, ts, _ in table:
            for t in ts:
                if name.endswith("_lora_a"):
                    bound = 1.0 / math.sqrt(t.shape[1])
                    t.copy_((torch.rand(t.shape, generator=gen) * 2 - 1) * bound)
                elif name.endswith("_lora_b"):
                    t.copy_(torch.randn(t.shape, generator=gen) * 0.05)
    tokens = torch.randint(0, V, (B, T + 1), generator=gen)
    inputs, targets_ = tokens[:, :-1], tokens[:, 1:]
    adapters0 = np.concatenate([t.detach().reshape(-1).numpy().astype("<f4")
                                for name, ts, _ in table if "_lora_" in name for t in ts])
    logits, loss = model(inputs, targets_)
    logits0 = logits.detach().numpy().astype("<f4")
    loss0 = float(loss)

    trainable = [(t, d) for _, ts, d in table for t in ts]
    opt = AdamW(trainable, beta1, beta2, eps, weight_decay)
    step_losses, step_norms, grads0, clipped = [], [], None, []
    for s in range(nsteps):
        for p, _ in trainable:
            p.grad = None
        _, loss = model(inputs, targets_)
        loss.backward()
        if s == 0:
            grads0 = flat_list(table, grads=True)
        with torch.no_grad():
            norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p, _ in trainable))
            if norm > grad_clip:
                for p, _ in trainable:
                    p.grad.mul_(grad_clip / norm)
        clipped.append(norm > grad_clip)
        step_losses.append(float(loss))
        step_norms.append(norm)
        opt.step(lr_at(s, lr, warmup, max_steps, final_lr_frac))
    assert step_losses[0] == loss0

    mask = sum(1 << LORA_TARGETS.index(t) for t in targets)
    header = np.zeros(256, dtype="<i4")
    header[:16] = [LORA_FIXTURE_MAGIC, 1, maxT, V, L, NH, C, model.Vp,
                   B, T, nsteps, warmup, max_steps, R, mask, train_norms]
    header[16:24] = np.array([lr, final_lr_frac, weight_decay, beta1, beta2, eps, grad_clip, alpha],
                             dtype="<f4").view("<i4")
    with open(path, "wb") as f:
        for part in (header, params0, inputs.numpy().astype("<i4"), targets_.numpy().astype("<i4"),
                     adapters0, logits0, np.array([loss0], dtype="<f4"), grads0,
                     np.array(step_losses, dtype="<f4"), np.array(step_norms, dtype="<f4")):
            f.write(part.tobytes())
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f"LoRA: R={R} alpha={alpha} targets={','.join(targets)} train_norms={train_norms}, "
          f"{adapters0.size} adapter values, {grads0.size} trainable")
    for s in range(nsteps):
        print(f"step {s} loss {step_losses[s]:.6f} norm {step_norms[s]:.6f}"
              f"{'  clipped' if clipped[s] else ''}")
    print(f"wrote {path}: {os.path.getsize(path)} bytes, sha256 {digest}")


HF_LOGITS_MAGIC = 20261201


def hf_tensors(model):
    """[(HF name, view of our parameter)]: the Hugging Face GPT-2 layout of the
    model. The views share storage with the parameters (Conv1D weights are the
    transposes of ours; wte without its padding rows)."""
    t = [("wte.weight", model.wte[: model.V]), ("wpe.weight", model.wpe)]
    for l, b in enumerate(model.blocks):
        h = f"h.{l}."
        t += [
            (h + "ln_1.weight", b.ln1.weight), (h + "ln_1.bias", b.ln1.bias),
            (h + "attn.c_attn.weight", b.qkv.weight.t()), (h + "attn.c_attn.bias", b.qkv.bias),
            (h + "attn.c_proj.weight", b.attproj.weight.t()), (h + "attn.c_proj.bias", b.attproj.bias),
            (h + "ln_2.weight", b.ln2.weight), (h + "ln_2.bias", b.ln2.bias),
            (h + "mlp.c_fc.weight", b.fc.weight.t()), (h + "mlp.c_fc.bias", b.fc.bias),
            (h + "mlp.c_proj.weight", b.fcproj.weight.t()), (h + "mlp.c_proj.bias", b.fcproj.bias),
        ]
    return t + [("ln_f.weight", model.lnf.weight), ("ln_f.bias", model.lnf.bias)]


def tensor_bytes(t, dtype):
    """t's values, row-major little-endian, as safetensors dtype F32, F16 or BF16."""
    t = t.detach().contiguous()
    if dtype == "F32":
        return t.numpy().astype("<f4").tobytes()
    if dtype == "F16":
        return t.numpy().astype("<f2").tobytes()
    return t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()


def write_safetensors(path, entries, reverse_data=False):
    """entries: [(name, tensor, dtype)]. The header's data_offsets count from
    the end of the JSON, which is padded with spaces to a multiple of 8."""
    blobs = [tensor_bytes(t, dtype) for _, t, dtype in entries]
    order = list(range(len(entries)))[::-1] if reverse_data else list(range(len(entries)))
    offsets, at = {}, 0
    for i in order:
        offsets[i] = (at, at + len(blobs[i]))
        at += len(blobs[i])
    header = {"__metadata__": {"format": "pt"}}
    for i, (name, t, dtype) in enumerate(entries):
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": list(offsets[i])}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs[i] for i in order))


def write_hf_fixture(name, L, NH, C, V, maxT, B, dtypes, prefix, extras, reverse_data):
    gen = torch.Generator().manual_seed(4242 + L * 100 + C)
    model = GPT(L, NH, C, V, maxT)
    init_params(model, gen, nontrivial_norms_and_biases=True)
    tensors = hf_tensors(model)
    entries = []
    with torch.no_grad():
        for i, (hf_name, view) in enumerate(tensors):
            dtype = dtypes[i % len(dtypes)]
            if dtype != "F32":  # the model computes with the weights as stored
                view.copy_(view.to(torch.float16 if dtype == "F16" else torch.bfloat16).float())
            entries.append((prefix + hf_name, view.clone(), dtype))
    if extras:
        mask = torch.tril(torch.ones(maxT, maxT)).view(1, 1, maxT, maxT)
        for l in range(L):
            entries.append((f"{prefix}h.{l}.attn.bias", mask, "F32"))
            entries.append((f"{prefix}h.{l}.attn.masked_bias", torch.tensor(-1e4), "F32"))
        entries.append(("lm_head.weight", model.wte[:V].detach().clone(), "F32"))
    inputs = torch.randint(0, V, (B, maxT), generator=gen)
    with torch.no_grad():
        logits, _ = model(inputs)
    base = f"test/fixtures/hf_{name}"
    write_safetensors(base + ".safetensors", entries, reverse_data)
    header = np.zeros(256, dtype="<i4")
    header[:6] = [HF_LOGITS_MAGIC, 1, B, maxT, V, NH]
    with open(base + ".logits.bin", "wb") as f:
        f.write(header.tobytes())
        f.write(inputs.numpy().astype("<i4").tobytes())
        f.write(logits.numpy().astype("<f4").tobytes())
    for suffix in (".safetensors", ".logits.bin"):
        print(f"wrote {base}{suffix}: {os.path.getsize(base + suffix)} bytes")


def write_hf_fixtures():
    torch.set_num_threads(1)
    write_hf_fixture("f32", L=2, NH=4, C=64, V=120, maxT=32, B=2, dtypes=["F32"],
                     prefix="transformer.", extras=True, reverse_data=False)
    write_hf_fixture("mixed", L=1, NH=2, C=32, V=64, maxT=16, B=2, dtypes=["F16", "BF16", "F32"],
                     prefix="", extras=False, reverse_data=True)


def read_safetensors(path):
    """(metadata, {name: float32 tensor}) of a safetensors file of F32 tensors,
    checking that the tensors tile the data in the header's order."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base, at, out = 8 + n, 0, {}
    for name, info in header.items():
        assert info["dtype"] == "F32", (name, info["dtype"])
        b, e = info["data_offsets"]
        assert b == at and e - b == 4 * math.prod(info["shape"]), (name, b, e, at)
        out[name] = torch.from_numpy(np.frombuffer(data[base + b:base + e], dtype="<f4").copy()).reshape(info["shape"])
        at = e
    assert base + at == len(data), "bytes after the last tensor"
    return meta, out


def write_export_logits(export_dir, out_path, B=2):
    """The logits PyTorch computes from ./export_hf's directory (model.safetensors
    and config.json, read as transformers' GPT2LMHeadModel would: the same
    names, shapes and config fields), for a fixed batch of B x maxT tokens,
    written as a logits file of --hf (test/test_export_hf.sh compares train.c's)."""
    with open(os.path.join(export_dir, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["model_type"] == "gpt2" and cfg["architectures"] == ["GPT2LMHeadModel"]
    assert cfg["activation_function"] == "gelu_new" and cfg["layer_norm_epsilon"] == LN_EPS
    assert cfg["tie_word_embeddings"] and cfg["n_ctx"] == cfg["n_positions"]
    L, NH, C, V, maxT = cfg["n_layer"], cfg["n_head"], cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    meta, tensors = read_safetensors(os.path.join(export_dir, "model.safetensors"))
    assert meta.get("format") == "pt", "from_pretrained needs __metadata__ format pt"
    model = GPT(L, NH, C, V, maxT)
    views = dict(hf_tensors(model))
    assert set(tensors) == set(views), set(tensors) ^ set(views)
    with torch.no_grad():
        for name, view in views.items():
            assert tuple(view.shape) == tuple(tensors[name].shape), name
            view.copy_(tensors[name])
    gen = torch.Generator().manual_seed(777)
    inputs = torch.randint(0, V, (B, maxT), generator=gen)
    with torch.no_grad():
        logits, _ = model(inputs)
    header = np.zeros(256, dtype="<i4")
    header[:6] = [HF_LOGITS_MAGIC, 1, B, maxT, V, NH]
    with open(out_path, "wb") as f:
        f.write(header.tobytes())
        f.write(inputs.numpy().astype("<i4").tobytes())
        f.write(logits.numpy().astype("<f4").tobytes())
    print(f"read {export_dir}: L={L} NH={NH} C={C} V={V} maxT={maxT}, {len(tensors)} tensors; wrote {out_path}")


def main():
    ap = argparse.ArgumentParser(description="Write the GPT-2 test fixture for train.c.")
    ap.add_argument("out", nargs="?", default="test/fixtures/gpt2_tiny.bin")
    ap.add_argument("--hf", action="store_true",
                    help="write the Hugging Face safetensors fixtures of ./import_hf instead")
    ap.add_argument("--lora", action="store_true",
                    help="write the LoRA fixture (default test/fixtures/gpt2_tiny_lora.bin) instead")
    ap.add_argument("--logits-of", nargs=2, action="append", metavar=("DIR", "OUT"),
                    help="PyTorch's logits for ./export_hf's DIR, as a logits file OUT (repeatable)")
    args = ap.parse_args()
    if args.logits_of:
        torch.set_num_threads(1)
        for export_dir, out_path in args.logits_of:
            write_export_logits(export_dir, out_path)
    elif args.hf:
        write_hf_fixtures()
    elif args.lora:
        write_lora_fixture(args.out if args.out != ap.get_default("out") else "test/fixtures/gpt2_tiny_lora.bin")
    else:
        write_fixture(args.out)


if __name__ == "__main__":
    main()
