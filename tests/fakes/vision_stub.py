"""An OpenAI-compatible vision stub on 127.0.0.1 for the transients study: :class:`OpenAIStub` (transport,
faults, Batch API, counters) with the model replaced by an oracle over the ground truth.

* ``Request: classify`` / ``Request: refine`` (the last user message, with ``Candidate: <id>``): the class is
  ``server.truth[id]``, flipped for ids in ``server.flip`` (chosen by the test: the stub's error set); a refine
  request always answers the true class. ``Real`` answers say ``High interest``, ``Bogus`` ``No interest``.
* ``Request: judge``: coherence 1 for a flipped id, else 5 (``interest_valid`` yes), with a critique.

Faults are keyed by the candidate id (``server.faults[id]``, ``"*"`` for any) with the actions of
:class:`OpenAIStub`; ``invalid_json`` and ``wrong_class`` (an answer naming a third class) are content faults.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fakes.openai_stub import OpenAIStub

_CAND = re.compile(r"Candidate:\s*(\S+)")
_REQ = re.compile(r"Request:\s*(\w+)")


def _last_user_text(body: dict[str, Any]) -> str:
    """The last user message naming a candidate (a re-ask after an unusable answer names none: the request
    it corrects is the one before it)."""
    texts = []
    for m in body.get("messages") or []:
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, list):
                c = "\n".join(p.get("text", "") for p in c if isinstance(p, dict) and p.get("type") == "text")
            texts.append(str(c or ""))
    named = [t for t in texts if _CAND.search(t)]
    return named[-1] if named else (texts[-1] if texts else "")


class VisionStub(OpenAIStub):
    """The OpenAI stub with an oracle vision model: answers from ``truth``, wrong for ids in ``flip``."""

    def __init__(self, api_key: str | None = "sk-stub-key", truth: dict[str, str] | None = None,
                 flip: set[str] | None = None):
        super().__init__(api_key)
        self.truth = dict(truth or {})
        self.flip = set(flip or ())
        self.images_seen = 0

    def reply(self, kind: str, tid: str) -> dict[str, Any]:
        """The JSON the model gives for a ``classify``/``refine``/``judge`` request about triplet ``tid``."""
        true = self.truth.get(tid, "Bogus")
        if kind == "judge":
            bad = tid in self.flip
            return {"coherence": 1 if bad else 5, "interest_valid": "yes",
                    "critique": "the residual does not support this class" if bad else "consistent"}
        cls = true
        if kind == "classify" and tid in self.flip:
            cls = "Bogus" if true == "Real" else "Real"
        return {"class": cls, "explanation": f"stub {kind} answer for {tid}",
                "interest_score": "High interest" if cls == "Real" else "No interest"}

    def answer(self, body: dict[str, Any], via: str = "chat") -> tuple[int, dict[str, Any], str | None]:
        """(status, JSON body, fault) of one chat request: the oracle's reply, or the fault queued for its id."""
        text = _last_user_text(body)
        m, k = _CAND.search(text), _REQ.search(text)
        tid, kind = (m.group(1) if m else "*"), (k.group(1) if k else "classify")
        self.count(f"{kind}:{tid}")
        self.count(kind)
        with self.lock:
            self.images_seen += json.dumps(body.get("messages")).count('"image_url"')
        fault = self.next_fault(tid)
        if fault == "missing":
            return 0, {}, fault
        if fault in ("429", "500", "503", "400", "401", "403"):
            return int(fault), {"error": {"message": f"stub fault {fault}", "type": "server_error", "code": None}}, fault
        content = json.dumps(self.reply(kind, tid))
        if fault == "invalid_json":
            content = '{"class": "Real", "explanation": '
        elif fault == "wrong_class":
            content = json.dumps({"class": "Maybe", "explanation": "unsure", "interest_score": "Low interest"})
        usage = {"prompt_tokens": len(json.dumps(body.get("messages"))) // 4, "completion_tokens": len(content) // 4}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return 200, {"id": self.new_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
                     "model": body.get("model", "stub"), "usage": usage,
                     "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                  "message": {"role": "assistant", "content": content, "refusal": None}}]}, fault
