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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from skytext.core.contracts import OBSERVATIONS, PROPOSALS, write_table
from skytext.core.sharding import in_shard
from skytext.sources.sky_render import observe, render

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
        """From the complete ``images.demo`` section and the seed."""
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
    """Write the demo's proposals (contract PROPOSALS with ground truth) to ``out``; returns the table."""
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
