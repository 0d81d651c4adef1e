"""Vault URL rules, loopback-only relaxations, durations, NCRONTAB and the error base."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kvdr.config.durations import format_duration, parse_duration
from kvdr.config.endpoints import is_loopback_url, normalize_vault_url, sdk_client_kwargs
from kvdr.config.ncrontab import validate_ncrontab
from kvdr.errors import KvdrError, TopologyError, VaultError


@pytest.mark.parametrize("url", ["https://127.0.0.1:8443/", "https://127.9.9.9/",
                                 "https://localhost:8443", "https://[::1]:8443/"])
def test_loopback_urls_may_use_the_ca_bundle_and_skip_the_challenge_check(url):
    assert is_loopback_url(url)
    assert sdk_client_kwargs(url, "/ca.pem") == {"verify_challenge_resource": False,
                                                 "connection_verify": "/ca.pem"}
    assert sdk_client_kwargs(url, None) == {"verify_challenge_resource": False}


@pytest.mark.parametrize("url", ["https://kv-east.vault.azure.net/", "https://10.0.0.1/",
                                 "https://localhost.evil.com/", "https://128.0.0.1/"])
def test_other_urls_get_full_verification(url):
    assert not is_loopback_url(url)
    assert sdk_client_kwargs(url, "/ca.pem") == {}


@pytest.mark.parametrize(("url", "normal"), [
    ("https://KV-East.vault.azure.net", "https://kv-east.vault.azure.net/"),
    ("https://kv.vault.azure.net:443/", "https://kv.vault.azure.net/"),
    ("https://[::1]:8443", "https://[::1]:8443/"),
])
def test_vault_urls_are_normalised(url, normal):
    assert normalize_vault_url(url) == normal


@pytest.mark.parametrize(("url", "fragment"), [
    ("http://kv.vault.azure.net/", "https"),
    ("https://kv.vault.azure.net.evil.com/", "not a Key Vault host"),
    ("https://a.b.vault.azure.net/", "not a Key Vault host"),
    ("https://kv.managedhsm.azure.net/", "not a Key Vault host"),
    ("https://kv.vault.azure.net:8443/", "port 443"),
    ("https://user:pw@kv.vault.azure.net/", "credentials"),
    ("https://kv.vault.azure.net/?x=1", "vault root"),
    ("https://127.0.0.1:99999/", "not a valid URL"),
    ("", "expected a vault URL"),
])
def test_bad_vault_urls_say_what_is_wrong(url, fragment):
    with pytest.raises(ValueError, match=fragment.replace("?", r"\?")):
        normalize_vault_url(url)


@pytest.mark.parametrize(("text", "expected"), [
    ("7d", timedelta(days=7)), ("36h", timedelta(hours=36)), ("1d12h", timedelta(hours=36)),
    ("90m", timedelta(minutes=90)), ("3600s", timedelta(hours=1)), ("3600", timedelta(hours=1)),
    (0, timedelta(0)), ("P7D", timedelta(days=7)), ("PT1H30M", timedelta(minutes=90)),
    ("7D", timedelta(days=7))])
def test_durations_parse_in_every_accepted_form(text, expected):
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["", "a week", "-1", -1, "P", "1.5h", True, None, "7x"])
def test_bad_durations_are_rejected(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0 0 * * * *", "0 */5 * * * *", "0 30 9 * * Mon-Fri",
                                  "0 0 4 1 Jan,Jul *", "10,20 0-30/10 * * * 0"])
def test_valid_ncrontab_expressions_pass(text):
    assert validate_ncrontab(f"  {text} ") == text


@pytest.mark.parametrize(("text", "fragment"), [
    ("0 * * * *", "needs 6"), ("0 0 0 * * * *", "needs 6"), ("60 * * * * *", "second"),
    ("0 0 24 * * *", "hour"), ("0 0 0 0 * *", "day"), ("0 0 0 * 13 *", "month"),
    ("0 0 0 * * Funday", "day-of-week"), ("0 */0 * * * *", "step"), ("0 5-1 * * * *", "backwards"),
])
def test_bad_ncrontab_expressions_name_the_field(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        validate_ncrontab(text)


def test_errors_carry_stable_codes():
    assert KvdrError("x").to_dict() == {"code": "kvdr.error", "message": "x"}
    assert TopologyError("x").code == "topology.invalid"
    assert VaultError("x", code="vault.throttled").code == "vault.throttled"
    assert isinstance(VaultError("x"), KvdrError)
