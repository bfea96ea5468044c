"""HL7 TS/DTM/DT values (``YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]``) to FHIR date, dateTime and
instant, keeping the precision that was sent.

FHIR requires a time zone as soon as a time of day is given; HL7 says a time without one is in the
sender's local zone. That zone is taken from MSH-7's offset when the sender gave one, else from the
caller's default; when neither is known the time of day is dropped rather than guessed, and the caller
is told (the date alone is still true).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import IntEnum

from fhir_adapter.hl7v2.errors import DATA_TYPE_ERROR, Hl7Error, content_error

_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$")


class Precision(IntEnum):
    YEAR = 1
    MONTH = 2
    DAY = 3
    HOUR = 4
    MINUTE = 5
    SECOND = 6


@dataclass(frozen=True)
class Hl7Time:
    """A point in time as precise as the sender made it. ``moment`` is timezone-aware whenever the
    precision includes a time of day; below that it is midnight of the (first) day, naive."""

    moment: datetime
    precision: Precision
    fraction: str = ""  # fractional-second digits as sent

    def fhir_date(self) -> str:
        if self.precision == Precision.YEAR:
            return f"{self.moment.year:04d}"
        if self.precision == Precision.MONTH:
            return f"{self.moment.year:04d}-{self.moment.month:02d}"
        return f"{self.moment.year:04d}-{self.moment.month:02d}-{self.moment.day:02d}"

    def fhir_datetime(self) -> str:
        if self.precision <= Precision.DAY:
            return self.fhir_date()
        m = self.moment  # not strftime: its %Y does not pad years before 1000 on every platform
        text = f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        if self.fraction:
            text += "." + self.fraction
        return text + _offset(self.moment)

    def fhir_instant(self) -> str | None:
        """An instant needs a time to the second; a time to the minute is read as its first second."""
        return self.fhir_datetime() if self.precision >= Precision.MINUTE else None


@dataclass(frozen=True)
class ParsedTime:
    time: Hl7Time
    time_of_day_dropped: bool  # a time was sent, but no zone was known for it


def parse_ts(text: str, zone: tzinfo | None) -> ParsedTime:
    """``text`` is the first component of a TS/DTM field. Raises Hl7Error (no location) if malformed."""
    match = _TS.match(text.strip())
    if match is None:
        raise _invalid(text, "expected YYYY[MM[DD[HHMM[SS[.S]]]]][+/-ZZZZ]")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if fraction and second is None:
        raise _invalid(text, "fractional seconds without seconds")
    parts = [year, month, day, hour, minute, second]
    precision = Precision(sum(1 for part in parts if part is not None))
    try:
        moment = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")[:6]),
        )
    except ValueError as exc:
        raise _invalid(text, str(exc)) from None
    if precision <= Precision.DAY:
        return ParsedTime(Hl7Time(moment, precision), False)
    given = _zone(offset, text) if offset else zone
    if given is None:
        return ParsedTime(Hl7Time(datetime.combine(moment.date(), datetime.min.time()), Precision.DAY), True)
    return ParsedTime(Hl7Time(moment.replace(tzinfo=given), precision, fraction or ""), False)


def offset_zone(text: str) -> tzinfo | None:
    """The fixed zone of a TS that carries an offset (MSH-7: the sender's zone), else None."""
    match = _TS.match(text.strip())
    if match is None or match.group(8) is None:
        return None
    return _zone(match.group(8), text)


def birth_date(text: str) -> str | None:
    """A FHIR date from PID-7 (a birth time's clock is not kept); None if it is not a valid TS."""
    try:
        parsed = parse_ts(text, UTC).time
    except Hl7Error:
        return None
    return parsed.fhir_date()


def hl7_now(now: datetime) -> str:
    """An aware datetime as an HL7 DTM to the second with its offset (MSH-7 of an ACK)."""
    offset = _offset(now).replace(":", "")
    return now.strftime("%Y%m%d%H%M%S") + offset


def _zone(offset: str, text: str) -> tzinfo:
    sign = -1 if offset[0] == "-" else 1
    hours, minutes = int(offset[1:3]), int(offset[3:5])
    if minutes >= 60 or hours > 14 or (hours == 14 and minutes):
        raise _invalid(text, f"time zone offset {offset} is out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _offset(moment: datetime) -> str:
    delta = moment.utcoffset() or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _invalid(text: str, why: str) -> Hl7Error:
    return content_error("invalid_timestamp", f"{text!r} is not a valid HL7 date/time: {why}", DATA_TYPE_ERROR)
