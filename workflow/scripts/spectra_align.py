"""Entry script for spectra_align: projection heads (ensemble of seeds, and the shuffled control);
writes each variant's shared vectors and embed/shared.npy (the ensemble's spectrum tower)."""

import numpy as np
import pandas as pd

from skytext.core.smk import log_to, threads_for_torch
from skytext.spectra.align import fit_pair, project, shuffle_pairs


def training_pairs(latent, src, text, tmeta, papers, paper_ids, links, augmented=()):
    """(spectra, texts, group keys) of the training split: each source's pooled text and, as augmentation,
    each of its individual papers (population papers only through the pooled text). Pairs of one source
    share a key, so they are never each other's negatives."""
    row_of = {s: i for i, s in enumerate(src["source_id"])}
    tr = (tmeta["split"] == "train").to_numpy()
    key = dict(zip(tmeta["source_id"], tmeta["paper_set"]))
    pos = {t: i for i, t in enumerate(paper_ids)}
    per = links.groupby("text_id")["source_id"].transform("size") == 1
    lk = links[per & links["text_id"].isin(pos) & links["source_id"].isin(set(tmeta["source_id"][tr]))]
    spec = np.r_[latent[[row_of[s] for s in tmeta["source_id"][tr]]], latent[[row_of[s] for s in lk["source_id"]]]]
    txt = np.r_[text[tr], papers[[pos[t] for t in lk["text_id"]]]].astype(np.float32)
    keys = tmeta["paper_set"][tr].tolist() + [key[s] for s in lk["source_id"]]
    idx = [row_of[s] for s in tmeta["source_id"][tr]] + [row_of[s] for s in lk["source_id"]]
    for aug in augmented:  # the same pairs with Poisson-redrawn spectra
        spec, txt, keys = np.r_[spec, aug[idx]], np.r_[txt, txt[: len(idx)]], keys + keys[: len(idx)]
    return spec.astype(np.float32), txt, keys


def train_variant(variant, latent, src, text, tmeta, pairs, cfg, seed):
    """(spectrum-tower vectors of every source, text-tower vectors of every text row, per-seed copies, history)."""
    row_of = {s: i for i, s in enumerate(src["source_id"])}
    rows = np.array([row_of[s] for s in tmeta["source_id"]])
    va = (tmeta["split"] == "val").to_numpy()
    spec_tr, text_tr, keys_tr = pairs
    if variant == "shuffled":
        text_tr = shuffle_pairs(text_tr, seed)
    seeds = range(cfg["ensemble"]) if variant == "ensemble" else [0]
    models, hist, per_seed = [], [], {}
    for k in seeds:
        m, h = fit_pair(spec_tr, text_tr, keys_tr, latent[rows[va]], text[va],
                        tmeta["paper_set"][va].tolist(), cfg, seed * 1000 + k)
        models.append(m)
        hist += [{"variant": variant, "seed": k, **r} for r in h]
        s1, t1 = project([m], latent, text)
        per_seed[f"seed{k}_spec"], per_seed[f"seed{k}_text"] = s1, t1
    spec, txt = project(models, latent, text)
    return spec, txt, per_seed, hist


def main(input, output, params, threads: int) -> None:
    threads_for_torch(threads)
    latent = np.load(input["latent"])
    src = pd.read_parquet(input["spectral_ids"])
    text, tmeta = np.load(input["text"]), pd.read_parquet(input["text_ids"])
    papers, paper_ids = np.load(input["papers"]), pd.read_parquet(input["paper_ids"])["text_id"].astype(str).tolist()
    pairs = training_pairs(latent, src, text, tmeta, papers, paper_ids, pd.read_parquet(input["links"]),
                           np.load(input["augmented"]))
    print(f"{len(pairs[0])} training pairs ({int((tmeta['split'] == 'train').sum())} pooled)")
    cfg, hist = params["align"], []
    for variant, path in zip(params["variants"], output["variants"]):
        spec, txt, per_seed, h = train_variant(variant, latent, src, text, tmeta, pairs, cfg, params["seed"])
        np.savez(path, spec=spec, text=txt, **per_seed)
        hist += h
        if variant == "ensemble":
            np.save(output["shared"], spec)
            src.to_parquet(output["shared_ids"], index=False)
    pd.DataFrame(hist).to_csv(output["history"], index=False)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.threads)  # noqa: F821
