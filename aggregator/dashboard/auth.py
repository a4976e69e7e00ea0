"""Who may read the dashboard's pages: the holder of its token.

The token lives in a file (``--token-file``), created with a random token and
mode 0600 when absent. A request shows it as ``Authorization: Bearer TOKEN``,
or once as ``?token=TOKEN`` (a login: the answer sets an HttpOnly,
SameSite=Strict cookie and redirects to the same page without the token in
the address). The cookie holds a value derived from the token (an HMAC), not
the token itself. Every comparison is constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from fedgov.errors import ConfigError

__all__ = ["COOKIE", "TokenCheck", "load_or_create_token"]

COOKIE = "fedgov_dashboard"
_MIN_LENGTH = 16


def load_or_create_token(path: str | Path) -> tuple[str, bool]:
    """The token in ``path`` and whether it was just created (random, mode 0600)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_token(path), False
    except OSError as exc:
        raise ConfigError(
            f"--token-file {path}: cannot create it ({exc.strerror}); "
            "name a file in a folder you may write"
        ) from None
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


def _read_token(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        token = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--token-file {path}: cannot read it ({exc})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"--token-file {path}: others may read it (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {path}`"
        )
    if len(token) < _MIN_LENGTH or any(c.isspace() for c in token):
        raise ConfigError(
            f"--token-file {path}: the token must be one word of at least {_MIN_LENGTH} "
            "characters; delete the file to have a random one made"
        )
    return token


class TokenCheck:
    """Whether a request carries the token, and the cookie a login sets."""

    def __init__(self, token: str, *, secure: bool = False) -> None:
        self._token = token.encode()
        self._session = hmac.new(self._token, b"fedgov dashboard session", hashlib.sha256)
        self._secure = secure

    def _is_token(self, text: str) -> bool:
        return hmac.compare_digest(text.encode(), self._token)

    def _is_session(self, text: str) -> bool:
        return hmac.compare_digest(text.encode(), self._session.hexdigest().encode())

    def login(self, query_token: str) -> bool:
        """Whether ``?token=`` names the token."""
        return self._is_token(query_token)

    def allows(self, headers: Mapping[str, str]) -> bool:
        """Whether the request's bearer token or session cookie is valid."""
        scheme, _, value = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and self._is_token(value.strip()):
            return True
        cookie = _cookie(headers.get("Cookie") or "")
        return cookie is not None and self._is_session(cookie)

    def set_cookie(self) -> str:
        """The ``Set-Cookie`` value of a login."""
        secure = "; Secure" if self._secure else ""
        value = self._session.hexdigest()
        return f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"


def _cookie(header: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None
