"""The restriction list over HTTP (限制呼入, R-RESTRICT): ``/api/restrictions``."""
