"""The prompt (persona, task, instructions, method as versioned text files), the few-shot examples, the
answer schemas with local validation, and the chat messages of the classify, judge and refine requests.

Messages are built from the triplet's PNG and, for the judge and the refinement, the first answer -- never
from the label: the functions here take no label argument except :func:`example_answer`, which writes the
answers of the few-shot examples (train split only; :func:`select_examples` refuses anything else).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd

from skytext.llm.client import Message, assistant_message, image_part, system_message, user_message
from skytext.llm.prompt import load_prompt
from skytext.llm.schema import SchemaViolation

INTEREST = ("No interest", "Low interest", "High interest")
PARTS = ("persona", "task", "instructions", "method", "judge", "refine")

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["class", "explanation", "interest_score"],
    "properties": {
        "class": {"type": "string", "enum": ["Real", "Bogus"]},
        "explanation": {"type": "string", "minLength": 1},
        "interest_score": {"type": "string", "enum": list(INTEREST)},
    },
}
JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["coherence", "interest_valid", "critique"],
    "properties": {
        "coherence": {"type": "integer", "minimum": 0, "maximum": 5},
        "interest_valid": {"type": "string", "enum": ["yes", "no"]},
        "critique": {"type": "string"},
    },
}
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


@dataclass(frozen=True)
class TPrompt:
    """The study's prompt: its ``version`` and the text of each part of :data:`PARTS`."""

    version: str
    texts: dict[str, str]

    @property
    def sha(self) -> str:
        """Hash of every part's text: a change of wording changes the cache key even without a new version."""
        return hashlib.sha256(json.dumps(self.texts, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def system(self) -> str:
        """The system prompt of the classify request: persona, task, instructions and method."""
        return "\n\n".join(self.texts[k] for k in ("persona", "task", "instructions", "method"))


def transients_prompt(manifest: str | Path) -> TPrompt:
    """The study's prompt from its manifest (``version`` and one text file per part of :data:`PARTS`, beside
    the manifest), read by the shared :func:`skytext.llm.prompt.load_prompt`."""
    version, texts = load_prompt(manifest, PARTS)
    return TPrompt(version, texts)


# ------------------------------------------------------------------------------------------ examples


def select_examples(dataset: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` few-shot examples from the **train** split: classes as even as ``n`` allows, and within a class
    the subtypes in turn (demo), each in a seeded hash order."""
    train = dataset[dataset["split"] == "train"]
    if n == 0:
        return train.iloc[:0]
    if len(train) < n:
        raise ValueError(f"few-shot examples: the train split holds {len(train)} triplets, fewer than {n}")
    order = lambda ids: sorted(ids, key=lambda t: hashlib.sha256(f"{seed}:ex:{t}".encode()).hexdigest())  # noqa: E731
    labels = sorted(train["label"].unique())
    want = {lab: n // len(labels) + (1 if i < n % len(labels) else 0) for i, lab in enumerate(labels)}
    chosen: list[str] = []
    for lab in labels:
        part = train[train["label"] == lab]
        groups = {sub: order(g["obs_id"]) for sub, g in part.groupby("subtype", sort=True)}
        k = 0
        while sum(len(v) for v in groups.values()) and len([c for c in chosen if c in set(part["obs_id"])]) < want[lab]:
            sub = sorted(groups)[k % len(groups)]
            if groups[sub]:
                chosen.append(groups[sub].pop(0))
            k += 1
    out = train.set_index("obs_id").loc[order(chosen)].reset_index()
    assert_train_only(out, dataset)
    return out


def assert_train_only(examples: pd.DataFrame, dataset: pd.DataFrame) -> None:
    """Raise when any example is not in the train split of ``dataset``."""
    split = dict(zip(dataset["obs_id"], dataset["split"]))
    bad = [t for t in examples["obs_id"] if split.get(t) != "train"]
    if bad:
        raise ValueError(f"few-shot examples outside the train split: {', '.join(map(str, bad[:5]))}")


_EXAMPLE_WHY = {
    "supernova": "a new point source with the PSF of the New image sits on the outskirts of a host galaxy",
    "hostless": "a new point source with the PSF of the New image appears where the Reference is empty",
    "variable_star": "a star present in the Reference changed brightness, leaving a PSF-shaped residual",
    "cosmic_ray": "the residual is a few pixels, much sharper than the stars, and only in the New image",
    "dipole": "the residual has positive and negative lobes side by side: the images were misaligned",
    "saturated_star": "a saturated bright star left a crater and a bleed trail in the Difference",
    "hot_pixel": "a single hot pixel or column segment, sharper than any star, sits at the position",
    "satellite_trail": "a straight trail crosses the field through the position in the New image only",
    "edge": "the candidate lies on the boundary of missing data at the edge of the detector",
    "ghost": "a broad, faint ring or blob much larger than the PSF: an optical ghost",
}


def example_answer(label: str, subtype: str, ref_source: bool = False) -> dict[str, str]:
    """The answer shown for a few-shot example (from its label and, on the demo, subtype)."""
    why = _EXAMPLE_WHY.get(subtype) or ("a PSF-shaped residual at the centre of the Difference image"
                                        if label == "Real" else "the residual does not look like a point source")
    if label == "Real":
        score = INTEREST[1] if subtype == "variable_star" or ref_source else INTEREST[2]
    else:
        score = INTEREST[0]
    return {"class": label, "explanation": f"{why[0].upper()}{why[1:]}.", "interest_score": score}


# ------------------------------------------------------------------------------------------ answers


def response_format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI ``response_format`` asking for JSON that follows ``schema`` (strict)."""
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


def _parse(content: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    if content is None or not content.strip():
        raise SchemaViolation("invalid_json", "empty answer")
    m = _FENCE.match(content)
    try:
        obj = json.loads(m.group(1) if m else content)
    except json.JSONDecodeError as exc:
        raise SchemaViolation("invalid_json", str(exc)) from exc
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "<root>"
        reason = "wrong_class" if list(e.absolute_path) == ["class"] else "schema_violation"
        raise SchemaViolation(reason, f"{where}: {e.message}"[:300])
    return obj


def parse_answer(content: str | None) -> dict[str, Any]:
    """A classification answer, validated (``wrong_class`` when ``class`` is not Real/Bogus)."""
    obj = _parse(content, ANSWER_SCHEMA)
    obj["explanation"] = " ".join(obj["explanation"].split())
    if not obj["explanation"]:
        raise SchemaViolation("schema_violation", "explanation: blank")
    return obj


def parse_verdict(content: str | None) -> dict[str, Any]:
    """A judge's verdict, validated."""
    return _parse(content, JUDGE_SCHEMA)


# ------------------------------------------------------------------------------------------ messages


def _img(png: bytes, detail: str) -> dict[str, Any]:
    return image_part(png, "image/png", detail=detail)


def classify_messages(prompt: TPrompt, examples: list[tuple[bytes, dict[str, str]]], triplet_id: str, png: bytes,
                      detail: str) -> list[Message]:
    """System prompt, the few-shot examples as user/assistant turns, then the candidate."""
    msgs = [system_message(prompt.system)]
    for k, (ex_png, ans) in enumerate(examples, 1):
        msgs.append(user_message(f"Example {k} of {len(examples)}.", _img(ex_png, detail)))
        msgs.append(assistant_message(json.dumps(ans, sort_keys=True)))
    msgs.append(user_message(f"Request: classify\nCandidate: {triplet_id}\nClassify this candidate.",
                             _img(png, detail)))
    return msgs


def judge_messages(prompt: TPrompt, triplet_id: str, png: bytes, answer: dict[str, Any], detail: str) -> list[Message]:
    """The judge sees the triplet and the first answer (class, explanation, interest score) -- no label."""
    shown = {k: answer[k] for k in ("class", "explanation", "interest_score")}
    return [system_message(prompt.texts["judge"]),
            user_message(f"Request: judge\nCandidate: {triplet_id}\nColleague's answer: {json.dumps(shown, sort_keys=True)}",
                         _img(png, detail))]


def refine_messages(first: list[Message], answer: dict[str, Any], critique: str, prompt: TPrompt) -> list[Message]:
    """The classify conversation, the first answer, then the critique and the request to answer again."""
    shown = {k: answer[k] for k in ("class", "explanation", "interest_score")}
    last = first[-1]["content"]
    tid = re.search(r"Candidate: (\S+)", last[0]["text"] if isinstance(last, list) else str(last))
    return [*first, assistant_message(json.dumps(shown, sort_keys=True)),
            user_message(f"Request: refine\nCandidate: {tid.group(1) if tid else ''}\n{prompt.texts['refine']}\n"
                         f"Critique: {critique}")]


def png_sha(png: bytes) -> str:
    """SHA-256 of a PNG (its part of a cache key)."""
    return hashlib.sha256(png).hexdigest()


def stratified_subset(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """At most ``n`` rows, in proportion to the labels, chosen by a seeded hash order (all when ``None``)."""
    if n is None or n >= len(df):
        return df
    order = df.assign(_h=[hashlib.sha256(f"{seed}:sub:{t}".encode()).hexdigest() for t in df["obs_id"]])
    parts = []
    for lab, g in order.groupby("label", sort=True):
        k = int(np.round(n * len(g) / len(df)))
        parts.append(g.sort_values("_h").iloc[:max(1, k)])
    return pd.concat(parts).drop(columns="_h").sort_values("obs_id").reset_index(drop=True)
