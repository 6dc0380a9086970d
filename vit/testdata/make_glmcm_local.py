"""Reference output of GL-MCM's image tower (AtsuMiyai/GL-MCM, clip/model.py: VisionTransformer and its
ResidualAttentionBlock) on the tiny random-weight CLIP fixture ../../zoo/testdata/openclip_vit_quickgelu.

GL-MCM's local features are the last block's value path for every token (ln_1, the value rows of
in_proj, out_proj, the residual, then the block's MLP, with no attention), then ln_post, the patch
tokens only, and the visual projection. Writes glmcm_local.safetensors: "global" [B, E] (the usual image
embedding) and "local" [B, g, g, E], for the fixture's "image" input.

    /usr/bin/python3 make_glmcm_local.py GL-MCM/clip/model.py      # Debian python3-torch 1.13.1
"""
import importlib.util
import json
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "..", "zoo", "testdata")


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        dt = {"F32": np.float32, "I32": np.int32, "I64": np.int64}[v["dtype"]]
        out[k] = torch.from_numpy(np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt).reshape(v["shape"]).copy())
    return out


spec = importlib.util.spec_from_file_location("glmcm_model", sys.argv[1])
model = importlib.util.module_from_spec(spec)
spec.loader.exec_module(model)

w = load(os.path.join(FIX, "openclip_vit_quickgelu.safetensors"))
image = load(os.path.join(FIX, "openclip_vit_quickgelu_io.safetensors"))["image"]
net = model.VisionTransformer(input_resolution=64, patch_size=16, width=64, layers=2, heads=4, output_dim=32)
net.load_state_dict({k[len("visual."):]: v for k, v in w.items() if k.startswith("visual.")})
net.eval()
torch.set_num_threads(1)
with torch.no_grad():
    global_features, local_features = net(image)

tensors = {"global": global_features.contiguous(), "local": local_features.contiguous()}
header, blobs, off = {}, [], 0
for k in sorted(tensors):
    b = tensors[k].numpy().astype(np.float32).tobytes()
    header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(HERE, "glmcm_local.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
print({k: list(v.shape) for k, v in tensors.items()})
