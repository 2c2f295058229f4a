"""Requests and answers of the knowledge-base routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from web.api import Model, NonBlank, Out, QueryInt


class SearchQuery(Model):
    q: Annotated[NonBlank, Field(max_length=200)]   # the search words
    limit: Annotated[QueryInt, Field(ge=1, le=50)] = 10


class EntryBody(Model):
    """An entry; ``unit`` (staff only) makes it a department's; a unit's own entry that
    is public waits for a supervisor's review."""

    question: NonBlank
    answer: NonBlank
    keywords: Annotated[str, Field(max_length=500)] = ""
    public: bool = True
    unit: Annotated[str, Field(max_length=64)] = ""


class ReviewBody(Model):
    approve: bool


class EntryOut(Out):
    id: int
    unit: str | None
    question: str
    answer: str
    keywords: str
    public: bool
    review_pending: bool
    updated_at: str


class HitOut(EntryOut):
    matched_words: int
    score: int


class SearchOut(Out):
    query: str
    results: list[HitOut]


class ImportedOut(Out):
    imported: int
