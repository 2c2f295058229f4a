"""The sign-in page (登录页): name and password, posted to ``POST /api/session``."""
