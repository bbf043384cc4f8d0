"""Transparent image statistics of a triplet, the offline ``features`` classifier built on them, and the
deterministic rule-based judge.

Statistics (all measured around the centre, where the candidate sits; noise from the median absolute
deviation of each image):

* ``snr`` -- the strongest residual in the Difference within 6 px of the centre, in noise units;
* ``sign`` -- +1 when that residual is positive, -1 when negative;
* ``dipole`` -- weaker/stronger of the positive and negative peaks when both exceed 4 sigma (a misaligned
  subtraction leaves both), else 0;
* ``psf_match`` -- the residual's width (from its peak-to-flux ratio in 5x5 pixels) over the New PSF width
  (the same measure on the brightest field star in New): ~1 for a point source, << 1 for a cosmic ray or hot
  pixel, >> 1 for a ghost;
* ``sharpness`` -- the peak over the mean of its eight neighbours (a Gaussian PSF of sigma 1.5 px gives ~1.5);
* ``elongation`` -- sqrt of the ratio of the second-moment eigenvalues of the >3 sigma pixels within 10 px
  (trails and columns are long);
* ``zero_frac`` -- fraction of exactly-zero pixels in New and Difference (chip gaps, edges);
* ``plateau`` -- pixels equal to the maximum of New within 5 px of the centre (a clipped, saturated core);
* ``ref_snr`` -- the source at the centre of the Reference, in its noise units (a star that was there before).

The ``features`` classifier is a logistic regression on these (standardised; weights written out and
quoted in every explanation). Its answers have the same JSON as the LLM's: ``class``, ``explanation``
(templated from the numbers), ``interest_score`` (``No interest`` for Bogus; for Real ``High interest``
when nothing was at the position in the Reference, ``Low interest`` for a variable source).

Two offline judges (neither sees a label of the triplet it judges): ``rules`` (:func:`rule_judge`: hand-set
points for a point-source residual) and ``features`` (:func:`model_judge`: a gradient-boosted model of the
same statistics fitted on the train split -- a second opinion with another inductive bias than the linear
classifier; coherence is 6 x its probability for the answered class, capped at 5).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

NAMES = ("snr", "sign", "dipole", "psf_match", "sharpness", "elongation", "zero_frac", "plateau", "ref_snr")
INTEREST = ("No interest", "Low interest", "High interest")


def _mad_sigma(img: np.ndarray) -> float:
    v = img[img != 0]
    if v.size < 10:
        v = img.ravel()
    s = 1.4826 * float(np.median(np.abs(v - np.median(v))))
    return s if s > 0 else float(np.std(v)) or 1.0


def _width(img: np.ndarray, y: int, x: int, half: int = 2) -> float:
    """Gaussian width implied by peak / (5x5 flux): flux = 2 pi sigma^2 peak."""
    h, w = img.shape
    win = img[max(0, y - half):min(h, y + half + 1), max(0, x - half):min(w, x + half + 1)]
    peak = float(img[y, x])
    flux = float(win.sum())
    if peak <= 0 or flux <= 0:
        return 0.1
    return math.sqrt(max(flux / (2 * math.pi * peak), 1e-4))


def _star_width(new: np.ndarray, sigma: float) -> float:
    """Width of the brightest unsaturated field star in New (away from the centre and the edges)."""
    s = new.shape[0]
    img = new - np.median(new)
    c = s // 2
    mask = np.ones_like(img, bool)
    mask[c - 12:c + 13, c - 12:c + 13] = False
    mask[:4], mask[-4:], mask[:, :4], mask[:, -4:] = False, False, False, False
    cand = np.where(mask, img, -np.inf)
    for _ in range(3):
        y, x = np.unravel_index(int(np.argmax(cand)), cand.shape)
        if not np.isfinite(cand[y, x]) or cand[y, x] < 10 * sigma:
            break
        if np.sum(img[y - 2:y + 3, x - 2:x + 3] == img[y, x]) == 1:
            return _width(img, y, x)
        cand[y - 3:y + 4, x - 3:x + 4] = -np.inf
    return 1.5  # no usable star: a typical PSF


def _elongation(diff: np.ndarray, y: int, x: int, sigma: float, sign: float) -> float:
    h, w = diff.shape
    y0, x0 = max(0, y - 10), max(0, x - 10)
    win = sign * diff[y0:min(h, y + 11), x0:min(w, x + 11)]
    yy, xx = np.nonzero(win > 3 * sigma)
    if yy.size < 3:
        return 1.0
    wts = win[yy, xx]
    my, mx = np.average(yy, weights=wts), np.average(xx, weights=wts)
    cov = np.cov(np.vstack([yy - my, xx - mx]), aweights=wts) + np.eye(2) * 0.25
    ev = np.sort(np.linalg.eigvalsh(cov))
    return float(math.sqrt(ev[1] / max(ev[0], 1e-3)))


def triplet_features(cube: np.ndarray) -> dict[str, float]:
    """The statistics of :data:`NAMES` for one triplet ``[3, S, S]``."""
    new, ref, diff = (np.asarray(c, dtype=np.float64) for c in cube)
    s = diff.shape[0]
    c = s // 2
    sd, sn, sr = _mad_sigma(diff), _mad_sigma(new), _mad_sigma(ref)
    r = 6
    win = diff[c - r:c + r + 1, c - r:c + r + 1]
    pos, neg = float(win.max()) / sd, float(-win.min()) / sd
    sign = 1.0 if pos >= neg else -1.0
    flat = int(np.argmax(sign * win))
    y, x = np.unravel_index(flat, win.shape)
    y, x = int(y) + c - r, int(x) + c - r
    peak = sign * diff[y, x]
    nb = sign * diff[max(0, y - 1):y + 2, max(0, x - 1):x + 2]
    neigh = (float(nb.sum()) - peak) / max(nb.size - 1, 1)
    sharp = peak / max(neigh, 0.5 * sd)
    width = _width(sign * diff, y, x)
    star = _star_width(new, sn)
    dipole = min(pos, neg) / max(pos, neg) if min(pos, neg) > 4 else 0.0
    nwin = new[c - 5:c + 6, c - 5:c + 6]
    plateau = int(np.sum(nwin == new.max())) if float(nwin.max()) == float(new.max()) else 0
    ref0 = ref - np.median(ref)
    ref_snr = float(ref0[c - 2:c + 3, c - 2:c + 3].sum()) / (sr * 5)
    zero = float(np.mean(np.concatenate([(new == 0).ravel(), (diff == 0).ravel()])))
    return {"snr": max(pos, neg), "sign": sign, "dipole": dipole, "psf_match": width / star,
            "sharpness": float(min(sharp, 50.0)), "elongation": _elongation(diff, y, x, sd, sign),
            "zero_frac": zero, "plateau": float(plateau), "ref_snr": ref_snr}


def feature_matrix(cubes: np.ndarray) -> np.ndarray:
    """``[n, len(NAMES)]`` statistics."""
    rows = [[f[k] for k in NAMES] for f in map(triplet_features, cubes)]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(NAMES))


def _design(x: np.ndarray) -> np.ndarray:
    """Model inputs: log of the scale-like statistics, the rest as they are."""
    x = np.array(x, dtype=np.float64, copy=True)
    for k in ("snr", "psf_match", "sharpness", "elongation"):
        j = NAMES.index(k)
        x[:, j] = np.log(np.clip(x[:, j], 1e-3, None))
    j = NAMES.index("ref_snr")
    x[:, j] = np.sign(x[:, j]) * np.log1p(np.abs(x[:, j]))
    return x


# ------------------------------------------------------------------------------------------ the classifier


def fit(x: np.ndarray, labels: list[str], seed: int) -> dict[str, Any]:
    """A logistic regression (Real = 1) on the statistics of the train split; a JSON-able model."""
    from sklearn.linear_model import LogisticRegression

    z = _design(x)
    mu, sd = z.mean(0), z.std(0)
    sd[sd == 0] = 1.0
    y = np.array([lab == "Real" for lab in labels], dtype=int)
    if len(set(y)) < 2:
        raise ValueError("features: the train split holds one class only; cannot fit the classifier")
    clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit((z - mu) / sd, y)
    return {"names": list(NAMES), "mean": mu.tolist(), "std": sd.tolist(), "coef": clf.coef_[0].tolist(),
            "intercept": float(clf.intercept_[0]), "n_train": int(len(y))}


def logits(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """The classifier's logit (Real = positive) of every row of statistics ``x``."""
    z = (_design(x) - np.asarray(model["mean"])) / np.asarray(model["std"])
    return z @ np.asarray(model["coef"]) + float(model["intercept"])


def interest(label: str, f: dict[str, float]) -> str:
    """The interest score of an answer: none for Bogus, low for a source already in the Reference, else high."""
    if label != "Real":
        return INTEREST[0]
    return INTEREST[1] if f["ref_snr"] > 5 else INTEREST[2]


_REASONS = {  # (feature, direction towards Real) -> phrase
    ("snr", 1): "a significant residual", ("snr", -1): "only a weak residual",
    ("psf_match", 1): "a width matching the image PSF", ("psf_match", -1): "a width unlike the image PSF",
    ("sharpness", 1): "a profile as smooth as a point source", ("sharpness", -1): "a profile sharper than the PSF",
    ("dipole", 1): "no dipole", ("dipole", -1): "positive and negative lobes of a misaligned subtraction",
    ("elongation", 1): "a round shape", ("elongation", -1): "an elongated, trail- or column-like shape",
    ("zero_frac", 1): "full data coverage", ("zero_frac", -1): "missing data at a chip edge",
    ("plateau", 1): "no clipped core", ("plateau", -1): "a clipped, saturated core",
    ("ref_snr", 1): "a source at the position in the Reference", ("ref_snr", -1): "an empty Reference position",
    ("sign", 1): "a positive residual", ("sign", -1): "a negative residual",
}


def explain(f: dict[str, float], contrib: dict[str, float], label: str) -> str:
    """A templated explanation quoting the measured statistics and the strongest contributions."""
    top = sorted(contrib, key=lambda k: -abs(contrib[k]))[:2]
    why = " and ".join(_REASONS[(k, 1 if contrib[k] > 0 else -1)] for k in top)
    return (f"The Difference image shows a {'positive' if f['sign'] > 0 else 'negative'} residual at "
            f"{f['snr']:.0f} sigma whose width is {f['psf_match']:.2f} times the New PSF (a point source is ~1), "
            f"sharpness {f['sharpness']:.1f}, dipole score {f['dipole']:.2f}, elongation {f['elongation']:.1f}, "
            f"Reference source {f['ref_snr']:.0f} sigma. Deciding {label}: most telling are {why}.")


def answer(model: dict[str, Any], f: dict[str, float], temperature: float,
           rng: np.random.Generator | None = None) -> dict[str, Any]:
    """The classifier's JSON answer for one triplet; at ``temperature`` > 0 the class is drawn from
    ``sigmoid(logit / temperature)`` (the repeatability runs)."""
    x = np.array([[f[k] for k in NAMES]])
    z = ((_design(x) - np.asarray(model["mean"])) / np.asarray(model["std"]))[0]
    contrib = {k: float(c * v) for k, c, v in zip(NAMES, model["coef"], z)}
    logit = float(sum(contrib.values()) + model["intercept"])
    if temperature > 0:
        p = 1.0 / (1.0 + math.exp(-max(min(logit / temperature, 50), -50)))
        real = bool((rng or np.random.default_rng(0)).random() < p)
    else:
        real = logit > 0
    label = "Real" if real else "Bogus"
    return {"class": label, "explanation": explain(f, contrib, label), "interest_score": interest(label, f),
            "logit": round(logit, 4)}


# ------------------------------------------------------------------------------------------ the rule judge

REAL_WORDS = ("point source", "psf", "supernova", "transient", "variable", "new source", "host")
BOGUS_WORDS = ("cosmic", "dipole", "saturat", "trail", "hot pixel", "column", "edge", "ghost", "artefact",
               "artifact", "misalign", "bogus")


def evidence(f: dict[str, float]) -> int:
    """Hand-set points for a real point-source residual (not fitted; the judge's own view)."""
    ev = 2 if f["snr"] > 5 else -1
    ev += 1 if 0.6 < f["psf_match"] < 1.7 else -2
    ev -= 2 if f["dipole"] > 0.4 else 0
    ev -= 2 if f["elongation"] > 2.5 else 0
    ev -= 2 if f["zero_frac"] > 0.02 else 0
    ev -= 1 if f["plateau"] >= 3 else 0
    ev -= 2 if f["sharpness"] > 3.5 else 0
    return ev


def _stance(text: str) -> int:
    t = text.lower()
    real = sum(w in t for w in REAL_WORDS)
    bogus = sum(w in t for w in BOGUS_WORDS)
    return (real > bogus) - (bogus > real)


def rule_judge(f: dict[str, float], ans: dict[str, Any]) -> dict[str, Any]:
    """Coherence 0-5, interest-score validity and a critique from deterministic checks of the answer
    against the judge's own image statistics (the label is never an input)."""
    ev = evidence(f)
    view = "Real" if ev >= 2 else "Bogus"
    notes, coherence = [], 5
    if ans["class"] != view:
        coherence -= 2
        notes.append(f"the statistics point to {view} (point-source evidence {ev:+d}: snr {f['snr']:.0f}, "
                     f"width/PSF {f['psf_match']:.2f}, dipole {f['dipole']:.2f}, elongation {f['elongation']:.1f})")
    stance = _stance(ans["explanation"])
    if stance and stance != (1 if ans["class"] == "Real" else -1):
        coherence -= 1
        notes.append("the explanation argues for the other class")
    if 1 <= ev <= 2:
        coherence -= 1
        notes.append("the evidence is borderline")
    valid = (ans["class"] == "Bogus") == (ans["interest_score"] == INTEREST[0])
    if not valid:
        notes.append(f"interest score {ans['interest_score']!r} does not fit class {ans['class']}")
    critique = "; ".join(notes) if notes else "the answer is consistent with the image statistics"
    return {"coherence": max(0, coherence), "interest_valid": "yes" if valid else "no", "critique": critique,
            "evidence": ev}


def train_table(obs_ids: list[str], labels: list[str], x: np.ndarray) -> "pd.DataFrame":
    """The train split's statistics as a table (``obs_id``, ``label``, one column per name): what the
    ``features`` judge is fitted on."""
    import pandas as pd

    return pd.DataFrame({"obs_id": list(obs_ids), "label": list(labels),
                         **{k: np.asarray(x, dtype=np.float64).reshape(len(obs_ids), len(NAMES))[:, j]
                            for j, k in enumerate(NAMES)}})


def fit_judge(table: "pd.DataFrame", seed: int) -> Any:
    """The ``features`` judge: a gradient-boosted classifier (Real = 1) of the train split's statistics."""
    from sklearn.ensemble import GradientBoostingClassifier  # single-threaded: no OpenMP oversubscription

    y = (table["label"] == "Real").to_numpy().astype(int)
    if len(set(y)) < 2:
        raise ValueError("features judge: the train split holds one class only; cannot fit the judge")
    clf = GradientBoostingClassifier(n_estimators=100, max_depth=3, learning_rate=0.1, random_state=seed)
    return clf.fit(_design(table[list(NAMES)].to_numpy()), y)


def judge_p_real(judge_model: Any, f: dict[str, float]) -> float:
    """The ``features`` judge's probability that the triplet with statistics ``f`` is Real."""
    return float(judge_model.predict_proba(_design(np.array([[f[k] for k in NAMES]])))[0, 1])


def _answer_checks(ans: dict[str, Any]) -> tuple[int, list[str], bool]:
    """(coherence penalty, notes, interest valid) of the checks every offline judge makes of the answer text."""
    notes, penalty = [], 0
    stance = _stance(ans["explanation"])
    if stance and stance != (1 if ans["class"] == "Real" else -1):
        penalty += 1
        notes.append("the explanation argues for the other class")
    valid = (ans["class"] == "Bogus") == (ans["interest_score"] == INTEREST[0])
    if not valid:
        notes.append(f"interest score {ans['interest_score']!r} does not fit class {ans['class']}")
    return penalty, notes, valid


def model_judge(f: dict[str, float], ans: dict[str, Any], p_real: float) -> dict[str, Any]:
    """Coherence 0-5 (6 x the judge model's probability ``p_real`` for the answered class, capped at 5, less
    one when the explanation argues for the other class), interest validity and a critique."""
    agree = p_real if ans["class"] == "Real" else 1.0 - p_real
    coherence = min(5, int(agree * 6))
    penalty, notes, valid = _answer_checks(ans)
    if agree < 0.5:
        view = "Real" if p_real >= 0.5 else "Bogus"
        notes.insert(0, f"the statistics point to {view} (judge P(Real) {p_real:.2f}: snr {f['snr']:.0f}, "
                        f"width/PSF {f['psf_match']:.2f}, sharpness {f['sharpness']:.1f}, dipole {f['dipole']:.2f}, "
                        f"elongation {f['elongation']:.1f})")
    critique = "; ".join(notes) if notes else "the answer is consistent with the image statistics"
    return {"coherence": max(0, coherence - penalty), "interest_valid": "yes" if valid else "no",
            "critique": critique, "p_real": float(p_real)}


def refine_offline(model: dict[str, Any], f: dict[str, float], verdict: dict[str, Any]) -> dict[str, Any]:
    """The offline refinement: the classifier's probability averaged with the judge's (its ``p_real`` when it
    has one -- the ``features`` judge --, else ``sigmoid(evidence - 1.5)`` of the rule judge's evidence),
    explained with the critique."""
    base = answer(model, f, 0.0)
    p_clf = 1.0 / (1.0 + math.exp(-max(min(base["logit"], 50), -50)))
    p_judge = verdict.get("p_real")
    if p_judge is None or not math.isfinite(float(p_judge)):
        p_judge = 1.0 / (1.0 + math.exp(-(evidence(f) - 1.5)))
    label = "Real" if (p_clf + p_judge) / 2 > 0.5 else "Bogus"
    out = dict(base)
    out.update({"class": label, "interest_score": interest(label, f),
                "explanation": f"{base['explanation']} Reconsidered after the critique ({verdict['critique']}): "
                               f"{label}."})
    return out


def dumps(model: dict[str, Any]) -> str:
    """The classifier as indented, sorted JSON (``features/model.json``)."""
    return json.dumps(model, indent=2, sort_keys=True)
