"""Deadlines for every preset and category across two holidays with 调休.

Official schedules (State Council notices):
* 2025 国庆节、中秋节 (国办发明电〔2024〕12号): Wed Oct 1 – Wed Oct 8 off; Sun Sep 28 and
  Sat Oct 11 are make-up working days.
* 2026 春节 (国办发明电〔2025〕7号): Sun Feb 15 – Mon Feb 23 off; Sat Feb 14 and
  Sat Feb 28 are make-up working days.

Working days counted after Tue 2025-09-30 (the last working day before National Day):
  1 Thu Oct 9, 2 Fri Oct 10, 3 Sat Oct 11 (make-up), 4 Mon Oct 13, 5 Tue Oct 14,
  6 Wed Oct 15, 7 Thu Oct 16, 8 Fri Oct 17, 9 Mon Oct 20, 10 Tue Oct 21, 11 Wed Oct 22,
  12 Thu Oct 23, 13 Fri Oct 24, 14 Mon Oct 27, 15 Tue Oct 28.
Working days counted after Fri 2026-02-13:
  1 Sat Feb 14 (make-up), 2 Tue Feb 24, 3 Wed Feb 25, 4 Thu Feb 26, 5 Fri Feb 27,
  6 Sat Feb 28 (make-up), 7 Mon Mar 2, 8 Tue Mar 3, 9 Wed Mar 4, 10 Thu Mar 5,
  11 Fri Mar 6, 12 Mon Mar 9, 13 Tue Mar 10, 14 Wed Mar 11, 15 Thu Mar 12.
Received on a working day, N working days later is the same clock time on the Nth
working day of these lists (hotline_core.workorders.calendar's convention).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from hotline_core.workorders.calendar import (
    CalendarGapError,
    CalendarOverrides,
    ChineseWorkingCalendar,
)
from hotline_core.workorders.deadlines import (
    callback_due,
    due_at,
    extension_allowed,
    redo_allowed,
    redo_due,
    restriction_ends,
    return_due,
    sign_off_due,
    special_supervision_due,
)
from hotline_core.workorders.presets import Category, Preset, load_preset

CAL = ChineseWorkingCalendar()
C = Category
NATIONAL_DAY = datetime(2025, 9, 30, 10, 0)  # Tue, last working day before the holiday
SPRING = datetime(2026, 2, 13, 16, 30)  # Fri, before make-up Sat Feb 14 and the holiday

# (preset, category, received, expected due) — each from the preset's seed rule.
CASES = [
    # gaotai: consult 1 wd "政策咨询类事项应在1个工作日内答复"; help grouped with consult
    # (咨询求助类) → 1 wd; suggestion 3 wd; complaint/report 7 wd; other 7 wd (longest tier).
    ("gaotai", C.CONSULT, NATIONAL_DAY, datetime(2025, 10, 9, 10, 0)),  # wd 1
    ("gaotai", C.HELP, NATIONAL_DAY, datetime(2025, 10, 9, 10, 0)),  # wd 1
    ("gaotai", C.SUGGESTION, NATIONAL_DAY, datetime(2025, 10, 11, 10, 0)),  # wd 3, make-up Sat
    ("gaotai", C.COMPLAINT, NATIONAL_DAY, datetime(2025, 10, 16, 10, 0)),  # wd 7
    ("gaotai", C.REPORT, NATIONAL_DAY, datetime(2025, 10, 16, 10, 0)),  # wd 7
    ("gaotai", C.OTHER, NATIONAL_DAY, datetime(2025, 10, 16, 10, 0)),  # wd 7
    ("gaotai", C.CONSULT, SPRING, datetime(2026, 2, 14, 16, 30)),  # wd 1 = make-up Sat
    ("gaotai", C.HELP, SPRING, datetime(2026, 2, 14, 16, 30)),  # wd 1
    ("gaotai", C.SUGGESTION, SPRING, datetime(2026, 2, 25, 16, 30)),  # wd 3
    ("gaotai", C.COMPLAINT, SPRING, datetime(2026, 3, 2, 16, 30)),  # wd 7
    ("gaotai", C.REPORT, SPRING, datetime(2026, 3, 2, 16, 30)),  # wd 7
    ("gaotai", C.OTHER, SPRING, datetime(2026, 3, 2, 16, 30)),  # wd 7
    # ganzhou (Chongyi): consult 2 wd; complaint/help/suggestion 5 wd; report 10 wd;
    # other 10 wd (longest in the preset).
    ("ganzhou", C.CONSULT, NATIONAL_DAY, datetime(2025, 10, 10, 10, 0)),  # wd 2
    ("ganzhou", C.HELP, NATIONAL_DAY, datetime(2025, 10, 14, 10, 0)),  # wd 5
    ("ganzhou", C.COMPLAINT, NATIONAL_DAY, datetime(2025, 10, 14, 10, 0)),  # wd 5
    ("ganzhou", C.SUGGESTION, NATIONAL_DAY, datetime(2025, 10, 14, 10, 0)),  # wd 5
    ("ganzhou", C.REPORT, NATIONAL_DAY, datetime(2025, 10, 21, 10, 0)),  # wd 10
    ("ganzhou", C.OTHER, NATIONAL_DAY, datetime(2025, 10, 21, 10, 0)),  # wd 10
    ("ganzhou", C.CONSULT, SPRING, datetime(2026, 2, 24, 16, 30)),  # wd 2
    ("ganzhou", C.HELP, SPRING, datetime(2026, 2, 27, 16, 30)),  # wd 5
    ("ganzhou", C.COMPLAINT, SPRING, datetime(2026, 2, 27, 16, 30)),  # wd 5
    ("ganzhou", C.SUGGESTION, SPRING, datetime(2026, 2, 27, 16, 30)),  # wd 5
    ("ganzhou", C.REPORT, SPRING, datetime(2026, 3, 5, 16, 30)),  # wd 10
    ("ganzhou", C.OTHER, SPRING, datetime(2026, 3, 5, 16, 30)),  # wd 10
    # hebei: consult 1 clock hour (第二十一条 "1个小时内进行解答"); help 2 wd (第二十四条
    # "一般求助类 ... 2个工作日"); complaint/report/suggestion/other 7 wd ("其他疑难事项").
    ("hebei", C.CONSULT, NATIONAL_DAY, datetime(2025, 9, 30, 11, 0)),  # +1 h
    ("hebei", C.HELP, NATIONAL_DAY, datetime(2025, 10, 10, 10, 0)),  # wd 2
    ("hebei", C.COMPLAINT, NATIONAL_DAY, datetime(2025, 10, 16, 10, 0)),  # wd 7
    ("hebei", C.REPORT, NATIONAL_DAY, datetime(2025, 10, 16, 10, 0)),  # wd 7
    ("hebei", C.SUGGESTION, NATIONAL_DAY, datetime(2025, 10, 16, 10, 0)),  # wd 7
    ("hebei", C.OTHER, NATIONAL_DAY, datetime(2025, 10, 16, 10, 0)),  # wd 7
    ("hebei", C.CONSULT, SPRING, datetime(2026, 2, 13, 17, 30)),  # +1 h
    ("hebei", C.HELP, SPRING, datetime(2026, 2, 24, 16, 30)),  # wd 2
    ("hebei", C.COMPLAINT, SPRING, datetime(2026, 3, 2, 16, 30)),  # wd 7
    ("hebei", C.REPORT, SPRING, datetime(2026, 3, 2, 16, 30)),  # wd 7
    ("hebei", C.SUGGESTION, SPRING, datetime(2026, 3, 2, 16, 30)),  # wd 7
    ("hebei", C.OTHER, SPRING, datetime(2026, 3, 2, 16, 30)),  # wd 7
    # minhe: "非急件5个工作日内办结" for every category.
    *[("minhe", c, NATIONAL_DAY, datetime(2025, 10, 14, 10, 0)) for c in Category],  # wd 5
    *[("minhe", c, SPRING, datetime(2026, 2, 27, 16, 30)) for c in Category],  # wd 5
    # huizhou: consult 2 wd; help/suggestion 10 wd; complaint/report 15 wd; other 15 wd.
    ("huizhou", C.CONSULT, NATIONAL_DAY, datetime(2025, 10, 10, 10, 0)),  # wd 2
    ("huizhou", C.HELP, NATIONAL_DAY, datetime(2025, 10, 21, 10, 0)),  # wd 10
    ("huizhou", C.SUGGESTION, NATIONAL_DAY, datetime(2025, 10, 21, 10, 0)),  # wd 10
    ("huizhou", C.COMPLAINT, NATIONAL_DAY, datetime(2025, 10, 28, 10, 0)),  # wd 15
    ("huizhou", C.REPORT, NATIONAL_DAY, datetime(2025, 10, 28, 10, 0)),  # wd 15
    ("huizhou", C.OTHER, NATIONAL_DAY, datetime(2025, 10, 28, 10, 0)),  # wd 15
    ("huizhou", C.CONSULT, SPRING, datetime(2026, 2, 24, 16, 30)),  # wd 2
    ("huizhou", C.HELP, SPRING, datetime(2026, 3, 5, 16, 30)),  # wd 10
    ("huizhou", C.SUGGESTION, SPRING, datetime(2026, 3, 5, 16, 30)),  # wd 10
    ("huizhou", C.COMPLAINT, SPRING, datetime(2026, 3, 12, 16, 30)),  # wd 15
    ("huizhou", C.REPORT, SPRING, datetime(2026, 3, 12, 16, 30)),  # wd 15
    ("huizhou", C.OTHER, SPRING, datetime(2026, 3, 12, 16, 30)),  # wd 15
]


@pytest.mark.parametrize(("preset", "category", "received", "expected"), CASES)
def test_due_at_every_preset_and_category(
    preset: str, category: Category, received: datetime, expected: datetime
) -> None:
    assert due_at(load_preset(preset), CAL, category, received) == expected


def test_every_preset_and_category_is_covered() -> None:
    covered = {(p, c, r) for p, c, r, _ in CASES}
    for name in ("gaotai", "ganzhou", "hebei", "minhe", "huizhou"):
        for category in Category:
            assert (name, category, NATIONAL_DAY) in covered
            assert (name, category, SPRING) in covered


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        # gaotai "紧急求助类事项 ... 在3小时内回复": 10:00 + 3 h.
        ("gaotai", datetime(2025, 9, 30, 13, 0)),
        # ganzhou "应急类工单实现30分钟办结": 10:00 + 30 min.
        ("ganzhou", datetime(2025, 9, 30, 10, 30)),
        # hebei silent, uses its own 1-hour answer rule: 10:00 + 1 h.
        ("hebei", datetime(2025, 9, 30, 11, 0)),
        # minhe "急件要第一时间", no number, preset 1 h: 10:00 + 1 h.
        ("minhe", datetime(2025, 9, 30, 11, 0)),
        # huizhou silent, borrows gaotai's 3 h.
        ("huizhou", datetime(2025, 9, 30, 13, 0)),
    ],
)
def test_emergency_limits_run_on_the_clock(preset: str, expected: datetime) -> None:
    assert due_at(load_preset(preset), CAL, C.HELP, NATIONAL_DAY, emergency=True) == expected


def test_emergency_on_the_eve_of_a_holiday_does_not_wait_for_the_holiday() -> None:
    # gaotai, emergency help received Tue 2025-09-30 23:00: 3 clock hours → Oct 1 02:00,
    # inside the holiday (emergencies are served 7×24).
    received = datetime(2025, 9, 30, 23, 0)
    assert due_at(load_preset("gaotai"), CAL, C.HELP, received, emergency=True) == datetime(
        2025, 10, 1, 2, 0
    )


def test_received_during_the_holiday() -> None:
    # gaotai complaint received Sat 2025-10-04 (holiday) 15:00: the clock starts Thu Oct 9
    # 00:00; 7 full working days are Oct 9, 10, 11, 13, 14, 15, 16 → end of Oct 16 =
    # 2025-10-17 00:00.
    received = datetime(2025, 10, 4, 15, 0)
    assert due_at(load_preset("gaotai"), CAL, C.COMPLAINT, received) == datetime(2025, 10, 17)


def test_gap_year_raises() -> None:
    # No 2027 data in chinesecalendar 1.11.0: never guess.
    with pytest.raises(CalendarGapError):
        due_at(load_preset("gaotai"), CAL, C.COMPLAINT, datetime(2027, 3, 1, 10, 0))
    # A 2026 order whose 15 wd run into 2027 also raises (huizhou complaint 15 wd).
    with pytest.raises(CalendarGapError):
        due_at(load_preset("huizhou"), CAL, C.COMPLAINT, datetime(2026, 12, 25, 10, 0))


def test_typhoon_day_shifts_a_preset_deadline() -> None:
    # minhe, 5 wd from Tue 2025-09-30 10:00 = Oct 14 10:00 normally (list above). A typhoon
    # closes Tue Oct 14: Oct 9, 10, 11, 13, 15 → Wed Oct 15 10:00.
    typhoon = ChineseWorkingCalendar(CalendarOverrides(non_working={date(2025, 10, 14): "台风"}))
    minhe = load_preset("minhe")
    assert due_at(minhe, CAL, C.COMPLAINT, NATIONAL_DAY) == datetime(2025, 10, 14, 10, 0)
    assert due_at(minhe, typhoon, C.COMPLAINT, NATIONAL_DAY) == datetime(2025, 10, 15, 10, 0)


# ---------------------------------------------------------------- sign-off and return


def test_gaotai_sign_off_and_return_windows() -> None:
    gaotai = load_preset("gaotai")
    # "工单1小时内完成签收": dispatched Tue 2025-09-30 17:30 → 18:30 (clock hours).
    assert sign_off_due(gaotai, CAL, datetime(2025, 9, 30, 17, 30)) == datetime(
        2025, 9, 30, 18, 30
    )
    # "签收后3小时内退回": signed 18:00 → 21:00, counted from signing, not dispatch.
    assert return_due(
        gaotai, CAL, datetime(2025, 9, 30, 17, 30), datetime(2025, 9, 30, 18, 0)
    ) == datetime(2025, 9, 30, 21, 0)
    with pytest.raises(ValueError):
        return_due(gaotai, CAL, datetime(2025, 9, 30, 17, 30), None)


def test_minhe_return_from_dispatch_in_working_days() -> None:
    minhe = load_preset("minhe")
    # "在收到工单1个工作日内回退": dispatched Tue 2025-09-30 15:00 → next working day Thu
    # Oct 9 15:00; the signing time does not matter.
    assert return_due(
        minhe, CAL, datetime(2025, 9, 30, 15, 0), datetime(2025, 9, 30, 16, 0)
    ) == datetime(2025, 10, 9, 15, 0)
    # Dispatched on make-up Sat 2026-02-14 09:00 → Tue Feb 24 09:00.
    assert return_due(minhe, CAL, datetime(2026, 2, 14, 9, 0), None) == datetime(
        2026, 2, 24, 9, 0
    )
    # Sign-off: seed silent, preset 1 wd ("每天随时查询"): same as the return here.
    assert sign_off_due(minhe, CAL, datetime(2025, 9, 30, 15, 0)) == datetime(2025, 10, 9, 15, 0)


@pytest.mark.parametrize("preset", ["ganzhou", "hebei", "huizhou"])
def test_silent_presets_borrow_gaotai_sign_off_and_return(preset: str) -> None:
    p = load_preset(preset)
    # 1 h from dispatch, 3 h from signing (gaotai's numbers, stated in each preset).
    assert sign_off_due(p, CAL, datetime(2026, 2, 13, 16, 30)) == datetime(2026, 2, 13, 17, 30)
    assert return_due(
        p, CAL, datetime(2026, 2, 13, 16, 30), datetime(2026, 2, 13, 17, 0)
    ) == datetime(2026, 2, 13, 20, 0)


# ---------------------------------------------------------------- extension


def test_gaotai_extension_ceiling_is_14_working_days_from_receipt() -> None:
    gaotai = load_preset("gaotai")
    # Complaint received Tue 2025-09-30 10:00 → due wd 7 = Oct 16 10:00; "可延长至14个工作日
    # (含原规定的7个工作日)" → ceiling wd 14 = Mon Oct 27 10:00.
    due = datetime(2025, 10, 16, 10, 0)
    ok = extension_allowed(
        gaotai, CAL, received_at=NATIONAL_DAY, current_due=due,
        requested_at=datetime(2025, 10, 15, 9, 0), new_due=datetime(2025, 10, 27, 10, 0),
    )
    assert ok.allowed, ok.reason
    too_far = extension_allowed(
        gaotai, CAL, received_at=NATIONAL_DAY, current_due=due,
        requested_at=datetime(2025, 10, 15, 9, 0), new_due=datetime(2025, 10, 27, 10, 1),
    )
    assert not too_far.allowed and "14 working days" in too_far.reason
    # Requested after the due instant: too late (no lead time in gaotai, but before due).
    late = extension_allowed(
        gaotai, CAL, received_at=NATIONAL_DAY, current_due=due,
        requested_at=datetime(2025, 10, 16, 10, 0, 1), new_due=datetime(2025, 10, 20, 10, 0),
    )
    assert not late.allowed
    # A "new" deadline not after the current one is no extension.
    shorter = extension_allowed(
        gaotai, CAL, received_at=NATIONAL_DAY, current_due=due,
        requested_at=datetime(2025, 10, 15, 9, 0), new_due=due,
    )
    assert not shorter.allowed


def test_hebei_extension_must_be_asked_one_working_day_before_due() -> None:
    hebei = load_preset("hebei")
    # Complaint received Fri 2026-02-13 16:30 → due wd 7 = Mon Mar 2 16:30. "到期前1个工作日
    # 申请": one working day before Mon Mar 2 16:30 — Sun Mar 1 is off, so it is make-up
    # Sat Feb 28 16:30.
    due = datetime(2026, 3, 2, 16, 30)
    assert due_at(hebei, CAL, C.COMPLAINT, SPRING) == due

    def ask(at: datetime) -> bool:
        return extension_allowed(
            hebei, CAL, received_at=SPRING, current_due=due, requested_at=at,
            new_due=datetime(2026, 3, 9, 16, 30),
        ).allowed

    assert ask(datetime(2026, 2, 28, 16, 30))
    assert not ask(datetime(2026, 2, 28, 16, 31))
    assert not ask(datetime(2026, 3, 1, 10, 0))  # Sunday: only 16.5 working hours left


def test_extension_count_and_disabled_rule() -> None:
    minhe = load_preset("minhe")

    def ask(preset: Preset, extensions_so_far: int = 0) -> bool:
        # minhe complaint due wd 5 = Oct 14 10:00; asked Oct 13 for Oct 20.
        return extension_allowed(
            preset, CAL, received_at=NATIONAL_DAY, current_due=datetime(2025, 10, 14, 10, 0),
            requested_at=datetime(2025, 10, 13, 10, 0), new_due=datetime(2025, 10, 20, 10, 0),
            extensions_so_far=extensions_so_far,
        ).allowed

    assert ask(minhe, extensions_so_far=3)  # minhe sets no cap on the number
    capped = replace(minhe, extension=replace(minhe.extension, max_count=1))
    assert ask(capped) and not ask(capped, extensions_so_far=1)
    assert not ask(replace(minhe, extension=replace(minhe.extension, allowed=False)))
    # minhe's own rule: written, signed by the unit head, reported not approved.
    assert minhe.extension.written_signed and not minhe.extension.needs_approval


# ---------------------------------------------------------------- redo, callback, others


def test_gaotai_redo_has_the_original_limit_and_only_once() -> None:
    gaotai = load_preset("gaotai")
    # "重办时限与原工单时限一致": a complaint sent back Tue 2025-09-30 10:00 gets 7 wd again
    # from that moment → Oct 16 10:00; a consult 1 wd → Oct 9 10:00.
    assert redo_due(gaotai, CAL, C.COMPLAINT, NATIONAL_DAY) == datetime(2025, 10, 16, 10, 0)
    assert redo_due(gaotai, CAL, C.CONSULT, NATIONAL_DAY) == datetime(2025, 10, 9, 10, 0)
    # "重办以1次为限"
    assert redo_allowed(gaotai, 0) and not redo_allowed(gaotai, 1)


def test_minhe_redo_is_five_working_days() -> None:
    # "在5个工作日内办结": sent back Fri 2026-02-13 16:30 → wd 5 = Fri Feb 27 16:30.
    assert redo_due(load_preset("minhe"), CAL, C.CONSULT, SPRING) == datetime(2026, 2, 27, 16, 30)


def test_huizhou_redo_same_as_original() -> None:
    # Silent → gaotai's rule: complaint 15 wd from Fri 2026-02-13 16:30 → Thu Mar 12 16:30.
    assert redo_due(load_preset("huizhou"), CAL, C.COMPLAINT, SPRING) == datetime(
        2026, 3, 12, 16, 30
    )


@pytest.mark.parametrize("preset", ["gaotai", "ganzhou", "hebei", "minhe", "huizhou"])
def test_callback_within_24_hours_even_on_a_holiday(preset: str) -> None:
    # hebei 第三十条 "收到 ... 办理结果后24小时内进行回访" (the others borrow it): result
    # reported Tue 2025-09-30 18:00 → Wed Oct 1 18:00, National Day itself (clock hours,
    # the platform works 7×24).
    assert callback_due(load_preset(preset), CAL, datetime(2025, 9, 30, 18, 0)) == datetime(
        2025, 10, 1, 18, 0
    )


def test_special_supervision_one_working_day_after_the_reminder_call() -> None:
    # gaotai "督办后1个工作日内仍未反馈的 ... 专项督办": call Tue 2025-09-30 14:00 → Oct 9 14:00.
    assert special_supervision_due(
        load_preset("gaotai"), CAL, datetime(2025, 9, 30, 14, 0)
    ) == datetime(2025, 10, 9, 14, 0)


def test_restriction_is_thirty_natural_days() -> None:
    # huizhou "30個自然日內限制": restricted 2025-09-30 10:00 → 2025-10-30 10:00.
    assert restriction_ends(load_preset("huizhou"), NATIONAL_DAY) == datetime(2025, 10, 30, 10, 0)
