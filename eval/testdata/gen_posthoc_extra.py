"""Reference scores for the post-hoc method settings that openood_scores.safetensors lacks.

Runs OpenOOD's own postprocessors (Jingkang50/OpenOOD, openood/postprocessors and openood/networks) and
the MCM authors' score (deeplearning-wisc/MCM, utils/detection_util.py: get_ood_scores_clip) on
inputs.safetensors and zeroshot.safetensors, with the conventions of openood_scores.safetensors: the
network is the identity feature extractor followed by the fc layer W, b; the ID train and val loaders
both hold the train split in file order, batches of 256. Writes posthoc_extra.safetensors: float64
scores "<method>[<params>]/{id,near,far}" (higher = more in-distribution), and "lowrank/...": inputs
with constant feature dimensions and OpenOOD's mds and rmds scores on them.

    python3 gen_posthoc_extra.py OPENOOD_CHECKOUT      # torch 1.13, numpy 1.24, scipy 1.10, sklearn 1.2

It first recomputes settings that openood_scores.safetensors holds and checks them, so that the
harness is known to reproduce OpenOOD's own run.
"""
import importlib.util
import json
import os
import struct
import sys
import types

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = sys.argv[1]


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        dt = {"F32": np.float32, "F64": np.float64, "I64": np.int64}[v["dtype"]]
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt).reshape(v["shape"]).copy()
    return out


def save(path, tensors):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        b = np.ascontiguousarray(tensors[k], dtype=np.float64).tobytes()
        header[k] = {"dtype": "F64", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# OpenOOD's modules import tqdm, openood.utils.comm and .info; CUDA calls run on the CPU.
sys.modules["tqdm"] = types.SimpleNamespace(tqdm=lambda it, **kw: it)
torch.Tensor.cuda = lambda self, *a, **k: self
for name in ["openood", "openood.utils", "openood.postprocessors", "openood.networks"]:
    m = types.ModuleType(name)
    m.__path__ = []
    sys.modules[name] = m
sys.modules["openood.utils.comm"] = types.SimpleNamespace(is_main_process=lambda: True)
sys.modules["openood.postprocessors.info"] = types.SimpleNamespace(num_classes_dict={"ref": 10})


def module(name, rel):
    spec = importlib.util.spec_from_file_location(name, os.path.join(SRC, rel))
    m = importlib.util.module_from_spec(spec)
    sys.modules[name] = m
    spec.loader.exec_module(m)
    return m


module("openood.postprocessors.base_postprocessor", "openood/postprocessors/base_postprocessor.py")
pp = {n: module("openood.postprocessors." + n, "openood/postprocessors/%s.py" % n)
      for n in ["ash_postprocessor", "she_postprocessor", "fdbd_postprocessor", "react_postprocessor"]}
ash_net = module("openood.networks.ash_net", "openood/networks/ash_net.py")
react_net = module("openood.networks.react_net", "openood/networks/react_net.py")

I = load(os.path.join(HERE, "inputs.safetensors"))
Z = load(os.path.join(HERE, "zeroshot.safetensors"))
REF = load(os.path.join(HERE, "openood_scores.safetensors"))


class Net(nn.Module):
    """Identity features followed by the fixture's fc layer."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(48, 10)
        with torch.no_grad():
            self.fc.weight.copy_(torch.from_numpy(I["W"]))
            self.fc.bias.copy_(torch.from_numpy(I["b"]))

    def forward(self, x, return_feature=False, return_feature_list=False):
        # A copy: ASH shapes the features in place, which must not reach the inputs.
        x = x.clone()
        logits = self.fc(x)
        return (logits, x) if return_feature else logits

    def get_fc(self):
        return self.fc.weight.detach().numpy(), self.fc.bias.detach().numpy()

    def get_fc_layer(self):
        return self.fc


def batches(x, y=None):
    out = []
    for i in range(0, len(x), 256):
        b = {"data": torch.from_numpy(x[i:i + 256])}
        b["label"] = torch.from_numpy(y[i:i + 256]) if y is not None else torch.zeros(len(b["data"]), dtype=torch.int64)
        out.append(b)
    return out


TRAIN = batches(I["train_x"], I["train_y"])
SETS = {"id": "test_x", "near": "near_x", "far": "far_x"}


def config(**args):
    post = types.SimpleNamespace(postprocessor_args=types.SimpleNamespace(**args), postprocessor_sweep={})
    return types.SimpleNamespace(postprocessor=post, dataset=types.SimpleNamespace(name="ref"))


def run(post, net):
    post.setup(net, {"train": TRAIN, "val": TRAIN}, {})
    out = {}
    for key, name in SETS.items():
        confs = [post.postprocess(net, b["data"])[1] for b in batches(I[name])]
        out[key] = np.concatenate([np.asarray(c, dtype=np.float64) for c in confs])
    return out


net = Net().eval()
result = {}


def check(method, scores):
    for key in SETS:
        want = REF[method + "/" + key]
        err = np.max(np.abs(scores[key] - want) / np.maximum(np.abs(want), 1e-30))
        assert err < 1e-6, (method, key, err)


# The harness reproduces OpenOOD's own run.
check("ash", run(pp["ash_postprocessor"].ASHPostprocessor(config(percentile=90)), ash_net.ASHNet(net)))
check("react", run(pp["react_postprocessor"].ReactPostprocessor(config(percentile=90)), react_net.ReactNet(net)))
check("she", run(pp["she_postprocessor"].SHEPostprocessor(config(metric="inner_product")), net))
check("fdbd", run(pp["fdbd_postprocessor"].fDBDPostprocessor(config(distance_as_normalizer=True)), net))

# ASH-P and ASH-S: ASHNet.forward_threshold calls the module's ash_b.
ash_b = ash_net.ash_b
for name, fn in [("ash_p", ash_net.ash_p), ("ash_s", ash_net.ash_s)]:
    for p in [65, 90]:
        ash_net.ash_b = fn
        s = run(pp["ash_postprocessor"].ASHPostprocessor(config(percentile=p)), ash_net.ASHNet(net))
        for k, v in s.items():
            result["%s[percentile=%d]/%s" % (name, p, k)] = v
ash_net.ash_b = ash_b
for metric in ["euclidean", "cosine"]:
    s = run(pp["she_postprocessor"].SHEPostprocessor(config(metric=metric)), net)
    for k, v in s.items():
        result["she[metric=%s]/%s" % (metric, k)] = v
s = run(pp["fdbd_postprocessor"].fDBDPostprocessor(config(distance_as_normalizer=False)), net)
for k, v in s.items():
    result["fdbd[distance_as_normalizer=false]/%s" % k] = v

# MCM as its authors score it: softmax of the image-text cosine similarities over T (an int in their
# argparse), the maximum; negated there as "lower = ID", so plp's score is the maximum itself.
zs = {"id": "test_features", "near": "test_features_ood_near", "far": "test_features_ood_far"}
for T in [1, 10]:
    for k, name in zs.items():
        output = torch.from_numpy(Z["zs_logits/" + name])
        smax = F.softmax(output / T, dim=1).numpy()
        result["mcm[tau=%d]/%s" % (T, k)] = np.max(smax, axis=1).astype(np.float64)

# mds and rmds on features whose last 6 of 12 dimensions are constant (dead units): the covariance has an
# exact null space, which sklearn's pinvh drops, so that test rows differing there score as if they did
# not. The inputs are stored too ("lowrank/...", float64 holding float32 values).
rng = np.random.default_rng(0)
mix = rng.standard_normal((6, 6)).astype(np.float32)
means = (3 * rng.standard_normal((4, 6))).astype(np.float32)
ytr = np.arange(400) % 4
xtr = np.zeros((400, 12), np.float32)
xtr[:, :6] = (means[ytr] + rng.standard_normal((400, 6)).astype(np.float32)) @ mix
xte = np.zeros((100, 12), np.float32)
xte[:, :6] = (means[np.arange(100) % 4] + 2 * rng.standard_normal((100, 6)).astype(np.float32)) @ mix
xte[50:, 6:] = rng.standard_normal((50, 6)).astype(np.float32)  # half the rows leave the subspace
result["lowrank/train_x"], result["lowrank/train_y"], result["lowrank/test_x"] = xtr, ytr, xte


class Net12(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 4)

    def forward(self, x, return_feature=False, return_feature_list=False):
        x = x.clone()
        logits = self.fc(x)
        return (logits, x) if return_feature else logits


sys.modules["openood.postprocessors.info"].num_classes_dict["ref"] = 4
for name in ["mds", "rmds"]:
    mod = module("openood.postprocessors.%s_postprocessor" % name, "openood/postprocessors/%s_postprocessor.py" % name)
    cls = getattr(mod, name.upper() + "Postprocessor")
    post = cls(config())
    train = [{"data": torch.from_numpy(xtr[i:i + 256]), "label": torch.from_numpy(ytr[i:i + 256])} for i in range(0, 400, 256)]
    net12 = Net12().eval()
    post.setup(net12, {"train": train, "val": train}, {})
    result["lowrank/%s" % name] = post.postprocess(net12, torch.from_numpy(xte))[1].numpy().astype(np.float64)

save(os.path.join(HERE, "posthoc_extra.safetensors"), result)
print("wrote", len(result), "tensors")
