"""Checking a unit's reply (答复) against the preset's reply rules before it is accepted.

huizhou: specific and concise, not a list of laws, stating response, unit, time, method,
coordination, result, explanation; if not fully solved, reason, progress and next steps.
minhe: names signer, unit, handler and time; one-sentence replies are refused; the unit
replies to the citizen before reporting to the platform.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from hotline_core.workorders.presets import ReplyPart, ReplyRule

PART_LABELS = {
    ReplyPart.RESPONSE: "诉求回应", ReplyPart.UNIT: "答复单位", ReplyPart.TIME: "办理时间",
    ReplyPart.METHOD: "办理方式", ReplyPart.COORDINATION: "协调处置经过",
    ReplyPart.ADVICE: "意见建议", ReplyPart.RESULT: "办理结果", ReplyPart.EXPLANATION: "解释说明",
    ReplyPart.REASON: "未办结原因", ReplyPart.PROGRESS: "办理进展",
    ReplyPart.NEXT_STEPS: "后续计划",
    ReplyPart.SIGNER: "签发人", ReplyPart.HANDLER: "承办人",
}
_SENTENCE_END = re.compile(r"[。！？!?；;]+|\.(?:\s|$)")
_LAW_CITATION = re.compile(r"《[^》]{2,40}》.{0,20}?第[一二三四五六七八九十百零\d]+条")


@dataclass(frozen=True)
class ReplyDraft:
    parts: Mapping[ReplyPart, str]
    resolved: bool = True
    citizen_replied_at: datetime | None = None
    attachments: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(f"{PART_LABELS[p]}: {t}" for p, t in self.parts.items() if t.strip())


def sentences(text: str) -> list[str]:
    return [s for s in (chunk.strip() for chunk in _SENTENCE_END.split(text)) if s]


def missing_parts(rule: ReplyRule, draft: ReplyDraft) -> list[ReplyPart]:
    """The parts the rule asks for that the draft leaves empty: the required ones, then
    (when the demand is not fully solved) those an unresolved reply must add."""
    filled = {p for p, t in draft.parts.items() if t.strip()}
    missing = sorted(rule.required_parts - filled)
    if not draft.resolved:
        missing += sorted(rule.parts_if_unresolved - filled - rule.required_parts)
    return missing


def check_reply(rule: ReplyRule, draft: ReplyDraft, now: datetime) -> list[str]:
    """Every reason the reply is refused; empty when it is acceptable."""
    problems: list[str] = []
    for part in missing_parts(rule, draft):
        prefix = "" if part in rule.required_parts else "not fully solved: "
        problems.append(f"{prefix}missing {part.value} ({PART_LABELS[part]})")
    narrative = " ".join(
        draft.parts.get(p, "") for p in draft.parts
        if p not in (ReplyPart.UNIT, ReplyPart.SIGNER, ReplyPart.HANDLER, ReplyPart.TIME)
    )
    said = sentences(narrative)
    if len(said) < rule.min_sentences:
        problems.append(
            f"too short: {len(said)} sentence(s), at least {rule.min_sentences} required"
        )
    cited = [s for s in said if _LAW_CITATION.search(s)]
    if said and len(cited) * 2 > len(said):
        problems.append("the reply lists laws instead of answering the demand")
    if rule.citizen_before_platform:
        if draft.citizen_replied_at is None:
            problems.append("the unit must reply to the citizen before reporting: "
                            "give citizen_replied_at")
        elif draft.citizen_replied_at > now:
            problems.append("citizen_replied_at is in the future")
    return problems
