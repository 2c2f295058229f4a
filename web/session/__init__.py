"""Sign-in for people (人员登录): the session cookie, its CSRF token, sign-in, sign-out and
password change. A signed-in person is the same Principal a bearer token gives
(:func:`web.requests.principal`), so every route's role check applies to people too."""
