"""What every QRS request carries: the Xrfkey twice, X-Qlik-User, the virtual proxy prefix."""

from __future__ import annotations

import re

from taskgate.qlik.client import new_xrfkey, qrs_headers, qrs_path
from taskgate.qlik.settings import QlikSiteSettings


def site(**fields: object) -> QlikSiteSettings:
    return QlikSiteSettings.model_validate({"name": "prod", "host": "qlik", **fields})


def test_xrfkey_is_16_letters_and_digits_and_new_each_time() -> None:
    keys = {new_xrfkey() for _ in range(50)}
    assert len(keys) == 50
    assert all(re.fullmatch(r"[0-9A-Za-z]{16}", key) for key in keys)


def test_headers_carry_the_xrfkey_and_the_user() -> None:
    headers = qrs_headers(site(user_directory="CORP", user_id="svc_reload"), "abcdefgh12345678")
    assert headers["X-Qlik-Xrfkey"] == "abcdefgh12345678"
    assert headers["X-Qlik-User"] == "UserDirectory=CORP; UserId=svc_reload"


def test_default_user_is_the_scheduler_account() -> None:
    assert qrs_headers(site(), "k" * 16)["X-Qlik-User"] == (
        "UserDirectory=INTERNAL; UserId=sa_scheduler"
    )


def test_paths_with_and_without_a_virtual_proxy() -> None:
    assert qrs_path(site(), "task/1/start") == "/qrs/task/1/start"
    assert qrs_path(site(virtual_proxy="hdr"), "/executionsession/2") == (
        "/hdr/qrs/executionsession/2"
    )
