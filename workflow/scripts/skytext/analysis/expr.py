"""A safe evaluator for catalogue transforms such as ``ssfr = logsfr - logm``.

Only numbers, column names, ``+ - * / **``, unary minus and the functions in :data:`FUNCTIONS` are
allowed; anything else (attributes, subscripts, calls of other names, comparisons) is refused with one
line. Nothing is passed to :func:`eval`.
"""

from __future__ import annotations

import ast
import operator

import numpy as np
import pandas as pd

FUNCTIONS = {"log10": np.log10, "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class ExpressionError(ValueError):
    """A transform that is not plain arithmetic on known columns (message: one line)."""


def _columns(frame: pd.DataFrame) -> dict[str, str]:
    """Python-identifier aliases of column names (``gt_attrs.arms`` -> ``gt_attrs_arms``)."""
    out = {}
    for col in frame.columns:
        out[str(col)] = str(col)
        out[str(col).replace(".", "_").replace("-", "_")] = str(col)
    return out


def evaluate(expression: str, frame: pd.DataFrame) -> pd.Series:
    """The value of ``expression`` over the columns of ``frame`` (float; invalid values become NaN)."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {expression!r}: {exc.msg}") from None
    names = _columns(frame)

    def walk(node):
        """The value of one syntax node (only the allowed ones)."""
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ExpressionError(f"unknown column {node.id!r} in {expression!r}")
            return pd.to_numeric(frame[names[node.id]], errors="coerce").astype("float64")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
                and len(node.args) == 1 and not node.keywords):
            return FUNCTIONS[node.func.id](walk(node.args[0]))
        raise ExpressionError(f"not allowed in {expression!r}: {ast.dump(node)[:60]}")

    with np.errstate(all="ignore"):
        value = walk(tree)
    if isinstance(value, float):
        value = pd.Series(value, index=frame.index)
    return value.replace([np.inf, -np.inf], np.nan)
