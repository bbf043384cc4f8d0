"""Spectra/s of the spectral autoencoder's training loop (skytext.spectra.ae.train_epoch) against a bare
PyTorch loop over the same model, data and batch size. Usage: python benchmarks/bench_spectra_ae.py"""

import argparse
import time

import numpy as np
import torch

from skytext.core.config import defaults
from skytext.spectra import ae


def bare_epoch(model, opt, x, batch_size, gen):
    for idx in torch.randperm(len(x), generator=gen).split(batch_size):
        xb = x[idx]
        loss = torch.nn.functional.poisson_nll_loss(model(xb)[0], xb, log_input=True)
        opt.zero_grad()
        loss.backward()
        opt.step()


def timed(fn, model, x, cfg, epochs):
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"])
    gen = torch.Generator().manual_seed(0)
    fn(model, opt, x, cfg["batch_size"], gen)  # warm-up
    t = time.perf_counter()
    for _ in range(epochs):
        fn(model, opt, x, cfg["batch_size"], gen)
    return epochs * len(x) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = defaults("spectra.autoencoder")
    x = torch.as_tensor(np.random.default_rng(0).poisson(5.0, size=(a.n, defaults("spectra")["n_channels"])),
                        dtype=torch.float32)
    rates = {}
    for name, fn in (("bare", bare_epoch), ("skytext", ae.train_epoch), ("bare_again", bare_epoch)):
        torch.manual_seed(0)
        rates[name] = timed(fn, ae.build_autoencoder(x.shape[1], cfg), x, cfg, a.epochs)
        print(f"{name:10s} {rates[name]:9.0f} spectra/s")
    bare = max(rates["bare"], rates["bare_again"])
    print(f"ratio skytext/bare: {rates['skytext'] / bare:.3f}")


if __name__ == "__main__":
    main()
