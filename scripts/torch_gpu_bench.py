#!/usr/bin/env python3
"""PyTorch side of scripts/gpu-check.sh: eager image-tower throughput and SDPA attention TFLOP/s.

Builds the timm architectures of the open_clip towers plp benchmarks (random weights: throughput does not
depend on them), runs them eagerly in fp32 and in bf16 (weights and inputs cast, attention through
F.scaled_dot_product_attention, timm's default), and prints one JSON object per measurement:
  {"side": "torch", "model", "batch", "dtype", "items_per_s"}
  {"side": "torch", "kernel": "sdpa", "dtype", "n", "hd", "tflops"}
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
import timm

# plp registry name -> timm architecture with the same image tower (OpenAI CLIP ViTs use QuickGELU; the
# activation does not change the timing).
ARCH = {
    "openclip_ViT-B-16/openai": "vit_base_patch16_clip_224",
    "openclip_ViT-L-14/openai": "vit_large_patch14_clip_224",
}


def bench_model(name, batch, dtype, iters):
    m = timm.create_model(ARCH[name], pretrained=False, num_classes=0).cuda().eval()
    dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    m = m.to(dt)
    x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=dt)
    with torch.inference_mode():
        m(x)
        torch.cuda.synchronize()
        best = float("inf")
        t0 = time.perf_counter()
        for _ in range(iters):
            t = time.perf_counter()
            m(x)
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        total = time.perf_counter() - t0
    del m
    torch.cuda.empty_cache()
    return {"side": "torch", "model": name, "batch": batch, "dtype": dtype,
            "items_per_s": batch * iters / total, "best_items_per_s": batch / best}


def bench_sdpa(batch, heads, n, hd, iters):
    q = torch.randn(batch, heads, n, hd, device="cuda", dtype=torch.bfloat16)
    F.scaled_dot_product_attention(q, q, q)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        F.scaled_dot_product_attention(q, q, q)
    end.record()
    torch.cuda.synchronize()
    s = start.elapsed_time(end) / 1e3
    flops = 4.0 * n * n * hd * heads * batch * iters
    return {"side": "torch", "kernel": "sdpa", "dtype": "bf16", "n": n, "hd": hd, "tflops": flops / s / 1e12}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(ARCH))
    ap.add_argument("--batches", default="64,256")
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--iters", type=int, default=5)
    a = ap.parse_args()
    print(json.dumps({"side": "torch", "torch": torch.__version__, "timm": timm.__version__,
                      "gpu": torch.cuda.get_device_name(0)}), flush=True)
    print(json.dumps(bench_sdpa(64, 16, 257, 64, 50)), flush=True)
    for name in a.models.split(","):
        for b in map(int, a.batches.split(",")):
            for d in a.dtypes.split(","):
                print(json.dumps(bench_model(name, b, d, a.iters)), flush=True)


if __name__ == "__main__":
    main()
