#!/usr/bin/python3
"""Times one training step of a ViT-B/16 classifier in PyTorch on the CPU, for comparison with plp's
BenchmarkViTB16TrainStep (train/train_bench_test.go): timm's VisionTransformer layout (patch conv with bias,
class token, position embedding, 12 pre-LN blocks with packed qkv, final LayerNorm, 1000-class head),
batch 8 at 224 px, cross-entropy with label smoothing 0.1, backward, AdamW step. Random weights, fp32.

  OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 scripts/torch_vit_train_step.py [--batch 8] [--repeats 3] [--threads 1:2,2:2]

Needs libopenblas0: with Debian's reference libblas3 a step takes minutes, and Debian's OpenBLAS 0.3.21 falls
back to SSE3 kernels on recent Xeons unless OPENBLAS_CORETYPE pins its AVX-512 ones. The first line of each
thread setting is the warm-up step.

Debian's torch runs matmuls in OpenBLAS, whose thread pool is separate from torch's; like
scripts/torch_bench.py the script tries the torch:openblas thread settings given and prints one JSON line each.
"""
import argparse
import ctypes
import ctypes.util
import json
import time

import torch
from torch import nn
from torch.nn import functional as F


def set_threads(torch_threads, blas_threads):
    torch.set_num_threads(torch_threads)
    for name in ("openblas", "openblas64_", "blas"):
        path = ctypes.util.find_library(name)
        if not path:
            continue
        lib = ctypes.CDLL(path)
        for fn in ("openblas_set_num_threads", "openblas_set_num_threads64_"):
            if hasattr(lib, fn):
                getattr(lib, fn)(blas_threads)
                return


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, D = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-2, -1)) * (D // self.heads) ** -0.5
        x = (a.softmax(-1) @ v).transpose(1, 2).reshape(B, N, D)
        return self.proj(x)


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, dim=768, depth=12, heads=12, patch=16, image=224, classes=1000):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        n = (image // patch) ** 2 + 1
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, n, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x)[:, 0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1:2,2:2", help="torch:openblas thread configs to try")
    a = ap.parse_args()
    torch.manual_seed(0)
    model = ViT().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    x = torch.randn(a.batch, 3, 224, 224)
    y = torch.randint(0, 1000, (a.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        loss.backward()
        opt.step()

    for cfg in a.threads.split(","):
        tt, bt = (int(v) for v in cfg.split(":"))
        set_threads(tt, bt)
        t = time.perf_counter()
        step()
        print(json.dumps({"what": "vitb16-train-step-first", "threads": cfg, "seconds": round(time.perf_counter() - t, 3)}), flush=True)
        ts = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            step()
            ts.append(time.perf_counter() - t)
        ts.sort()
        s = ts[len(ts) // 2]
        print(json.dumps({"what": "vitb16-train-step", "batch": a.batch, "threads": cfg, "seconds": round(s, 3),
                          "images_per_s": round(a.batch / s, 3)}), flush=True)


if __name__ == "__main__":
    main()
