"""Knowledge base (知识库): departments' answers, searched fuzzily in Chinese.

Question, keywords and answer are segmented with jieba (search mode, so 社保缴费 also
yields 社保 and 缴费), every word is mapped through the synonym table (医保 → 医疗保险),
and the words go into an inverted index table. A search segments the query the same way
and ranks entries by how many distinct query words they contain, then by weight — an
indexed lookup in SQL, so it stays fast with many entries (hebei: 模糊查询、精准定位).

Who sees what: the public only public entries; a unit public entries and its own; the
hotline's staff all. A unit cannot publish by itself: an entry it asks to make public
(or any later edit of it) waits private, ``review_pending``, until a supervisor approves
it (:func:`decide_review`).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import jieba
from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session

from hotline_core.workorders.csv_import import (
    CsvImportError,
    CsvProblem,
    csv_header,
    csv_records,
)
from hotline_core.workorders.model import KnowledgeEntry, KnowledgeTerm, Synonym, Unit

jieba.setLogLevel(logging.WARNING)

QUESTION_WEIGHT, KEYWORD_WEIGHT, ANSWER_WEIGHT = 3, 3, 1
_WORD = re.compile(r"[\w]", re.UNICODE)
# Function words that match everything and rank nothing.
STOPWORDS = frozenset("的 了 和 与 及 或 在 是 我 你 他 她 它 我们 怎么 怎样 如何 什么 哪里 "
                      "哪些 吗 呢 吧 啊 请问 一下 可以 能 要 需要 有 没有 办理 问题".split())


def _synonyms(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Synonym.word, Synonym.canonical)).all())


def segment(text: str, synonyms: dict[str, str]) -> list[str]:
    """Search-mode words of ``text``, lower-cased, synonyms mapped to their canonical word."""
    words = []
    for raw in jieba.cut_for_search(text):
        w = raw.strip().lower()
        if len(w) < 2 and not w.isdigit() or w in STOPWORDS or not _WORD.search(w):
            continue
        words.append(synonyms.get(w, w))
    return words


def _index(session: Session, entry: KnowledgeEntry, synonyms: dict[str, str]) -> None:
    weights: Counter[str] = Counter()
    for w in set(segment(entry.question, synonyms)):
        weights[w] += QUESTION_WEIGHT
    for w in set(segment(entry.keywords.replace(";", " ").replace(",", " "), synonyms)):
        weights[w] += KEYWORD_WEIGHT
    for w in set(segment(entry.answer, synonyms)):
        weights[w] += ANSWER_WEIGHT
    session.execute(delete(KnowledgeTerm).where(KnowledgeTerm.entry_id == entry.id))
    session.add_all(KnowledgeTerm(entry_id=entry.id, term=t[:100], weight=n)
                    for t, n in weights.items())


def _teach_jieba(words: list[str]) -> None:
    # Keywords and synonyms are domain words jieba may not know; keep them whole.
    for w in words:
        if len(w) >= 2:
            jieba.add_word(w)


def set_synonyms(session: Session, pairs: list[tuple[str, str]]) -> None:
    """Replace the synonym table and re-index every entry with it."""
    session.execute(delete(Synonym))
    session.add_all(Synonym(word=w.lower(), canonical=c.lower()) for w, c in pairs)
    session.flush()
    _teach_jieba([w for pair in pairs for w in pair])
    synonyms = _synonyms(session)
    for entry in session.scalars(select(KnowledgeEntry)):
        _index(session, entry, synonyms)
    session.flush()


def save_entry(session: Session, *, unit: str | None, question: str, answer: str,
               keywords: str = "", public: bool = True, now: datetime,
               entry_id: int | None = None, reviewed: bool = True) -> KnowledgeEntry:
    """Add an entry, or replace an existing one's text (the unit keeps it up to date).

    ``reviewed=False`` (a unit's edit): the entry is private whatever ``public`` says, and
    waits for a supervisor's review when ``public`` was asked for.
    """
    if entry_id is None:
        entry = KnowledgeEntry(unit_code=unit)
        session.add(entry)
    else:
        found = session.get(KnowledgeEntry, entry_id)
        if found is None:
            raise KeyError(entry_id)
        entry = found
    entry.question, entry.answer, entry.keywords = question, answer, keywords
    entry.public = public and reviewed
    entry.review_pending = public and not reviewed
    entry.updated_at = now
    session.flush()
    _teach_jieba(re.split(r"[;,\s]+", keywords))
    _index(session, entry, _synonyms(session))
    session.flush()
    return entry


def import_entries(session: Session, text: str, now: datetime) -> int:
    """Add entries from CSV ``unit,question,answer,keywords,public``; all or nothing."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = csv_header(reader, "knowledge base CSV")
    missing = [c for c in ("unit", "question", "answer") if c not in header]
    if missing:
        raise CsvImportError("knowledge base CSV",
                             [CsvProblem(1, c, "column missing from the header") for c in missing])
    units = set(session.scalars(select(Unit.code)))
    problems: list[CsvProblem] = []
    rows = []
    for row in csv_records(reader, "knowledge base CSV", problems):
        line = reader.line_num
        if None in row:
            problems.append(CsvProblem(line, "*", "more cells than header columns "
                                       "(quote cells that contain commas)"))
            continue
        unit = (row.get("unit") or "").strip()
        if unit and unit not in units:
            problems.append(CsvProblem(line, "unit", f"unit {unit!r} is not known"))
        for col in ("question", "answer"):
            if not (row.get(col) or "").strip():
                problems.append(CsvProblem(line, col, "must not be empty"))
        public = (row.get("public") or "yes").strip().lower()
        if public not in ("yes", "no", "是", "否", "true", "false", "1", "0"):
            problems.append(CsvProblem(line, "public", f"{public!r} is not yes/no (是/否)"))
        rows.append((unit or None, row.get("question", "").strip(), row.get("answer", "").strip(),
                     (row.get("keywords") or "").strip(),
                     public in ("yes", "是", "true", "1")))
    if problems:
        raise CsvImportError("knowledge base CSV", problems)
    for unit_code, question, answer, keywords, is_public in rows:
        save_entry(session, unit=unit_code, question=question, answer=answer,
                   keywords=keywords, public=is_public, now=now)
    return len(rows)


class NotPending(ValueError):
    """The entry does not wait for a review."""


def decide_review(session: Session, entry_id: int, approve: bool,
                  now: datetime) -> KnowledgeEntry:
    """A supervisor's decision on an entry a unit asked to publish: public, or stays private.

    Raises KeyError for an unknown entry, NotPending when it waits for no review.
    """
    entry = session.get(KnowledgeEntry, entry_id)
    if entry is None:
        raise KeyError(entry_id)
    if not entry.review_pending:
        raise NotPending(f"knowledge-base entry {entry_id} is not waiting for a review")
    entry.public, entry.review_pending, entry.updated_at = approve, False, now
    session.flush()
    return entry


@dataclass(frozen=True)
class Hit:
    entry: KnowledgeEntry
    matched: int  # distinct query words found in the entry
    score: int


def search(session: Session, query: str, *, limit: int = 10,
           public_only: bool = False, own_unit: str | None = None) -> list[Hit]:
    """Ranked entries for ``query``; ``public_only`` keeps public entries and, when
    ``own_unit`` is given, that unit's own entries."""
    words = sorted(set(segment(query, _synonyms(session))))
    if not words:
        return []
    matched = func.count(KnowledgeTerm.term).label("matched")
    score = func.sum(KnowledgeTerm.weight).label("score")
    stmt = (select(KnowledgeTerm.entry_id, matched, score)
            .where(KnowledgeTerm.term.in_(words))
            .group_by(KnowledgeTerm.entry_id)
            .order_by(matched.desc(), score.desc(), KnowledgeTerm.entry_id)
            .limit(limit))
    if public_only:
        visible: ColumnElement[bool] = KnowledgeEntry.public.is_(True)
        if own_unit is not None:
            visible = or_(visible, KnowledgeEntry.unit_code == own_unit)
        stmt = stmt.where(KnowledgeTerm.entry_id.in_(
            select(KnowledgeEntry.id).where(visible)))
    ranked = session.execute(stmt).all()
    entries = {e.id: e for e in session.scalars(
        select(KnowledgeEntry).where(KnowledgeEntry.id.in_([r[0] for r in ranked])))}
    return [Hit(entries[eid], int(m), int(s)) for eid, m, s in ranked]
