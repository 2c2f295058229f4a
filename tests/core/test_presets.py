"""Presets load, carry their seeds' numbers, and malformed files are rejected by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline_core.config_errors import ConfigError
from hotline_core.workorders.presets import (
    PRESET_DIR,
    PRESET_NAMES,
    Category,
    DeductionKind,
    Limit,
    ReplyPart,
    ReturnFrom,
    SatisfactionLevel,
    load_preset,
)

SEED_FILES = {
    "gaotai": "000_e7695e42c41d20db.txt",
    "ganzhou": "001_75f428eced220b62.txt",
    "hebei": "002_8104b0944ad0ec88.txt",
    "minhe": "003_62b41279e809f624.txt",
    "huizhou": "004_23ea1b133d62e528.txt",
}


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_each_preset_loads_and_names_its_seed(name: str) -> None:
    preset = load_preset(name)
    assert preset.name == name
    assert preset.source.file == SEED_FILES[name]
    assert set(preset.category_limits) == set(Category)
    text = (PRESET_DIR / f"{name}.toml").read_text(encoding="utf-8")
    # The header comment names the seed file by its name (no build-machine path).
    assert f"# Seed document: {SEED_FILES[name]}" in text
    assert "/work/" not in text


def test_load_by_path_equals_load_by_name() -> None:
    assert load_preset(PRESET_DIR / "hebei.toml") == load_preset("hebei")


def test_gaotai_numbers() -> None:
    p = load_preset("gaotai")
    assert p.sign_off_limit == Limit(1, "hours")  # "1小时内完成签收"
    assert p.return_limit == Limit(3, "hours")  # "签收后3小时内退回"
    assert p.return_counted_from is ReturnFrom.SIGN_OFF
    assert p.extension.max_total == Limit(14, "working_days")  # "可延长至14个工作日"
    assert p.extension.needs_approval  # "经热线平台审核同意后"
    assert p.redo.deadline == "same_as_original" and p.redo.max_redos == 1
    assert p.redo.second_evaluation_counts  # "以第二次满意度评价为准"
    m = p.metrics  # "“响应率”占30%,“办结率”占35%,“满意率”占35%"
    assert (m.response_weight, m.completion_weight, m.satisfaction_weight) == (30, 35, 35)
    assert m.satisfaction_target == 90  # "满意率达到90%以上"
    assert DeductionKind.DOUBLE_FEEDBACK_MISSING in m.deductions  # "不落实“双反馈”制"
    assert p.lights.special_supervision_after == Limit(1, "working_days")
    # "对评价为不满意和非常不满意的工单": those two are the unsatisfied levels.
    assert not p.is_satisfied(SatisfactionLevel.UNSATISFIED)
    assert p.is_satisfied(SatisfactionLevel.BASICALLY_SATISFIED)


def test_minhe_numbers() -> None:
    p = load_preset("minhe")
    assert p.return_limit == Limit(1, "working_days")  # "收到工单1个工作日内回退"
    assert p.return_counted_from is ReturnFrom.DISPATCH
    assert p.return_suggested_unit_required  # "说明回退原因及建议转办单位"
    assert p.redo.deadline == Limit(5, "working_days")  # "在5个工作日内办结"
    assert p.extension.written_signed  # "经单位主要负责人签字后书面及时上报"
    # "详细注明签发人、答复单位和具体承办人姓名、答复时间,杜绝出现一句话答复"
    assert {ReplyPart.SIGNER, ReplyPart.UNIT, ReplyPart.HANDLER, ReplyPart.TIME} <= (
        p.reply.required_parts
    )
    assert p.reply.min_sentences == 2
    assert p.reply.citizen_before_platform  # "严禁未经反馈群众直接向热线办答复"


def test_hebei_and_huizhou_numbers() -> None:
    hebei = load_preset("hebei")
    assert hebei.extension.apply_before_due == Limit(1, "working_days")  # "到期前1个工作日"
    assert hebei.callback_limit == Limit(24, "hours")  # "24小时内进行回访"
    assert DeductionKind.IGNORED_SUPERVISION in hebei.metrics.deductions  # 第二十九条
    huizhou = load_preset("huizhou")
    assert huizhou.restriction_days == 30  # "30個自然日"
    assert DeductionKind.IMPROPER_RETURN in huizhou.metrics.deductions  # "不當退單"
    assert {ReplyPart.REASON, ReplyPart.PROGRESS, ReplyPart.NEXT_STEPS} == (
        huizhou.reply.parts_if_unresolved  # "應注明原因、辦理進展及後續計劃"
    )
    assert len(huizhou.reply.required_parts) == 8


def test_ganzhou_emergency_is_thirty_minutes() -> None:
    assert load_preset("ganzhou").emergency_limit == Limit(30, "minutes")  # "30分钟办结"


# ---------------------------------------------------------------- malformed presets

GAOTAI_TEXT = (PRESET_DIR / "gaotai.toml").read_text(encoding="utf-8")


def _mutate(tmp_path: Path, prefix: str, replacement: str | None) -> tuple[Path, int]:
    """Copy gaotai.toml with the first line starting with ``prefix`` replaced (or deleted
    when ``replacement`` is None); return the path and that line's 1-based number."""
    lines = GAOTAI_TEXT.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(prefix))
    if replacement is None:
        del lines[index]
    else:
        lines[index] = replacement
    path = tmp_path / "bad.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, index + 1


def _line_of(prefix: str) -> int:
    lines = GAOTAI_TEXT.splitlines()
    return 1 + next(i for i, line in enumerate(lines) if line.startswith(prefix))


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_preset(path)
    return str(info.value)


def test_unknown_key(tmp_path: Path) -> None:
    path, line = _mutate(tmp_path, "max_redos", "max_redo = 1")
    message = _error(path)
    assert message.startswith(f"{path}:{line}: setting 'redo.max_redo': unknown setting")


def test_missing_category(tmp_path: Path) -> None:
    path, _ = _mutate(tmp_path, "report =", None)
    message = _error(path)
    # Reported at the [limits] header, naming the missing key.
    assert message.startswith(f"{path}:{_line_of('[limits]')}: setting 'limits.report': missing")


def test_negative_number(tmp_path: Path) -> None:
    path, line = _mutate(
        tmp_path, "complaint =", 'complaint = { amount = -7, unit = "working_days" }'
    )
    assert _error(path).startswith(
        f"{path}:{line}: setting 'limits.complaint.amount': "
        "Input should be greater than or equal to 1")


def test_negative_deduction(tmp_path: Path) -> None:
    path, line = _mutate(tmp_path, "shirking =", "shirking = -1")
    assert _error(path).startswith(
        f"{path}:{line}: setting 'metrics.deductions.shirking': "
        "Input should be greater than or equal to 0")


def test_bad_unit(tmp_path: Path) -> None:
    path, line = _mutate(tmp_path, "complaint =", 'complaint = { amount = 7, unit = "weeks" }')
    assert _error(path).startswith(
        f"{path}:{line}: setting 'limits.complaint.unit': "
        "Input should be 'working_days'")


def test_bad_enum_value(tmp_path: Path) -> None:
    path, line = _mutate(tmp_path, "counted_from", 'counted_from = "signing"')
    assert _error(path).startswith(
        f"{path}:{line}: setting 'return.counted_from': "
        "Input should be 'sign_off' or 'dispatch', got 'signing'")


def test_weights_must_add_to_100(tmp_path: Path) -> None:
    path, line = _mutate(tmp_path, "response_weight", "response_weight = 40")
    assert _error(path).startswith(
        f"{path}:{line}: setting 'metrics.response_weight': "
        "the three weights")


def test_wrong_type(tmp_path: Path) -> None:
    path, line = _mutate(tmp_path, "needs_approval", 'needs_approval = "yes"')
    assert _error(path).startswith(
        f"{path}:{line}: setting 'extension.needs_approval': "
        "Input should be a valid boolean, got 'yes'")


def test_unknown_table(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GAOTAI_TEXT + "\n[holidays]\nx = 1\n", encoding="utf-8")
    line = len(GAOTAI_TEXT.splitlines()) + 2
    assert _error(path).startswith(f"{path}:{line}: setting 'holidays': unknown setting")


def test_unparsable_toml_names_file_and_line(tmp_path: Path) -> None:
    path, line = _mutate(tmp_path, "days = 30", "days = ")
    message = _error(path)
    assert message.startswith(f"{path}:{line}: setting 'workorders.preset': not valid TOML")
