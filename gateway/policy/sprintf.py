"""`sprintf` for the Wasm policy, formatted exactly as OPA's Go implementation formats.

The one builtin the compiled policy leaves to its host (`gateway.policy.wasm_instance`). The
verbs and operand types the policy uses are implemented exactly as Go's `fmt` formats them
under OPA (numbers as OPA decides int or float by their JSON text); anything else raises
`SprintfError`, and the evaluation fails (fail closed) rather than word a reason differently
from OPA.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

__all__ = ["SprintfError", "sprintf"]


class SprintfError(Exception):
    """A sprintf call outside what the host implements exactly; the evaluation fails."""


GoType = Literal["string", "int64", "float64", "*big.Int"]


@dataclass(frozen=True, slots=True)
class _Number:
    """A JSON number as written: OPA decides int or float by its text, not by its value."""

    text: str


@dataclass(frozen=True, slots=True)
class _Operand:
    """A sprintf argument as OPA hands it to Go's fmt: its Go type and value."""

    go_type: GoType
    value: str | int | float


def _refuse_constant(name: str) -> object:
    raise SprintfError(f"{name} is not a JSON number")


def _operand(value: object) -> _Operand:
    """The Go value OPA's builtinSprintf (topdown/strings.go, v1.22) makes of a term."""
    if isinstance(value, _Number):
        if any(c in value.text for c in ".eE"):
            f = float(value.text)
            # Go's ParseFloat fails on overflow, and OPA then passes the text itself.
            return _Operand("float64", f) if math.isfinite(f) else _Operand("string", value.text)
        n = int(value.text)
        return _Operand("int64" if -(2**63) <= n < 2**63 else "*big.Int", n)
    if isinstance(value, str):
        return _Operand("string", value)
    if value is None or isinstance(value, bool):  # OPA passes the term's text, a Go string
        return _Operand("string", json.dumps(value))
    # Arrays, objects and sets go to Go as their Rego syntax, which is not reproduced here.
    kind = "an array or set" if isinstance(value, list) else "an object"
    raise SprintfError(f"sprintf of {kind} is not supported by the Wasm engine")


def _go_float(f: float) -> str:
    """Go's %v of a float64: strconv 'g', shortest digits, exponent below 1e-04 and from 1e+06."""
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # digits[:point] is the integer part
    x = point - 1
    if x < -4 or x >= 6:
        text = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text += f"e{'-' if x < 0 else '+'}{abs(x):02d}"
    elif point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return "-" + text if sign else text


def _as_v(arg: _Operand) -> str:
    if arg.go_type == "float64":
        assert isinstance(arg.value, float)
        return _go_float(arg.value)
    return str(arg.value)


def _format(verb: str, arg: _Operand) -> str:
    if arg.go_type == "*big.Int" or (arg.go_type, verb) in {
        ("string", "s"),
        ("string", "v"),
        ("int64", "d"),
        ("int64", "v"),
        ("float64", "v"),
    }:
        return _as_v(arg)  # big.Int's Format writes %d, %s and %v in decimal alike
    return f"%!{verb}({arg.go_type}={_as_v(arg)})"  # Go's fmt, on a verb the type lacks


def sprintf(template: str, args_json: str) -> str:
    """OPA's `sprintf(template, args)`, `args_json` being the JSON text of the args array.

    Exact for the verbs %s, %d, %v and %% without flags, width or precision, over strings,
    numbers, booleans and null, including Go's `%!d(string=x)`, `%!s(MISSING)` and
    `%!(EXTRA ...)` forms; anything else raises `SprintfError` rather than guess.
    """
    values = json.loads(
        args_json, parse_int=_Number, parse_float=_Number, parse_constant=_refuse_constant
    )
    if not isinstance(values, list):
        raise SprintfError("sprintf takes an array of arguments")
    args = [_operand(v) for v in values]
    out: list[str] = []
    used = 0
    i = 0
    while (j := template.find("%", i)) >= 0:
        out.append(template[i:j])
        verb = template[j + 1 : j + 2]
        i = j + 2
        if verb == "%":
            out.append("%")
        elif verb and verb in "sdv":
            if used < len(args):
                out.append(_format(verb, args[used]))
                used += 1
            else:
                out.append(f"%!{verb}(MISSING)")
        else:
            raise SprintfError(f"sprintf format {template!r}: only %s, %d, %v and %% are supported")
    out.append(template[i:])
    if used < len(args):
        extra = ", ".join(f"{a.go_type}={_as_v(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
