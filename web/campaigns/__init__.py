"""Outbound campaigns (外呼任务) for supervisors: campaigns, their targets and attempts, and
the human callback worklist (targets whose last attempt failed)."""
