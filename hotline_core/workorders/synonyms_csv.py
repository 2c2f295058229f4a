"""The knowledge base's synonyms (同义词) from a CSV upload: ``word,canonical`` rows; a
refused file imports nothing and names each bad cell."""

from __future__ import annotations

import csv
import io

from sqlalchemy.orm import Session

from hotline_core.workorders import knowledge
from hotline_core.workorders.csv_import import CsvImportError, CsvProblem, csv_records


def import_synonyms(session: Session, content: str) -> int:
    """Replace the synonyms with the file's pairs; their number."""
    pairs: list[tuple[str, str]] = []
    problems: list[CsvProblem] = []
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    for row in csv_records(reader, "synonyms CSV", problems):
        word = (row.get("word") or "").strip()
        canonical = (row.get("canonical") or "").strip()
        if not word or not canonical:
            problems.append(CsvProblem(reader.line_num, "word" if not word else "canonical",
                                       "must not be empty"))
        pairs.append((word, canonical))
    if problems:
        raise CsvImportError("synonyms CSV", problems)
    knowledge.set_synonyms(session, pairs)
    return len(pairs)
