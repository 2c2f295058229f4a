"""Numbers spoken in Mandarin from prompt files (一二三 …): 23 → 二 十 三, 105 → 一 百 零 五.

Prompts are generated from words, never digits (espeak reads digits as English); counts of
things before a measure word use 两 for 2 (两位, 两分钟).
"""

from __future__ import annotations


def spoken_number(n: int, counting: bool = False) -> list[str]:
    """Prompt names that say ``n`` (0-999). ``counting``: 2 as 两 before a measure word."""
    if not 0 <= n <= 999:
        raise ValueError(f"can only say 0-999, not {n}")
    if n == 2 and counting:
        return ["num-2-liang"]
    if n < 10:
        return [f"num-{n}"]
    hundreds, rest = divmod(n, 100)
    tens, ones = divmod(rest, 10)
    out: list[str] = []
    if hundreds:
        out += ["num-2-liang" if hundreds == 2 and counting else f"num-{hundreds}", "num-100"]
        if rest == 0:
            return out
        if tens == 0:
            return [*out, "num-0", f"num-{ones}"]
        out.append(f"num-{tens}")   # 一百一十: the "one" of ten is said after a hundred
    elif tens > 1:
        out.append(f"num-{tens}")
    out.append("num-10")
    if ones:
        out.append(f"num-{ones}")
    return out
