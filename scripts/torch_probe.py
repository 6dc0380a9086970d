#!/usr/bin/python3
"""PyTorch CPU side of plp's probe benchmark: one epoch of the paper's linear probe (train_all_steps) on
50 000 x 1024 random embeddings, 100 classes, batch 8192, Adam, cosine lr. Prints one JSON line.

Needs Debian's PyTorch: apt-get install -y python3-torch; run with /usr/bin/python3.
Compare with: go test -run '^$' -bench ProbeEpoch -benchtime 3x ./train   (run both in the same session).
"""
import json
import math
import time

import torch
from torch import nn


def main():
    torch.manual_seed(0)
    n, d, c, batch = 50000, 1024, 100, 8192
    x = torch.randn(n, d)
    y = torch.randint(0, c, (n,))
    best = None
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for _ in range(3):
            model = nn.Linear(d, c)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3 * batch / 256, weight_decay=1e-3)
            steps = math.ceil(n / batch)
            t0 = time.perf_counter()
            perm = torch.randperm(n)
            for s in range(steps):
                idx = perm[s * batch:(s + 1) * batch]
                opt.zero_grad(set_to_none=True)
                for g in opt.param_groups:
                    g["lr"] = 1e-3
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
            dt = time.perf_counter() - t0
            if best is None or dt < best[0]:
                best = (dt, threads)
    print(json.dumps({"what": "probe_epoch", "n": n, "d": d, "classes": c, "batch": batch,
                      "seconds_per_epoch": best[0], "torch_threads": best[1]}))


if __name__ == "__main__":
    main()
