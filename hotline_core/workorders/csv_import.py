"""Reading the dispatch data from CSV: units with their A/B liaisons, the responsibility
list (职责清单) and the town/street gazetteer (地名库).

Every file is validated completely before anything is written; all problems are reported
together, each naming the line (header = line 1) and the column. One bad cell means
nothing from that file is imported.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hotline_core.workorders.model import Matter, Place, Unit, UnitContact

APPROVAL_KINDS = {
    # hebei art. 23: reported to the responsible leader before dispatch.
    "": "",
    "safety_stability": "涉及安全、稳定等需要紧急处理的重大事件",
    "multi_department": "涉及面广,需要多个部门或县区共同解决",
    "common_issue": "群众反映较为集中、带有普遍性的共性问题",
    "long_unsolved": "解决难度大、久拖未决的难点问题",
}
_TRUE = {"1", "true", "yes", "y", "是"}
_FALSE = {"", "0", "false", "no", "n", "否"}
UNIT_KINDS = {"town", "department", "company"}


@dataclass(frozen=True)
class CsvProblem:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


class CsvImportError(ValueError):
    def __init__(self, what: str, problems: list[CsvProblem]) -> None:
        self.what = what
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{what}: nothing imported: {shown}{more}")


def csv_header(reader: csv.DictReader[str], what: str) -> list[str]:
    """The header of ``reader``; a header the csv module cannot read is a refused import."""
    try:
        return list(reader.fieldnames or [])
    except csv.Error as exc:
        raise CsvImportError(what, [CsvProblem(1, "*", f"unreadable header: {exc}")]) from None


def csv_records(reader: csv.DictReader[str], what: str,
                problems: list[CsvProblem] | None = None) -> Iterator[dict[str, Any]]:
    """The rows of ``reader``. A row the csv module cannot read at all (a cell over its
    field limit, 131 072 characters by default) stops the import, naming the line the row
    starts on, with the ``problems`` found so far: nothing after it can be trusted to line
    up."""
    csv_header(reader, what)  # the header first, so that line numbers below count from it
    while True:
        starts_at = reader.line_num + 1  # the row about to be read begins on this line
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            found = [*(problems or []), CsvProblem(starts_at, "*", f"unreadable row: {exc}")]
            raise CsvImportError(what, found) from None
        yield row


def _rows(text: str, what: str, required: list[str], limits: dict[str, int],
          problems: list[CsvProblem]) -> list[tuple[int, dict[str, str]]]:
    """The data rows with their line numbers; a cell longer than its database column
    (``limits``) or holding a NUL is a problem of its own; an unreadable row stops the
    import (:func:`csv_records`)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = csv_header(reader, what)
    missing = [c for c in required if c not in header]
    if missing:
        raise CsvImportError(what, [CsvProblem(1, c, "column missing from the header")
                                    for c in missing])
    rows = []
    for row in csv_records(reader, what, problems):
        if None in row:
            rows.append((reader.line_num, {"__extra__": "x"}))
            continue
        cells = {k: (v or "").strip() for k, v in row.items()}
        for column, value in cells.items():
            if "\x00" in value:
                problems.append(CsvProblem(reader.line_num, column, "contains a NUL character"))
            elif column in limits and len(value) > limits[column]:
                problems.append(CsvProblem(reader.line_num, column,
                                           f"is longer than {limits[column]} characters"))
        rows.append((reader.line_num, cells))
    return rows


def _phone(value: str) -> bool:
    """Digits 0-9 (ASCII: ``str.isdigit`` also takes ``１`` and ``²``), dashes allowed."""
    return re.fullmatch(r"[0-9]+(-[0-9]+)*", value) is not None


def _bool(value: str, line: int, column: str, problems: list[CsvProblem]) -> bool:
    low = value.lower()
    if low in _TRUE:
        return True
    if low not in _FALSE:
        problems.append(CsvProblem(line, column, f"{value!r} is not yes/no (是/否)"))
    return False


def _need(row: dict[str, str], column: str, line: int, problems: list[CsvProblem]) -> str:
    value = row.get(column, "")
    if not value:
        problems.append(CsvProblem(line, column, "must not be empty"))
    return value


def import_units(session: Session, text: str) -> int:
    """Units and their lead / A / B liaisons (民和: AB角制度). Upserts by code."""
    what = "units CSV"
    cols = ["code", "name", "kind", "lead_name", "lead_phone", "a_name", "a_phone",
            "b_name", "b_phone"]
    problems: list[CsvProblem] = []
    parsed: list[tuple[str, str, str, list[tuple[str, str, str]]]] = []
    seen: set[str] = set()
    limits = {"code": 64, "name": 200, **{f"{p}_name": 100 for p in ("lead", "a", "b")},
              **{f"{p}_phone": 32 for p in ("lead", "a", "b")}}
    for line, row in _rows(text, what, cols[:3], limits, problems):
        if "__extra__" in row:
            problems.append(CsvProblem(line, "*", "more cells than header columns"))
            continue
        code = _need(row, "code", line, problems)
        name = _need(row, "name", line, problems)
        kind = row.get("kind", "")
        if kind not in UNIT_KINDS:
            problems.append(
                CsvProblem(line, "kind", f"{kind!r} is not one of {sorted(UNIT_KINDS)}"))
        if code in seen:
            problems.append(CsvProblem(line, "code", f"{code!r} appears twice"))
        seen.add(code)
        contacts = []
        for role, prefix in (("lead", "lead"), ("A", "a"), ("B", "b")):
            cname, phone = row.get(f"{prefix}_name", ""), row.get(f"{prefix}_phone", "")
            if bool(cname) != bool(phone):
                problems.append(CsvProblem(line, f"{prefix}_phone" if cname else f"{prefix}_name",
                                           "name and phone go together"))
            elif phone and not _phone(phone):
                problems.append(CsvProblem(line, f"{prefix}_phone", f"{phone!r} is not a number"))
            elif cname:
                contacts.append((role, cname, phone))
        parsed.append((code, name, kind, contacts))
    if problems:
        raise CsvImportError(what, problems)
    for code, name, kind, contacts in parsed:
        unit = session.get(Unit, code) or Unit(code=code)
        unit.name, unit.kind = name, kind
        unit.contacts = [UnitContact(role=r, name=n, phone=p) for r, n, p in contacts]
        session.add(unit)
    session.flush()
    return len(parsed)


def _known_units(session: Session) -> set[str]:
    return set(session.scalars(select(Unit.code)))


def import_responsibility_list(session: Session, text: str) -> int:
    """Replace the responsibility list: matter → department (unit code) → section."""
    what = "responsibility list CSV"
    problems: list[CsvProblem] = []
    units = _known_units(session)
    parsed: list[Matter] = []
    seen: set[str] = set()
    limits = {"matter": 200, "department": 64, "section": 200}
    for line, row in _rows(text, what, ["matter", "department", "section"], limits, problems):
        if "__extra__" in row:
            problems.append(CsvProblem(line, "*", "more cells than header columns"))
            continue
        matter = _need(row, "matter", line, problems)
        dept = _need(row, "department", line, problems)
        if dept and dept not in units:
            problems.append(CsvProblem(line, "department",
                                       f"unit {dept!r} is not known; import it in the units CSV"))
        if matter in seen:
            problems.append(CsvProblem(line, "matter", f"{matter!r} appears twice"))
        seen.add(matter)
        approval = row.get("approval", "")
        if approval not in APPROVAL_KINDS:
            problems.append(CsvProblem(
                line, "approval",
                f"{approval!r} is not one of {sorted(k for k in APPROVAL_KINDS if k)} or empty"))
        parsed.append(Matter(
            name=matter, department=dept, section=row.get("section", ""),
            locality_first=_bool(row.get("locality_first", ""), line, "locality_first", problems),
            dual=_bool(row.get("dual", ""), line, "dual", problems), approval=approval,
        ))
    if problems:
        raise CsvImportError(what, problems)
    session.execute(delete(Matter))
    session.add_all(parsed)
    session.flush()
    return len(parsed)


def import_gazetteer(session: Session, text: str) -> int:
    """Replace the gazetteer: place (village, community, street) → town unit code."""
    what = "gazetteer CSV"
    problems: list[CsvProblem] = []
    units = {code: kind for code, kind in session.execute(select(Unit.code, Unit.kind))}
    parsed: list[Place] = []
    seen: set[str] = set()
    for line, row in _rows(text, what, ["place", "town"], {"place": 200, "town": 64},
                           problems):
        if "__extra__" in row:
            problems.append(CsvProblem(line, "*", "more cells than header columns"))
            continue
        place = _need(row, "place", line, problems)
        town = _need(row, "town", line, problems)
        if town and units.get(town) != "town":
            problems.append(
                CsvProblem(line, "town", f"{town!r} is not a town unit in the units CSV"))
        if place in seen:
            problems.append(CsvProblem(line, "place", f"{place!r} appears twice"))
        seen.add(place)
        parsed.append(Place(name=place, town=town))
    if problems:
        raise CsvImportError(what, problems)
    session.execute(delete(Place))
    session.add_all(parsed)
    session.flush()
    return len(parsed)
