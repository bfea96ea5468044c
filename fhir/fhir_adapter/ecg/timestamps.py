"""The compact timestamps of HL7 v3 (TS) and DICOM (DT): ``YYYYMMDDHHMM[SS[.F+]][+/-ZZZZ]``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_COMPACT = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})(?P<h>\d{2})(?P<mi>\d{2})"
    r"(?:(?P<s>\d{2})(?:\.(?P<f>\d{1,6})\d*)?)?"
    r"(?P<tz>[+-]\d{4})?$"
)


def parse_compact_datetime(text: str | None) -> datetime | None:
    """The instant, aware when a zone is given; None when absent, unparseable or coarser than minutes.

    A recording start with only a date is not worth keeping: it cannot place the samples in time.
    """
    if not text:
        return None
    match = _COMPACT.match(text.strip())
    if match is None:
        return None
    tz = None
    if match["tz"]:
        sign = -1 if match["tz"][0] == "-" else 1
        hours, minutes = int(match["tz"][1:3]), int(match["tz"][3:5])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            int(match["s"] or 0),
            int((match["f"] or "0").ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        return None
