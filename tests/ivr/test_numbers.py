"""Mandarin number reading for announcements, checked against how the numbers are said."""

import pytest

from ivr.numbers import spoken_number


@pytest.mark.parametrize(("n", "counting", "said"), [
    (0, False, "零"),
    (2, False, "二"),
    (2, True, "两"),          # 两位来电
    (10, False, "十"),        # not 一十
    (12, False, "十二"),
    (20, False, "二十"),
    (23, False, "二十三"),
    (100, False, "一百"),
    (105, False, "一百零五"),
    (110, False, "一百一十"),  # after a hundred the ten keeps its 一
    (215, True, "两百一十五"),
    (999, False, "九百九十九"),
])
def test_spoken_like_mandarin(n: int, counting: bool, said: str) -> None:
    words = {"num-0": "零", "num-1": "一", "num-2": "二", "num-2-liang": "两", "num-3": "三",
             "num-4": "四", "num-5": "五", "num-6": "六", "num-7": "七", "num-8": "八",
             "num-9": "九", "num-10": "十", "num-100": "百"}
    assert "".join(words[p] for p in spoken_number(n, counting)) == said


def test_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="1000"):
        spoken_number(1000)
