#!/usr/bin/env python3
"""PyTorch reference for `npm run bench -- vs-pytorch` (bench/src/vs-pytorch.ts): the same models, shapes and ops
as our side, driven over stdin/stdout so the two sides can alternate rounds in one run.

Protocol: prints one JSON line {"ready": ...} after building; then for each stdin line `run K` runs K timed
iterations and prints {"times": [seconds...]}; `quit` prints {"peak_rss_bytes": ...} and exits.

Cases (see vs-pytorch.ts for the matching TypeScript):
  bert-train     post-LN BERT encoder (token+position embeddings, LayerNorm, MHA with padding mask, exact-GELU FFN),
                 mean pooling, MSE loss, backward, AdamW step.
  vit-forward    CLIP ViT image tower (conv patch embedding, class token, pre-LN, quick-GELU), pooled + projection,
                 inference (no_grad).
  altclip-large  BAAI/AltCLIP shapes (XLM-R large text tower + CLIP ViT-L/14 image tower + projections), random
                 weights, embeds one 224x224 image and one 77-token text; reports peak RSS.
  altclip-large-finetune  one optimizer step of AltCLIP-L, every parameter trainable: batch 4 images 224x224 +
                 4 captions of 16 tokens, text dropout 0.1 (HF train mode), symmetric CLIP loss, AdamW.
  distill-large  one stage-1 step: XLM-R-large student (+ pre_LN + transformation, trainable) vs the CLIP
                 ViT-L/14 text tower (frozen, no_grad), batch 16 x 64 tokens, MSE on the pooled features, AdamW.
Threads: torch.set_num_threads(--threads); run with OMP_WAIT_POLICY=PASSIVE (the TS side sets it) so idle OpenMP
threads do not spin against the other side's BLAS threads.

--impl hand (the default): the hand-written torch code below. --impl transformers: what users run instead, Hugging
Face transformers' models built from config (random init, SDPA attention) for the three AltCLIP-L cases:
AltCLIPModel (altclip-large, altclip-large-finetune; its loss is the symmetric CLIP loss) and AltCLIPTextModel
(XLM-R-large + pre_LN + transformation) against CLIPTextModelWithProjection (ViT-L/14 text tower) for
distill-large. --precision amp_bf16 runs each step under torch.autocast('cpu', dtype=torch.bfloat16), as open_clip
does for its default precision.
"""
import contextlib
import os
import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F


def layer_norm(x, g, b, eps):
    return F.layer_norm(x, (x.shape[-1],), g, b, eps)


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def gelu(x):  # exact (erf) GELU, as tfjs code writes it
    return F.gelu(x)


# ---------------------------------------------------------------- bert-train
def bert_case(a):
    torch.manual_seed(0)
    H, NH, FF, L, B, S, V = a.hidden, a.heads, a.ffn, a.layers, a.batch, a.seq, a.vocab
    dh = H // NH
    params = {}

    def normal(name, *shape):
        params[name] = (torch.randn(*shape) * 0.02).requires_grad_()

    def const(name, n, v):
        params[name] = torch.full((n,), float(v)).requires_grad_()

    normal('tok', V, H)
    normal('pos', S, H)
    const('emb.ln.g', H, 1)
    const('emb.ln.b', H, 0)
    for l in range(L):
        for w in 'qkvo':
            normal(f'{l}.{w}.w', H, H)
            const(f'{l}.{w}.b', H, 0)
        normal(f'{l}.ffn1.w', H, FF)
        const(f'{l}.ffn1.b', FF, 0)
        normal(f'{l}.ffn2.w', FF, H)
        const(f'{l}.ffn2.b', H, 0)
        for n in ('ln1', 'ln2'):
            const(f'{l}.{n}.g', H, 1)
            const(f'{l}.{n}.b', H, 0)
    p = params
    # ids/mask as in vs-pytorch.ts: row 0 full length, the others 3/4 then padding
    ids = torch.zeros(B, S, dtype=torch.long)
    mask = torch.zeros(B, S)
    for b in range(B):
        n = S if b == 0 else max(1, math.ceil(S * 0.75))
        for s in range(S):
            ids[b, s] = (b * 7919 + s * 104729) % V if s < n else 1
            mask[b, s] = 1.0 if s < n else 0.0
    target = torch.randn(B, H)
    mask_bias = ((1 - mask) * -1e9).view(B, 1, 1, S)
    opt = torch.optim.AdamW(list(params.values()), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    def dense(x, name):
        return x @ p[f'{name}.w'] + p[f'{name}.b']

    def heads(t):
        return t.view(B, S, NH, dh).permute(0, 2, 1, 3)

    def step():
        emb = p['tok'][ids.view(-1)].view(B, S, H) + p['pos']
        x = layer_norm(emb.view(B * S, H), p['emb.ln.g'], p['emb.ln.b'], 1e-12)
        for l in range(L):
            q, k, v = heads(dense(x, f'{l}.q')), heads(dense(x, f'{l}.k')), heads(dense(x, f'{l}.v'))
            probs = torch.softmax((q @ k.transpose(-1, -2)) * (1 / math.sqrt(dh)) + mask_bias, dim=-1)
            ctx = (probs @ v).permute(0, 2, 1, 3).reshape(B * S, H)
            x = layer_norm(x + dense(ctx, f'{l}.o'), p[f'{l}.ln1.g'], p[f'{l}.ln1.b'], 1e-12)
            h = dense(gelu(dense(x, f'{l}.ffn1')), f'{l}.ffn2')
            x = layer_norm(x + h, p[f'{l}.ln2.g'], p[f'{l}.ln2.b'], 1e-12)
        m = mask.view(B, S, 1)
        pooled = (x.view(B, S, H) * m).sum(1) / m.sum(1)
        loss = ((pooled - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step, {'params': sum(t.numel() for t in params.values())}


# ---------------------------------------------------------------- CLIP-style encoders (vit-forward, altclip-large)
TRAINABLE = []  # tensors created with grad=True (the large training cases)


def leaf(t, grad):
    if grad:
        t.requires_grad_()
        TRAINABLE.append(t)
    return t


def rand_linear(i, o, bias=True, grad=False):
    w = leaf(torch.empty(o, i).uniform_(-0.02, 0.02), grad)
    return (w, leaf(torch.zeros(o), grad) if bias else None)


def ln_params(H, grad=False):
    return (leaf(torch.ones(H), grad), leaf(torch.zeros(H), grad))


class Encoder:
    """Stack of transformer layers. pre_ln: CLIP (x + attn(ln1 x)); post-LN otherwise (XLM-R)."""

    def __init__(self, H, NH, FF, L, pre_ln, act, grad=False, dropout=0.0):
        self.H, self.NH, self.pre_ln, self.act, self.p = H, NH, pre_ln, act, dropout
        self.layers = []
        for _ in range(L):
            self.layers.append({
                'q': rand_linear(H, H, grad=grad), 'k': rand_linear(H, H, grad=grad), 'v': rand_linear(H, H, grad=grad),
                'o': rand_linear(H, H, grad=grad), 'f1': rand_linear(H, FF, grad=grad), 'f2': rand_linear(FF, H, grad=grad),
                'ln1': ln_params(H, grad), 'ln2': ln_params(H, grad),
            })

    def __call__(self, x, mask_bias, eps):
        drop = (lambda t: F.dropout(t, self.p, True)) if self.p > 0 else (lambda t: t)
        B, S, H = x.shape
        NH, dh = self.NH, H // self.NH
        for ly in self.layers:
            def attn(h):
                q = F.linear(h, *ly['q']).view(B, S, NH, dh).transpose(1, 2)
                k = F.linear(h, *ly['k']).view(B, S, NH, dh).transpose(1, 2)
                v = F.linear(h, *ly['v']).view(B, S, NH, dh).transpose(1, 2)
                s = (q * (dh ** -0.5)) @ k.transpose(-1, -2)
                if mask_bias is not None:
                    s = s + mask_bias
                ctx = drop(torch.softmax(s, dim=-1)) @ v
                return drop(F.linear(ctx.transpose(1, 2).reshape(B, S, H), *ly['o']))

            def mlp(h):
                return drop(F.linear(self.act(F.linear(h, *ly['f1'])), *ly['f2']))

            if self.pre_ln:
                x = x + attn(layer_norm(x, *ly['ln1'], eps))
                x = x + mlp(layer_norm(x, *ly['ln2'], eps))
            else:
                x = layer_norm(x + attn(x), *ly['ln1'], eps)
                x = layer_norm(x + mlp(x), *ly['ln2'], eps)
        return x


class VisionTower:
    def __init__(self, H, NH, FF, L, patch, image, proj, grad=False):
        self.patch, self.H = patch, H
        self.conv = leaf(torch.empty(H, 3, patch, patch).uniform_(-0.02, 0.02), grad)
        self.cls = leaf(torch.zeros(H), grad)
        self.pos = leaf(torch.empty((image // patch) ** 2 + 1, H).uniform_(-0.02, 0.02), grad)
        self.pre = ln_params(H, grad)
        self.post = ln_params(H, grad)
        self.enc = Encoder(H, NH, FF, L, True, quick_gelu, grad)
        self.proj = rand_linear(H, proj, bias=False, grad=grad)

    def __call__(self, pixels):
        B = pixels.shape[0]
        x = F.conv2d(pixels, self.conv, stride=self.patch).flatten(2).transpose(1, 2)  # [B, P, H]
        x = torch.cat([self.cls.expand(B, 1, self.H), x], 1) + self.pos
        x = layer_norm(x, *self.pre, 1e-5)
        x = self.enc(x, None, 1e-5)
        pooled = layer_norm(x[:, 0], *self.post, 1e-5)
        return F.linear(pooled, *self.proj)


def vit_case(a):
    torch.manual_seed(0)
    tower = VisionTower(768, 12, 3072, 12, 16, 224, 512)
    pixels = torch.randn(a.batch, 3, 224, 224)

    def step():
        with torch.no_grad():
            return float(tower(pixels)[0, 0])

    return step, {}


def altclip_case(a):
    torch.manual_seed(0)
    t0 = time.perf_counter()
    # text: XLM-R large (post-LN, exact GELU), pre_LN, transformation to project_dim 768, first token, projection
    V, H, L, FF, NH, P = 250002, 1024, 24, 4096, 16, 514
    word = torch.empty(V, H).uniform_(-0.02, 0.02)
    pos = torch.empty(P, H).uniform_(-0.02, 0.02)
    tok_type = torch.zeros(1, H)
    emb_ln = (torch.ones(H), torch.zeros(H))
    text_enc = Encoder(H, NH, FF, L, False, gelu)
    pre_ln = (torch.ones(H), torch.zeros(H))  # AltCLIP's pre_LN on the last hidden state
    transformation = rand_linear(H, 768)  # project_dim 768
    text_proj = rand_linear(768, 768, bias=False)
    vision = VisionTower(1024, 16, 4096, 24, 14, 224, 768)
    build_s = time.perf_counter() - t0
    S = 77
    ids = torch.tensor([[0] + [(i * 7919) % 250000 + 3 for i in range(S - 2)] + [2]])
    positions = torch.arange(2, S + 2).view(1, S)  # XLM-R positions start after padding_idx 1
    pixels = torch.randn(1, 3, 224, 224)

    def step():
        with torch.no_grad():
            x = word[ids] + pos[positions] + tok_type[0]
            x = layer_norm(x, *emb_ln, 1e-5)
            x = text_enc(x, None, 1e-5)
            t = F.linear(layer_norm(x, *pre_ln, 1e-5), *transformation)[:, 0]
            text = F.linear(t, *text_proj)
            image = vision(pixels)
            return float(text[0, 0] + image[0, 0])

    return step, {'build_s': build_s}


class XlmrLargeText:
    """AltCLIP's text tower at BAAI/AltCLIP size: XLM-R large (post-LN, exact GELU), pre_LN, transformation."""

    def __init__(self, grad, dropout):
        V, H, L, FF, NH, P = 250002, 1024, 24, 4096, 16, 514
        self.p = dropout
        self.word = leaf(torch.empty(V, H).uniform_(-0.02, 0.02), grad)
        self.pos = leaf(torch.empty(P, H).uniform_(-0.02, 0.02), grad)
        self.tok_type = leaf(torch.zeros(1, H), grad)
        self.emb_ln = ln_params(H, grad)
        self.enc = Encoder(H, NH, FF, L, False, gelu, grad, dropout)
        self.pre_ln = ln_params(H, grad)
        self.transformation = rand_linear(H, 768, grad=grad)

    def __call__(self, ids, mask):
        B, S = ids.shape
        positions = torch.arange(2, S + 2).view(1, S)  # XLM-R positions start after padding_idx 1 (no padding here)
        x = layer_norm(self.word[ids] + self.pos[positions] + self.tok_type[0], *self.emb_ln, 1e-5)
        x = F.dropout(x, self.p, True) if self.p > 0 else x
        bias = ((1 - mask) * torch.finfo(torch.float32).min).view(B, 1, 1, S)
        x = self.enc(x, bias, 1e-5)
        return F.linear(layer_norm(x[:, 0], *self.pre_ln, 1e-5), *self.transformation)  # [B, 768]


def caption_ids(B, S, seed):
    return torch.tensor([[0] + [((b * 104729 + i * 7919 + seed) % 250000) + 3 for i in range(S - 2)] + [2] for b in range(B)])


def altclip_finetune_case(a):
    torch.manual_seed(0)
    t0 = time.perf_counter()
    text = XlmrLargeText(True, 0.1)
    text_proj = rand_linear(768, 768, bias=False, grad=True)
    vision = VisionTower(1024, 16, 4096, 24, 14, 224, 768, grad=True)
    logit_scale = leaf(torch.tensor(2.6592), True)
    opt = torch.optim.AdamW(TRAINABLE, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    build_s = time.perf_counter() - t0
    B, S = 4, 16
    ids = caption_ids(B, S, 0)
    mask = torch.ones(B, S)
    pixels = torch.randn(B, 3, 224, 224)
    labels = torch.arange(B)

    def step():
        t = F.normalize(F.linear(text(ids, mask), *text_proj), dim=-1)
        i = F.normalize(vision(pixels), dim=-1)
        logits = logit_scale.exp() * t @ i.t()
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step, {'build_s': build_s, 'params': sum(t.numel() for t in TRAINABLE)}


def distill_large_case(a):
    torch.manual_seed(0)
    t0 = time.perf_counter()
    student = XlmrLargeText(True, 0.1)
    opt = torch.optim.AdamW(TRAINABLE, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    # teacher: CLIP ViT-L/14 text tower (openai/clip-vit-large-patch14), frozen
    TV, TH, TL, TFF, TNH, TP = 49408, 768, 12, 3072, 12, 77
    t_tok = torch.empty(TV, TH).uniform_(-0.02, 0.02)
    t_pos = torch.empty(TP, TH).uniform_(-0.02, 0.02)
    t_enc = Encoder(TH, TNH, TFF, TL, True, quick_gelu)
    t_final = ln_params(TH)
    build_s = time.perf_counter() - t0
    B, S = 16, 64
    ids = caption_ids(B, S, 1)
    mask = torch.ones(B, S)
    t_ids = torch.tensor([[49406] + [(b * 131 + i * 17) % 49000 + 1 for i in range(S - 2)] + [49407] for b in range(B)])
    causal = torch.full((S, S), torch.finfo(torch.float32).min).triu(1).view(1, 1, S, S)

    def step():
        with torch.no_grad():
            x = t_enc(t_tok[t_ids] + t_pos[:S], causal, 1e-5)
            target = layer_norm(x, *t_final, 1e-5)[torch.arange(B), t_ids.argmax(-1)]  # pooled (EOS) feature
        loss = ((student(ids, mask) - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step, {'build_s': build_s, 'params': sum(t.numel() for t in TRAINABLE)}


# ---------------------------------------------------------------- transformers (what users run)
def hf_altclip_config():
    from transformers import AltCLIPConfig
    path = os.path.join(os.path.dirname(__file__), '..', '..', 'configs', 'models', 'altclip-large.json')
    with open(path) as f:
        cfg = json.load(f)
    return AltCLIPConfig(text_config=cfg['text_config'], vision_config=cfg['vision_config'], projection_dim=cfg['projection_dim'],
                         logit_scale_init_value=cfg['logit_scale_init_value'], attn_implementation='sdpa')


def hf_altclip_case(a):
    from transformers import AltCLIPModel
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = AltCLIPModel(hf_altclip_config()).eval()
    build_s = time.perf_counter() - t0
    S = 77
    ids = torch.tensor([[0] + [(i * 7919) % 250000 + 3 for i in range(S - 2)] + [2]])
    mask = torch.ones(1, S, dtype=torch.long)
    pixels = torch.randn(1, 3, 224, 224)

    def step():
        with torch.no_grad():
            t = model.get_text_features(input_ids=ids, attention_mask=mask)
            i = model.get_image_features(pixel_values=pixels)
            t = t if torch.is_tensor(t) else t.pooler_output
            i = i if torch.is_tensor(i) else i.pooler_output
            return float(t[0, 0] + i[0, 0])

    return step, {'build_s': build_s}


def hf_altclip_finetune_case(a):
    from transformers import AltCLIPModel
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = AltCLIPModel(hf_altclip_config()).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    build_s = time.perf_counter() - t0
    B, S = 4, 16
    ids = caption_ids(B, S, 0)
    mask = torch.ones(B, S, dtype=torch.long)
    pixels = torch.randn(B, 3, 224, 224)

    def step():
        with autocast(a):
            loss = model(input_ids=ids, attention_mask=mask, pixel_values=pixels, return_loss=True).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step, {'build_s': build_s, 'params': sum(p.numel() for p in model.parameters())}


def hf_distill_large_case(a):
    from transformers import AltCLIPTextConfig, AltCLIPTextModel, CLIPTextConfig, CLIPTextModelWithProjection
    torch.manual_seed(0)
    t0 = time.perf_counter()
    student = AltCLIPTextModel(AltCLIPTextConfig(**hf_altclip_config().text_config.to_dict(), attn_implementation='sdpa')).train()
    teacher = CLIPTextModelWithProjection(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                                         num_attention_heads=12, max_position_embeddings=77, projection_dim=768,
                                                         hidden_act='quick_gelu', layer_norm_eps=1e-5, pad_token_id=1,
                                                         bos_token_id=49406, eos_token_id=49407, attn_implementation='sdpa')).eval()
    teacher.requires_grad_(False)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    build_s = time.perf_counter() - t0
    B, S = 16, 64
    ids = caption_ids(B, S, 1)
    mask = torch.ones(B, S, dtype=torch.long)
    t_ids = torch.tensor([[49406] + [(b * 131 + i * 17) % 49000 + 1 for i in range(S - 2)] + [49407] for b in range(B)])

    def step():
        with autocast(a):
            with torch.no_grad():
                target = teacher(input_ids=t_ids).text_embeds
            loss = ((student(input_ids=ids, attention_mask=mask).pooler_output - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step, {'build_s': build_s, 'params': sum(p.numel() for p in student.parameters())}


def autocast(a):
    """torch.autocast('cpu', bf16) for --precision amp_bf16 (open_clip's default), else nothing."""
    return torch.autocast('cpu', dtype=torch.bfloat16) if a.precision == 'amp_bf16' else contextlib.nullcontext()


def with_autocast(make):
    """A hand-written case's step, run under autocast when --precision amp_bf16."""
    def wrapped(a):
        step, extra = make(a)

        def step_ac():
            with autocast(a):
                return step()
        return step_ac, extra
    return wrapped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--case', required=True, choices=['bert-train', 'vit-forward', 'altclip-large', 'altclip-large-finetune', 'distill-large'])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--layers', type=int, default=4)
    ap.add_argument('--hidden', type=int, default=768)
    ap.add_argument('--heads', type=int, default=12)
    ap.add_argument('--ffn', type=int, default=3072)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--seq', type=int, default=64)
    ap.add_argument('--vocab', type=int, default=8192)
    ap.add_argument('--impl', choices=['hand', 'transformers'], default='hand')
    ap.add_argument('--precision', choices=['fp32', 'amp_bf16'], default='fp32')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.impl == 'transformers':
        import transformers
        cases = {'altclip-large': with_autocast(hf_altclip_case), 'altclip-large-finetune': hf_altclip_finetune_case,
                 'distill-large': hf_distill_large_case}
        if a.case not in cases:
            sys.exit(f'--impl transformers has no {a.case} case (only {", ".join(cases)})')
        version = f'{torch.__version__} + transformers {transformers.__version__} (SDPA)'
    else:
        cases = {'bert-train': bert_case, 'vit-forward': vit_case, 'altclip-large': altclip_case,
                 'altclip-large-finetune': altclip_finetune_case, 'distill-large': distill_large_case}
        cases = {k: with_autocast(v) for k, v in cases.items()}
        version = f'{torch.__version__} (hand-written)'
    step, extra = cases[a.case](a)
    if a.precision == 'amp_bf16':
        version += ' autocast bf16'
    print(json.dumps({'ready': True, 'torch': version, 'threads': torch.get_num_threads(), **extra}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == 'run':
            times = []
            for _ in range(int(cmd[1])):
                t = time.perf_counter()
                step()
                times.append(time.perf_counter() - t)
            print(json.dumps({'times': times}), flush=True)
        elif cmd[0] == 'quit':
            break
    print(json.dumps({'peak_rss_bytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), flush=True)


if __name__ == '__main__':
    main()
