"""The server-side PNG of the unit report draws Chinese: a CJK font is found (fonts-noto-cjk,
installed by provision) and matplotlib reports no missing glyph for the units' names."""

from __future__ import annotations

import warnings

from hotline_core.workorders.metrics import Rate, UnitRates, UnitScore
from hotline_core.workorders.reports import UnitReport, cjk_family, reports_png


def test_png_names_units_in_chinese_without_missing_glyphs() -> None:
    assert cjk_family() is not None, "no CJK font: run `make provision` (fonts-noto-cjk)"
    rates = UnitRates(Rate(9, 10), Rate(7, 10), Rate(8, 8))
    rows = [UnitReport("town-chengguan", "城关镇人民政府", 10, rates, {},
                       UnitScore(80.0, 1.0, 79.0)),
            UnitReport("dept-housing", "县住房和城乡建设局", 10, rates, {},
                       UnitScore(80.0, 0.0, 80.0))]
    with warnings.catch_warnings():
        # matplotlib warns "Glyph … missing from font(s)" for every character it cannot draw.
        warnings.simplefilter("error")
        png = reports_png(rows, "12345 热线 2026年10月 考核")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
