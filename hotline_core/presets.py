"""Rule presets (规则预设): one city's hotline rules as data.

A preset is a TOML file in ``presets/`` (see R-PRESET): category deadlines, sign-off
(签收) and return (退单) windows, extension (延期) and redo (重办) rules, the callback
(回访) window, the restriction length, light (亮灯) thresholds, metric weights and
deductions, satisfaction levels and reply rules. This module only reads and validates;
it holds no city's numbers. Every error names the file, the line and the key path.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar, cast, get_args

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
PRESET_NAMES = ("gaotai", "ganzhou", "hebei", "minhe", "huizhou")


class PresetError(ValueError):
    """A preset file is malformed; the message is ``file:line: key.path: what is wrong``."""


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


def load_preset(path_or_name: str | Path) -> Preset:
    """Load a preset by name (``presets/<name>.toml``) or by path."""
    if isinstance(path_or_name, str) and "/" not in path_or_name and not path_or_name.endswith(
        ".toml"
    ):
        path = preset_path(path_or_name)
    else:
        path = Path(path_or_name)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: {exc}") from exc
    return _Reader(path, text).preset(data)


# ---------------------------------------------------------------- validation

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


class _Reader:
    """Turns the parsed TOML into a :class:`Preset`, locating every error in the file."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.keys = _key_lines(text)

    def fail(self, keypath: str, message: str) -> PresetError:
        return PresetError(f"{self.path}:{self._line(keypath)}: {keypath}: {message}")

    def _line(self, keypath: str) -> int:
        parts = keypath.split(".")
        while parts:
            line = self.keys.get(".".join(parts))
            if line is not None:
                return line
            parts.pop()
        return 1

    # -- shapes

    def table(
        self, data: Mapping[str, Any], keypath: str, required: Iterable[str],
        optional: Iterable[str] = (),
    ) -> Mapping[str, Any]:
        value = data.get(keypath.rsplit(".", 1)[-1]) if keypath else data
        if not isinstance(value, dict):
            raise self.fail(keypath, "missing table" if value is None else "must be a table")
        required = tuple(required)
        allowed = set(required) | set(optional)
        for key in value:
            if key not in allowed:
                raise self.fail(
                    _join(keypath, key), f"unknown key; expected one of {sorted(allowed)}"
                )
        for key in required:
            if key not in value:
                raise self.fail(keypath, f"missing key {key!r}")
        return cast(Mapping[str, Any], value)

    def integer(self, value: Any, keypath: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(keypath, f"must be a whole number, got {value!r}")
        if value < minimum:
            raise self.fail(keypath, f"must be >= {minimum}, got {value}")
        return value

    def number(self, value: Any, keypath: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(keypath, f"must be a number, got {value!r}")
        if value < 0:
            raise self.fail(keypath, f"must not be negative, got {value}")
        return float(value)

    def boolean(self, value: Any, keypath: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(keypath, f"must be true or false, got {value!r}")
        return value

    def string(self, value: Any, keypath: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(keypath, "must be a non-empty string")
        return value

    def enum(self, kind: type[E], value: Any, keypath: str) -> E:
        try:
            return kind(value)
        except ValueError:
            raise self.fail(
                keypath, f"{value!r} is not one of {[m.value for m in kind]}"
            ) from None

    def enum_set(self, kind: type[E], value: Any, keypath: str) -> frozenset[E]:
        if not isinstance(value, list):
            raise self.fail(keypath, "must be a list")
        return frozenset(self.enum(kind, item, keypath) for item in value)

    def limit(self, value: Any, keypath: str, minimum: int = 1) -> Limit:
        if not isinstance(value, dict):
            raise self.fail(keypath, 'must be a table like { amount = 1, unit = "working_days" }')
        for key in value:
            if key not in ("amount", "unit"):
                raise self.fail(_join(keypath, key), "unknown key; expected amount and unit")
        if "amount" not in value or "unit" not in value:
            raise self.fail(keypath, "needs both amount and unit")
        amount = self.integer(value["amount"], _join(keypath, "amount"), minimum)
        unit = value["unit"]
        if unit not in LIMIT_UNITS:
            raise self.fail(_join(keypath, "unit"), f"{unit!r} is not one of {list(LIMIT_UNITS)}")
        return Limit(amount, cast(LimitUnit, unit))

    def optional(
        self, data: Mapping[str, Any], key: str, keypath: str, read: Callable[[Any, str], T]
    ) -> T | None:
        return read(data[key], _join(keypath, key)) if key in data else None

    # -- sections

    def preset(self, data: Mapping[str, Any]) -> Preset:
        top = self.table(data, "", _TOP_KEYS)
        name = self.string(top["name"], "name")
        source = self.table(top, "source", ("file", "title"))
        limits = self.table(top, "limits", [c.value for c in Category] + ["emergency"])
        sign_off = self.table(top, "sign_off", ("limit",))
        ret = self.table(
            top, "return", ("limit", "counted_from", "reason_required", "suggested_unit_required")
        )
        return Preset(
            name=name,
            source=Source(
                self.string(source["file"], "source.file"),
                self.string(source["title"], "source.title"),
            ),
            category_limits=MappingProxyType(
                {c: self.limit(limits[c.value], f"limits.{c.value}") for c in Category}
            ),
            emergency_limit=self.limit(limits["emergency"], "limits.emergency"),
            sign_off_limit=self.limit(sign_off["limit"], "sign_off.limit"),
            return_limit=self.limit(ret["limit"], "return.limit"),
            return_counted_from=self.enum(ReturnFrom, ret["counted_from"], "return.counted_from"),
            return_reason_required=self.boolean(ret["reason_required"], "return.reason_required"),
            return_suggested_unit_required=self.boolean(
                ret["suggested_unit_required"], "return.suggested_unit_required"
            ),
            extension=self.extension(top),
            redo=self.redo(top),
            callback_limit=self.limit(
                self.table(top, "callback", ("limit",))["limit"], "callback.limit"
            ),
            restriction_days=self.integer(
                self.table(top, "restriction", ("days",))["days"], "restriction.days", 1
            ),
            lights=self.lights(top),
            metrics=self.metrics(top),
            satisfied_levels=self.satisfied(top),
            reply=self.reply(top),
        )

    def extension(self, top: Mapping[str, Any]) -> ExtensionRule:
        t = self.table(
            top, "extension",
            ("allowed", "apply_before_due", "needs_approval", "reason_required", "written_signed"),
            ("max_total", "max_count"),
        )
        return ExtensionRule(
            allowed=self.boolean(t["allowed"], "extension.allowed"),
            max_total=self.optional(t, "max_total", "extension", self.limit),
            apply_before_due=self.limit(t["apply_before_due"], "extension.apply_before_due", 0),
            needs_approval=self.boolean(t["needs_approval"], "extension.needs_approval"),
            reason_required=self.boolean(t["reason_required"], "extension.reason_required"),
            written_signed=self.boolean(t["written_signed"], "extension.written_signed"),
            max_count=self.optional(
                t, "max_count", "extension", lambda v, k: self.integer(v, k, 1)
            ),
        )

    def redo(self, top: Mapping[str, Any]) -> RedoRule:
        t = self.table(top, "redo", ("deadline", "max_redos", "second_evaluation_counts"))
        raw = t["deadline"]
        deadline: Limit | Literal["same_as_original"]
        if raw == "same_as_original":
            deadline = "same_as_original"
        elif isinstance(raw, dict):
            deadline = self.limit(raw, "redo.deadline")
        else:
            raise self.fail("redo.deadline", 'must be "same_as_original" or a limit table')
        return RedoRule(
            deadline=deadline,
            max_redos=self.integer(t["max_redos"], "redo.max_redos", 0),
            second_evaluation_counts=self.boolean(
                t["second_evaluation_counts"], "redo.second_evaluation_counts"
            ),
        )

    def lights(self, top: Mapping[str, Any]) -> LightRule:
        t = self.table(
            top, "lights",
            ("yellow_remaining_percent", "yellow_remaining_hours", "special_supervision_after"),
        )
        percent = self.integer(t["yellow_remaining_percent"], "lights.yellow_remaining_percent")
        if percent > 100:
            raise self.fail("lights.yellow_remaining_percent", f"must be <= 100, got {percent}")
        return LightRule(
            yellow_remaining_percent=percent,
            yellow_remaining_hours=self.integer(
                t["yellow_remaining_hours"], "lights.yellow_remaining_hours"
            ),
            special_supervision_after=self.limit(
                t["special_supervision_after"], "lights.special_supervision_after"
            ),
        )

    def metrics(self, top: Mapping[str, Any]) -> MetricRule:
        weights = ("response_weight", "completion_weight", "satisfaction_weight")
        targets = ("response_target", "completion_target", "satisfaction_target")
        t = self.table(top, "metrics", (*weights, *targets, "deductions"))
        values = {k: self.integer(t[k], f"metrics.{k}") for k in (*weights, *targets)}
        if sum(values[k] for k in weights) != 100:
            raise self.fail("metrics.response_weight", "the three weights must add up to 100")
        for k in targets:
            if values[k] > 100:
                raise self.fail(f"metrics.{k}", f"a target is a percentage <= 100, got {values[k]}")
        d = self.table(t, "metrics.deductions", (), [k.value for k in DeductionKind])
        deductions = {
            DeductionKind(k): self.number(v, f"metrics.deductions.{k}") for k, v in d.items()
        }
        return MetricRule(
            **values, deductions=MappingProxyType(deductions)
        )

    def satisfied(self, top: Mapping[str, Any]) -> frozenset[SatisfactionLevel]:
        t = self.table(top, "satisfaction", ("satisfied",))
        levels = self.enum_set(SatisfactionLevel, t["satisfied"], "satisfaction.satisfied")
        if not levels or levels == frozenset(SatisfactionLevel):
            raise self.fail("satisfaction.satisfied", "must name some but not all five levels")
        return levels

    def reply(self, top: Mapping[str, Any]) -> ReplyRule:
        t = self.table(
            top, "reply",
            ("required_parts", "parts_if_unresolved", "min_sentences", "citizen_before_platform"),
        )
        return ReplyRule(
            required_parts=self.enum_set(ReplyPart, t["required_parts"], "reply.required_parts"),
            parts_if_unresolved=self.enum_set(
                ReplyPart, t["parts_if_unresolved"], "reply.parts_if_unresolved"
            ),
            min_sentences=self.integer(t["min_sentences"], "reply.min_sentences", 1),
            citizen_before_platform=self.boolean(
                t["citizen_before_platform"], "reply.citizen_before_platform"
            ),
        )


_TOP_KEYS = (
    "name", "source", "limits", "sign_off", "return", "extension", "redo", "callback",
    "restriction", "lights", "metrics", "satisfaction", "reply",
)


def _join(keypath: str, key: str) -> str:
    return f"{keypath}.{key}" if keypath else key


def _key_lines(text: str) -> dict[str, int]:
    """Map each dotted key path (``section.key``, ``section``) to its 1-based line.

    TOML parsers drop positions, so the preset's own simple layout (``[section]`` headers,
    ``key = value`` lines, inline tables) is scanned by hand to point errors at lines.
    Inline-table members share their key's line.
    """
    lines: dict[str, int] = {}
    section = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[") and not stripped.startswith("[["):
            section = stripped[1 : stripped.index("]")].strip()
            lines.setdefault(section, number)
            continue
        if "=" in stripped:
            key = stripped.split("=", 1)[0].strip().strip('"')
            path = _join(section, key)
            lines.setdefault(path, number)
            _inline_members(stripped.split("=", 1)[1], path, number, lines)
    return lines


def _inline_members(rest: str, path: str, number: int, lines: dict[str, int]) -> None:
    rest = rest.split("#", 1)[0].strip()
    if rest.startswith("{") and rest.endswith("}"):
        for member in rest[1:-1].split(","):
            if "=" in member:
                lines.setdefault(_join(path, member.split("=", 1)[0].strip()), number)
