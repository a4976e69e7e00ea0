"""The dashboard's token: the file it lives in, and what a request must show."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from aggregator.dashboard.auth import COOKIE, TokenCheck, load_or_create_token
from fedgov.errors import ConfigError

TOKEN = "a-token-of-enough-length"


def test_an_absent_token_file_is_created_private_and_random(tmp_path: Path) -> None:
    path = tmp_path / "t"
    token, created = load_or_create_token(path)
    assert created and len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == (token, False)
    other, _ = load_or_create_token(tmp_path / "u")
    assert other != token


@pytest.mark.parametrize(
    ("text", "mode", "says"),
    [
        (TOKEN, 0o644, "chmod 600"),
        ("short", 0o600, "at least 16"),
        ("two words of a token", 0o600, "one word"),
        ("", 0o600, "at least 16"),
    ],
)
def test_a_token_file_others_may_read_or_a_weak_token_is_refused(
    tmp_path: Path, text: str, mode: int, says: str
) -> None:
    path = tmp_path / "t"
    path.write_text(text)
    path.chmod(mode)
    with pytest.raises(ConfigError, match=says):
        load_or_create_token(path)


def test_only_the_token_or_the_session_cookie_it_derives_lets_in() -> None:
    check = TokenCheck(TOKEN)
    assert check.allows({"Authorization": f"Bearer {TOKEN}"})
    assert check.allows({"Authorization": f"bearer  {TOKEN} "})
    for header in ("", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer"):
        assert not check.allows({"Authorization": header}), header
    cookie = check.set_cookie()
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert TOKEN not in cookie  # the cookie holds a value derived from the token
    session = cookie.split(";")[0]
    assert check.allows({"Cookie": f"other=1; {session}"})
    assert not check.allows({"Cookie": f"{COOKIE}={TOKEN}"})
    assert not check.allows({"Cookie": session + "0"})
    assert not check.allows({"Cookie": 'bad"cookie'})
    assert not TokenCheck("another-token-entirely").allows({"Cookie": session})
    assert check.login(TOKEN) and not check.login(TOKEN.upper())
    assert "; Secure" in TokenCheck(TOKEN, secure=True).set_cookie()
