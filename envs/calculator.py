"""A safe, exact arithmetic evaluator (the ``calc`` tool): no ``eval``, bounded work.

The expression is parsed with :mod:`ast` and only numbers, ``+ - * / // % **``, unary signs and parentheses
are evaluated, with exact rational arithmetic (:class:`fractions.Fraction`). The symbols people and models
write are accepted: ``×``/``x`` between numbers, ``÷``, ``−``, ``^`` for powers, and thousands separators.
Work is bounded: at most 256 characters, exponents whose result stays under 4,096 bits.
"""

from __future__ import annotations

import ast
import re
from fractions import Fraction

__all__ = ["CalcError", "evaluate", "format_number", "parse_number"]

MAX_EXPRESSION_CHARS = 256
MAX_RESULT_BITS = 4096


class CalcError(ValueError):
    """The expression is not valid arithmetic (the message is shown to the agent)."""


_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: Fraction(a // b),
    ast.Mod: lambda a, b: a % b,
}


def _normalise(expr: str) -> str:
    s = expr.strip().rstrip("=").strip()
    s = s.replace("×", "*").replace("·", "*").replace("÷", "/").replace("−", "-").replace("–", "-")
    s = s.replace("^", "**")
    s = re.sub(r"(?<=\d)\s*[xX]\s*(?=[\d(])", "*", s)
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)
    return s


def _check_size(value: Fraction) -> Fraction:
    if value.numerator.bit_length() > MAX_RESULT_BITS or value.denominator.bit_length() > MAX_RESULT_BITS:
        raise CalcError(f"the result exceeds {MAX_RESULT_BITS} bits")
    return value


def _eval(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return _check_size(Fraction(str(node.value)) if isinstance(node.value, float) else Fraction(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            if right.denominator != 1:
                raise CalcError("only whole-number exponents are supported")
            exp = right.numerator
            if left == 0 and exp < 0:
                raise CalcError("division by zero")
            bits = max(left.numerator.bit_length(), left.denominator.bit_length())
            if bits * abs(exp) > MAX_RESULT_BITS:
                raise CalcError(f"the result exceeds {MAX_RESULT_BITS} bits")
            return _check_size(left**exp)
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise CalcError(f"the operator {type(node.op).__name__} is not supported")
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise CalcError("division by zero")
        return _check_size(op(left, right))
    raise CalcError(f"only numbers and + - * / // % ** ( ) are allowed, got {type(node).__name__}")


def evaluate(expression: str) -> Fraction:
    """Evaluate an arithmetic expression exactly.

    Args:
        expression: E.g. ``"4837 × 219"``, ``"(12 + 5) * 3"``, ``"2^10"``.

    Returns:
        The exact value.

    Raises:
        CalcError: The expression is empty, too long, not arithmetic, divides by zero or is too large.

    Example:
        >>> evaluate("4,837 × 219")
        Fraction(1059303, 1)
        >>> evaluate("7 / 2")
        Fraction(7, 2)
    """
    if not expression.strip():
        raise CalcError("the expression is empty")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalcError(f"the expression has {len(expression)} characters; the limit is {MAX_EXPRESSION_CHARS}")
    try:
        tree = ast.parse(_normalise(expression), mode="eval")
    except (SyntaxError, ValueError) as exc:
        raise CalcError(f"cannot parse {expression.strip()!r} as arithmetic") from exc
    try:
        return _eval(tree)
    except (OverflowError, RecursionError, MemoryError) as exc:
        raise CalcError("the expression is too large to evaluate") from exc


def format_number(value: Fraction) -> str:
    """Format a value: an integer as digits, else a decimal with up to 12 significant digits.

    Example:
        >>> format_number(Fraction(7, 2))
        '3.5'
    """
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.12g}"
    return text


def parse_number(text: str) -> Fraction | None:
    """Read an answer such as ``"1,059,303"``, ``"= 3.5"``, ``"-12."`` or ``"7/2"``; ``None`` if not a number.

    Example:
        >>> parse_number("The answer is 1,059,303.")
        Fraction(1059303, 1)
    """
    s = text.strip().replace("−", "-")
    m = re.findall(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?", s)
    if not m:
        return None
    token = m[-1].replace(",", "").replace(" ", "")
    try:
        if "/" in token:
            num, den = token.split("/")
            return Fraction(Fraction(num), Fraction(den)) if Fraction(den) != 0 else None
        return Fraction(token)
    except (ValueError, ZeroDivisionError):
        return None
