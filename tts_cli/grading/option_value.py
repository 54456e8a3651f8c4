"""The value of an option written as an arithmetic expression: ``7(√3 – 1)``, ``1500pi``, ``2^10``,
``3/8``, ``Rs. 1,680``, ``√2/2``, ``12 km``. A program's printed value then names the option nearest
to it, as it does for plain numbers (AQuA writes about one option in nine this way).

The text is rewritten into a Python expression (implicit products made explicit, √ and π spelled
out) and evaluated by walking its syntax tree: numbers, ``+ - * / **``, ``sqrt(...)`` and ``pi``
only, exponents and magnitudes bounded. Anything else, units with letters left in the middle
(``M/(D-3)``, ``1 hour and 31 minutes``), or two numbers side by side (``34, 62``), has no value.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from typing import Optional

_CURRENCY = re.compile(r"^\s*(?:rs\.?|inr|usd|\$|€|£)\s*", re.IGNORECASE)
# words after the value, each set apart by a space or a slash (no nested ambiguity: linear time)
_UNIT = re.compile(r"\s*(?:%|°|[a-z]+\.?)(?:(?:\s+|/)[a-z]+\.?)*\s*$", re.IGNORECASE)
_SPELLED = (("\u2013", "-"), ("\u2014", "-"), ("\u2212", "-"), ("×", "*"), ("÷", "/"), ("^", "**"), ("π", "pi"), (",", ""))
MAX_EXPONENT = 64
MAX_MAGNITUDE = 1e15
MAX_LENGTH = 60


@functools.lru_cache(maxsize=4096)
def option_value(text: str) -> Optional[float]:
    """The number an option's text stands for, or None (cached: every program sample of a question
    reads its options again)."""
    expression = _as_python(text)
    if expression is None:
        return None
    try:
        tree = ast.parse(expression, mode="eval")
        value = _evaluate(tree.body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError, TypeError):
        return None
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        return None
    return value


def _as_python(text: str) -> Optional[str]:
    text = text.strip()
    if not text or len(text) > MAX_LENGTH or re.search(r",(?!\d{3}(?!\d))", text):
        return None  # "34, 62", "(50,7)": two numbers; a comma is only a thousands separator here
    text = _CURRENCY.sub("", text)
    for spelled, python in _SPELLED:
        text = text.replace(spelled, python)
    text = re.sub(r"\bpi\b|(?<=\d)pi\b", " pi ", text, flags=re.IGNORECASE).replace(" PI ", " pi ")
    # a unit after the value ("12 km", "60 Min", "5%"): dropped; letters anywhere else: no value
    stripped = _UNIT.sub("", text.replace(" pi ", "π")).replace("π", " pi ")
    if re.search(r"[A-Za-z]", re.sub(r"\bsqrt\b|\bpi\b", "", stripped.replace("√", ""))):
        return None
    text = stripped
    text = re.sub(r"√\s*\(", "sqrt(", text)
    text = re.sub(r"√\s*(\d+(?:\.\d+)?|pi)", r"sqrt(\1)", text)
    if "√" in text:
        return None
    text = text.replace(" ", "")
    # implicit products: 7(…), 2sqrt(…), 3pi, )(, )7, pi(…
    text = re.sub(r"(?<=[\d.)])(?=\(|sqrt|pi)", "*", text)
    text = re.sub(r"(?<=\)|i)(?=[\d(]|sqrt)", "*", text)
    return text or None


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name) and node.id == "pi":
        return math.pi
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _evaluate(node.operand)
        return value if isinstance(node.op, ast.UAdd) else -value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            return left / right
        if isinstance(node.op, ast.Pow):
            if abs(right) > MAX_EXPONENT or abs(left) > MAX_MAGNITUDE:
                raise ValueError("exponent too large")
            result = left**right
            if isinstance(result, complex):
                raise ValueError("not a real number")
            return float(result)
    if (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sqrt"
        and len(node.args) == 1 and not node.keywords
    ):  # fmt: skip
        return math.sqrt(_evaluate(node.args[0]))
    raise ValueError(f"not allowed in an option's value: {type(node).__name__}")
