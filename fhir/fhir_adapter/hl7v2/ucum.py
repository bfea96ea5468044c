"""Is a unit string valid UCUM (case-sensitive, unitsofmeasure.org)? A parser of the UCUM grammar over
the atoms laboratories use, not the whole table: a unit it does not know is reported as not UCUM,
which only costs the Quantity its ``system``/``code`` (the unit text stays), never its validity.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIXES = (
    "Y", "Z", "E", "P", "T", "G", "M", "k", "h", "da", "d", "c", "m", "u", "n", "p", "f", "a", "z", "y",
    "Ki", "Mi", "Gi", "Ti",
)  # fmt: skip

# Atoms that take a prefix (UCUM "metric").
METRIC_ATOMS = frozenset(
    {
        "m", "s", "g", "rad", "K", "C", "cd", "mol", "sr", "Hz", "N", "Pa", "J", "W", "A", "V", "F", "Ohm",
        "S", "Wb", "Cel", "T", "H", "lm", "lx", "Bq", "Gy", "Sv", "l", "L", "ar", "t", "bar", "u", "eV",
        "eq", "osm", "kat", "U", "[iU]", "[IU]", "m[Hg]", "m[H2O]", "cal", "Ci", "R", "B", "dB", "mho",
        "g%", "[CFU]", "[PFU]", "[FFU]",
    }
)  # fmt: skip
OTHER_ATOMS = frozenset(
    {
        "min", "h", "d", "wk", "mo", "a", "a_j", "a_t", "mo_j", "%", "[ppth]", "[ppm]", "[ppb]", "[pptr]",
        "deg", "'", "''", "[in_i]", "[ft_i]", "[lb_av]", "[oz_av]", "[degF]", "[HPF]", "[LPF]", "[arb'U]",
        "[USP'U]", "[AU]", "[BAU]", "[drp]", "[pH]", "atm", "[psi]", "[gal_us]", "[pt_us]", "[foz_us]",
        "[qt_us]", "10*", "10^", "[pi]", "[S]", "[mi_i]", "[yd_i]", "[Ch]", "[beth'U]", "[GPL'U]", "[MPL'U]",
        "[APL'U]", "[EID_50]", "[TCID_50]", "[kp_C]", "[knk'U]", "[todd'U]", "[ka'U]", "[tb'U]",
    }
)  # fmt: skip

_ENDS_SYMBOL = frozenset("./(){}")


def is_ucum(expression: str) -> bool:
    if not expression or len(expression) > 100:
        return False
    if any(not 0x21 <= ord(char) <= 0x7E for char in expression):
        return False
    parser = _Parser(expression)
    try:
        if parser.peek() == "/":
            parser.position += 1
        parser.term()
    except _Invalid:
        return False
    return parser.position == len(expression)


class _Invalid(Exception):
    pass


@dataclass
class _Parser:
    text: str
    position: int = 0

    def peek(self) -> str:
        return self.text[self.position] if self.position < len(self.text) else ""

    def term(self) -> None:
        self.component()
        while self.peek() in (".", "/") and self.peek():
            self.position += 1
            self.component()

    def component(self) -> None:
        char = self.peek()
        if char == "(":
            self.position += 1
            self.term()
            if self.peek() != ")":
                raise _Invalid
            self.position += 1
        elif char == "{":
            self.annotation()
            return
        else:
            self.simple_unit()
        if self.peek() == "{":
            self.annotation()

    def annotation(self) -> None:
        end = self.text.find("}", self.position + 1)
        if end == -1 or "{" in self.text[self.position + 1 : end]:
            raise _Invalid
        self.position = end + 1

    def simple_unit(self) -> None:
        start = self.position
        if self.text.startswith(("10*", "10^"), start):
            self.position += 3
            self.exponent(required=False)
            return
        if self.peek().isdigit():  # a plain integer factor such as "1" or "100"
            while self.peek().isdigit():
                self.position += 1
            return
        symbol = self.symbol()
        if not _known(symbol):
            raise _Invalid
        self.exponent(required=False)

    def symbol(self) -> str:
        start = self.position
        while self.position < len(self.text):
            char = self.text[self.position]
            if char == "[":
                end = self.text.find("]", self.position)
                if end == -1:
                    raise _Invalid
                self.position = end + 1
                continue
            if char in _ENDS_SYMBOL or char.isdigit() or char in "+-":
                break
            self.position += 1
        if self.position == start:
            raise _Invalid
        return self.text[start : self.position]

    def exponent(self, *, required: bool) -> None:
        start = self.position
        if self.peek() in ("+", "-"):
            self.position += 1
        digits = self.position
        while self.peek().isdigit():
            self.position += 1
        if self.position == digits:
            if required or self.position != start:
                raise _Invalid
            self.position = start


def _known(symbol: str) -> bool:
    if symbol in METRIC_ATOMS or symbol in OTHER_ATOMS:
        return True
    return any(symbol.startswith(prefix) and symbol[len(prefix) :] in METRIC_ATOMS for prefix in PREFIXES)
