# Tiny self-supervised-style checkpoints (torch.save) of a ViT with img 32, patch 16, width 16, depth 1:
# MAE layout {"model": encoder + decoder}, MSN layout {"target_encoder": module.-prefixed encoder + fc head,
# "encoder": other weights}.
import torch
torch.manual_seed(5)
D, M, N = 16, 64, 5
enc = {"cls_token": torch.randn(1, 1, D), "pos_embed": torch.randn(1, N, D),
       "patch_embed.proj.weight": torch.randn(D, 3, 16, 16), "patch_embed.proj.bias": torch.randn(D),
       "norm.weight": torch.randn(D), "norm.bias": torch.randn(D)}
for k, s in {"norm1.weight": [D], "norm1.bias": [D], "norm2.weight": [D], "norm2.bias": [D],
             "attn.qkv.weight": [3 * D, D], "attn.qkv.bias": [3 * D], "attn.proj.weight": [D, D],
             "attn.proj.bias": [D], "mlp.fc1.weight": [M, D], "mlp.fc1.bias": [M], "mlp.fc2.weight": [D, M],
             "mlp.fc2.bias": [D]}.items():
    enc["blocks.0." + k] = torch.randn(*s)
mae = dict(enc, **{"decoder_embed.weight": torch.randn(8, D), "decoder_blocks.0.norm1.weight": torch.randn(8),
                   "mask_token": torch.randn(1, 1, 8)})
torch.save({"model": mae, "epoch": 799}, "zoo/testdata/ssl/mae_tiny.pth")
msn = {"module." + k: v for k, v in enc.items()}
msn["module.fc.fc1.weight"] = torch.randn(8, D)
torch.save({"target_encoder": msn, "encoder": {k: v + 1 for k, v in msn.items()}, "epoch": 600}, "zoo/testdata/ssl/msn_tiny.pth.tar")
torch.save(enc, "zoo/testdata/ssl/plain_tiny.pth")
