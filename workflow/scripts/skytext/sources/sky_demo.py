"""The built-in demo sky: a seeded, offline stand-in for HST previews and proposal abstracts.

It writes the same dataset contract as the HST source (:mod:`skytext.core.contracts`). Each *proposal* studies
one object class with proposal-level attributes (e.g. three-armed, tightly wound, barred spirals); its
*observations* are greyscale images of that class drawn with per-image nuisance (orientation, position,
size, PSF, noise, cosmic rays), and its *abstract* is several sentences of proposal prose built from varied
phrasings: the science case and the targets, among distractor sentences (boilerplate, instrument requests,
and mentions of other classes as comparisons). The ground truth (class and attributes) is recorded so the
evaluation can report what an oracle would reach.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.ndimage import gaussian_filter

from skytext.core.contracts import OBSERVATIONS, PROPOSALS, write_table
from skytext.core.sharding import in_shard

# ---------------------------------------------------------------------------------------------------------
# classes, their attributes and the words used for them
# ---------------------------------------------------------------------------------------------------------

CLASSES: dict[str, dict] = {
    "spiral": {
        "category": "Galaxies",
        "names": ["spiral galaxies", "disk galaxies with spiral arms", "nearby spirals", "spiral disks"],
        "attrs": {
            "arms": {2: ["two-armed grand-design", "two-armed"], 3: ["three-armed"], 4: ["multi-armed (four-armed)", "four-armed"]},
            "pitch": {"tight": ["tightly wound", "tightly wrapped"], "open": ["loosely wound", "open"]},
            "bar": {True: ["barred"], False: ["unbarred"]},
        },
    },
    "elliptical": {
        "category": "Galaxies",
        "names": ["elliptical galaxies", "early-type galaxies", "massive ellipticals", "quiescent spheroidal galaxies"],
        "attrs": {
            "shape": {"round": ["round", "nearly circular"], "flat": ["highly flattened", "elongated"]},
            "size": {"compact": ["compact", "small"], "extended": ["extended", "large diffuse"]},
        },
    },
    "globular": {
        "category": "Stellar Populations",
        "names": ["globular clusters", "old globular star clusters", "Galactic globular clusters"],
        "attrs": {
            "core": {"dense": ["core-collapsed", "centrally concentrated"], "loose": ["diffuse low-concentration", "loosely concentrated"]},
        },
    },
    "lens": {
        "category": "Cosmology",
        "post": True,
        "names": ["strong gravitational lenses", "strongly lensed galaxies", "galaxy-scale gravitational lenses"],
        "attrs": {
            "arcs": {"single": ["a single giant arc", "one bright lensed arc"], "multi": ["multiple lensed arcs", "several arclets"], "ring": ["a complete Einstein ring", "Einstein rings"]},
        },
    },
    "nebula": {
        "category": "ISM and Circumstellar Matter",
        "names": ["emission nebulae", "ionised gas nebulae", "star-forming nebulae"],
        "attrs": {
            "morph": {"filament": ["filamentary", "wispy"], "shell": ["shell-like", "bubble-shaped"]},
        },
    },
    "planet": {
        "category": "Solar System",
        "post": True,
        "names": ["giant planets", "outer solar system planets", "planetary atmospheres of the gas giants"],
        "attrs": {
            "kind": {"banded": ["banded cloud belts", "zonal cloud bands"], "ringed": ["ring systems", "bright planetary rings"]},
        },
    },
    "open": {
        "category": "Stellar Populations",
        "names": ["open star clusters", "young open clusters", "Galactic open clusters"],
        "attrs": {
            "rich": {"poor": ["poorly populated", "sparse"], "rich": ["richly populated", "rich"]},
        },
    },
    "field": {
        "category": "Stellar Physics",
        "names": ["resolved stellar fields", "stellar fields", "fields of resolved stars"],
        "attrs": {
            "density": {"crowded": ["very crowded", "high-density"], "sparse": ["sparse", "low-density halo"]},
        },
    },
}

INSTRUMENTS = [("ACS/WFC", ["F606W", "F814W", "F475W"]), ("WFC3/UVIS", ["F555W", "F336W", "F438W"]),
               ("WFC3/IR", ["F110W", "F160W"]), ("WFPC2", ["F555W", "F814W"])]

OPENERS = [
    "We propose to image a sample of {what}.",
    "This program targets {what}.",
    "We request imaging of {what} to study their structure.",
    "Our sample consists of {what} selected from ground-based surveys.",
    "We will obtain deep observations of {what}.",
]
TARGET_SENTENCES = [
    "Our targets are {what}, all with well-measured distances.",
    "Each field contains {what} at high signal-to-noise.",
    "Such {what} are ideal laboratories for this work.",
    "Resolved imaging of {what} is only possible from space.",
]
SCIENCE = {
    "spiral": ["We will measure how the arms trace star formation across the disk.", "The pitch angle of the spiral arms constrains the mass of the central black hole.", "We will map dust lanes and star-forming knots along the arms."],
    "elliptical": ["We will measure the surface brightness profiles and search for faint shells.", "The light profiles constrain the merger histories of massive galaxies.", "We will test whether the isophotes deviate from perfect ellipses."],
    "globular": ["We will derive the ages of the oldest stellar populations from the main-sequence turnoff.", "Proper motions of stars in the core will reveal a central black hole.", "We will search for multiple stellar populations in the colour-magnitude diagram."],
    "lens": ["Lens models will constrain the dark matter distribution in the lensing galaxies.", "The magnified background sources reveal star formation at high redshift.", "Time delays between images will measure the Hubble constant."],
    "nebula": ["We will map the ionisation structure of the gas.", "The morphology of the ionised gas traces feedback from massive stars.", "Line ratios will constrain the shock and photoionisation conditions."],
    "planet": ["We will monitor atmospheric dynamics and storm activity.", "Repeated imaging will track the evolution of clouds and vortices.", "The observations will constrain the structure of the rings and their moons."],
    "open": ["We will measure the initial mass function of young clusters.", "Proper motions will determine cluster membership and dissolution.", "The colour-magnitude diagrams will constrain cluster ages."],
    "field": ["Deep photometry of resolved stars will reconstruct the star formation history.", "We will measure the metallicity distribution of the stellar halo.", "Star counts will constrain the structure of the halo."],
}
DISTRACTORS = [
    "We request {n} orbits of {inst} imaging in {filt}.",
    "These data will complement existing archival observations and ground-based spectroscopy.",
    "The resulting catalogues will be released to the community.",
    "Our team has extensive experience in the reduction of such data.",
    "The observations are designed to be efficient and require no special scheduling.",
    "This program builds on results from previous cycles.",
    "The proposed observations are unique to the high angular resolution of space imaging.",
    "Dithered exposures will remove detector artefacts and cosmic rays.",
]
CONTRASTS = [
    "Unlike {other}, these objects have not yet been observed at high resolution.",
    "Comparisons with {other} from the literature will place our results in context.",
    "Previous programs have focused on {other}; our sample is complementary.",
]


def attribute_words(cls: str, attrs: dict, rng: np.random.Generator) -> str:
    """Adjectives describing ``attrs`` for class ``cls``, phrased at random."""
    words = []
    for key, val in attrs.items():
        options = CLASSES[cls]["attrs"][key][val]
        words.append(options[rng.integers(len(options))])
    rng.shuffle(words)
    return ", ".join(words)


def describe(cls: str, attrs: dict, rng: np.random.Generator) -> str:
    """A noun phrase naming ``cls`` with its attributes, e.g. 'barred, two-armed spiral galaxies'."""
    names = CLASSES[cls]["names"]
    name = names[rng.integers(len(names))]
    adj = attribute_words(cls, attrs, rng)
    return f"{name} with {adj}" if CLASSES[cls].get("post") else f"{adj} {name}"


def make_abstract(cls: str, attrs: dict, inst: str, filt: str, rng: np.random.Generator) -> tuple[str, str]:
    """(title, abstract) for a proposal about ``cls`` with ``attrs``."""
    key = [OPENERS[rng.integers(len(OPENERS))].format(what=describe(cls, attrs, rng))]
    key.append(TARGET_SENTENCES[rng.integers(len(TARGET_SENTENCES))].format(what=describe(cls, attrs, rng)))
    science = list(rng.choice(SCIENCE[cls], size=2, replace=False))
    others = [c for c in CLASSES if c != cls]
    other_names = CLASSES[others[rng.integers(len(others))]]["names"]
    contrast = CONTRASTS[rng.integers(len(CONTRASTS))].format(other=other_names[rng.integers(len(other_names))])
    distract = [
        d.format(n=int(rng.integers(3, 60)), inst=inst, filt=filt)
        for d in rng.choice(DISTRACTORS, size=int(rng.integers(2, 4)), replace=False)
    ]
    body = science + [contrast] + distract
    rng.shuffle(body)
    # the opener stays first; the target sentence lands somewhere in the body
    pos = int(rng.integers(0, len(body) + 1))
    body.insert(pos, key[1])
    sentences = [key[0]] + body
    what = describe(cls, attrs, rng)
    title = f"{what[0].upper()}{what[1:]}: {rng.choice(['A Resolved View', 'Structure and Evolution', 'A Snapshot Survey', 'Deep Imaging'])}"
    return title, " ".join(sentences)


# ---------------------------------------------------------------------------------------------------------
# image rendering
# ---------------------------------------------------------------------------------------------------------


def _grid(size: int):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2.0
    return (x - c) / size, (y - c) / size  # in units of the image side


def _rotate(x, y, angle, dx=0.0, dy=0.0):
    ca, sa = math.cos(angle), math.sin(angle)
    xr = (x - dx) * ca + (y - dy) * sa
    yr = -(x - dx) * sa + (y - dy) * ca
    return xr, yr


def _stars(img, xs, ys, fluxes):
    size = img.shape[0]
    ix = np.clip(np.round(xs).astype(int), 0, size - 1)
    iy = np.clip(np.round(ys).astype(int), 0, size - 1)
    np.add.at(img, (iy, ix), fluxes)
    return img


def render(cls: str, attrs: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """A float image of ``cls`` with ``attrs``: the object, before PSF, noise and stretch."""
    x, y = _grid(size)
    angle = rng.uniform(0, 2 * math.pi)
    dx, dy = rng.normal(0, 0.04, size=2)
    scale = rng.uniform(0.8, 1.2)
    img = np.zeros((size, size), np.float32)
    if cls == "spiral":
        incl = rng.uniform(0.55, 1.0)
        xr, yr = _rotate(x, y, angle, dx, dy)
        yr = yr / incl
        r = np.hypot(xr, yr) / scale + 1e-3
        th = np.arctan2(yr, xr)
        m = attrs["arms"]
        pitch = math.radians(12 if attrs["pitch"] == "tight" else 30)
        phase = th - np.log(r) / math.tan(pitch)
        arms = np.cos(m * phase) ** 2 * np.exp(-r / 0.18) * 1.6
        img = arms * (r > 0.05) + 1.2 * np.exp(-((r / 0.045) ** 2))
        if attrs["bar"]:
            img += 1.4 * np.exp(-((xr / scale / 0.17) ** 2) - (yr / scale / 0.035) ** 2)
        img *= np.exp(-((r / 0.42) ** 8))
    elif cls == "elliptical":
        q = rng.uniform(0.85, 1.0) if attrs["shape"] == "round" else rng.uniform(0.35, 0.55)
        re = (0.06 if attrs["size"] == "compact" else 0.16) * scale
        xr, yr = _rotate(x, y, angle, dx, dy)
        rell = np.hypot(xr, yr / q)
        img = 0.35 * np.exp(-7.67 * ((rell / re) ** 0.25 - 1))
        img = np.minimum(img, 3.0) * np.exp(-((rell / 0.45) ** 4))
    elif cls in ("globular", "open", "field"):
        if cls == "globular":
            n = int(rng.integers(350, 600))
            a = (0.035 if attrs["core"] == "dense" else 0.11) * scale
            u = rng.uniform(0, 1, n)
            rad = a / np.sqrt(np.maximum(u ** (-2 / 3) - 1, 1e-6))
            rad = np.minimum(rad, 0.6)
            phi = rng.uniform(0, 2 * math.pi, n)
            xs, ys = rad * np.cos(phi) + dx, rad * np.sin(phi) + dy
            flux = rng.lognormal(0, 0.6, n) * 0.6
        elif cls == "open":
            n = int(rng.integers(12, 25) if attrs["rich"] == "poor" else rng.integers(45, 80))
            xs, ys = rng.normal(dx, 0.2, n), rng.normal(dy, 0.2, n)
            flux = rng.lognormal(1.2, 0.5, n) * 1.5
        else:
            n = int(rng.integers(500, 900) if attrs["density"] == "crowded" else rng.integers(60, 140))
            xs, ys = rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n)
            flux = rng.lognormal(-0.3, 0.7, n) * 0.7
        img = _stars(img, (xs + 0.5) * size, (ys + 0.5) * size, flux.astype(np.float32) * 8)
    elif cls == "lens":
        xr, yr = _rotate(x, y, angle, dx, dy)
        r = np.hypot(xr, yr)
        th = np.arctan2(yr, xr)
        img = 2.0 * np.exp(-((r / (0.04 * scale)) ** 1.0))
        rad = rng.uniform(0.17, 0.27) * scale
        ring = np.exp(-(((r - rad) / 0.018) ** 2))
        if attrs["arcs"] == "ring":
            mask = 0.7 + 0.3 * np.cos(th - rng.uniform(0, 6.28))
        elif attrs["arcs"] == "single":
            width = rng.uniform(0.5, 0.9)
            mask = np.exp(-((np.angle(np.exp(1j * th)) / width) ** 2))
        else:
            mask = np.zeros_like(th)
            for c in rng.uniform(-math.pi, math.pi, int(rng.integers(3, 5))):
                mask += np.exp(-((np.angle(np.exp(1j * (th - c))) / 0.25) ** 2))
        img += 1.5 * ring * mask
    elif cls == "nebula":
        xr, yr = _rotate(x, y, angle, dx, dy)
        r = np.hypot(xr, yr * rng.uniform(0.7, 1.0))
        noise = gaussian_filter(rng.normal(0, 1, (size, size)).astype(np.float32), size / 24)
        noise /= noise.std() + 1e-6
        if attrs["morph"] == "shell":
            rad = rng.uniform(0.22, 0.32) * scale
            img = np.exp(-(((r - rad) / 0.045) ** 2)) * (1.0 + 0.35 * noise)
        else:
            fil = gaussian_filter(rng.normal(0, 1, (size, size)).astype(np.float32), size / 40)
            fil = np.exp(-((fil / (fil.std() * 0.12)) ** 2))  # thin ridges along the zero crossings
            img = fil * np.exp(-((r / 0.4) ** 2)) * (1.0 + 0.3 * noise)
        img = np.clip(img, 0, None) * 1.3
    elif cls == "planet":
        xr, yr = _rotate(x, y, rng.normal(0, 0.15), dx, dy)
        rad = rng.uniform(0.17, 0.24) * scale
        rr = np.hypot(xr, yr) / rad
        disk = np.sqrt(np.clip(1 - rr**2, 0, 1))
        if attrs["kind"] == "banded":
            bands = 1.0 + 0.45 * np.sin(yr / rad * rng.uniform(9, 14) + rng.uniform(0, 6))
            img = 2.0 * disk * bands
        else:
            img = 1.6 * disk
            tilt = rng.uniform(0.2, 0.4)
            re = np.hypot(xr, yr / tilt) / rad
            ringm = ((re > 1.35) & (re < 2.1)).astype(np.float32) * 1.4
            ringm[(rr < 1) & (yr < 0)] = 0  # the planet hides the far side
            img = img + ringm
    else:  # pragma: no cover - guarded by CLASSES
        raise ValueError(f"unknown demo class {cls!r}")
    return img.astype(np.float32)


def observe(img: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """PSF, sky noise, cosmic rays and an asinh stretch: float image -> uint8."""
    size = img.shape[0]
    img = gaussian_filter(img, rng.uniform(0.6, 1.6) * size / 96)
    img = img + rng.normal(0, noise, img.shape).astype(np.float32)
    for _ in range(int(rng.poisson(1.5))):  # cosmic rays
        cx, cy = rng.integers(0, size, 2)
        length = int(rng.integers(1, 6))
        ang = rng.uniform(0, math.pi)
        for t in range(length):
            px, py = int(cx + t * math.cos(ang)), int(cy + t * math.sin(ang))
            if 0 <= px < size and 0 <= py < size:
                img[py, px] += rng.uniform(2, 5)
    stretched = np.arcsinh(np.clip(img, 0, None) / 0.1) / np.arcsinh(5.0 / 0.1)
    return (np.clip(stretched, 0, 1) * 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------
# the sky: proposals, then observations in shards
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoConfig:
    """The ``images.demo`` config section plus the seed (defaults live in the schema only)."""

    n_proposals: int
    min_images: int
    max_images: int
    image_size: int
    seed: int

    @classmethod
    def from_config(cls, section: dict, seed: int) -> "DemoConfig":
        return cls(section["n_proposals"], section["min_images"], section["max_images"], section["image_size"], seed)


def _rng(seed: int, *keys) -> np.random.Generator:
    digest = hashlib.sha256(json.dumps([seed, *keys]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def proposals(cfg: DemoConfig) -> pd.DataFrame:
    """The demo's proposals table (contract PROPOSALS plus ground truth and the demo's plan columns)."""
    rows = []
    classes = list(CLASSES)
    for i in range(cfg.n_proposals):
        rng = _rng(cfg.seed, "proposal", i)
        cls = classes[i % len(classes)]
        attrs = {k: list(v)[rng.integers(len(v))] for k, v in CLASSES[cls]["attrs"].items()}
        inst, filters = INSTRUMENTS[rng.integers(len(INSTRUMENTS))]
        filt = filters[rng.integers(len(filters))]
        title, abstract = make_abstract(cls, attrs, inst, filt, rng)
        rows.append({
            "proposal_id": str(90001 + i),
            "title": title,
            "category": CLASSES[cls]["category"],
            "cycle": int(rng.integers(10, 31)),
            "pi": f"Demo PI {i % 37:02d}",
            "prop_type": ["GO", "GO", "GO", "SNAP", "GTO"][rng.integers(5)],
            "abstract": abstract,
            "gt_class": cls,
            "gt_attrs": json.dumps(attrs, sort_keys=True, default=str),
            "instrument": inst,
            "filter": filt,
            "n_images": int(rng.integers(cfg.min_images, cfg.max_images + 1)),
        })
    df = pd.DataFrame(rows)
    return df


def write_proposals(cfg: DemoConfig, out: str | Path) -> pd.DataFrame:
    df = proposals(cfg)
    return write_table(df.drop(columns=["instrument", "filter", "n_images"]), out, PROPOSALS, "demo proposals")


def observations_for_shard(cfg: DemoConfig, shard: int, n_shards: int, image_dir: str | Path) -> pd.DataFrame:
    """Render the images of every proposal in ``shard`` into ``image_dir``; return the observations table."""
    from tqdm import tqdm

    image_dir = Path(image_dir)
    image_dir.mkdir(parents=True, exist_ok=True)
    props = proposals(cfg)
    props = props[in_shard(props["proposal_id"], shard, n_shards)]
    rows = []
    for p in tqdm(props.itertuples(index=False), total=len(props), desc=f"demo shard {shard}", mininterval=5):
        attrs = json.loads(p.gt_attrs)
        for j in range(p.n_images):
            rng = _rng(cfg.seed, "image", p.proposal_id, j)
            noise = rng.uniform(0.02, 0.12)
            pix = observe(render(p.gt_class, attrs, cfg.image_size, rng), rng, noise)
            obs_id = f"demo_{p.proposal_id}_{j:02d}"
            path = image_dir / f"{obs_id}.png"
            Image.fromarray(pix, mode="L").save(path, optimize=False, compress_level=1)
            rows.append({
                "obs_id": obs_id, "proposal_id": p.proposal_id, "modality": "image", "path": str(path),
                "cycle": p.cycle, "instrument": p.instrument, "filter": p.filter, "target": f"{p.gt_class.upper()}-{j}",
                "gt_class": p.gt_class, "gt_attrs": p.gt_attrs,
            })
    df = pd.DataFrame(rows, columns=[c.name for c in OBSERVATIONS])
    return df
