"""The MeerLICHT source against a loopback Zenodo replay: resumable, hash-checked fetch with faults (5xx,
dropped and truncated answers, a truncated .npy), and validation (layouts, shapes, dtypes, labels, ids)."""

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from fakes.zenodo_replay import ZenodoReplay, meerlicht_files
from skytext.core.config import defaults
from skytext.sources import meerlicht as M

IMG, LAB = "MeerLICHT_images.npy", "MeerLICHT_labels.csv"


def _cfg(tmp_path, url, **kw):
    m = defaults("transients.meerlicht")
    m.update({"base_url": url, "download_dir": str(tmp_path / "dl"), "expected_n": None, "expected_real": None,
              "expected_bogus": None, **kw})
    m["download"].update(retries=4, backoff_s=0.0, backoff_max_s=0.0, timeout_s=5)
    return m


@pytest.fixture
def files():
    return meerlicht_files(12, "NHWC", size=32)


@pytest.fixture
def server(files):
    s = ZenodoReplay(files).start()
    yield s
    s.stop()


def _sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def test_fetch_resumes_after_5xx_and_truncation_and_checks_the_hash(tmp_path, server, files):
    server.faults[IMG] = ["503", "truncate", "drop", "500"]
    server.faults[LAB] = ["500"]
    m = _cfg(tmp_path, server.url, images_hash=_sha(files[IMG]), labels_hash=None)
    got = M.fetch(m)
    assert (tmp_path / "dl" / IMG).read_bytes() == files[IMG]
    assert (tmp_path / "dl" / LAB).read_bytes() == files[LAB]
    assert got["images"]["sha256"] == _sha(files[IMG]) and got["images"]["hash_checked"]
    assert got["labels"]["sha256"] == _sha(files[LAB]) and not got["labels"]["hash_checked"]
    assert got["images"]["requests"] == 5 and server.counts[IMG] == 5
    half = (len(files[IMG])) // 2
    assert f"bytes={half}-" in server.ranges[IMG]  # resumed where the truncated answer stopped
    assert not list((tmp_path / "dl").glob("*.part"))
    before = dict(server.counts)
    M.fetch(m)  # already there, hash matches: no request
    assert dict(server.counts) == before


def test_a_server_ignoring_range_restarts_the_file(tmp_path, server, files):
    server.faults[IMG] = ["truncate", "norange"]
    got = M.fetch(_cfg(tmp_path, server.url, images_hash=_sha(files[IMG])))
    assert (tmp_path / "dl" / IMG).read_bytes() == files[IMG] and got["images"]["requests"] == 2


def test_wrong_hash_and_persistent_5xx_are_one_line_errors(tmp_path, server, files):
    with pytest.raises(RuntimeError, match=r"MeerLICHT_images.npy.*hash") as err:
        M.fetch(_cfg(tmp_path, server.url, images_hash="sha256:" + "0" * 64))
    assert "\n" not in str(err.value) and not (tmp_path / "dl" / IMG).exists()
    server.faults[LAB] = ["always:503"]
    with pytest.raises(RuntimeError, match=r"could not fetch .*MeerLICHT_labels.csv: http_503"):
        M.fetch(_cfg(tmp_path / "b", server.url))
    assert server.counts[LAB] == 5  # 1 + 4 retries


def _write(tmp_path, files):
    for k, v in files.items():
        (tmp_path / k).write_bytes(v)
    return tmp_path / IMG, tmp_path / LAB


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_both_layouts_give_the_contract_cubes(tmp_path, layout):
    img, lab = _write(tmp_path, meerlicht_files(6, layout, size=32))
    m = _cfg(tmp_path, "http://127.0.0.1:1", layout=layout, size=32)
    cubes, meta, rejects, _ = M.shard_from_files(img, lab, m, 0, 1, tmp_path / "s.npy")
    arr = np.load(img)
    want = np.moveaxis(arr, -1, 1) if layout == "NHWC" else arr
    assert cubes.shape == (6, 3, 32, 32) and np.array_equal(cubes, want[meta["gt_attrs"].map(lambda a: json.loads(a)["index"])])
    assert rejects == [] and list(meta["obs_id"]) == [M.triplet_id(i) for i in range(6)]
    m["channels"] = ["diff", "new", "ref"]
    swapped, _, _, _ = M.shard_from_files(img, lab, m, 0, 1, tmp_path / "s.npy")
    assert np.array_equal(swapped[:, 0], cubes[:, 1]) and np.array_equal(swapped[:, 2], cubes[:, 0])


def test_wrong_layout_dtype_or_columns_are_one_line_errors(tmp_path):
    img, lab = _write(tmp_path, meerlicht_files(4, "NCHW", size=32))
    m = _cfg(tmp_path, "http://127.0.0.1:1", layout="NHWC", size=32)
    with pytest.raises(ValueError, match=r"shape \(4, 3, 32, 32\), expected \(n, 32, 32, 3\) .*layout NHWC"):
        M.shard_from_files(img, lab, m, 0, 1, tmp_path / "s.npy")
    buf = io.BytesIO()
    np.save(buf, np.array(["a"] * 4).reshape(4, 1, 1, 1).repeat(3, 1))
    (tmp_path / "str.npy").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="dtype <U1"):
        M.read_images(tmp_path / "str.npy", "NCHW", 1)
    (tmp_path / "cols.csv").write_text("id,label\n0,Real\n")
    with pytest.raises(ValueError, match="no column.*index_no"):
        M.read_labels(tmp_path / "cols.csv", "index_no", "label")


def test_every_bad_row_is_a_reject_with_a_reason(tmp_path):
    files = meerlicht_files(10, "NHWC", size=32, bad={"label": (2, "Maybe"), "dup": 3, "missing_label": 4,
                                                        "extra_label": 12, "nan": 5})
    files[LAB] += b"x7,Real\n"
    files[IMG] = files[IMG][: len(files[IMG]) - 32 * 32 * 3 * 4 - 100]  # cut inside triplet 8: 8 whole
    img, lab = _write(tmp_path, files)
    m = _cfg(tmp_path, "http://127.0.0.1:1", size=32, expected_n=11)
    kept, rejected = [], {}
    for shard in range(3):
        cubes, meta, rej, summary = M.shard_from_files(img, lab, m, shard, 3, tmp_path / f"{shard}.npy")
        assert len(cubes) == len(meta)
        kept += list(meta["obs_id"])
        rejected.update({r["record_id"]: r["reason"] for r in rej})
    assert rejected == {"ml00002": "bad_label", "ml00003": "duplicate_id", "ml00004": "no_label",
                        "ml00008": "no_image", "ml00009": "no_image", "ml00012": "no_image", "line13": "bad_id"}
    assert sorted(kept) == [M.triplet_id(i) for i in (0, 1, 5, 6, 7)] and not set(kept) & set(rejected)  # NaNs: the dataset stage rejects ml00005
    assert summary["whole_images"] == 8 and summary["mismatches"]["expected_n"] == {"expected": 11, "found": 10}
    labels = pd.read_csv(lab)
    assert len(labels) == 12  # 9 good + dup + extra + bad id


def test_label_values_are_configurable(tmp_path):
    files = meerlicht_files(4, "NHWC", size=32)
    files[LAB] = files[LAB].replace(b"Real", b"1").replace(b"Bogus", b"0")
    img, lab = _write(tmp_path, files)
    m = _cfg(tmp_path, "http://127.0.0.1:1", size=32)
    _, meta, rej, _ = M.shard_from_files(img, lab, m, 0, 1, tmp_path / "s.npy")
    assert len(meta) == 0 and {r["reason"] for r in rej} == {"bad_label"}  # loud, never silent
    m.update(real_values=["1"], bogus_values=["0"])
    _, meta, rej, _ = M.shard_from_files(img, lab, m, 0, 1, tmp_path / "s.npy")
    want = pd.read_csv(io.BytesIO(meerlicht_files(4, "NHWC", size=32)[LAB]))["label"].tolist()
    assert rej == [] and meta["label"].tolist() == want


def test_labels_in_another_case_or_spacing_are_read_by_default(tmp_path):
    """Issue 22 item 8: `real`, ` Bogus `, `REAL` mean Real/Bogus unless match_case is set; real_values and
    bogus_values still name other vocabularies (matched the same way)."""
    files = meerlicht_files(8, "NHWC", size=32)
    want = pd.read_csv(io.BytesIO(files[LAB]))["label"].tolist()
    spell = {"Real": ["real", " Real ", "REAL", "rEaL"], "Bogus": [" Bogus ", "bogus", "BOGUS  ", "  boGus"]}
    rows = [f"{i},{spell[lab][i % 4]}" for i, lab in enumerate(want)]
    files[LAB] = ("index_no,label\n" + "\n".join(rows) + "\n").encode()
    img, lab = _write(tmp_path, files)
    m = _cfg(tmp_path, "http://127.0.0.1:1", size=32)
    assert m["match_case"] is False  # the schema's default
    _, meta, rej, _ = M.shard_from_files(img, lab, m, 0, 1, tmp_path / "s.npy")
    assert rej == [] and meta["label"].tolist() == want
    m["match_case"] = True  # exact values only (ends trimmed): ' Real ' passes, 'real' does not
    _, meta, rej, _ = M.shard_from_files(img, lab, m, 0, 1, tmp_path / "s.npy")
    assert sorted(meta["obs_id"]) == [M.triplet_id(i) for i, lab in enumerate(want) if i % 4 == 1 and lab == "Real"]
    assert {r["reason"] for r in rej} == {"bad_label"} and len(rej) == len(want) - len(meta)
    m.update(match_case=False, real_values=["Yes"], bogus_values=["No"])
    files[LAB] = ("index_no,label\n" + "\n".join(f"{i},{' yes' if lab == 'Real' else 'NO '}"
                                                 for i, lab in enumerate(want)) + "\n").encode()
    img, lab = _write(tmp_path, files)
    _, meta, rej, _ = M.shard_from_files(img, lab, m, 0, 1, tmp_path / "s.npy")
    assert rej == [] and meta["label"].tolist() == want
    m.update(real_values=["Real"], bogus_values=["REAL"])
    with pytest.raises(ValueError, match="share a value"):
        M.shard_from_files(img, lab, m, 0, 1, tmp_path / "s.npy")
