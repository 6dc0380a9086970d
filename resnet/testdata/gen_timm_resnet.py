# Tiny standard ResNet (torchvision/timm layout) reference: key names and forward of torchvision's
# Bottleneck blocks with stage widths 8,16,32,64, random BN statistics; writes safetensors by hand.
import json, struct, torch, torch.nn as nn
from torchvision.models.resnet import Bottleneck
torch.manual_seed(1011)
torch.set_num_threads(1)
class Tiny(nn.Module):
    def __init__(self, w=8, layers=(1, 2, 1, 1), classes=5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False); self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True); self.maxpool = nn.MaxPool2d(3, 2, 1)
        inp = w
        for i, n in enumerate(layers):
            p, s = w << i, 1 if i == 0 else 2
            blocks = []
            for j in range(n):
                ds = None
                if j == 0 and (s != 1 or inp != 4 * p):
                    ds = nn.Sequential(nn.Conv2d(inp, 4 * p, 1, s, bias=False), nn.BatchNorm2d(4 * p))
                blocks.append(Bottleneck(inp, p, s if j == 0 else 1, ds))
                inp = 4 * p
            setattr(self, f"layer{i+1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(inp, classes)
    def forward(self, x, trace):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x)))); trace["stem_out"] = x
        for i in range(4):
            x = getattr(self, f"layer{i+1}")(x)
        trace["layer4_out"] = x
        f = x.mean((2, 3)); trace["features"] = f
        trace["logits"] = self.fc(f)
m = Tiny()
with torch.no_grad():
    for k, v in m.state_dict().items():
        if k.endswith("num_batches_tracked"): continue
        if k.endswith("running_var"): v.copy_(torch.rand_like(v) * 1.5 + 0.25)
        elif k.endswith("running_mean"): v.copy_(torch.randn_like(v) * 0.3)
        elif k.endswith("bn1.weight") or k.endswith("bn2.weight") or k.endswith("bn3.weight") or ".1.weight" in k: v.copy_(1 + 0.1 * torch.randn_like(v))
        elif v.dim() >= 2: v.copy_(torch.randn_like(v) / (v[0].numel() ** 0.5))
        else: v.copy_(0.1 * torch.randn_like(v))
m.eval()
x = torch.randn(2, 3, 64, 64)
tr = {}
with torch.no_grad():
    m(x, tr)
def save(path, tensors):
    hdr, off, blobs = {}, 0, []
    for k, t in tensors.items():
        t = t.contiguous()
        dt = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        b = t.numpy().tobytes()
        hdr[k] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b); blobs.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)
save("resnet/testdata/timm_resnet.safetensors", m.state_dict())
save("resnet/testdata/timm_resnet_io.safetensors", {"image": x, **tr})
print(torch.__version__, {k: list(v.shape) for k, v in tr.items()})
