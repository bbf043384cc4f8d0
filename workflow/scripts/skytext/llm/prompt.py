"""Versioned prompts shipped under ``resources/prompts/`` and the chat messages built from them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from skytext.llm.client import Message, system_message, user_message


@dataclass(frozen=True)
class Prompt:
    """A prompt file: ``name`` (the response schema's name), ``version``, ``system`` text and ``user``
    template with ``{title}``, ``{category}``, ``{abstract}`` placeholders."""

    name: str
    version: str
    system: str
    user: str

    @property
    def sha(self) -> str:
        """Hash of the prompt text: a change of wording changes the cache key even without a new version."""
        return hashlib.sha256(f"{self.system}\x00{self.user}".encode()).hexdigest()[:16]

    def messages(self, title: str, category: str, abstract: str) -> list[Message]:
        """System + user messages for one proposal."""
        user = self.user.format(title=title.strip(), category=category.strip(), abstract=" ".join(abstract.split()))
        return [system_message(self.system), user_message(user)]


def load_prompt(path: str | Path, parts: tuple[str, ...] | None = None) -> Prompt | tuple[str, dict[str, str]]:
    """Read a prompt YAML; raise ``ValueError`` naming the file when a key is missing or a placeholder is
    unknown.

    Without ``parts``: the summary prompt (``name``, ``version``, ``system``, ``user``) as a :class:`Prompt`.
    With ``parts``: a manifest holding ``version`` and, for each part, the name of a text file beside it (the
    transients study's prompt); returns ``(version, {part: its text, whitespace collapsed})``.
    """
    path = Path(path)
    try:
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ValueError(f"prompt file {path} does not exist") from exc
    missing = [k for k in ("version", *parts) if not data.get(k)] if parts is not None else \
        [k for k in ("name", "version", "system", "user") if not data.get(k)]
    if missing:
        raise ValueError(f"prompt file {path}: missing {', '.join(missing)}")
    if parts is not None:
        files = {k: path.parent / str(data[k]) for k in parts}
        absent = [f"{k} file {f}" for k, f in files.items() if not f.exists()]
        if absent:
            raise ValueError(f"prompt file {path}: {absent[0]} does not exist")
        return str(data["version"]), {k: " ".join(f.read_text(encoding="utf-8").split()) for k, f in files.items()}
    prompt = Prompt(str(data["name"]), str(data["version"]), str(data["system"]), str(data["user"]))
    try:
        prompt.messages("t", "c", "a")
    except (KeyError, IndexError) as exc:
        raise ValueError(f"prompt file {path}: unknown placeholder {exc} in 'user'") from exc
    return prompt
