"""Sharded, resumable, verified downloads of archive files, and PAPERCLIP's image normalisation.

One shard job calls :func:`download_shard` with its slice of the discovery plan. Inside the shard:

* at most ``workers`` downloads run at once (a thread pool; each thread has its own HTTP session);
* every request has a timeout; 5xx/429 answers, timeouts, connection resets and truncated or undecodable
  bodies are retried up to ``retries`` times with exponential backoff and full jitter, or after the
  server's ``Retry-After`` (:mod:`skytext.core.retry`);
* a file counts as done only once it is verified (byte count against the archive's ``size`` where MAST
  gives one, and the image decodes) and written atomically (temporary name, then ``os.replace``), so a job
  killed midway leaves no half-written image behind and a rerun skips everything already stored;
* a body that stays truncated/undecodable after all retries is kept in the quarantine folder with a
  ``.reason`` note and listed in the rejects table; a rerun does not fetch it again (delete the ``.reason``
  note to retry it). Network failures are not quarantined, so a rerun tries them again.

Stored images: longest side resized to ``image_size`` (Lanczos, up or down, as PAPERCLIP), converted to one
mode for the whole store (``RGB`` by default: what CLIP consumes, and colour composites keep their
colour), saved as JPEG quality 95.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar
from urllib.parse import quote

import pandas as pd
import requests
from PIL import Image

from skytext.core import retry
from skytext.core.contracts import OBSERVATIONS, conform, empty, rejects_frame
from skytext.core.retry import RETRYABLE_STATUS, retry_after_s
from skytext.core.safepath import safe_join, safe_name

log = logging.getLogger(__name__)
STAGE = "hst_download"
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class DownloadPolicy(retry.RetryPolicy):
    """How hard to try (:class:`skytext.core.retry.RetryPolicy`) plus the per-request timeout in seconds."""

    timeout_s: float

    @classmethod
    def from_config(cls, download: dict) -> "DownloadPolicy":
        """From the complete config section ``hst.download`` (defaults filled in by the schema); a server's
        ``Retry-After`` is honoured up to the same cap as the backoff."""
        cap = float(download["backoff_max_s"])
        return cls(timeout_s=float(download["timeout_s"]), retries=int(download["retries"]),
                   backoff_s=float(download["backoff_s"]), backoff_max_s=cap, retry_after_max_s=cap)


class FetchError(retry.Failure):
    """A download that failed (:class:`skytext.core.retry.Failure`); ``body`` keeps the bytes of a corrupt
    answer for quarantine."""

    def __init__(self, reason: str, detail: str, retryable: bool, body: bytes | None = None,
                 retry_after: float | None = None):
        super().__init__(reason, detail, retryable, retry_after)
        self.body = body


def classify(exc: BaseException) -> FetchError:
    """Turn a requests/urllib3 exception into a :class:`FetchError`."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        return FetchError(f"http_{code}", str(exc).splitlines()[0], code in RETRYABLE_STATUS,
                          retry_after=retry_after_s(exc.response.headers))
    if isinstance(exc, requests.Timeout):
        return FetchError("timeout", str(exc).splitlines()[0][:200], True)
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return FetchError("connection_error", str(exc).splitlines()[0][:200], True)
    return FetchError("error", f"{type(exc).__name__}: {exc}".splitlines()[0][:200], False)


def with_retries(fn: Callable[[], T], policy: DownloadPolicy, what: str = "request") -> T:
    """Call ``fn`` until it succeeds, retrying retryable failures with backoff; re-raise the last one as
    a :class:`FetchError`."""
    return retry.call_with_retries(fn, classify, policy, what)


def fetch_bytes(session: requests.Session, url: str, timeout_s: float, expected_size: int | None = None) -> bytes:
    """GET ``url`` into memory; raise on HTTP errors and on a body shorter/longer than announced."""
    with session.get(url, timeout=timeout_s, stream=True) as resp:
        resp.raise_for_status()
        body = b"".join(resp.iter_content(1 << 16))
        announced = resp.headers.get("Content-Length")
        # with a Content-Encoding, Content-Length counts the encoded bytes: compare what came over the wire
        encoded = resp.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
        got = resp.raw.tell() if encoded else len(body)
    if announced is not None and announced.isdigit() and int(announced) != got:
        raise FetchError("truncated", f"got {got} of {announced} bytes", True, body)
    if expected_size and expected_size > 0 and len(body) != expected_size:
        raise FetchError("size_mismatch", f"got {len(body)} bytes, archive lists {expected_size}", True, body)
    return body


def fetch_text(url_or_path: str, policy: DownloadPolicy) -> bytes:
    """The bytes behind an http(s) URL (with retries) or a local file path / ``file://`` URL."""
    if url_or_path.startswith(("http://", "https://")):
        with requests.Session() as s:
            return with_retries(lambda: fetch_bytes(s, url_or_path, policy.timeout_s), policy, url_or_path)
    return Path(url_or_path.removeprefix("file://")).read_bytes()


def download_url(mast_url: str, uri: str) -> str:
    """MAST's file-download URL for a product ``dataURI`` (``mast:HST/product/...``)."""
    return f"{mast_url.rstrip('/')}/api/v0.1/Download/file?uri={quote(uri, safe=':/')}"


# ---------------------------------------------------------------------------------------------- images


def decode_image(body: bytes) -> Image.Image:
    """Fully decode image bytes; raise :class:`FetchError` ('corrupt_image') when they do not decode."""
    try:
        img = Image.open(io.BytesIO(body))
        img.load()
        return img
    except Exception as exc:  # noqa: BLE001 - PIL raises many types
        raise FetchError("corrupt_image", f"does not decode: {type(exc).__name__}: {exc}"[:200], True, body) from exc


def normalise_image(img: Image.Image, size: int, mode: str) -> Image.Image:
    """Resize so the longest side is ``size`` px (aspect kept, Lanczos) and convert to ``mode``."""
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    w, h = img.size
    scale = size / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if new != (w, h):
        img = img.resize(new, Image.LANCZOS)
    return img.convert(mode)


def is_stored_image(path: Path, size: int) -> bool:
    """True when ``path`` is a decodable image whose longest side is ``size`` (a finished store entry)."""
    try:
        with Image.open(path) as img:
            img.load()
            return max(img.size) == size
    except Exception:  # noqa: BLE001 - any failure means 'not done'
        return False


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write via a temporary file in the same folder, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.part-{os.getpid()}-{threading.get_ident()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _writer_alive(part: Path) -> bool:
    """Whether the process that is writing the temporary file ``part`` (``.<name>.part-<pid>-<thread>``) runs."""
    try:
        pid = int(part.name.rsplit(".part-", 1)[1].split("-")[0])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False  # ours from an earlier call: no write is under way in this process now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_partials(folder: Path, recursive: bool = False) -> None:
    """Remove the temporary files a killed job left in ``folder``; those of a job still writing (another
    shard sharing the folder) are left alone."""
    for p in (folder.rglob if recursive else folder.glob)(".*.part-*"):
        if not _writer_alive(p):
            p.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- shard


@dataclass(frozen=True)
class ShardSettings:
    """What a shard job needs besides its plan rows (:func:`settings_from_config` builds it from the config)."""

    mast_url: str
    image_dir: Path
    quarantine_dir: Path
    image_size: int
    image_mode: str
    workers: int
    policy: DownloadPolicy


@dataclass
class _Outcome:
    row: dict | None = None  # an OBSERVATIONS row
    reject: dict | None = None
    fetched: bool = False


def _quarantined(settings: ShardSettings, name: str) -> tuple[str, str] | None:
    note = settings.quarantine_dir / f"{name}.reason"
    if note.exists():
        reason, _, detail = note.read_text(encoding="utf-8").partition("\n")
        return reason.strip() or "quarantined", detail.strip()
    return None


def _quarantine(settings: ShardSettings, name: str, err: FetchError) -> None:
    settings.quarantine_dir.mkdir(parents=True, exist_ok=True)
    if err.body is not None:
        write_atomic(settings.quarantine_dir / name, lambda p: p.write_bytes(err.body))
    write_atomic(settings.quarantine_dir / f"{name}.reason", lambda p: p.write_text(f"{err.reason}\n{err.detail}\n"))


def _one(item: dict, settings: ShardSettings, session_for: Callable[[], requests.Session]) -> _Outcome:
    obs_id = safe_name(str(item["obs_id"]))
    dest = safe_join(settings.image_dir, f"{obs_id}.jpg")
    base = {k: item.get(k) for k in ("obs_id", "proposal_id", "cycle", "instrument", "filter", "target")}
    base.update(obs_id=obs_id, modality="image", path=str(Path(settings.image_dir) / dest.name))

    def reject(reason: str, detail: str, fetched: bool) -> _Outcome:
        return _Outcome(
            reject={"record_type": "product", "record_id": obs_id, "stage": STAGE, "reason": reason, "detail": detail},
            fetched=fetched,
        )

    if is_stored_image(dest, settings.image_size):
        return _Outcome(row=base) if _fits_ok(item, base, settings, session_for) else _fits_reject(item, obs_id)
    q = _quarantined(settings, f"{obs_id}.jpg")
    if q:
        return reject(q[0], f"quarantined earlier: {q[1]}", False)

    url = download_url(settings.mast_url, str(item["uri"]))
    size = item.get("size")
    expected = int(size) if size is not None and not pd.isna(size) else None

    def attempt() -> Image.Image:
        return decode_image(fetch_bytes(session_for(), url, settings.policy.timeout_s, expected))

    try:
        img = with_retries(attempt, settings.policy, obs_id)
    except FetchError as err:
        if err.body is not None or err.reason in ("corrupt_image", "truncated", "size_mismatch"):
            _quarantine(settings, f"{obs_id}.jpg", err)
        return reject(err.reason, f"{item.get('filename', obs_id)}: {err.detail}", True)
    out = normalise_image(img, settings.image_size, settings.image_mode)
    write_atomic(dest, lambda p: out.save(p, format="JPEG", quality=95))
    if not _fits_ok(item, base, settings, session_for):
        return _fits_reject(item, obs_id)
    return _Outcome(row=base, fetched=True)


def _has_fits(item: dict) -> bool:
    uri = item.get("fits_uri")
    return isinstance(uri, str) and bool(uri)


def _fits_ok(item: dict, base: dict, settings: ShardSettings, session_for: Callable[[], requests.Session]) -> bool:
    """Fetch the optional FITS science product next to the preview; sets ``base['fits_path']``."""
    if not _has_fits(item):
        return True
    name = safe_name(str(item.get("fits_filename") or item["fits_uri"]))
    dest = safe_join(settings.image_dir, name)
    size = item.get("fits_size")
    expected = int(size) if size is not None and not pd.isna(size) else None
    if not (dest.exists() and (expected is None or dest.stat().st_size == expected)):
        url = download_url(settings.mast_url, str(item["fits_uri"]))

        def attempt() -> bytes:
            body = fetch_bytes(session_for(), url, settings.policy.timeout_s, expected)
            if not body.startswith(b"SIMPLE  ="):
                raise FetchError("corrupt_fits", "no FITS 'SIMPLE' card at the start", True, body)
            return body

        try:
            body = with_retries(attempt, settings.policy, name)
        except FetchError as err:
            item["_fits_error"] = f"{err.reason}: {err.detail}"
            return False
        write_atomic(dest, lambda p: p.write_bytes(body))
    base["fits_path"] = str(Path(settings.image_dir) / dest.name)
    return True


def _fits_reject(item: dict, obs_id: str) -> _Outcome:
    detail = f"preview stored but FITS product failed: {item.get('_fits_error', '')}"
    return _Outcome(
        reject={"record_type": "product", "record_id": obs_id, "stage": STAGE, "reason": "fits_failed", "detail": detail},
        fetched=True,
    )


def download_shard(plan: pd.DataFrame, settings: ShardSettings) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Download, verify and normalise every product in ``plan`` (rows of one shard).

    ``plan`` needs columns obs_id, proposal_id, uri, size, filename, cycle, instrument, filter, target.
    ``settings.image_dir`` is relative to the working directory; the returned ``path`` column keeps it so.
    Returns ``(observations, rejects, stats)``; stats counts 'fetched', 'cached' and 'rejected'.
    """
    image_root = Path(settings.image_dir)
    image_root.mkdir(parents=True, exist_ok=True)
    clean_partials(image_root)
    local = threading.local()
    sessions: list[requests.Session] = []

    def session_for() -> requests.Session:
        if not hasattr(local, "s"):
            local.s = requests.Session()
            sessions.append(local.s)
        return local.s

    items = plan.drop_duplicates("obs_id").to_dict("records")
    try:
        with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
            outcomes = list(pool.map(lambda it: _one(it, settings, session_for), items))
    finally:
        for s in sessions:
            s.close()
    rows = [o.row for o in outcomes if o.row]
    rejects = [o.reject for o in outcomes if o.reject]
    stats = {
        "fetched": sum(o.fetched and o.row is not None for o in outcomes),
        "cached": sum((not o.fetched) and o.row is not None for o in outcomes),
        "rejected": len(rejects),
    }
    log.info("shard done: %s", stats)
    obs = conform(pd.DataFrame(rows), OBSERVATIONS, "observations") if rows else empty(OBSERVATIONS)
    return obs, rejects_frame(rejects), stats


def settings_from_config(hst: dict, image_dir: str, quarantine_dir: str) -> ShardSettings:
    """:class:`ShardSettings` from the complete config section ``hst`` (defaults filled in by the schema)."""
    dl = hst["download"]
    return ShardSettings(
        mast_url=hst["mast_url"],
        image_dir=Path(image_dir),
        quarantine_dir=Path(quarantine_dir),
        image_size=int(hst["image_size"]),
        image_mode=hst["image_mode"],
        workers=int(dl["workers"]),
        policy=DownloadPolicy.from_config(dl),
    )


def run_shard(plan_path, plan_rejects_path, shard: str, hst: dict, image_dir: str, quarantine_dir: str,
              out_observations, out_rejects) -> dict:
    """A shard job: its rows of the discovery plan -> OBSERVATIONS; discovery + download rejects -> REJECTS."""
    from skytext.core.contracts import REJECTS, write_table

    plan = pd.read_parquet(plan_path)
    plan = plan[plan["shard"].astype(str) == str(shard)]
    earlier = pd.read_parquet(plan_rejects_path)
    earlier = earlier[earlier["shard"].astype(str) == str(shard)]
    obs, rejects, stats = download_shard(plan, settings_from_config(hst, image_dir, quarantine_dir))
    rejects = pd.concat([rejects_frame(earlier.to_dict("records")), rejects], ignore_index=True)
    write_table(obs, out_observations, OBSERVATIONS, "observations")
    write_table(rejects, out_rejects, REJECTS, "rejects")
    print(f"shard {shard}: {len(plan)} planned, {stats}, {len(rejects)} rejects in total")
    return stats
