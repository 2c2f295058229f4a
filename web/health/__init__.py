"""Health (健康检查) and the supervisors' wallboard page: ``GET /api/health``, ``GET /``."""
