"""Regenerate the MAST replay fixtures (run once; outputs are committed).

The JSON files keep the exact shape of MAST portal answers as recorded in astroquery's own test data
(astroquery/mast/tests/data/caom.json, products.json, columnsconfig.json): same top-level keys, same
``fields`` list, rows taken from the recorded ones and edited to describe a few HST proposals with
PREVIEW products. ``files/`` holds the bytes the fake download endpoint serves.

Proposals: 13495 and 15354 carry the tricky cases (a colour composite, a ``../../`` file name, a preview
that is not a 'total' one, a FITS science product), 5092 has only FITS (no preview); the others in
``NEW`` have 2-4 'total' previews each, enough for a train/val/test split by proposal. Their images differ
by proposal (one pattern each, varied per image). ``../abstracts/abstracts_hst.cat`` is
``../abstracts/abstracts.cat`` (the parser's tricky records, read by test_abstracts.py) followed by the
``NEW`` proposals' records in the catalogue's real format.

    .venv/bin/python tests/data/mast/make_fixtures.py
"""

import copy
import io
import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
from astroquery.mast.tests import data as aq_data
from PIL import Image

HERE = Path(__file__).parent
ABSTRACTS = HERE.parent / "abstracts"
AQ = Path(aq_data.__path__[0]) if hasattr(aq_data, "__path__") else Path(aq_data.__file__).parent
W, H = 96, 64

caom = json.loads((AQ / "caom.json").read_text())
prods = json.loads((AQ / "products.json").read_text())
shutil.copy(AQ / "columnsconfig.json", HERE / "columnsconfig.json")

caom["fields"].insert(-1, {"name": "dataRights", "type": "string"})
prods["fields"].insert(1, {"name": "parent_obsid", "type": "string"})
obs_tpl, prod_tpl = caom["data"][0], prods["data"][0]

# proposal -> list of (obs_id, instrument, filter, target, preview names, extra products)
PLAN = {
    "13495": [
        (f"hst_13495_0{i}_acs_wfc_total_jc8m0{i}", "ACS/WFC", "F814W", "ABELL2744", [f"hst_13495_0{i}_acs_wfc_total_jc8m0{i}_drc.jpg"], [])
        for i in range(1, 6)
    ]
    + [("hst_13495_06_acs_wfc_total_jc8m06", "ACS/WFC", "F606W;F814W", "ABELL2744",
        ["hst_13495_06_acs_wfc_total_jc8m06_color_drc.jpg"], [])],
    "15354": [
        ("hst_15354_01_acs_wfc_total_jdi601", "ACS/WFC", "F606W", "NGC-6397",
         ["hst_15354_01_acs_wfc_total_jdi601_drc.jpg"], ["hst_15354_01_acs_wfc_total_jdi601_drc.fits"]),
        ("hst_15354_02_wfc3_uvis_total_idi602", "WFC3/UVIS", "F275W", "NGC-6397",
         ["../../../../tmp/evil/hst_15354_02_wfc3_uvis_total_idi602_drz.jpg"], []),
        ("hst_15354_03_wfc3_ir_f160w_idi603", "WFC3/IR", "F160W", "NGC-6397",
         ["hst_15354_03_wfc3_ir_f160w_idi603_drz.jpg"], []),  # a preview, but not a 'total' one
        ("hst_15354_04_wfc3_uvis_total_idi604", "WFC3/UVIS", "F336W", "NGC-6397",
         ["hst_15354_04_wfc3_uvis_total_idi604_drz.jpg"], []),
    ],
    "5092": [("U2803E01T", "WFPC2/WFC", "F606W", "PARALLEL-FIELD", [], ["u2803e01t_c0f.fits"])],
}

# proposal -> (prop type, category, cycle, title, PI, instrument, filter, target, previews, pattern, abstract)
NEW = {
    "11360": ("GO", "Galaxies", 17, "Resolved star formation across the discs of nearby grand-design spiral galaxies",
              "M. Okafor", "WFC3/UVIS", "F438W", "NGC-628", 3, "spiral",
              "We image the discs of nearby face-on spiral galaxies in the ultraviolet and blue to map young star "
              "clusters along the spiral arms. The cluster ages and masses trace how density waves trigger star "
              "formation and how long the arms survive."),
    "12065": ("GO", "Cosmology", 19, "Giant arcs behind massive galaxy clusters", "L. Brandt", "ACS/WFC", "F814W",
              "MACS-J1149", 4, "arc",
              "Massive galaxy clusters act as gravitational lenses and stretch background galaxies into giant arcs. "
              "Deep imaging of the arcs constrains the dark matter distribution of the clusters and magnifies the "
              "faint galaxies behind them."),
    "12166": ("GO", "Stellar Populations", 19, "Multiple stellar populations in metal-poor globular clusters",
              "K. Ishikawa", "WFC3/UVIS", "F336W", "NGC-2808", 3, "globular",
              "Ultraviolet photometry of crowded globular cluster cores separates the multiple stellar populations "
              "on the red giant branch. We measure helium and light-element variations and test scenarios for the "
              "formation of the first and second generations."),
    "12286": ("GO", "ISM and Circumstellar Matter", 19, "Ionisation fronts and pillars in a young emission nebula",
              "P. Duarte", "WFC3/UVIS", "F656N", "M16", 2, "nebula",
              "Narrow-band H-alpha images of an emission nebula resolve the ionisation fronts on dusty pillars "
              "carved by the ultraviolet light of massive stars. We measure the photo-evaporation flow and the "
              "fate of the embedded protostars."),
    "12444": ("SNAP", "Galaxies", 20, "A snapshot survey of early-type galaxies in the Virgo cluster",
              "T. Nakamura", "ACS/WFC", "F606W", "NGC-4472", 3, "elliptical",
              "Short exposures of elliptical and lenticular galaxies measure their surface brightness profiles, "
              "central cusps and dust lanes. The survey links the inner structure of early-type galaxies to their "
              "black hole masses and merger histories."),
    "13057": ("GO", "Solar System", 20, "Storms and zonal winds on the giant planets", "A. Rivera", "WFC3/UVIS",
              "F631N", "JUPITER", 2, "planet",
              "Repeated imaging of Jupiter and Saturn follows the evolution of storms, vortices and the banded "
              "zonal winds. We measure wind speeds from cloud tracking and compare the atmospheric dynamics of the "
              "two giant planets."),
    "13364": ("GO", "Star Formation", 21, "Proper motions of Herbig-Haro jets in Orion", "S. Lindqvist", "ACS/WFC",
              "F658N", "HH-1", 3, "jet",
              "Protostellar jets carry away angular momentum from accreting young stars. Second-epoch images of "
              "bipolar Herbig-Haro outflows give proper motions of the knots and bow shocks and the history of "
              "episodic accretion."),
    "13671": ("GO", "AGN/Quasars", 21, "The host galaxies of luminous quasars", "R. Mensah", "WFC3/IR", "F160W",
              "PG-0052+251", 2, "quasar",
              "We subtract the bright point source of luminous quasars to reveal their host galaxies in the near "
              "infrared. Host luminosities and morphologies test whether black hole growth is triggered by mergers "
              "or by secular processes."),
    "14094": ("GO", "Hot Stars", 22, "Wind-blown ring nebulae around Wolf-Rayet stars", "E. Varga", "WFC3/UVIS",
              "F502N", "NGC-6888", 3, "ring",
              "Fast winds of Wolf-Rayet stars sweep up the slow material lost earlier into thin ring nebulae. "
              "Oxygen and hydrogen images of the shells measure their expansion, clumping and chemical "
              "enrichment."),
    "14148": ("GO", "Stellar Populations", 22, "Old open clusters as clocks for the Galactic thin disc",
              "B. Adeyemi", "ACS/WFC", "F555W", "NGC-188", 3, "open",
              "Deep colour-magnitude diagrams of old open star clusters reach below the main-sequence turn-off. "
              "White dwarf cooling ages and turn-off ages calibrate stellar evolution and date the formation of "
              "the thin disc."),
    "14327": ("GO", "Cosmology", 22, "Deep parallel fields for faint galaxy counts", "J. Halvorsen", "WFC3/IR",
              "F140W", "ANY", 3, "field",
              "Pure-parallel imaging of random high-latitude fields counts faint galaxies and finds rare bright "
              "galaxies at high redshift. The fields are independent sight lines that reduce cosmic variance in "
              "the luminosity function."),
    "15446": ("GO", "Galaxies", 25, "Tidal tails and star clusters in interacting galaxy pairs", "C. Moreau",
              "ACS/WFC", "F435W", "ARP-244", 4, "pair",
              "Interacting galaxy pairs show tidal tails, bridges and bursts of young star clusters. We image "
              "merging pairs at several stages of interaction to follow how mergers trigger star formation and "
              "build elliptical galaxies."),
    "16194": ("GO", "Exoplanets and Exoplanet Formation", 26, "Scattered light from debris discs around nearby "
              "young stars", "N. Petrov", "WFC3/IR", "F110W", "AU-MIC", 2, "disc",
              "Coronagraphic images of nearby young stars reveal edge-on debris discs in scattered light. The "
              "disc structure, warps and moving features trace unseen planets stirring the planetesimal belts."),
}
for pid, (_, _, _, _, _, inst, filt, target, n, _, _) in NEW.items():
    det = inst.lower().replace("/", "_")
    letter, ext = ("j", "drc") if inst.startswith("ACS") else ("i", "drz")
    PLAN[pid] = [(f"hst_{pid}_{i:02d}_{det}_total_{letter}{int(pid) % 1000:03d}{i:02d}", inst, filt, target,
                  [f"hst_{pid}_{i:02d}_{det}_total_{letter}{int(pid) % 1000:03d}{i:02d}_{ext}.jpg"], [])
                 for i in range(1, n + 1)]
PATTERN = {pid: rec[9] for pid, rec in NEW.items()}


def _encode(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def gradient_jpeg(seed: int) -> bytes:
    img = Image.new("L", (W, H))
    img.putdata([(x * 3 + y * 5 + seed * 17) % 256 for y in range(H) for x in range(W)])
    return _encode(img)


def pattern_jpeg(kind: str, seed: int) -> bytes:
    """A greyscale 'preview': one pattern per proposal, position/angle/size drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(float)
    cx, cy = W / 2 + rng.uniform(-8, 8), H / 2 + rng.uniform(-6, 6)
    a = rng.uniform(0, np.pi)
    u, v = (x - cx) * np.cos(a) + (y - cy) * np.sin(a), -(x - cx) * np.sin(a) + (y - cy) * np.cos(a)
    r, th = np.hypot(u, v), np.arctan2(v, u)

    def stars(n, spread, bright=1.0):
        img = np.zeros((H, W))
        for sx, sy in zip(rng.normal(cx, spread, n), rng.normal(cy, spread, n)):
            img += bright * rng.uniform(0.3, 1) * np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / 1.5)
        return img

    s = rng.uniform(0.8, 1.2)
    img = {
        "spiral": lambda: np.exp(-r / (10 * s)) * (1 + 0.7 * np.cos(2 * th - r / 3)),
        "arc": lambda: np.exp(-r ** 2 / 30) + 0.8 * np.exp(-(r - 22 * s) ** 2 / 4) * (np.abs(th) < 1.2),
        "globular": lambda: stars(160, 7 * s, 0.6) + 0.4 * np.exp(-r ** 2 / 60),
        "nebula": lambda: 0.5 + 0.25 * np.sin(u / (6 * s)) * np.cos(v / 9) + 0.4 * np.exp(-(v - 12) ** 2 / 40) * (u < 5),
        "elliptical": lambda: np.exp(-3 * (np.hypot(u, 1.8 * v) / (12 * s)) ** 0.5),
        "planet": lambda: (r < 20 * s) * (0.6 + 0.3 * np.sin(v / 2.5)),
        "jet": lambda: np.exp(-v ** 2 / 3) * np.exp(-np.abs(u) / 25) + stars(3, 4),
        "quasar": lambda: np.exp(-r ** 2 / 4) * 2 + 0.6 * (np.exp(-v ** 2 / 0.5) + np.exp(-u ** 2 / 0.5)) * (r < 25),
        "ring": lambda: np.exp(-(r - 18 * s) ** 2 / 6) + stars(1, 0.5),
        "open": lambda: stars(18, 20, 2.0),
        "field": lambda: stars(25, 35, 0.8) + sum(np.exp(-((x - gx) ** 2 + 3 * (y - gy) ** 2) / 8)
                                                  for gx, gy in zip(rng.uniform(0, W, 5), rng.uniform(0, H, 5))),
        "pair": lambda: np.exp(-r ** 2 / 40) + np.exp(-((u - 25) ** 2 + v ** 2) / 30)
        + 0.3 * np.exp(-(v - 0.02 * u ** 2) ** 2 / 6) * (u < 0),
        "disc": lambda: np.exp(-v ** 2 / 2) * np.exp(-np.abs(u) / (18 * s)) * (r > 4),
    }[kind]()
    img = img / max(img.max(), 1e-6) * 230 + rng.normal(12, 3, img.shape)
    return _encode(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="L"))


def catalogue_record(pid: str, rec: tuple) -> str:
    """One record in the STScI abstracts catalogue's format (wrapped title, blank line, abstract)."""
    prop_type, category, cycle, title, pi, *_, abstract = rec
    title_lines = textwrap.wrap(title, 62)
    head = [f"Prop. Type: {prop_type}", f"Category:   {category}", f"ID:         {pid}", f"Cycle:      {cycle}",
            f"Title:      {title_lines[0]}", *[" " * 12 + t for t in title_lines[1:]], f"PI:         {pi}"]
    return "\n".join(["-" * 78, *head, "", *textwrap.wrap(abstract, 76), ""]) + "\n"


files = HERE / "files"
shutil.rmtree(files, ignore_errors=True)
files.mkdir()
obs_rows, prod_rows, n = [], [], 0
for pid, observations in PLAN.items():
    for obs_id, inst, filt, target, previews, extra in observations:
        n += 1
        obsid = str(26000000 + n)
        row = copy.deepcopy(obs_tpl)
        row.update(obs_id=obs_id, obsid=int(obsid), objID=int(obsid) + 1, proposal_id=pid, instrument_name=inst,
                   filters=filt, target_name=target, dataRights="PUBLIC", jpegURL=None)
        obs_rows.append(row)
        for name in previews + extra:
            base = name.rsplit("/", 1)[-1]
            seed = n + len(prod_rows)
            if not base.endswith(".jpg"):
                body = b"SIMPLE  =                    T" + b" " * 2850
            else:
                body = pattern_jpeg(PATTERN[pid], seed) if pid in PATTERN else gradient_jpeg(seed)
            (files / base).write_bytes(body)
            p = copy.deepcopy(prod_tpl)
            p.update(obsID=obsid, parent_obsid=obsid, obs_id=obs_id, dataURI=f"mast:HST/product/{name}",
                     productFilename=name, size=len(body),
                     productType="PREVIEW" if base.endswith(".jpg") else "SCIENCE",
                     description="Preview-Full" if base.endswith(".jpg") else "DADS DRC file",
                     productSubGroupDescription="PREVIEW" if base.endswith(".jpg") else "DRC")
            prod_rows.append(p)
        # every observation also has recorded auxiliary products that the rules must skip
        for aux in prods["data"][:2]:
            p = copy.deepcopy(aux)
            p.update(obsID=obsid, parent_obsid=obsid, obs_id=obs_id,
                     productFilename=f"{obs_id.lower()}_{aux['productFilename'].split('_')[-1]}")
            p["dataURI"] = f"mast:HST/product/{p['productFilename']}"
            prod_rows.append(p)

caom["data"] = obs_rows
prods["data"] = prod_rows
for d in (caom, prods):
    rows = len(d["data"])
    d["paging"] = {"page": 1, "pageSize": rows, "pagesFiltered": 1, "rows": rows, "rowsFiltered": rows, "rowsTotal": rows}
(HERE / "observations.json").write_text(json.dumps(caom, indent=1))
(HERE / "products.json").write_text(json.dumps(prods, indent=1))
catalogue = (ABSTRACTS / "abstracts.cat").read_text(encoding="utf-8")
catalogue += "".join(catalogue_record(pid, rec) for pid, rec in NEW.items()) + "-" * 78 + "\n"
(ABSTRACTS / "abstracts_hst.cat").write_text(catalogue, encoding="utf-8")
print(len(PLAN), "proposals,", len(obs_rows), "observations,", len(prod_rows), "products,",
      sum(f.stat().st_size for f in files.iterdir()), "bytes of files")
