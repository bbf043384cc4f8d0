"""Regenerate the MAST replay fixtures (run once; outputs are committed).

The JSON files keep the exact shape of MAST portal answers as recorded in astroquery's own test data
(astroquery/mast/tests/data/caom.json, products.json, columnsconfig.json): same top-level keys, same
``fields`` list, rows taken from the recorded ones and edited to describe a few HST proposals with
PREVIEW products. ``files/`` holds the bytes the fake download endpoint serves.
"""

import copy
import io
import json
import shutil
from pathlib import Path

from astroquery.mast.tests import data as aq_data
from PIL import Image

HERE = Path(__file__).parent
AQ = Path(aq_data.__path__[0]) if hasattr(aq_data, "__path__") else Path(aq_data.__file__).parent

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


def jpeg(seed: int) -> bytes:
    img = Image.new("L", (96, 64))
    img.putdata([(x * 3 + y * 5 + seed * 17) % 256 for y in range(64) for x in range(96)])
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


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
            body = jpeg(n + len(prod_rows)) if base.endswith(".jpg") else b"SIMPLE  =                    T" + b" " * 2850
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
print(len(obs_rows), "observations,", len(prod_rows), "products")
