"""The CNN baseline (trained on the train split, model chosen on val) and the kNN on its embeddings.

Input: the central ``crop`` pixels of the three cutouts (the candidate sits at the centre), each cutout
standardised by its median and robust noise and squashed with asinh. Three conv blocks (conv-BN-ReLU-pool),
global average pooling to an ``embed_dim`` embedding, a linear head; AdamW with one OneCycle schedule, the
epoch with the best val accuracy kept. Training gives each sample its own random rotation/flip (the 8
symmetries of the square: a label does not depend on them); with ``tta`` predictions and embeddings are
averaged over the 8. CPU-sized; ``device: auto`` uses a GPU when the job was given one.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def preprocess(cubes: np.ndarray, crop: int) -> np.ndarray:
    """``[n, 3, crop, crop]`` float32 network inputs."""
    x = np.asarray(cubes, dtype=np.float32)
    s = x.shape[-1]
    a = max(0, (s - crop) // 2)
    x = x[..., a:a + crop, a:a + crop]
    med = np.median(x, axis=(-2, -1), keepdims=True)
    mad = np.median(np.abs(x - med), axis=(-2, -1), keepdims=True) * 1.4826
    std = x.std(axis=(-2, -1), keepdims=True)
    sig = np.where(mad > 0, mad, np.where(std > 0, std, 1.0))
    return np.arcsinh((x - med) / sig / 3.0).astype(np.float32)


def build_cnn(cfg: dict[str, Any]):
    """The small CNN (``cfg``: ``transients.cnn``): three conv blocks, an embedding of ``embed_dim``, two logits."""
    import torch.nn as nn

    c, d = int(cfg["channels"]), int(cfg["embed_dim"])

    def block(i: int, o: int):
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(*block(3, c), *block(c, 2 * c), *block(2 * c, 2 * c),
                                      nn.Conv2d(2 * c, d, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.head = nn.Linear(d, 2)

        def embed(self, x):
            return self.body(x)

        def forward(self, x):
            return self.head(self.body(x).relu())

    return Net()


def _device(cfg: dict[str, Any]) -> str:
    import torch

    if cfg["device"] == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(cfg["device"])


def _dihedral(x, t: int):
    """Transform ``t`` (0..7) of the dihedral group of the square: ``t % 4`` quarter turns, a flip if ``t >= 4``."""
    import torch

    x = torch.rot90(x, t % 4, dims=(2, 3))
    return torch.flip(x, dims=(3,)) if t >= 4 else x


def _augment(x, gen):
    """Each sample of the batch under its own random rotation/flip (the labels do not depend on them)."""
    import torch

    t = torch.randint(0, 8, (len(x),), generator=gen)
    out = x.clone()
    for k in range(8):
        m = t == k
        if bool(m.any()):
            out[m] = _dihedral(x[m], k)
    return out


def _predict(model, x: np.ndarray, device: str, tta: bool = False, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(P(Real), embeddings) for inputs ``x``; with ``tta`` both are averaged over the 8 rotations/flips."""
    import torch

    model.eval()
    probs, embs = [], []
    views = range(8) if tta else range(1)
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(x[i:i + batch]).to(device)
            es = [model.embed(_dihedral(xb, k)) for k in views]
            ps = [torch.softmax(model.head(e.relu()), 1)[:, 1] for e in es]
            probs.append(torch.stack(ps).mean(0).cpu().numpy())
            embs.append(torch.stack(es).mean(0).cpu().numpy())
    if not probs:
        return np.zeros(0), np.zeros((0, 1))
    return np.concatenate(probs), np.concatenate(embs)


def train(x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray, y_va: np.ndarray, cfg: dict[str, Any],
          seed: int) -> tuple[Any, list[dict]]:
    """Train on (x_tr, y_tr) (y: 1 = Real); keep the epoch with the best val accuracy. Returns (model, curve)."""
    import torch

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    device = _device(cfg)
    model = build_cnn(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    epochs, bs = int(cfg["epochs"]), int(cfg["batch_size"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=float(cfg["lr"]), total_steps=epochs * max(1, -(-len(x_tr) // bs)))
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr.astype(np.int64))
    best, best_state, curve = -1.0, None, []
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), bs):
            idx = perm[i:i + bs]
            if len(idx) < 2:
                continue
            xb, yb = _augment(xt[idx], gen).to(device), yt[idx].to(device)
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        p, _ = _predict(model, x_va, device)
        acc = float(np.mean((p > 0.5) == (y_va == 1))) if len(y_va) else float("nan")
        curve.append({"epoch": ep + 1, "train_loss": total / max(len(xt), 1), "val_accuracy": acc})
        log.info("epoch %d: loss %.4f, val accuracy %.4f", ep + 1, curve[-1]["train_loss"], acc)
        if not len(y_va) or acc >= best:
            best = acc
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model, curve


def predict(model, x: np.ndarray, cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(P(Real), L2-normalised embeddings)."""
    p, e = _predict(model, x, _device(cfg), bool(cfg["tta"]))
    n = np.linalg.norm(e, axis=1, keepdims=True)
    return p, (e / np.where(n > 0, n, 1.0)).astype(np.float32)


def knn_predict(train_emb: np.ndarray, train_y: np.ndarray, query_emb: np.ndarray, k: int) -> np.ndarray:
    """Majority vote (cosine similarity, ties to Real) of the ``k`` nearest train embeddings: P(Real)."""
    sims = query_emb @ train_emb.T
    k = min(k, len(train_emb))
    idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return train_y[idx].mean(1)
