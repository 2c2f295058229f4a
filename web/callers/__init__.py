"""Caller flags (需要帮助的来电人, R-ELDERLY) over HTTP: ``/api/callers/{number}/needs-help``."""
