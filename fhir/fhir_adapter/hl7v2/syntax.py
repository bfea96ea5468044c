"""HL7 v2 ER7 syntax: delimiters from MSH-1/MSH-2, segments split into fields, repetitions, components
and subcomponents, and escape sequences.

Splitting is python-hl7's (``hl7.parse``); it is untyped and its containers nest unevenly (a field
without separators is a one-item list of str), so it is called in one place and its result is turned
into plain tuples at once. Text stays escaped until a caller asks for a value, because escapes such as
``\\F\\`` must be resolved after splitting, never before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import hl7  # type: ignore[import-untyped]  # python-hl7 ships no type hints; wrapped by split_message

from fhir_adapter.hl7v2.errors import (
    DATA_TYPE_ERROR,
    SEGMENT_SEQUENCE_ERROR,
    ErrorLocation,
    content_error,
    rejected,
)

Component = tuple[str, ...]  # subcomponents, escaped
Repetition = tuple[Component, ...]
Field = tuple[Repetition, ...]

_SEGMENT_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
# HL7's explicit null ("the sender deletes this value"); for a new result it is no value at all.
NULL = '""'


@dataclass(frozen=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent


def read_delimiters(first_segment: str) -> Delimiters:
    """MSH-1 and MSH-2 of a segment known to start with ``MSH``.

    HL7 lets a sender choose any delimiters, and python-hl7 follows whatever MSH-1/MSH-2 say, so any
    set is taken as long as the message stays unambiguous: five different printable ASCII punctuation
    characters. Letters, digits, spaces, control characters or repeated delimiters are refused, since
    fields could no longer be told apart. A fifth encoding character (v2.7's truncation character) is
    tolerated and ignored.
    """
    where = ErrorLocation("MSH", field=1, line=1)
    if len(first_segment) < 4:
        raise rejected("unsupported_delimiters", "MSH-1 (the field separator) is missing", DATA_TYPE_ERROR, where)
    separator = first_segment[3]
    end = first_segment.find(separator, 4)
    encoding = first_segment[4:end] if end != -1 else first_segment[4:]
    where2 = ErrorLocation("MSH", field=2, line=1)
    if not _usable(separator):
        raise rejected(
            "unsupported_delimiters",
            f"MSH-1 field separator {separator!r} is not supported: it must be printable ASCII punctuation, "
            "normally '|'",
            DATA_TYPE_ERROR,
            where,
        )
    if end == -1 or len(encoding) not in (4, 5):
        raise rejected(
            "unsupported_delimiters",
            f"MSH-2 must hold the 4 encoding characters (component, repetition, escape, subcomponent, "
            f"normally '^~\\&') followed by the field separator {separator!r}; found {encoding[:12]!r}",
            DATA_TYPE_ERROR,
            where2,
        )
    chosen = separator + encoding[:4]
    if not all(_usable(c) for c in chosen) or len(set(chosen)) != len(chosen):
        raise rejected(
            "unsupported_delimiters",
            f"MSH-1/MSH-2 delimiters {chosen!r} are not supported: they must be five different printable "
            "ASCII punctuation characters",
            DATA_TYPE_ERROR,
            where2,
        )
    return Delimiters(separator, encoding[0], encoding[1], encoding[2], encoding[3])


def _usable(char: str) -> bool:
    return 0x21 <= ord(char) <= 0x7E and not char.isalnum()


@dataclass(frozen=True)
class Segment:
    """One segment: ``fields[0]`` is field 1. For MSH, field 1 is the field separator and field 2 the
    encoding characters, kept whole, so that field numbers are those of the standard (MSH-9 is 9)."""

    name: str
    fields: tuple[Field, ...]
    line: int  # 1-based position in the message
    occurrence: int  # 1-based among the segments with this name
    delimiters: Delimiters
    codec: str

    def location(self, field: int | None = None, component: int | None = None) -> ErrorLocation:
        return ErrorLocation(self.name, self.occurrence, field, None, component, self.line)

    def repetitions(self, number: int) -> tuple[Value, ...]:
        """The non-empty repetitions of field ``number`` (none when absent or empty)."""
        if number < 1 or number > len(self.fields):
            return ()
        values = (Value(rep, self.delimiters, self.codec) for rep in self.fields[number - 1])
        return tuple(v for v in values if not v.is_empty)

    def first(self, number: int) -> Value:
        found = self.repetitions(number)
        return found[0] if found else Value((), self.delimiters, self.codec)

    def text(self, number: int, component: int = 1, subcomponent: int = 1) -> str:
        """Unescaped text of one component of the first repetition, stripped."""
        return self.first(number).component(component, subcomponent)

    def raw(self, number: int) -> str:
        """Field ``number`` as it was sent (escaped), repetitions and components joined back."""
        if number < 1 or number > len(self.fields):
            return ""
        d = self.delimiters
        return d.repetition.join(
            d.component.join(d.subcomponent.join(comp) for comp in rep) for rep in self.fields[number - 1]
        )

    def whole_text(self, number: int) -> str:
        """Field ``number`` unescaped as one string, delimiters included: for free text sent where HL7
        expects a plain ST (a reference range, say) that happens to contain a delimiter."""
        return _not_null(unescape(self.raw(number), self.delimiters, self.codec).strip())


@dataclass(frozen=True)
class Value:
    """One repetition of a field: components of subcomponents, unescaped on access."""

    components: Repetition
    delimiters: Delimiters
    codec: str

    @property
    def is_empty(self) -> bool:
        return all(sub.strip() in ("", NULL) for comp in self.components for sub in comp)

    def component(self, number: int, subcomponent: int = 1) -> str:
        if number < 1 or number > len(self.components):
            return ""
        subs = self.components[number - 1]
        if subcomponent < 1 or subcomponent > len(subs):
            return ""
        return _not_null(unescape(subs[subcomponent - 1], self.delimiters, self.codec).strip())

    @property
    def raw(self) -> str:
        d = self.delimiters
        return d.component.join(d.subcomponent.join(comp) for comp in self.components)

    @property
    def text(self) -> str:
        """The whole repetition unescaped, components joined by the component delimiter."""
        return _not_null(unescape(self.raw, self.delimiters, self.codec).strip())


def _not_null(text: str) -> str:
    return "" if text == NULL else text


def split_message(text: str, delimiters: Delimiters, codec: str) -> list[Segment]:
    """Segments of a decoded message (terminators already normalised to CR), via python-hl7."""
    for index, line in enumerate(text.split("\r"), start=1):
        name = line[:3]
        if len(line) < 3 or not set(name) <= _SEGMENT_ID_CHARS or (len(line) > 3 and line[3] != delimiters.field):
            raise content_error(
                "invalid_segment",
                f"segment {index} does not start with a segment id and a field separator: {line[:20]!r}",
                SEGMENT_SEQUENCE_ERROR,
                ErrorLocation(name or "?", line=index),
            )
    parsed = hl7.parse(text)
    seen: dict[str, int] = {}
    segments = []
    for index, node in enumerate(_items(parsed), start=1):
        fields = [_field(item) for item in _items(node)]
        name = _plain(fields[0])
        seen[name] = seen.get(name, 0) + 1
        segments.append(Segment(name, tuple(fields[1:]), index, seen[name], delimiters, codec))
    return segments


def _items(node: Any) -> list[Any]:
    return [node] if isinstance(node, str) else list(node)


def _field(node: Any) -> Field:
    items = _items(node)
    # python-hl7 nests only as deep as the separators present: a field that holds no separator at all
    # is a one-item list of str, and a repetition without components is a one-item list of str too.
    if len(items) == 1 and isinstance(items[0], str):
        return (((items[0],),),)
    return tuple(_repetition(item) for item in items)


def _repetition(node: Any) -> Repetition:
    items = _items(node)
    if len(items) == 1 and isinstance(items[0], str):
        return ((items[0],),)
    return tuple(tuple(str(sub) for sub in _items(comp)) for comp in items)


def _plain(field: Field) -> str:
    return field[0][0][0] if field and field[0] and field[0][0] else ""


def unescape(text: str, delimiters: Delimiters, codec: str) -> str:
    """Resolve HL7 escape sequences (v2.5.1 section 2.7): delimiters, ``\\.br\\`` as a line break,
    highlighting dropped, ``\\Xhh..\\`` as bytes in the message's character set (adjacent ones joined,
    so a multi-byte character may be split over several). Anything else is kept as sent."""
    esc = delimiters.escape
    if esc not in text:
        return text
    out: list[str] = []
    pending = bytearray()
    position = 0
    while position < len(text):
        start = text.find(esc, position)
        end = text.find(esc, start + 1) if start != -1 else -1
        if start == -1 or end == -1:
            _flush(pending, out, codec)
            out.append(text[position:])
            break
        if start > position:
            _flush(pending, out, codec)
            out.append(text[position:start])
        sequence = text[start + 1 : end]
        hex_bytes = _hex(sequence)
        if hex_bytes is not None:
            pending.extend(hex_bytes)
        else:
            _flush(pending, out, codec)
            out.append(_expand(sequence, delimiters, text[start : end + 1]))
        position = end + 1
    _flush(pending, out, codec)
    return "".join(out)


def _hex(sequence: str) -> bytes | None:
    if len(sequence) < 3 or sequence[0] != "X" or len(sequence) % 2 == 0:
        return None
    try:
        return bytes.fromhex(sequence[1:])
    except ValueError:
        return None


def _flush(pending: bytearray, out: list[str], codec: str) -> None:
    if pending:
        out.append(bytes(pending).decode(codec, errors="replace"))
        pending.clear()


def _expand(sequence: str, d: Delimiters, original: str) -> str:
    simple = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": d.escape}
    if sequence in simple:
        return simple[sequence]
    if sequence in ("H", "N", ".fi", ".nf"):
        return ""  # highlighting and fill mode have no plain-text equivalent
    if sequence == ".br":
        return "\n"
    if sequence.startswith(".sp"):
        count = sequence[3:].strip()
        return "\n" * (int(count) if count.isdigit() else 1)
    return original


def escape(text: str, delimiters: Delimiters) -> str:
    """Text made safe for one component of an outgoing field (the ACK's)."""
    d = delimiters
    table = {d.escape: "E", d.field: "F", d.component: "S", d.subcomponent: "T", d.repetition: "R"}
    out = []
    for char in text:
        if char in table:
            out.append(f"{d.escape}{table[char]}{d.escape}")
        elif char in "\r\n":
            out.append(f"{d.escape}.br{d.escape}")
        else:
            out.append(char)
    return "".join(out)
