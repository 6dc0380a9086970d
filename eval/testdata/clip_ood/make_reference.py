"""Reference outputs of the authors' code for plp's CLIP zero-shot OOD scores glmcm and neglabel.

Inputs are synthetic: random unit vectors stand in for CLIP's class text embeddings and for the
candidate negative-label embeddings, and image features (global and per-patch, before normalisation)
are noisy copies of class embeddings (ID) or weaker ones (OOD). The scoring lines are
transcribed from the authors' repositories:

- GL-MCM: AtsuMiyai/GL-MCM, utils/detection_util.py get_ood_scores_clip (score 'GL-MCM': the negated
  max softmax of the global features plus lambda_local times that of the local features, max over the
  patch grid and the classes). plp's scores are higher = ID, so the stored score is the negation.
- NegLabel: XueJiang16/NegLabel, mmcls/models/classifiers/multi_modal.py CLIPScalableClassifier
  (NegMining: the `pencentile` quantile of a candidate's similarities to the ID labels, ascending sort,
  the first neg_topk of the nouns and of the adjectives) and mmcls/models/ood/clip_ood.py
  ScalableClassifier.grouping (softmax over [ID, one group of negatives] / t, the ID mass, mean over
  groups). The cosine similarities are float32 products as in the authors' code and are stored
  (pos_cos, <mining>/neg_cos); the softmax over them runs in float64, since at temperature 0.01 float32
  rounding would be magnified 100-fold in the reference. The authors draw the grouping permutation with torch.randperm on the GPU; here it is drawn on
  the CPU (seed 0) and stored, and the test feeds the same permutation to plp.

AUROC, AUPR and FPR95 of each score come from the MCM authors' get_measures (deeplearning-wisc/MCM,
utils/detection_util.py), ID as the positive class.

    /usr/bin/python3 make_reference.py     # Debian python3-torch 1.13.1, numpy 1.24, scikit-learn 1.2.1
"""
import json
import os
import struct

import numpy as np
import sklearn.metrics as sk
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(16)
E, C = 32, 10          # joint embedding width, ID classes
NID, NOOD = 200, 160   # images
GRID = 2               # GL-MCM patch grid (GRID x GRID patches)
NOUNS, ADJS = 300, 100 # candidate negative labels


def unit(x):
    return x / x.norm(dim=-1, keepdim=True)


text = unit(torch.randn(C, E))
# Cosine similarities of a few tenths, as CLIP's, so that the NegLabel softmax (temperature 0.01) is not
# saturated and scores do not tie.
id_labels = torch.randint(0, C, (NID,))
id_global = 0.35 * text[id_labels] + 0.18 * torch.randn(NID, E)
ood_global = 0.15 * text[torch.randint(0, C, (NOOD,))] + 0.18 * torch.randn(NOOD, E)
# Patches: ID images show their class in a few patches, OOD images in at most a faint one.
id_local = torch.randn(NID, GRID, GRID, E)
id_local[:, 0, 0] += 2.5 * text[id_labels]
id_local[:, 1, 1] += 1.5 * text[id_labels]
ood_local = torch.randn(NOOD, GRID, GRID, E)
ood_local[:, 1, 0] += 1.0 * text[torch.randint(0, C, (NOOD,))]

# Candidate negative labels: most random, some close to ID labels (which NegMining must drop).
nouns = torch.randn(NOUNS, E)
nouns[:60] += 3.0 * text[torch.randint(0, C, (60,))]
adjs = torch.randn(ADJS, E)
adjs[:20] += 3.0 * text[torch.randint(0, C, (20,))]
nouns, adjs = unit(nouns), unit(adjs)


def get_measures(_pos, _neg, recall_level=0.95):
    # deeplearning-wisc/MCM utils/detection_util.py: get_measures and fpr_and_fdr_at_recall
    pos = np.array(_pos[:]).reshape((-1, 1))
    neg = np.array(_neg[:]).reshape((-1, 1))
    examples = np.squeeze(np.vstack((pos, neg)))
    labels = np.zeros(len(examples), dtype=np.int32)
    labels[:len(pos)] += 1
    auroc = sk.roc_auc_score(labels, examples)
    aupr = sk.average_precision_score(labels, examples)
    y_true, y_score = labels == 1, examples
    desc = np.argsort(y_score, kind="mergesort")[::-1]
    y_score, y_true = y_score[desc], y_true[desc]
    distinct = np.where(np.diff(y_score))[0]
    thr = np.r_[distinct, y_true.size - 1]
    tps = np.cumsum(y_true, dtype=np.float64)[thr]
    fps = 1 + thr - tps
    recall = tps / tps[-1]
    last = tps.searchsorted(tps[-1])
    sl = slice(last, None, -1)
    recall, fps = np.r_[recall[sl], 1], np.r_[fps[sl], 0]
    cutoff = np.argmin(np.abs(recall - recall_level))
    fpr = fps[cutoff] / np.sum(np.logical_not(y_true))
    return auroc, aupr, fpr


def glmcm(global_features, local_features, T, lambda_local):
    # AtsuMiyai/GL-MCM get_ood_scores_clip, score == 'GL-MCM'
    global_features = global_features.float().clone()
    local_features = local_features.float().clone()
    global_features /= global_features.norm(dim=-1, keepdim=True)
    local_features /= local_features.norm(dim=-1, keepdim=True)
    text_features = text.clone()
    output_global = global_features @ text_features.T
    output_local = local_features @ text_features.T
    smax_global = F.softmax(output_global / T, dim=1).numpy()
    smax_local = F.softmax(output_local / T, dim=-1).numpy()
    mcm_global_score = -np.max(smax_global, axis=1)
    mcm_local_score = -np.max(smax_local, axis=(1, 2, 3))
    return mcm_global_score + lambda_local * mcm_local_score


def neg_mining(text_features_pos, neg_noun, neg_adj, pencentile, neg_topk, emb_batchsize=1000):
    # XueJiang16/NegLabel CLIPScalableClassifier.__init__, after the text encoder
    text_features_neg = torch.cat([neg_noun, neg_adj])
    noun_length, adj_length = len(neg_noun), len(neg_adj)
    neg_sim = []
    for i in range(0, noun_length + adj_length, emb_batchsize):
        tmp = text_features_neg[i: i + emb_batchsize] @ text_features_pos.T
        tmp = tmp.to(torch.float32)
        sim = torch.quantile(tmp, q=pencentile, dim=-1)
        neg_sim.append(sim)
    neg_sim = torch.cat(neg_sim, dim=0)
    neg_sim_noun = neg_sim[:noun_length]
    neg_sim_adj = neg_sim[noun_length:]
    text_features_neg_noun = text_features_neg[:noun_length]
    text_features_neg_adj = text_features_neg[noun_length:]
    ind_noun = torch.argsort(neg_sim_noun)
    ind_adj = torch.argsort(neg_sim_adj)
    selected = torch.cat([text_features_neg_noun[ind_noun[0:int(len(ind_noun) * neg_topk)]],
                          text_features_neg_adj[ind_adj[0:int(len(ind_adj) * neg_topk)]]], dim=0)
    order = torch.cat([ind_noun[0:int(len(ind_noun) * neg_topk)],
                       noun_length + ind_adj[0:int(len(ind_adj) * neg_topk)]])
    return selected, order, neg_sim


def grouping(pos, neg, t, ngroup, idx):
    # XueJiang16/NegLabel ScalableClassifier.grouping with num=None and random_permute=True; idx is
    # the permutation the authors draw with torch.randperm(neg.shape[1]) after dropping the remainder.
    group = ngroup
    drop = neg.shape[1] % ngroup
    if drop > 0:
        neg = neg[:, :-drop]
    neg = neg.T
    negs = neg[idx].T.reshape(pos.shape[0], group, -1).contiguous()
    scores = []
    for i in range(group):
        full_sim = torch.cat([pos, negs[:, i, :]], dim=-1) / t
        full_sim = full_sim.softmax(dim=-1)
        pos_score = full_sim[:, :pos.shape[1]].sum(dim=-1)
        scores.append(pos_score.unsqueeze(-1))
    scores = torch.cat(scores, dim=-1)
    return scores.mean(dim=-1)


def similarities(image, text_features):
    # CLIPScalableClassifier.simple_test before the factor 100: cosine similarities in float32
    image_features = image.float().clone()
    image_features /= image_features.norm(dim=-1, keepdim=True)
    return image_features @ text_features.float().T


def neglabel(pos_cos, neg_cos, t, ngroup, idx):
    # The logits at scale 100 and ScalableClassifier.forward, in float64: at temperature 0.01 float32
    # rounding of the softmax would be magnified 100 times in the reference.
    pos_sim = 100.0 * pos_cos.double()
    neg_sim = 100.0 * neg_cos.double()
    return grouping(pos_sim, neg_sim, t, ngroup, idx)


out, metrics = {}, {}
out["text"] = text
out["id_global"], out["ood_global"] = id_global, ood_global
out["id_local"], out["ood_local"] = id_local, ood_local
out["neg_nouns"], out["neg_adjs"] = nouns, adjs
for T, lam in [(1, 1.0), (2, 0.5)]:
    key = "glmcm[lambda=%g,tau=%d]" % (lam, T)
    s = {"id": -glmcm(id_global, id_local, T, lam), "ood": -glmcm(ood_global, ood_local, T, lam)}
    for k, v in s.items():
        out[key + "/" + k] = torch.from_numpy(v.astype(np.float64))
    metrics[key] = dict(zip(["auroc", "aupr", "fpr95"], map(float, get_measures(s["id"], s["ood"]))))

gen = torch.Generator().manual_seed(0)
images = {"id": id_global, "ood": ood_global}
pos_cos = {k: similarities(v, text) for k, v in images.items()}
for k, v in pos_cos.items():
    out["pos_cos/" + k] = v
for pct, topk in [(0.95, 0.15), (0.5, 0.3)]:
    selected, order, qsim = neg_mining(text, nouns, adjs, pct, topk)
    mkey = "mining[neg_topk=%g,percentile=%g]" % (topk, pct)
    out[mkey + "/order"] = order.to(torch.int64)
    out[mkey + "/quantile"] = qsim
    neg_cos = {k: similarities(v, selected) for k, v in images.items()}
    for k, v in neg_cos.items():
        out[mkey + "/neg_cos/" + k] = v
    for ngroup in [1, 7]:
        kept = selected.shape[0] - selected.shape[0] % ngroup
        idx = torch.randperm(kept, generator=gen)
        key = "neglabel[neg_topk=%g,ngroup=%d,percentile=%g,tau=0.01]" % (topk, ngroup, pct)
        out[key + "/perm"] = idx.to(torch.int64)
        s = {k: neglabel(pos_cos[k], neg_cos[k], 1, ngroup, idx).numpy() for k in images}
        for k, v in s.items():
            out[key + "/" + k] = torch.from_numpy(v)
        metrics[key] = dict(zip(["auroc", "aupr", "fpr95"], map(float, get_measures(s["id"], s["ood"]))))


def save(path, tensors):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = tensors[k].contiguous().numpy()
        dt = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64"}[a.dtype]
        b = a.tobytes()
        header[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


save(os.path.join(HERE, "reference.safetensors"), out)
with open(os.path.join(HERE, "metrics.json"), "w") as f:
    json.dump(metrics, f, indent=1, sort_keys=True)
print("wrote", len(out), "tensors;", json.dumps(metrics, indent=1))
