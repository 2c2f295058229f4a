"""Open311 GeoReport v2 (开放接口) over HTTP: ``/open311/v2/...``."""
