"""Execution tokens as values: signing, parsing, expiry."""

from datetime import UTC, datetime, timedelta

import pytest

from taskgate.domain import exectoken
from taskgate.domain.errors import Unauthorized

KEY = b"k" * 32
EID = "8a7df0c9-df7e-4015-9819-91329295c50e"
NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def test_a_token_names_its_execution_and_expiry() -> None:
    token = exectoken.issue(KEY, EID, NOW + timedelta(minutes=10))
    assert token.startswith(f"tgx_{EID}_")
    claims = exectoken.verify(KEY, token, NOW)
    assert claims.execution_id == EID
    assert claims.expires_at == NOW + timedelta(minutes=10)


def test_expiry_is_rounded_up_to_the_second() -> None:
    token = exectoken.issue(KEY, EID, NOW + timedelta(seconds=1, microseconds=1))
    assert exectoken.verify(KEY, token, NOW).expires_at == NOW + timedelta(seconds=2)


def test_an_expired_token_is_refused() -> None:
    token = exectoken.issue(KEY, EID, NOW + timedelta(seconds=5))
    exectoken.verify(KEY, token, NOW + timedelta(seconds=4))
    with pytest.raises(Unauthorized, match="expired"):
        exectoken.verify(KEY, token, NOW + timedelta(seconds=5))


def test_expiry_follows_the_timeout_or_the_cap() -> None:
    assert exectoken.expiry(NOW, 60) == NOW + timedelta(seconds=60) + exectoken.MARGIN
    assert exectoken.expiry(NOW, None) == NOW + exectoken.CAP


def test_another_key_or_any_changed_part_is_refused() -> None:
    token = exectoken.issue(KEY, EID, NOW + timedelta(hours=1))
    with pytest.raises(Unauthorized, match="signature"):
        exectoken.verify(b"x" * 32, token, NOW)
    prefix, eid, epoch, signature = token.split("_", 3)
    other = "0" * 8 + eid[8:]
    later = str(int(epoch) + 3600)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for forged in (
        f"{prefix}_{other}_{epoch}_{signature}",
        f"{prefix}_{eid}_{later}_{signature}",
        f"{prefix}_{eid}_{epoch}_{flipped}",
    ):
        with pytest.raises(Unauthorized, match="signature"):
            exectoken.verify(KEY, forged, NOW)


@pytest.mark.parametrize(
    "token",
    [
        "tgx_",
        "tgx_abc",
        f"tgx_{EID}",
        f"tgx_{EID}_123",
        f"tgx_{EID}_x1_{'a' * 43}",
        f"tgx_{EID}_\uff11\uff12\uff13_{'a' * 43}",  # full-width digits
        f"tgx_{EID.upper()}_123_{'a' * 43}",
        f"tgx_{EID}_123_{'a' * 42}",
        f"tgx_{EID}_9999999999999_{'a' * 43}",
        "tg_not_an_execution_token",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(Unauthorized):
        exectoken.verify(KEY, token, NOW)


def test_a_signed_epoch_past_the_calendar_is_refused() -> None:
    token = exectoken.issue(KEY, EID, NOW)
    message = f"tgx_{EID}_999999999999"
    forged = f"{message}_{exectoken._signature(KEY, message)}"
    assert token != forged
    with pytest.raises(Unauthorized, match="malformed"):
        exectoken.verify(KEY, forged, NOW)
