"""A small SCP-ECG writer and a bit-by-bit reader for the tests, written from EN 1064 apart from the reader.

The writer makes synthetic files (other difference orders, 8- and 16-bit escape codes, damaged variants);
the naive decoder is the independent reading the real sample is checked against.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

import numpy as np


def crc(data: bytes) -> int:
    value = 0xFFFF
    for byte in data:
        value ^= byte << 8
        for _ in range(8):
            value = ((value << 1) ^ 0x1021) & 0xFFFF if value & 0x8000 else (value << 1) & 0xFFFF
    return value


def encode_default(values: np.ndarray) -> bytes:
    bits = []
    for value in values.tolist():
        if value == 0:
            bits.append("0")
        elif -8 <= value <= 8:
            bits.append("1" * abs(value) + "0" + ("1" if value < 0 else "0"))
        elif -128 <= value <= 127:
            bits.append("1" * 9 + "0" + format(value & 0xFF, "08b"))
        else:
            bits.append("1" * 10 + format(value & 0xFFFF, "016b"))
    text = "".join(bits)
    text += "0" * (-len(text) % 8)
    return int(text, 2).to_bytes(len(text) // 8, "big") if text else b""


def decode_default_naively(data: bytes, count: int) -> np.ndarray:
    """Prefix matching on a string of bits: slow and obvious."""
    bits = "".join(format(byte, "08b") for byte in data)
    codes = {"0": 0}
    for k in range(1, 9):
        codes["1" * k + "00"], codes["1" * k + "01"] = k, -k
    out, pos = [], 0
    while len(out) < count:
        if bits.startswith("1" * 10, pos):
            raw = int(bits[pos + 10 : pos + 26], 2)
            out.append(raw - 65536 if raw >= 32768 else raw)
            pos += 26
        elif bits.startswith("1" * 9 + "0", pos):
            raw = int(bits[pos + 10 : pos + 18], 2)
            out.append(raw - 256 if raw >= 128 else raw)
            pos += 18
        else:
            code = next(c for c in codes if bits.startswith(c, pos))
            out.append(codes[code])
            pos += len(code)
    return np.array(out, dtype=np.int64)


def differences(samples: np.ndarray, order: int) -> np.ndarray:
    """EN 1064: first differences keep x[0]; second differences keep x[0] and x[1] as they are."""
    out = samples.astype(np.int64).copy()
    if order == 1:
        out[1:] = samples[1:] - samples[:-1]
    elif order >= 2:
        out[2:] = samples[2:] - 2 * samples[1:-1] + samples[:-2]
    return out


def undo_second_differences_naively(values: np.ndarray) -> np.ndarray:
    out = [int(v) for v in values[:2]]
    for d in values[2:].tolist():
        out.append(d + 2 * out[-1] - out[-2])
    return np.array(out, dtype=np.int64)


def section(section_id: int, body: bytes) -> bytes:
    body += b"\0" * (len(body) % 2)
    reserved = b"SCPECG" if section_id == 0 else b"\0" * 6
    head = struct.pack("<HIBB", section_id, 16 + len(body), 20, 20) + reserved
    return struct.pack("<H", crc(head + body)) + head + body


def build_scp(
    leads: Mapping[int, np.ndarray],
    *,
    avm_nv: int = 2500,
    interval_us: int = 2000,
    order: int = 2,
    flags: int | None = None,
    huffman_tables: int | None = 19999,
    bimodal: int = 0,
) -> bytes:
    """An SCP-ECG file of sections 0, 1, (2), 3, 6 holding ``leads`` (SCP lead number to samples)."""
    count = len(next(iter(leads.values())))
    tags = struct.pack("<BH", 25, 4) + struct.pack("<HBB", 2026, 3, 1)
    tags += struct.pack("<BH", 26, 3) + bytes([8, 30, 5]) + struct.pack("<BH", 255, 0)
    lead_flags = flags if flags is not None else (0b100 | len(leads) << 3)
    section3 = bytes([len(leads), lead_flags]) + b"".join(struct.pack("<IIB", 1, count, number) for number in leads)
    encoded = [encode_default(differences(np.asarray(samples), order)) for samples in leads.values()]
    section6 = struct.pack("<HHBB", avm_nv, interval_us, order, bimodal)
    section6 += b"".join(struct.pack("<H", len(e)) for e in encoded) + b"".join(encoded)
    bodies = {1: tags, 3: section3, 6: section6}
    if huffman_tables is not None:
        bodies[2] = struct.pack("<H", huffman_tables)
    pointer_count = 12
    position = 6 + 16 + 10 * pointer_count + 1  # 1-based index of the first section after section 0
    pointers, sections = [], []
    for section_id in range(pointer_count):
        if section_id == 0:
            pointers.append(struct.pack("<HII", 0, 16 + 10 * pointer_count, 7))
        elif section_id in bodies:
            made = section(section_id, bodies[section_id])
            pointers.append(struct.pack("<HII", section_id, len(made), position))
            sections.append(made)
            position += len(made)
        else:
            pointers.append(struct.pack("<HII", section_id, 0, 0))
    content = section(0, b"".join(pointers)) + b"".join(sections)
    size = 6 + len(content)
    return struct.pack("<HI", crc(struct.pack("<I", size) + content), size) + content
