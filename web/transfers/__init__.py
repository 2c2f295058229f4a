"""Transfers of a call to an emergency centre (紧急转接: 110/119/120/122) over HTTP, for the
agent's own client (no desktop ships): ``POST /api/calls/{call_id}/transfer``, attended
complete/cancel, the call's transfer rows and the two-way transfer list."""
