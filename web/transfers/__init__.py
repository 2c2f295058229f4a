"""Transfers of a call to an emergency centre (紧急转接: 110/119/120/122) over HTTP, for the
agent's desktop: ``POST /api/calls/{call_id}/transfer`` and the call's transfer rows."""
