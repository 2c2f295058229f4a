"""The outbound number policy and caller-number normalisation, with a real Redis.

Expected forms come from the mainland numbering plan (MIIT): mobiles are 11 digits from
13x-19x, fixed lines are dialled with trunk prefix 0 and the area code (Beijing 010,
Shenzhen 0755), 400 numbers are shared-cost, 800 numbers toll-free, and +86 / 0086 are the
country code written internationally.

On the main this work started from (4b97079) there was no policy: the dialer passed the
caller ID into ``Dial()`` as sent, and numbers were compared as raw strings.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from hotline_core.acd.caller_flags import CallerFlags
from hotline_core.acd.restriction import RestrictionList
from hotline_core.config_errors import ConfigError
from hotline_core.dial_policy import DialPolicy, DialPolicySettings, DialRefused
from hotline_core.phone_numbers import canonical_number
from stack.settings import load_settings


@pytest.mark.parametrize(("raw", "canonical"), [
    ("13800138000", "13800138000"),
    ("+8613800138000", "13800138000"),
    ("008613800138000", "13800138000"),
    ("013800138000", "13800138000"),         # trunk prefix before a mobile (some carriers)
    ("+86 138-0013-8000", "13800138000"),
    ("+861012345678", "01012345678"),        # Beijing fixed line, dialled with 010
    ("01012345678", "01012345678"),
    ("+8675512345678", "075512345678"),      # Shenzhen
    ("+85291234567", "+85291234567"),        # Hong Kong stays international
    ("0085291234567", "+85291234567"),
    ("12345", "12345"),                      # a service number stays as it is
    ("anonymous", "anonymous"),
    ("", "unknown"),
    ("１３８００１３８０００", "unknown"),     # full-width digits are not dialled digits
    ("13800138&PJSIP/1001", "13800138PJSIP1001"),
    ("x" * 100, "x" * 32),
])
def test_caller_numbers_have_one_canonical_form(raw: str, canonical: str) -> None:
    assert canonical_number(raw) == canonical


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


def _policy(redis: aioredis.Redis, clock: list[float], **table: object) -> DialPolicy:
    return DialPolicy(DialPolicySettings.from_table(table, "test.toml"), redis,
                      namespace="t", clock=lambda: clock[0])


@pytest.mark.parametrize(("raw", "why"), [
    ("+442079460000", "not a mainland number (country code +44)"),
    ("0085291234567", "not a mainland number (country code +852)"),
    ("13800138&PJSIP/1001", "not a phone number"),
    ("13800138000,1001", "not a phone number"),
    ("²13800138000", "not a phone number"),
    ("110", "not a valid mainland number"),
    ("95588", "not a valid mainland number"),
    ("4008123123", "number type shared_cost is not allowed"),
    ("8008101234", "number type toll_free is not allowed"),
    ("", "not a phone number"),
])
async def test_numbers_outside_the_plan_are_refused_and_logged(
        redis: aioredis.Redis, raw: str, why: str, caplog: pytest.LogCaptureFixture) -> None:
    policy = _policy(redis, [1_700_000_000.0])
    with pytest.raises(DialRefused) as refused:
        await policy.authorize(raw, "callback of c1")
    assert refused.value.reason.startswith(why)
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("callback of c1" in m and why in m for m in logged), logged
    # Never the full number in the log.
    assert not any("13800138000" in m or "4008123123" in m for m in logged)


@pytest.mark.parametrize(("raw", "digits"), [
    ("+8613800138000", "13800138000"),
    ("+861012345678", "01012345678"),
    ("075512345678", "075512345678"),
])
async def test_allowed_numbers_reach_the_dialplan_as_national_digits(
        redis: aioredis.Redis, raw: str, digits: str) -> None:
    assert await _policy(redis, [1_700_000_000.0]).authorize(raw, "callback") == digits


async def test_allow_prefixes_and_allow_types_widen_the_policy(redis: aioredis.Redis) -> None:
    clock = [1_700_000_000.0]
    by_prefix = _policy(redis, clock, allow_prefixes=["400"])
    assert await by_prefix.authorize("4008123123", "callback") == "4008123123"
    with pytest.raises(DialRefused):
        await by_prefix.authorize("8008101234", "callback")
    by_type = _policy(redis, clock, allow_types=["mobile", "toll_free"])
    assert await by_type.authorize("8008101234", "callback") == "8008101234"
    with pytest.raises(DialRefused, match="fixed_line is not allowed"):
        await by_type.authorize("01012345678", "callback")


async def test_rate_caps_per_number_and_overall(redis: aioredis.Redis) -> None:
    # 2 calls per number per hour, 3 in all per minute; the clock is the test's.
    clock = [3600.0 * 470_000]            # the start of an hour (and of a minute)
    policy = _policy(redis, clock, per_number_per_hour=2, overall_per_minute=3)
    await policy.authorize("13800138000", "callback")
    await policy.authorize("+8613800138000", "callback")    # the same number
    with pytest.raises(DialRefused, match="2 calls to this number per hour"):
        await policy.authorize("013800138000", "callback")
    await policy.authorize("13900139000", "callback")        # 3rd call in this minute
    with pytest.raises(DialRefused, match="3 calls per minute in all"):
        await policy.authorize("13700137000", "callback")
    clock[0] += 60                                            # next minute: overall frees
    await policy.authorize("13700137000", "callback")
    with pytest.raises(DialRefused, match="per hour"):       # still the same hour
        await policy.authorize("13800138000", "callback")
    clock[0] += 3600                                          # next hour
    await policy.authorize("13800138000", "callback")


async def test_the_hours_turn_does_not_reset_the_cap(redis: aioredis.Redis) -> None:
    """"1 call to a number per hour" is any 3 600 s, not the clock hour. On the main of
    2026-12-01 01:32 the counters were per clock hour and per clock minute: a callback at
    02:59:50 and another at 03:00:10 both went out (seen in a fresh-clone run of
    tests/security/test_sip_and_dialing.py that straddled 03:00), as did two bursts of the
    overall cap either side of a minute's turn."""
    turn = 3600.0 * 470_000                   # an hour's (and a minute's) turn
    clock = [turn - 10]
    policy = _policy(redis, clock, per_number_per_hour=1, overall_per_minute=2)
    await policy.authorize("13800138000", "callback")
    await policy.authorize("13900139000", "callback")
    clock[0] = turn + 10                      # 20 s later, in the next clock hour and minute
    with pytest.raises(DialRefused, match="1 calls to this number per hour"):
        await policy.authorize("13800138000", "callback")
    with pytest.raises(DialRefused, match="2 calls per minute in all"):
        await policy.authorize("13700137000", "callback")
    clock[0] = turn + 50                      # 60 s after the first two: the minute frees
    await policy.authorize("13700137000", "callback")
    clock[0] = turn - 10 + 3600               # 3 600 s after the first call to the number
    await policy.authorize("13800138000", "callback")


async def test_a_refused_number_does_not_use_up_the_cap(redis: aioredis.Redis) -> None:
    policy = _policy(redis, [1_700_000_000.0], overall_per_minute=1)
    with pytest.raises(DialRefused):
        await policy.authorize("+442079460000", "callback")
    assert await policy.authorize("13800138000", "callback") == "13800138000"


async def test_restriction_and_help_flags_match_every_spelling(redis: aioredis.Redis) -> None:
    """On main: restricted as 13500135000, the caller got through as +8613500135000."""
    restrictions = RestrictionList(redis, namespace="t")
    await restrictions.restrict("13500135000", "abuse", "supervisor")
    for spelling in ("+8613500135000", "008613500135000", "013500135000", "13500135000"):
        assert await restrictions.is_restricted(spelling) is not None, spelling
    assert await restrictions.is_restricted("13500135001") is None
    flags = CallerFlags(redis, namespace="t")
    await flags.flag("+86 139 0013 9000", "elderly")
    assert await flags.needs_help("13900139000")


@pytest.mark.parametrize(("table", "setting"), [
    ("allow_types = [\"mobile\", \"satellite\"]", "dialing.allow_types"),
    ("allow_prefixes = [\"4OO\"]", "dialing.allow_prefixes"),
    ("per_number_per_hour = 0", "dialing.per_number_per_hour"),
    ("overall_per_minute = true", "dialing.overall_per_minute"),
    ("per_number_per_day = 3", "dialing.per_number_per_day"),
])
def test_a_bad_dialing_setting_is_named(tmp_path: Path, table: str, setting: str) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text(f"[dialing]\n{table}\n")
    # The settings file's own model refuses it first (DialingTable, hotline_core/dial_policy.py).
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        settings = load_settings(config, env={"HOTLINE_AMI_SECRET": "x"})
        DialPolicySettings.from_table(settings.dialing, settings.source)
