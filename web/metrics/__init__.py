"""Work-order metrics (考核) over HTTP: per-unit rates and scores, hot topics."""
