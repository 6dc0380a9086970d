#!/usr/bin/python3
"""PyTorch and Pillow sides of plp's CPU speed comparisons (scripts/bench-cpu.sh runs both sides in one go).

  /usr/bin/python3 scripts/torch_bench.py gemm --m 3152 --k 768 --n 2304
  /usr/bin/python3 scripts/torch_bench.py model --model vitb16-image|vitb16-text|resnet50|convnext_base --batch 16
  /usr/bin/python3 scripts/torch_bench.py pil --image data/testdata/bench/photo420_500x375.jpg

Needs Debian's python3-torch, python3-torchvision and python3-pil. Random weights, fp32, eval mode,
inference_mode. Debian's torch multiplies matrices in OpenBLAS, whose thread pool is separate from torch's own:
each torch:openblas thread setting in --threads is tried and the best is reported, so the figure is what
PyTorch can do on this machine. Peak RSS (VmHWM) is reported for model runs. One JSON line per result.
"""
import argparse
import ctypes
import ctypes.util
import json
import resource
import time

import numpy as np
import torch
from torch import nn


def set_threads(torch_threads, blas_threads):
    torch.set_num_threads(torch_threads)
    for lib in ("openblas", "openblas64_", "blas"):
        path = ctypes.util.find_library(lib)
        if path:
            so = ctypes.CDLL(path)
            for fn in ("openblas_set_num_threads", "openblas_set_num_threads64_"):
                if hasattr(so, fn):
                    getattr(so, fn)(blas_threads)
                    return


class Block(nn.Module):
    """open_clip's residual attention block: pre-LN, nn.MultiheadAttention, 4x MLP with GELU."""

    def __init__(self, width, heads):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x, mask=None):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class VisionTower(nn.Module):
    def __init__(self, width=768, layers=12, heads=12, patch=16, image=224, out=512):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.cls = nn.Parameter(torch.randn(width))
        self.pos = nn.Parameter(torch.randn((image // patch) ** 2 + 1, width))
        self.ln_pre, self.ln_post = nn.LayerNorm(width), nn.LayerNorm(width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.proj = nn.Parameter(torch.randn(width, out))

    def forward(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], 1) + self.pos
        x = self.ln_pre(x).transpose(0, 1)
        for b in self.blocks:
            x = b(x)
        return self.ln_post(x[0]) @ self.proj


class TextTower(nn.Module):
    def __init__(self, width=512, layers=12, heads=8, ctx=77, vocab=49408, out=512):
        super().__init__()
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(torch.randn(ctx, width))
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, out))
        self.register_buffer("mask", torch.full((ctx, ctx), float("-inf")).triu(1))

    def forward(self, t):
        x = (self.tok(t) + self.pos).transpose(0, 1)
        for b in self.blocks:
            x = b(x, self.mask)
        x = self.ln(x.transpose(0, 1))
        return x[torch.arange(t.shape[0]), t.argmax(-1)] @ self.proj


def build(name):
    import torchvision
    if name == "vitb16-image":
        return VisionTower(), "image"
    if name == "vitb16-text":
        return TextTower(), "text"
    if name == "resnet50":
        return torchvision.models.resnet50(), "image"
    if name == "convnext_base":
        return torchvision.models.convnext_base(), "image"
    raise SystemExit(f"unknown model {name}")


def best_time(fn, repeats):
    fn()
    return min(_timed(fn) for _ in range(repeats))


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def pil(a):
    from PIL import Image
    mean = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
    std = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)

    def one():
        im = Image.open(a.image).convert("RGB")
        w, h = im.size
        s = 224 / min(w, h)
        im = im.resize((max(224, int(w * s)), max(224, int(h * s))), Image.BICUBIC)
        w, h = im.size
        l, t = int(round((w - 224) / 2)), int(round((h - 224) / 2))
        x = np.asarray(im.crop((l, t, l + 224, t + 224)), np.float32) / 255
        return ((x - mean) / std).transpose(2, 0, 1)

    n = a.count
    one()
    t = time.perf_counter()
    for _ in range(n):
        one()
    dt = time.perf_counter() - t
    print(json.dumps({"what": "pil_decode_preprocess", "image": a.image, "images_per_s": n / dt}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["gemm", "model", "pil"])
    ap.add_argument("--model", default="vitb16-image")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--m", type=int, default=3152)
    ap.add_argument("--k", type=int, default=768)
    ap.add_argument("--n", type=int, default=2304)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1:2,2:2", help="torch:openblas thread settings to try")
    ap.add_argument("--image", default="data/testdata/bench/photo420_500x375.jpg")
    ap.add_argument("--count", type=int, default=300)
    a = ap.parse_args()
    if a.what == "pil":
        torch.set_num_threads(1)
        return pil(a)
    best = None
    for cfg in a.threads.split(","):
        set_threads(*(int(v) for v in cfg.split(":")))
        with torch.inference_mode():
            if a.what == "gemm":
                x, w = torch.randn(a.m, a.k), torch.randn(a.k, a.n)
                s = best_time(lambda: x @ w, a.repeats)
                rec = {"what": "gemm", "m": a.m, "k": a.k, "n": a.n, "threads": cfg, "gflops": 2 * a.m * a.k * a.n / s / 1e9}
                key = "gflops"
            else:
                model, kind = build(a.model)
                model.eval()
                if kind == "image":
                    inp = torch.randn(a.batch, 3, 224, 224)
                else:
                    inp = torch.randint(1, 49407, (a.batch, 77))
                s = best_time(lambda: model(inp), a.repeats)
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                rec = {"what": "model", "model": a.model, "batch": a.batch, "threads": cfg, "items_per_s": a.batch / s, "peak_rss_mb": rss}
                key = "items_per_s"
        if best is None or rec[key] > best[key]:
            best = rec
    print(json.dumps(best))


if __name__ == "__main__":
    main()
