"""CKD-EPI 2021 against worked values (NKF eGFR calculator, race-free 2021 equation) and unit handling."""

from __future__ import annotations

import pytest

from bridge.prescriptions.egfr import ckd_epi_2021, creatinine_from_quantity, creatinine_mg_dl


@pytest.mark.parametrize(
    ("creatinine", "age", "sex", "expected"),
    [
        (1.0, 60, "male", 86),  # NKF calculator: 86
        (1.0, 50, "female", 69),  # NKF calculator: 69
        (0.6, 40, "female", 116),  # below kappa: the alpha exponent applies
        (2.0, 80, "male", 33),  # 142 × (2.0/0.9)^-1.2 × 0.9938^80
        (1.45, 86, "female", 35),  # about the demo's 128 µmol/L at 86
    ],
)
def test_worked_values(creatinine: float, age: int, sex: str, expected: int) -> None:
    assert round(ckd_epi_2021(creatinine, age, sex)) == expected


def test_equation_terms_for_a_woman_above_kappa() -> None:
    # 142 × (1.4/0.7)^-1.200 × 0.9938^70 × 1.012
    expected = 142 * 2.0**-1.2 * 0.9938**70 * 1.012
    assert ckd_epi_2021(1.4, 70, "female") == pytest.approx(expected)


def test_units_convert_to_mg_per_dl() -> None:
    assert creatinine_mg_dl(88.42, "umol/L") == pytest.approx(1.0)
    assert creatinine_mg_dl(88.42, "µmol/L") == pytest.approx(1.0)
    assert creatinine_mg_dl(0.08842, "mmol/L") == pytest.approx(1.0)
    assert creatinine_mg_dl(10, "mg/L") == pytest.approx(1.0)
    assert creatinine_mg_dl(1, "g/L") is None
    assert creatinine_from_quantity({"value": 176.84, "code": "umol/L"}) == pytest.approx(2.0)
    assert creatinine_from_quantity({"value": -1, "code": "umol/L"}) is None


def test_refuses_children_and_nonsense() -> None:
    with pytest.raises(ValueError, match="adults"):
        ckd_epi_2021(1.0, 12, "male")
    with pytest.raises(ValueError, match="positive"):
        ckd_epi_2021(0, 70, "male")
