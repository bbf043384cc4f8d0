"""Paper texts of the demo X-ray sky: per-source papers and population papers that name the class, the physics
and some measured values in varied phrasings among distractor sentences (see :mod:`skytext.sources.xray_demo`)."""

from __future__ import annotations

import json
import numpy as np
import pandas as pd

NAMES = {"agn": ["active galactic nucleus", "AGN", "accreting supermassive black hole", "Seyfert nucleus"],
         "xrb_hard": ["X-ray binary in the hard state", "black hole binary in a hard state", "low-mass X-ray binary with a hard power-law spectrum"],
         "xrb_soft": ["X-ray binary in the soft state", "disk-dominated black hole binary", "thermal-state X-ray binary"],
         "ulx": ["ultraluminous X-ray source", "ULX", "super-Eddington accreting source in a nearby galaxy"],
         "pulsar": ["neutron star", "rotation-powered pulsar", "isolated neutron star with a pulsar wind"],
         "cluster": ["galaxy cluster", "cluster of galaxies", "intracluster medium of a massive cluster"],
         "star": ["coronally active star", "active late-type star", "flaring M dwarf"],
         "cv": ["cataclysmic variable", "accreting white dwarf", "intermediate polar"],
         "snr": ["supernova remnant", "shocked supernova ejecta", "young supernova remnant"]}
PHYSICS = {"agn": "the spectrum is an absorbed power law from the corona",
           "xrb_hard": "Comptonised emission dominates, described by a power law",
           "xrb_soft": "a multicolour accretion disk blackbody dominates, with a weak power-law tail",
           "ulx": "the spectrum is curved, a soft disk component plus a cut-off power law typical of super-Eddington accretion",
           "pulsar": "thermal blackbody emission from the neutron star surface plus a non-thermal power law",
           "cluster": "thermal bremsstrahlung from hot intracluster gas with a strong iron K line",
           "star": "soft thermal plasma emission from a magnetically heated corona with iron L and oxygen lines",
           "cv": "optically thin thermal plasma emission from the accretion flow with a 6.7 keV iron line",
           "snr": "line-rich thermal emission from shock-heated ejecta with strong silicon and sulphur lines"}
DISTRACTORS = ["Optical spectroscopy was obtained with a 4-m class telescope.",
               "We thank the referee for helpful comments.", "Radio observations were obtained in parallel.",
               "The data were reduced with standard procedures and the latest calibration.",
               "An infrared counterpart is detected in archival survey images.",
               "Pile-up is negligible at this count rate.", "The source lies near the edge of the field of view.",
               "Future observations with next-generation missions will clarify the picture.",
               "We also discuss the surrounding field population.", "The source position was refined by astrometry."]


def _absorption_words(log_nh: float) -> str:
    if log_nh < 20.7:
        return "essentially unabsorbed"
    if log_nh < 21.3:
        return "mildly absorbed"
    if log_nh < 22.0:
        return "moderately absorbed"
    if log_nh < 23:
        return "heavily absorbed"
    return "Compton-thick, extremely obscured"


def brightness_words(counts: float) -> str:
    """A phrase for a source's total counts (five bins)."""
    return ("very faint, with only a few tens of counts" if counts < 50 else
            "faint, with about a hundred counts" if counts < 150 else
            "moderately bright, with a few hundred counts" if counts < 500 else
            "bright, with over a thousand counts" if counts < 1500 else
            "very bright, with several thousand counts")


def peak_words(mean_energy: float) -> str:
    """A sentence for where a spectrum's mean detected energy lies (four bins)."""
    return ("The detected photons are very soft, mostly below 1 keV." if mean_energy < 1.1 else
            "Most detected photons lie between 1 and 2 keV." if mean_energy < 1.7 else
            "The spectrum is fairly hard, with many photons above 2 keV." if mean_energy < 2.5 else
            "The spectrum is very hard, dominated by photons above 3 keV.")


def _facts(r: pd.Series, rng: np.random.Generator) -> list[str]:
    """Sentences about a source's physics (qualitative and, sometimes, measured values)."""
    c = r["true_class"]
    out = [f"The X-ray emission is {_absorption_words(r['powlaw_nh'])}; {PHYSICS[c]}."]
    if np.isfinite(r["powlaw_gamma"]):
        slope = "hard" if r["powlaw_gamma"] < 1.6 else "soft, steep" if r["powlaw_gamma"] > 2.0 else "moderately steep"
        out.append(f"The power-law continuum is {slope}" + (f", with photon index {r['powlaw_gamma'] + rng.normal(0, 0.08):.2f}." if rng.random() < 0.6 else "."))
    for key, word in (("bb_kt", "blackbody"), ("brems_kt", "gas"), ("apec_kt", "plasma"), ("diskbb_kt", "inner disk")):
        if np.isfinite(r[key]):
            hot = "hot" if r[key] > {"bb_kt": 0.3, "brems_kt": 6, "apec_kt": 0.8, "diskbb_kt": 1.0}[key] else "cool"
            out.append(f"The {word} temperature is {hot}" + (f", kT = {r[key] * rng.normal(1, 0.05):.2f} keV." if rng.random() < 0.6 else "."))
    if rng.random() < 0.5:
        out.append(f"We measure an absorbing column N_H = {10 ** (r['powlaw_nh'] - np.floor(r['powlaw_nh'])):.1f}e{int(np.floor(r['powlaw_nh']))} cm^-2.")
    out.append(f"The source is {brightness_words(r['expected_counts'])}.")
    out.append(peak_words(r["mean_energy"]))
    v = r["var_index_b"]
    out.append("Strong variability and flares are seen within the observation." if v >= 6 else
               "Mild variability is present." if v >= 3 else "The light curve is steady, with no variability.")
    if np.isfinite(r["redshift"]) and rng.random() < 0.7:
        out.append(f"It lies at redshift z = {r['redshift']:.3f}.")
    if np.isfinite(r["distance"]) and rng.random() < 0.6:
        out.append(f"The distance is about {10 ** r['distance']:.1f} kpc.")
    if np.isfinite(r["period"]) and r["outlier_type"] != "pulsating_ulx":
        out.append(f"Pulsations with period {10 ** r['period']:.3f} s are detected.")
    if abs(r["gal_b"]) < 5 and rng.random() < 0.6:
        out.append("The source lies in the Galactic plane.")
    return out


def _outlier_sentence(r: pd.Series) -> str:
    kind = r["outlier_type"]
    if kind == "pulsating_ulx":
        return (f"Coherent pulsations with period {10 ** r['period']:.2f} s reveal a spinning neutron star: this "
                "pulsar, seen far above the Eddington limit, is a pulsating ULX powered by an accreting magnetised "
                "neutron star rather than a black hole.")
    if kind == "lensed_quasar":
        return ("This is a gravitationally lensed quasar with four images; the X-ray flux ratios between the lensed "
                "images are anomalous, pointing to microlensing by stars in the lensing galaxy.")
    return ""


def paper_text(r: pd.Series, rng: np.random.Generator) -> tuple[str, str]:
    """(title, abstract) of an individual paper about source ``r``."""
    label = r["class"]
    name = str(rng.choice(NAMES[label]))
    facts = _facts(r, rng) if r["outlier_type"] != "mislabelled" else [f"The X-ray emission shows {PHYSICS[label]}."]
    keep = [f for f in facts if rng.random() < 0.85] or facts[:1]
    sentences = [f"We report Chandra observations of {r['source_id']}, a {name}."] + keep
    if r["outlier_type"] in ("pulsating_ulx", "lensed_quasar"):
        sentences.insert(1, _outlier_sentence(r))
    sentences += list(rng.choice(DISTRACTORS, size=int(rng.integers(1, 3)), replace=False))
    head = sentences[:1] + list(rng.permutation(sentences[1:]))
    return f"X-ray view of the {name} {r['source_id']}", " ".join(head)


def population_text(cls: str, members: pd.DataFrame, rng: np.random.Generator) -> tuple[str, str]:
    """(title, abstract) of a population paper about ``members``, all of class ``cls``."""
    name = str(rng.choice(NAMES[cls]))
    nh = members["powlaw_nh"]
    s = [f"We present a sample of {len(members)} sources classified as {name}s.",
         f"{PHYSICS[cls][0].upper()}{PHYSICS[cls][1:]}.", f"Absorbing columns range from 1e{nh.min():.1f} to 1e{nh.max():.1f} cm^-2."]
    if members["powlaw_gamma"].notna().any():
        g = members["powlaw_gamma"]
        s.append(f"Photon indices span {g.min():.1f} to {g.max():.1f}.")
    s += list(rng.choice(DISTRACTORS, size=2, replace=False))
    return f"A Chandra survey of {name}s", " ".join(s)


def papers(cat: pd.DataFrame, cfg: dict, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(papers: text_id, title, abstract, kind; links: text_id, source_id)."""
    rng = np.random.default_rng([seed, 16])
    rows, links = [], []
    no_paper = rng.random(len(cat)) < cfg["no_paper_fraction"]
    no_paper &= ~cat["is_outlier"].to_numpy()
    for i, r in cat.iterrows():
        if no_paper[i]:
            continue
        for j in range(int(rng.integers(1, cfg["max_papers"] + 1))):
            title, text = paper_text(r, rng)
            tid = f"P-{r['source_id']}-{j}"
            rows.append({"text_id": tid, "title": title, "abstract": text, "kind": "individual"})
            links.append({"text_id": tid, "source_id": r["source_id"]})
    with_paper = cat[~no_paper & ~cat["is_outlier"]]
    for j in range(cfg["population_papers"]):
        cls = str(rng.choice(list(NAMES)))  # NAMES has the sky's classes, in xray_demo.CLASSES order
        pool = with_paper[with_paper["true_class"] == cls]
        members = pool.sample(n=min(len(pool), int(rng.integers(5, 16))), random_state=int(rng.integers(2**31)))
        if len(members) == 0:
            continue
        title, text = population_text(cls, members, rng)
        tid = f"POP-{seed % 1000:03d}-{j:04d}"
        rows.append({"text_id": tid, "title": title, "abstract": text, "kind": "population"})
        links += [{"text_id": tid, "source_id": s} for s in members["source_id"]]
    return pd.DataFrame(rows), pd.DataFrame(links, columns=["text_id", "source_id"])


def gt_attrs(r: pd.Series) -> str:
    """The qualitative facts a paper can state (the oracle's attributes): absorption, slope, temperature,
    brightness and variability bins, as JSON."""
    def temp(key, cut):
        return None if not np.isfinite(r[key]) else ("hot" if r[key] > cut else "cool")
    g = r["powlaw_gamma"]
    return json.dumps({"absorption": _absorption_words(r["powlaw_nh"]),
                       "slope": None if not np.isfinite(g) else "hard" if g < 1.6 else "soft" if g > 2.0 else "mid",
                       "bb": temp("bb_kt", 0.3), "brems": temp("brems_kt", 6), "apec": temp("apec_kt", 0.8),
                       "disk": temp("diskbb_kt", 1.0),
                       "counts": brightness_words(r["expected_counts"]), "peak": peak_words(r["mean_energy"]),
                       "var": "strong" if r["var_index_b"] >= 6 else "mild" if r["var_index_b"] >= 3 else "none"})
