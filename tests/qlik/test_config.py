"""The `qlik:` section of the config: sites, their certificates, and tasks that name them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from taskgate.config import load_settings
from taskgate.domain.errors import ConfigError
from taskgate.qlik.client import QlikSites

SITE: dict[str, Any] = {"name": "prod", "host": "qlik.example.com"}
QLIK_TASK: dict[str, Any] = {
    "name": "Reload sales",
    "action": {
        "kind": "qlik",
        "site": "prod",
        "task_id": "6CA1D6A3-8B27-4D0B-9A0F-0C1E2D3F4A5B",
    },
}


def write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "taskgate.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def problem(tmp_path: Path, config: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, config))
    return caught.value


def test_defaults_of_a_site(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, {"qlik": {"sites": [SITE]}, "tasks": [QLIK_TASK]}))
    [site] = settings.qlik.sites
    assert (site.port, site.virtual_proxy, site.verify) == (4242, "", True)
    assert (site.user_directory, site.user_id) == ("INTERNAL", "sa_scheduler")
    assert (site.poll_min_seconds, site.poll_max_seconds) == (0.5, 10)
    assert site.unreachable_limit_seconds == 300
    assert (site.sync.enabled, site.sync.interval_seconds, site.sync.filter) == (False, 300, "")
    # remote ids are stored lower case, like every task id
    assert str(settings.tasks[0].action.task_id) == "6ca1d6a3-8b27-4d0b-9a0f-0c1e2d3f4a5b"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("site", "field"),
    [
        ({"port": 0}, "qlik.sites.0.port"),
        ({"port": "https"}, "qlik.sites.0.port"),
        ({"host": "https://qlik.example.com"}, "qlik.sites.0.host"),
        ({"name": "has space"}, "qlik.sites.0.name"),
        ({"virtual_proxy": "/hdr/"}, "qlik.sites.0.virtual_proxy"),
        ({"user_id": "sa; UserDirectory=X"}, "qlik.sites.0.user_id"),
        ({"poll_min_seconds": 0}, "qlik.sites.0.poll_min_seconds"),
        ({"request_timeout_seconds": -1}, "qlik.sites.0.request_timeout_seconds"),
        ({"unreachable_limit_seconds": -5}, "qlik.sites.0.unreachable_limit_seconds"),
        ({"sync": {"interval_seconds": 0}}, "qlik.sites.0.sync.interval_seconds"),
        ({"sync": {"every": 5}}, "qlik.sites.0.sync.every"),
        ({"proxy": "x"}, "qlik.sites.0.proxy"),
    ],
)
def test_bad_site_values_name_the_field(tmp_path: Path, site: dict[str, Any], field: str) -> None:
    error = problem(tmp_path, {"qlik": {"sites": [{**SITE, **site}]}})
    assert error.field == field
    assert field in error.message


@pytest.mark.parametrize(
    ("site", "words"),
    [
        ({"poll_min_seconds": 20, "poll_max_seconds": 10}, "poll_min_seconds"),
        ({"client_key": "key.pem"}, "client_key needs client_cert"),
        ({"ca": "root.pem", "verify": False}, "not both"),
    ],
)
def test_inconsistent_site_settings(tmp_path: Path, site: dict[str, Any], words: str) -> None:
    error = problem(tmp_path, {"qlik": {"sites": [{**SITE, **site}]}})
    assert error.field is not None and error.field.startswith("qlik.sites.0")
    assert words in error.message


def test_site_names_are_unique(tmp_path: Path) -> None:
    error = problem(tmp_path, {"qlik": {"sites": [SITE, {**SITE, "host": "other"}]}})
    assert error.field == "qlik.sites"
    assert "'prod' is used twice" in error.message


def test_a_task_naming_no_configured_site_is_refused(tmp_path: Path) -> None:
    task = {**QLIK_TASK, "action": {**QLIK_TASK["action"], "site": "test"}}
    error = problem(tmp_path, {"qlik": {"sites": [SITE]}, "tasks": [QLIK_TASK, task]})
    assert error.field == "tasks.1.action.site"
    assert "no Qlik Sense site named 'test'" in error.message
    assert "qlik.sites: prod" in error.message


def test_a_qlik_action_needs_a_guid(tmp_path: Path) -> None:
    task = {**QLIK_TASK, "action": {**QLIK_TASK["action"], "task_id": "sales"}}
    error = problem(tmp_path, {"qlik": {"sites": [SITE]}, "tasks": [task]})
    assert error.field is not None and error.field.startswith("tasks.0.action.qlik.task_id")


def test_certificate_paths_are_relative_to_the_config_and_must_exist(tmp_path: Path) -> None:
    site = {**SITE, "client_cert": "certs/client.pem", "ca": "certs/root.pem"}
    error = problem(tmp_path, {"qlik": {"sites": [site]}})
    assert error.field == "qlik.sites.0.client_cert"
    assert str(tmp_path / "certs" / "client.pem") in error.message

    ca = trustme.CA()
    (tmp_path / "certs").mkdir()
    ca.cert_pem.write_to_path(str(tmp_path / "certs" / "root.pem"))
    ca.issue_cert("taskgate").private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "certs" / "client.pem")
    )
    settings = load_settings(write(tmp_path, {"qlik": {"sites": [site]}}))
    assert settings.qlik.sites[0].ca == tmp_path / "certs" / "root.pem"
    QlikSites(settings.qlik)  # the TLS settings load


def test_a_file_that_is_no_certificate_is_reported_at_assembly(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_text("not a certificate\n")
    site = {**SITE, "client_cert": "client.pem"}
    settings = load_settings(write(tmp_path, {"qlik": {"sites": [site]}}))
    with pytest.raises(ConfigError) as caught:
        QlikSites(settings.qlik)
    assert caught.value.field == "qlik.sites.0.client_cert"
