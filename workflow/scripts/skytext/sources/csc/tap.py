"""The shared base of the ``csc`` modules: synchronous TAP queries through pyvo (retried, with timeouts), ADQL
string literals, and the JSON answer cache on disk."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import requests

from skytext.core import retry
from skytext.core.retry import RETRYABLE_STATUS, retry_after_s
from skytext.sources.download import DownloadPolicy, FetchError, classify


class _TimeoutSession(requests.Session):
    """A requests session that puts a timeout on every request (pyvo does not pass one)."""

    def __init__(self, timeout_s: float):
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, *args, **kwargs):
        """A request with the session's timeout unless the caller gives one."""
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(*args, **kwargs)


def classify_dal(exc: BaseException) -> FetchError:
    """pyvo's exceptions -> :class:`FetchError` (retryable for 5xx/429/timeouts/unparseable answers)."""
    from pyvo.dal.exceptions import DALFormatError, DALServiceError

    if isinstance(exc, DALServiceError):
        cause = getattr(exc, "cause", None)
        if isinstance(cause, requests.RequestException) and not isinstance(cause, requests.HTTPError):
            return classify(cause)
        code = exc.code or 0
        resp = getattr(cause, "response", None)
        ra = retry_after_s(resp.headers) if resp is not None else None
        if code:
            return FetchError(f"http_{code}", str(exc).splitlines()[0][:200], code in RETRYABLE_STATUS, retry_after=ra)
        return FetchError("tap_error", str(exc).splitlines()[0][:200], True)
    if isinstance(exc, DALFormatError) or type(exc).__name__ in ("DALFormatError", "ExpatError", "VOTableSpecError"):
        return FetchError("bad_votable", f"{type(exc).__name__}: {exc}".splitlines()[0][:200], True)
    return classify(exc)


def tap_query(url: str, adql: str, policy: DownloadPolicy, what: str = "tap") -> pd.DataFrame:
    """Run ``adql`` synchronously on the TAP service at ``url`` (retried); the result as a DataFrame. An answer
    the service cut at its row limit (QUERY_STATUS OVERFLOW) raises a non-retryable FetchError ``overflow``."""
    import pyvo

    def attempt():
        with _TimeoutSession(policy.timeout_s) as s, warnings.catch_warnings():
            warnings.simplefilter("ignore", pyvo.dal.exceptions.DALOverflowWarning)  # handled below
            res = pyvo.dal.TAPService(url, session=s).run_sync(adql)
        if str(res.status[0]).lower() == "overflow":  # pyvo only warns: a cut answer must never be cached
            raise FetchError("overflow", f"{what}: the service cut the answer at {len(res)} rows (its row limit); "
                             "ask for fewer names or a smaller cone", False)
        return res.to_table()

    table = retry.call_with_retries(attempt, classify_dal, policy, what)
    df = table.to_pandas()
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    return df


def adql_str(s) -> str:
    """``s`` as an ADQL string literal (single quotes doubled)."""
    return "'" + str(s).replace("'", "''") + "'"


def read_json(path: Path):
    """The JSON stored at ``path``, or None when it is missing or unreadable (a cache miss)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
