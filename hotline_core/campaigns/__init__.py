"""Outbound campaigns (外呼): one engine for satisfaction callbacks, reminder calls,
missed-call callbacks and virtual hold. Rows in ``model``, rules in ``config`` and
``hours``, the store in ``store``; the telephony side is ``ivr/campaign.py``."""
