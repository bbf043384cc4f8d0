"""Turn archive-supplied names into safe file names before they become paths."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
MAX_LEN = 120


def safe_name(name: str, max_len: int = MAX_LEN) -> str:
    """A file name made from ``name`` that cannot escape its folder.

    Path separators, ``..``, control and non-ASCII characters are replaced; leading dots are stripped so
    the result is never hidden, ``.`` or ``..``; over-long names are cut and given a short hash so two
    long names stay distinct. Raises ``ValueError`` when nothing usable is left.
    """
    if not isinstance(name, str):
        raise ValueError(f"unsafe name {name!r}: not a string")
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = text.replace("\\", "/").split("/")[-1] if "/" in text.replace("\\", "/").rstrip("/") else text
    text = _UNSAFE.sub("_", text).strip("._-")
    text = re.sub(r"\.{2,}", ".", text)
    if not text:
        raise ValueError(f"unsafe name {name!r}: nothing usable left after sanitising")
    if len(text) > max_len or text != name:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        if len(text) > max_len:
            text = f"{text[: max_len - 9]}_{digest}"
    return text


def safe_join(root: str | Path, *names: str) -> Path:
    """``root / safe_name(n1) / safe_name(n2) ...``, checked to stay under ``root``."""
    root = Path(root).resolve()
    out = root.joinpath(*(safe_name(n) for n in names)).resolve()
    if root != out and root not in out.parents:
        raise ValueError(f"unsafe path {out}: escapes {root}")
    return out
