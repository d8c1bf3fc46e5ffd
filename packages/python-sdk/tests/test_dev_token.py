"""The token part of ``cosmo://`` URLs: where it is read from, and that nothing printable
(the URL shown, error messages) ever holds it. Live behaviour against a server that
requires a token is in tests/dev_synapse/test_token.py."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from cosmonapse import SynapseAuthError, SynapseConnectError
from cosmonapse.synapses._dev_url import display_url, parse_url, redact
from cosmonapse.synapses.dev import DevSynapse

SECRET = "s3cr@t/with:odd?chars#%"


@pytest.mark.parametrize(
    ("url", "token"),
    [
        ("cosmo://:abc@h:1", "abc"),
        ("cosmo://anyone:abc@h:1", "abc"),  # the user name is ignored
        (f"cosmo://:{quote(SECRET, safe='')}@h:1", SECRET),
        ("cosmo://h:1", None),
        ("cosmo://:@h:1", None),  # an empty password is no token
    ],
)
def test_the_token_is_the_urls_password(url: str, token: str | None) -> None:
    host, port, options = parse_url(url)
    assert (host, port) == ("h", 1)
    assert options.get("token") == token


def test_query_options_still_work_next_to_a_token() -> None:
    _, _, options = parse_url("cosmo://:abc@[::1]:7?reconnect=false&max_pending=3")
    assert options == {"token": "abc", "reconnect": False, "max_pending": 3}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("cosmo://abc@h:1", "the token goes after a colon: cosmo://:TOKEN@host:port"),
        ("cosmo://:abc@h:1?token=abc", "not in the query"),
        ("cosmo://:abc@h:1/path", "has no path"),
        ("cosmo://:ab/c@h:1", "invalid port"),  # an unescaped / ends the authority early
        ("cosmo://:abc@h:1?nope=1", "unknown option 'nope'"),
        ("http://:abc@h:1", "not a dev synapse URL"),
    ],
)
def test_errors_about_a_url_never_show_its_token(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_url(url)
    assert "abc" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("cosmo://:abc@h:1", "cosmo://:***@h:1"),
        ("cosmo://user:abc@h:1?x=1", "cosmo://:***@h:1?x=1"),
        ("cosmo://:a/b?c@h:1", "cosmo://:***@h:1"),
        ("cosmo://h:1", "cosmo://h:1"),
        ("no scheme at all", "no scheme at all"),
        ("abc@h", ":***@h"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_the_url_shown_by_a_synapse_masks_the_token() -> None:
    assert display_url("h", 1) == "cosmo://h:1"
    assert display_url("::1", 7, token=True) == "cosmo://:***@[::1]:7"
    synapse = DevSynapse("127.0.0.1", 7070, token=SECRET)
    assert synapse.url == "cosmo://:***@127.0.0.1:7070"
    assert SECRET not in repr(synapse) and SECRET not in str(synapse)
    assert DevSynapse("127.0.0.1", 7070).url == "cosmo://127.0.0.1:7070"


@pytest.mark.parametrize("token", ["", 5, b"bytes"])
def test_a_token_must_be_a_non_empty_string(token: object) -> None:
    with pytest.raises(ValueError, match="token must be a non-empty string"):
        DevSynapse("127.0.0.1", 7070, token=token)  # type: ignore[arg-type]


def test_auth_error_is_a_connect_error() -> None:
    # Code that catches SynapseConnectError (or ConnectionError) keeps working.
    assert issubclass(SynapseAuthError, SynapseConnectError)
    assert issubclass(SynapseAuthError, ConnectionError)
