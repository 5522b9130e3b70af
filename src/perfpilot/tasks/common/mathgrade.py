"""The PRM800K answer grader (openai/prm800k ``grading/grader.py`` and its Hendrycks MATH
normaliser), which the DeepSeek-R1 and gpt-oss references use for MATH-500: an answer is
right when it normalises to the ground truth's string, or when sympy simplifies their
difference to 0 (element by element for tuples and intervals; integers and unreduced
fractions must match exactly).

The grader reads LaTeX with ``pylatexenc``. Where it is not installed, LaTeX answers that
the string rules do not settle are graded as the reference grades a LaTeX parse failure
(the text is left as it is); ``LATEX_PARSER`` says which applies."""

from __future__ import annotations

import re
from typing import Any

try:
    from pylatexenc import latex2text

    LATEX_PARSER = "pylatexenc"
except ImportError:  # the llm extra installs it; without it LaTeX stays unparsed
    latex2text = None
    LATEX_PARSER = "none"

# sympy can hang on these: the reference does not try them
_BAD_SUBSTRINGS = ("^{", "^(")
_BAD_REGEXES = (r"\^[0-9]+\^", r"\^[0-9][0-9]+")
_TUPLE_CHARS = "()[]"
_UNITS = (
    "degree", "cm", "centimeter", "meter", "mile", "second", "minute", "hour", "day",
    "week", "month", "year", "foot", "feet", "inch", "yard",
)  # fmt: skip


# --- The Hendrycks MATH normaliser (math_normalize.py) -------------------------------


def normalize_answer(answer: str | None) -> str | None:
    """The MATH dataset's string normalisation of an answer."""
    if answer is None:
        return None
    answer = answer.strip()
    try:
        m = re.search(r"^\\text\{(?P<text>.+?)\}$", answer)
        if m is not None:
            answer = m.group("text").strip()
        return _strip_string(answer)
    except Exception:  # noqa: BLE001 - the reference falls back to the raw answer
        return answer


def _fix_fracs(string: str) -> str:
    parts = string.split("\\frac")
    out = parts[0]
    for part in parts[1:]:
        out += "\\frac"
        if part[0] == "{":  # an empty part raises: normalize_answer keeps the raw answer
            out += part
            continue
        if len(part) < 2:
            return string
        a, b, rest = part[0], part[1], part[2:]
        out += "{" + a + "}{" + b + "}" + rest if b != "{" else "{" + a + "}" + b + rest
    return out


def _fix_a_slash_b(string: str) -> str:
    pieces = string.split("/")
    if len(pieces) != 2:
        return string
    try:
        a, b = int(pieces[0]), int(pieces[1])
    except ValueError:
        return string
    if string != f"{a}/{b}":
        return string
    return "\\frac{" + str(a) + "}{" + str(b) + "}"


def _remove_right_units(string: str) -> str:
    if "\\text{ " in string:
        pieces = string.split("\\text{ ")
        if len(pieces) != 2:
            raise ValueError("more than one unit")  # the reference's assert
        return pieces[0]
    return string


def _fix_sqrt(string: str) -> str:
    if "\\sqrt" not in string:
        return string
    pieces = string.split("\\sqrt")
    out = pieces[0]
    for piece in pieces[1:]:
        if piece[0] != "{":  # an empty piece raises, as in the reference
            out += "\\sqrt{" + piece[0] + "}" + piece[1:]
        else:
            out += "\\sqrt" + piece
    return out


def _strip_string(string: str) -> str:
    string = string.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    string = string.replace("tfrac", "frac").replace("dfrac", "frac")
    string = string.replace("\\left", "").replace("\\right", "")
    string = string.replace("^{\\circ}", "").replace("^\\circ", "")
    string = string.replace("\\$", "")
    string = _remove_right_units(string)
    string = string.replace("\\%", "")
    string = string.replace(" .", " 0.").replace("{.", "{0.")
    if not string:
        return string
    if string[0] == ".":
        string = "0" + string
    sides = string.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:  # "k = 3" -> "3"
        string = sides[1]
    string = _fix_sqrt(string)
    string = string.replace(" ", "")
    string = _fix_fracs(string)
    if string == "0.5":
        string = "\\frac{1}{2}"
    return _fix_a_slash_b(string)


# --- The grader (grader.py) -----------------------------------------------------------


def _sympy_parse(expr: str) -> Any:
    from sympy.parsing import sympy_parser

    return sympy_parser.parse_expr(
        expr.replace("^", "**"),
        transformations=(
            *sympy_parser.standard_transformations,
            sympy_parser.implicit_multiplication_application,
        ),
    )


def _parse_latex(expr: str) -> str:
    if latex2text is None:
        raise ValueError("pylatexenc is not installed")
    expr = expr.replace("\\tfrac", "\\frac").replace("\\dfrac", "\\frac")
    expr = expr.replace("\\frac", " \\frac")  # mixed numbers: 7\frac{3}{4}
    expr = latex2text.LatexNodes2Text().latex_to_text(expr)
    for symbol, word in (("√", "sqrt"), ("π", "pi"), ("∞", "inf"), ("∪", "U")):
        expr = expr.replace(symbol, word)
    return expr.replace("·", "*").replace("×", "*").strip()


def _is_float(num: str) -> bool:
    try:
        float(num)
    except ValueError:
        return False
    return True


def _is_int(x: float) -> bool:
    try:
        return abs(x - round(x)) <= 1e-7
    except (OverflowError, ValueError):
        return False


def _is_frac(expr: str) -> bool:
    return bool(re.search(r"^-?[0-9]+.?/0*[1-9][0-9]*.?$", expr))


def _str_is_int(x: str) -> bool:
    try:
        value = float(_strip_properly_formatted_commas(x))
        return abs(value - round(value)) <= 1e-7
    except (OverflowError, ValueError):
        return False


def _str_to_int(x: str) -> int:
    return int(float(x.replace(",", "")))


def _inject_implicit_mixed_number(step: str) -> str:
    return re.sub(r"([0-9]) +([0-9])", r"\1+\2", step)  # "7 3/4" -> "7+3/4"


def _strip_properly_formatted_commas(expr: str) -> str:
    # thousands separators only: tuple commas stay
    pattern = re.compile(r"(\d)(,)(\d\d\d)($|\D)")
    while True:
        stripped = pattern.sub(r"\1\3\4", expr)
        if stripped == expr:
            return stripped
        expr = stripped


def _normalize(expr: str) -> str:
    m = re.search(r"^\\text\{(?P<text>.+?)\}$", expr)
    if m is not None:
        expr = m.group("text")
    expr = expr.replace("\\%", "%").replace("\\$", "$").replace("$", "").replace("%", "")
    expr = expr.replace(" or ", " , ").replace(" and ", " , ")
    expr = expr.replace("million", "*10^6").replace("billion", "*10^9")
    expr = expr.replace("trillion", "*10^12")
    for unit in _UNITS:
        expr = re.sub(f"{unit}(es)?(s)? *(\\^[0-9]+)?", "", expr)
    expr = re.sub(r"\^ *\\circ", "", expr)
    if expr and expr[0] == "{" and expr[-1] == "}":
        expr = expr[1:-1]
    expr = re.sub(r",\\! *", "", expr)
    if _is_float(expr) and _is_int(float(expr)):
        expr = str(round(float(expr)))
    if "\\" in expr:
        try:
            expr = _parse_latex(expr)
        except Exception:  # noqa: BLE001 - the reference keeps the text on any failure
            pass
    expr = re.sub("- *", "-", expr)
    expr = _inject_implicit_mixed_number(expr)
    expr = expr.replace(" ", "").replace("{", "").replace("}", "").lower()
    if _str_is_int(expr):
        expr = str(_str_to_int(expr))
    return expr


def _should_allow_eval(expr: str) -> bool:
    letters = {c for c in expr.replace("sqrt", "").replace("frac", "") if c.isalpha()}
    if len(letters) > 2:  # unknown text, or functions of more than two variables
        return False
    if any(bad in expr for bad in _BAD_SUBSTRINGS):
        return False
    return not any(re.search(bad, expr) for bad in _BAD_REGEXES)


def _equal_under_sympy(truth: str, given: str) -> bool:
    import sympy

    expr = f"({truth})-({given})"
    try:
        if _should_allow_eval(expr):
            return bool(sympy.simplify(_sympy_parse(expr)) == 0)
    except Exception:  # noqa: BLE001 - the reference counts any sympy failure as unequal
        pass
    return False


def _split_tuple(expr: str) -> list[str]:
    expr = _strip_properly_formatted_commas(expr)
    if not expr:
        return []
    inner = expr[1:-1]
    if (
        len(expr) > 2
        and expr[0] in _TUPLE_CHARS
        and expr[-1] in _TUPLE_CHARS
        and not any(ch in inner for ch in _TUPLE_CHARS)
    ):
        return [elem.strip() for elem in inner.split(",")]
    return [expr]


def grade_answer(given: str | None, truth: str) -> bool:
    """PRM800K's verdict on ``given`` against the ground truth ``truth``."""
    if given is None:
        return False
    if normalize_answer(truth) == normalize_answer(given):
        return True  # at least as lenient as the MATH normaliser
    truth_n, given_n = _normalize(truth), _normalize(given)
    if truth_n == given_n:
        return True
    if not given_n:
        return False
    truth_elems, given_elems = _split_tuple(truth_n), _split_tuple(given_n)
    if len(truth_elems) > 1 and (truth_n[0] != given_n[0] or truth_n[-1] != given_n[-1]):
        return False  # (a, b) is not [a, b]
    if len(truth_elems) != len(given_elems):
        return False
    for t, g in zip(truth_elems, given_elems, strict=True):
        if _is_frac(t) and _is_frac(g):
            ok = t == g  # unreduced fractions are not accepted
        elif _str_is_int(t) != _str_is_int(g):
            ok = False  # an integer truth needs an integer answer
        else:
            ok = _equal_under_sympy(t, g)
        if not ok:
            return False
    return True
