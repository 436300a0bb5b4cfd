"""Small, real inputs the tests write: CBP releases in each published format."""

from __future__ import annotations

from pathlib import Path

STATE_HEADER = (
    "Fiscal Year,Month Grouping,Month (abbv),Land Border Region,State,Demographic,"
    "Citizenship,Title of Authority,Encounter Count"
)
AOR_HEADER = (
    "Fiscal Year,Month Grouping,Month (abbv),Component,Land Border Region,Area of Responsibility,"
    "AOR (Abbv),Demographic,Citizenship,Title of Authority,Encounter Type,Encounter Count"
)
SW_HEADER = (
    "Fiscal Year,Month Grouping,Month (abbv),Component,Demographic,Citizenship Grouping,"
    "Title of Authority,Encounter Type,Encounter Count"
)


def state_row(
    fy: str,
    month: str,
    region: str,
    citizenship: str,
    count: int | str,
    demographic: str = "Single Adults",
    title: str = "Title 8",
    state: str = "TX",
) -> str:
    return f'{fy},FYTD,{month},{region},{state},{demographic},"{citizenship}",{title},{count}'


def aor_row(
    fy: str,
    month: str,
    component: str,
    region: str,
    citizenship: str,
    count: int | str,
    aor: str = "El Paso Sector",
    demographic: str = "Single Adults",
    title: str = "Title 8",
    kind: str = "Apprehensions",
) -> str:
    return (
        f'{fy},FYTD,{month},{component},{region},{aor},ELP,{demographic},"{citizenship}",'
        f"{title},{kind},{count}"
    )


def sw_row(
    fy: str,
    month: str,
    component: str,
    grouping: str,
    count: int | str,
    demographic: str = "Single Adults",
    title: str = "Title 8",
    kind: str = "Apprehensions",
) -> str:
    return f"{fy},FYTD,{month},{component},{demographic},{grouping},{title},{kind},{count}"


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path
