"""Cost estimates from the price table in config (``llm.prices``: USD per million tokens)."""

from __future__ import annotations

from typing import Any, Mapping


def price_for(model: str, prices: Mapping[str, Mapping[str, float]]) -> Mapping[str, float] | None:
    """The price entry for ``model``: an exact match, else the longest table key that prefixes it
    (``gpt-4o-mini`` prices ``gpt-4o-mini-2024-07-18``); ``None`` when the table has none."""
    if model in prices:
        return prices[model]
    matches = [k for k in prices if model.startswith(k)]
    return prices[max(matches, key=len)] if matches else None


def estimate_cost(model: str, tokens_in: int, tokens_out: int, prices: Mapping[str, Mapping[str, float]],
                  factor: float = 1.0) -> float | None:
    """USD for the tokens at the table's price times ``factor`` (e.g. 0.5 for the Batch API); ``None``
    when the model is not in the table."""
    p = price_for(model, prices)
    if p is None:
        return None
    return factor * (tokens_in * float(p["input_per_1m"]) + tokens_out * float(p["output_per_1m"])) / 1e6


def cost_report(model: str, tokens_in: int, tokens_out: int, n_answers: int, prices: Mapping[str, Any],
                factor: float = 1.0) -> dict[str, Any]:
    """Cost of the tokens, and per 1,000 abstracts at their mean token counts (``None`` when unknown)."""
    total = estimate_cost(model, tokens_in, tokens_out, prices, factor)
    per_1000 = None
    if total is not None and n_answers:
        per_1000 = total / n_answers * 1000
    return {"cost_usd": total, "cost_per_1000_abstracts_usd": per_1000, "price_factor": factor,
            "priced": total is not None}
