"""Every spelling in the sources resolves; unknown names get suggestions."""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.errors import UnknownCitizenship
from forecasting.names import resolve
from tests.conftest import CBP_STATE_NEW, CBP_STATE_OLD, WORKBOOK


@pytest.mark.parametrize(
    "spelling", ["CHINA, PEOPLES REPUBLIC OF", "China, People's Republic", "China", "cn", "CHN"]
)
def test_every_spelling_of_china_is_cn(spelling: str) -> None:
    assert resolve(spelling).code == "CN"
    assert resolve(spelling).name == "China"


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        ("MYANMAR (BURMA)", "MM"),
        ("Burma", "MM"),
        ("Korea, South", "KR"),
        ("TURKEY", "TR"),
        ("Congo, Democratic Republic", "CD"),
        ("Kosovo", "XK"),
        ("OTHER", "OTHER"),
        ("Unknown", "UNKNOWN"),
        ("venezuela", "VE"),
        ("VEN", "VE"),
    ],
)
def test_source_spellings_resolve(spelling: str, code: str) -> None:
    assert resolve(spelling).code == code


def test_every_name_in_the_bundled_sources_resolves() -> None:
    names = set(
        pd.read_excel(WORKBOOK, sheet_name="Monthly Rgn and Citp", engine="calamine")["Citizenship"]
    )
    for path in (CBP_STATE_OLD, CBP_STATE_NEW):
        names |= set(pd.read_csv(path, dtype=str)["Citizenship"])
    codes = {resolve(n).code for n in names}
    assert len(names) > 150
    assert {"CN", "IN", "VE", "EC", "MR", "OTHER", "UNKNOWN"} <= codes


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UnknownCitizenship) as info:
        resolve("Venezula")
    assert info.value.suggestions[0] == "Venezuela (VE)"
    assert isinstance(info.value, LookupError)
