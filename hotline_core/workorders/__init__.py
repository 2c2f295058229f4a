"""Work orders (工单): intake, dispatch, handling, supervision, callback and metrics.

Modules: ``model`` (tables), ``lifecycle`` (statuses, events, state folded from events),
``desk`` (commands), ``acceptance`` (not-accepted reasons, duplicates), ``dispatch`` and
``csv_import`` (responsibility list, gazetteer, units), ``replies`` (reply rules),
``supervision`` (lights, reminders), ``privacy`` and ``access`` (who sees what),
``knowledge`` (knowledge base), ``reports`` (metrics queries, CSV/PNG reports).
"""
