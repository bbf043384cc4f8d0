"""The app's safety rules in one place: security headers, query limits and the shape of an id."""

from __future__ import annotations

import re

MAX_QUERY = 500  # characters; longer queries get a 400
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}$")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY", "Cross-Origin-Resource-Policy": "same-origin"}


def valid_id(oid: str) -> bool:
    """Whether ``oid`` has the shape of an object id (no slashes, no leading dot, no ``..``)."""
    return bool(ID_RE.match(oid)) and ".." not in oid


def check_query(q: str) -> str | None:
    """The error message for a query that is too long, else ``None``."""
    if len(q) > MAX_QUERY:
        return f"query too long: {len(q)} characters (at most {MAX_QUERY})"
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (the default bind)."""
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
