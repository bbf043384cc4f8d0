"""A logging filter that drops one library's record by its text (a notice about something skytext does not use,
or logged before skytext makes it untrue)."""

from __future__ import annotations

import logging


class DropMessage(logging.Filter):
    """Drops the log records whose message contains ``text``; keeps every other."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        """``False`` (drop) for a record whose message contains the text."""
        return self.text not in record.getMessage()


def drop_once(logger: logging.Logger, text: str) -> None:
    """Add a :class:`DropMessage` for ``text`` to ``logger`` unless it has one already."""
    if not any(isinstance(f, DropMessage) and f.text == text for f in logger.filters):
        logger.addFilter(DropMessage(text))
