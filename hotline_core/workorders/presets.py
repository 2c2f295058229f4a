"""Rule presets (规则预设): one city's hotline rules as data.

A preset is a TOML file in ``presets/`` (see R-PRESET): category deadlines, sign-off
(签收) and return (退单) windows, extension (延期) and redo (重办) rules, the callback
(回访) window, the restriction length, light (亮灯) thresholds, metric weights and
deductions, satisfaction levels and reply rules. This module only reads and validates;
it holds no city's numbers. The file is declared as :class:`PresetFile`; every error is
the one :class:`ConfigError` naming the file, the line and the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal, get_args

from pydantic import Field, Strict, StringConstraints

from hotline_core.config_schema import ConfigModel, parse_toml, setting_error, validate_data

PRESET_DIR = Path(__file__).resolve().parents[2] / "presets"
PRESET_NAMES = ("gaotai", "ganzhou", "hebei", "minhe", "huizhou")


class Category(StrEnum):
    """Demand category (诉求类别)."""

    CONSULT = "consult"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 建议
    OTHER = "other"  # 其他


LimitUnit = Literal["working_days", "working_hours", "hours", "minutes", "natural_days"]
LIMIT_UNITS: tuple[str, ...] = get_args(LimitUnit)


@dataclass(frozen=True)
class Limit:
    """A time allowance (时限). ``hours``/``minutes``/``natural_days`` run on the clock
    (7×24); ``working_days``/``working_hours`` run on the working-day calendar."""

    amount: int
    unit: LimitUnit


class ReturnFrom(StrEnum):
    """The instant a return (退单) window is counted from."""

    SIGN_OFF = "sign_off"  # 签收后
    DISPATCH = "dispatch"  # 收到工单 (派单) 后


class SatisfactionLevel(StrEnum):
    """Five evaluation levels (满意度评价)."""

    VERY_SATISFIED = "very_satisfied"  # 非常满意
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意
    VERY_UNSATISFIED = "very_unsatisfied"  # 非常不满意


class DeductionKind(StrEnum):
    """Things that cost a unit points (减分)."""

    LATE_SIGN_OFF = "late_sign_off"  # 逾期签收
    LATE_HANDLING = "late_handling"  # 逾期办理
    LATE_REPLY = "late_reply"  # 逾期回复
    REDO = "redo"  # 退回重办
    SHIRKING = "shirking"  # 推诿不办
    FIRST_RESPONSIBILITY_BREACH = "first_responsibility_breach"  # 不遵守首接负责制
    DOUBLE_FEEDBACK_MISSING = "double_feedback_missing"  # 不落实双反馈制
    IMPROPER_RETURN = "improper_return"  # 不当退单
    IGNORED_SUPERVISION = "ignored_supervision"  # 经督办仍不按要求办理


class ReplyPart(StrEnum):
    """Pieces a unit's reply (答复) must contain."""

    RESPONSE = "response"  # 诉求回应
    UNIT = "unit"  # 办理/答复单位
    TIME = "time"  # 办理/答复时间
    METHOD = "method"  # 办理方式
    COORDINATION = "coordination"  # 协调处置经过
    ADVICE = "advice"  # 意见建议
    RESULT = "result"  # 办理结果
    EXPLANATION = "explanation"  # 解释指引
    REASON = "reason"  # 未完全办结的原因
    PROGRESS = "progress"  # 办理进展
    NEXT_STEPS = "next_steps"  # 后续计划
    SIGNER = "signer"  # 签发人
    HANDLER = "handler"  # 具体承办人


@dataclass(frozen=True)
class Source:
    """Where a preset's rules come from."""

    file: str
    title: str


@dataclass(frozen=True)
class ExtensionRule:
    """Extension (延期): when a unit may push a deadline back."""

    allowed: bool
    max_total: Limit | None  # whole allowance counted from receipt, original included
    apply_before_due: Limit  # request at least this long before the due time
    needs_approval: bool  # the platform approves (审核同意)
    reason_required: bool
    written_signed: bool  # written and signed by the unit head (书面, 主要负责人签字)
    max_count: int | None


@dataclass(frozen=True)
class RedoRule:
    """Redo (重办) after an unsatisfied evaluation."""

    deadline: Limit | Literal["same_as_original"]
    max_redos: int
    second_evaluation_counts: bool


@dataclass(frozen=True)
class LightRule:
    """Yellow/red lights (红黄灯). Yellow when the time left is at most
    ``yellow_remaining_percent`` % of the allowance, or at most ``yellow_remaining_hours``
    hours (0 = that test is off); red once due."""

    yellow_remaining_percent: int
    yellow_remaining_hours: int
    special_supervision_after: Limit  # overdue this long after the reminder call → 专项督办


@dataclass(frozen=True)
class MetricRule:
    """Unit score (百分制考核): weights in percent (sum 100), points per deduction."""

    response_weight: int
    completion_weight: int
    satisfaction_weight: int
    response_target: int
    completion_target: int
    satisfaction_target: int
    deductions: Mapping[DeductionKind, float]


@dataclass(frozen=True)
class ReplyRule:
    """What a unit's reply must contain (答复规范)."""

    required_parts: frozenset[ReplyPart]
    parts_if_unresolved: frozenset[ReplyPart]
    min_sentences: int
    citizen_before_platform: bool


@dataclass(frozen=True)
class Preset:
    """One hotline's complete rule set."""

    name: str
    source: Source
    category_limits: Mapping[Category, Limit]
    emergency_limit: Limit
    sign_off_limit: Limit
    return_limit: Limit
    return_counted_from: ReturnFrom
    return_reason_required: bool
    return_suggested_unit_required: bool
    extension: ExtensionRule
    redo: RedoRule
    callback_limit: Limit
    restriction_days: int
    lights: LightRule
    metrics: MetricRule
    satisfied_levels: frozenset[SatisfactionLevel]
    reply: ReplyRule

    def limit_for(self, category: Category, emergency: bool = False) -> Limit:
        return self.emergency_limit if emergency else self.category_limits[category]

    def is_satisfied(self, level: SatisfactionLevel) -> bool:
        return level in self.satisfied_levels


def preset_path(name: str) -> Path:
    return PRESET_DIR / f"{name}.toml"


# ---------------------------------------------------------------- the file's schema

NonEmpty = Annotated[str, StringConstraints(pattern=r"\S")]
Whole = Annotated[int, Field(ge=0)]
Percent = Annotated[int, Field(ge=0, le=100)]


# Enumerations are read from their TOML string values (the models are otherwise strict).
ReturnFromName = Annotated[ReturnFrom, Strict(False)]
DeductionName = Annotated[DeductionKind, Strict(False)]
LevelName = Annotated[SatisfactionLevel, Strict(False)]
ReplyPartName = Annotated[ReplyPart, Strict(False)]


class LimitTable(ConfigModel):
    """``{ amount = 1, unit = "working_days" }``: a time allowance (时限)."""

    amount: int = Field(ge=1)
    unit: LimitUnit


class LeadTable(ConfigModel):
    """A lead time like :class:`LimitTable` that may be 0."""

    amount: Whole
    unit: LimitUnit


class SourceTable(ConfigModel):
    file: NonEmpty
    title: NonEmpty


class LimitsTable(ConfigModel):
    """``[limits]``: the deadline of each category (诉求类别), and of urgent orders."""

    consult: LimitTable
    help: LimitTable
    complaint: LimitTable
    report: LimitTable
    suggestion: LimitTable
    other: LimitTable
    emergency: LimitTable


class SignOffTable(ConfigModel):
    limit: LimitTable


class ReturnTable(ConfigModel):
    limit: LimitTable
    counted_from: ReturnFromName
    reason_required: bool
    suggested_unit_required: bool


class ExtensionTable(ConfigModel):
    allowed: bool
    max_total: LimitTable | None = None
    apply_before_due: LeadTable
    needs_approval: bool
    reason_required: bool
    written_signed: bool
    max_count: Annotated[int, Field(ge=1)] | None = None


class RedoTable(ConfigModel):
    deadline: LimitTable | Literal["same_as_original"]
    max_redos: Whole
    second_evaluation_counts: bool


class CallbackTable(ConfigModel):
    limit: LimitTable


class RestrictionTable(ConfigModel):
    days: int = Field(ge=1)


class LightsTable(ConfigModel):
    yellow_remaining_percent: Percent
    yellow_remaining_hours: Whole = Field(description="0: that test is off")
    special_supervision_after: LimitTable


class MetricsTable(ConfigModel):
    response_weight: Whole
    completion_weight: Whole
    satisfaction_weight: Whole
    response_target: Percent
    completion_target: Percent
    satisfaction_target: Percent
    deductions: dict[DeductionName, Annotated[float, Field(ge=0)]]


class SatisfactionTable(ConfigModel):
    satisfied: list[LevelName]


class ReplyTable(ConfigModel):
    required_parts: list[ReplyPartName]
    parts_if_unresolved: list[ReplyPartName]
    min_sentences: int = Field(ge=1)
    citizen_before_platform: bool


class PresetFile(ConfigModel):
    """``presets/<name>.toml``: one hotline's rule preset (规则预设)."""

    name: NonEmpty
    source: SourceTable
    limits: LimitsTable
    sign_off: SignOffTable
    return_: ReturnTable = Field(alias="return")
    extension: ExtensionTable
    redo: RedoTable
    callback: CallbackTable
    restriction: RestrictionTable
    lights: LightsTable
    metrics: MetricsTable
    satisfaction: SatisfactionTable
    reply: ReplyTable


def load_preset(path_or_name: str | Path) -> Preset:
    """Load a preset by name (``presets/<name>.toml``) or by path."""
    if isinstance(path_or_name, str) and "/" not in path_or_name and not path_or_name.endswith(
        ".toml"
    ):
        path = preset_path(path_or_name)
    else:
        path = Path(path_or_name)
    text, data = parse_toml(path, "workorders.preset")
    f = validate_data(path, text, data, PresetFile)
    m = f.metrics
    if m.response_weight + m.completion_weight + m.satisfaction_weight != 100:
        raise setting_error(path, text, ["metrics", "response_weight"],
                            "the three weights must add up to 100")
    satisfied = frozenset(f.satisfaction.satisfied)
    if not satisfied or satisfied == frozenset(SatisfactionLevel):
        raise setting_error(path, text, ["satisfaction", "satisfied"],
                            "must name some but not all five levels")
    return _preset(f)


def _limit(table: LimitTable | LeadTable) -> Limit:
    return Limit(table.amount, table.unit)


def _preset(f: PresetFile) -> Preset:
    """The validated file as the rules' :class:`Preset`."""
    ext, redo, lights, m, reply = f.extension, f.redo, f.lights, f.metrics, f.reply
    return Preset(
        name=f.name,
        source=Source(f.source.file, f.source.title),
        category_limits=MappingProxyType(
            {c: _limit(getattr(f.limits, c.value)) for c in Category}),
        emergency_limit=_limit(f.limits.emergency),
        sign_off_limit=_limit(f.sign_off.limit),
        return_limit=_limit(f.return_.limit),
        return_counted_from=f.return_.counted_from,
        return_reason_required=f.return_.reason_required,
        return_suggested_unit_required=f.return_.suggested_unit_required,
        extension=ExtensionRule(
            allowed=ext.allowed,
            max_total=_limit(ext.max_total) if ext.max_total else None,
            apply_before_due=_limit(ext.apply_before_due),
            needs_approval=ext.needs_approval,
            reason_required=ext.reason_required,
            written_signed=ext.written_signed,
            max_count=ext.max_count,
        ),
        redo=RedoRule(
            deadline=(redo.deadline if isinstance(redo.deadline, str)
                      else _limit(redo.deadline)),
            max_redos=redo.max_redos,
            second_evaluation_counts=redo.second_evaluation_counts,
        ),
        callback_limit=_limit(f.callback.limit),
        restriction_days=f.restriction.days,
        lights=LightRule(lights.yellow_remaining_percent, lights.yellow_remaining_hours,
                         _limit(lights.special_supervision_after)),
        metrics=MetricRule(
            response_weight=m.response_weight, completion_weight=m.completion_weight,
            satisfaction_weight=m.satisfaction_weight, response_target=m.response_target,
            completion_target=m.completion_target, satisfaction_target=m.satisfaction_target,
            deductions=MappingProxyType(dict(m.deductions)),
        ),
        satisfied_levels=frozenset(f.satisfaction.satisfied),
        reply=ReplyRule(frozenset(reply.required_parts), frozenset(reply.parts_if_unresolved),
                        reply.min_sentences, reply.citizen_before_platform),
    )
