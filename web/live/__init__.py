"""Live queue figures (实时监控): ``GET /api/queues`` and the ``/api/live`` web socket."""
