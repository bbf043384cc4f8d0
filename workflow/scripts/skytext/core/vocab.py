"""Word lists kept as plain text under ``resources/vocab/``: one entry a line, ``#`` starts a comment line."""

from __future__ import annotations

import os


def read_lines(path: str | os.PathLike) -> list[str]:
    """The entries of a vocabulary file: stripped lines, skipping blank lines and lines starting with ``#``.

    Raises ``ValueError`` naming the file and line when an entry appears twice, and when there is none.
    """
    entries: list[str] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if text.casefold() in seen:
                raise ValueError(f"{path}:{lineno}: {text!r} repeats line {seen[text.casefold()]}")
            seen[text.casefold()] = lineno
            entries.append(text)
    if not entries:
        raise ValueError(f"{path}: no entries")
    return entries
