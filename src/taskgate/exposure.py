"""Who may use each door, in one line per door: logged at every start, so that what the
config opens is never a surprise (docs/security.md)."""

from __future__ import annotations

from collections.abc import Sequence

from taskgate.config import Settings
from taskgate.config.doors import ButlerSettings, QrsSettings
from taskgate.config.jaseci import JaseciSettings

# The two networks that mean "every address" in an allow-list.
EVERYONE = {"0.0.0.0/0", "::/0"}


def _networks(networks: Sequence[str]) -> str:
    if not networks:
        return "nobody"
    if EVERYONE & set(networks):
        return "every address"
    return ", ".join(networks)


def _key_door(
    name: str, allow_from: Sequence[str], require_key: bool, open_to: Sequence[str], how: str
) -> str:
    connect = f"connections from {_networks(allow_from)}"
    if not require_key:
        return f"{name}: {connect}, all of them without a key (require_api_key: false)"
    if not open_to:
        return f"{name}: {connect}, each with an API key ({how})"
    return (
        f"{name}: {connect}; without a key from {_networks(open_to)} (open_to), "
        f"others with an API key ({how})"
    )


def _keyed_door(
    name: str,
    door: ButlerSettings | JaseciSettings | QrsSettings,
    how: str,
    open_mode: bool,
) -> str:
    """A door that takes an API key (`how`), or none with `auth: none`."""
    if open_mode:
        return f"{name}: connections from {_networks(door.allow_from)}, no key"
    return _key_door(name, door.allow_from, door.require_api_key, door.open_to, how)


def door_lines(settings: Settings) -> list[str]:
    url = settings.url
    if settings.auth == "none":
        lines = [f"API {url}/api/v1: open to every caller that can connect (auth: none)"]
    else:
        lines = [
            f"API {url}/api/v1: API key required (Authorization: Bearer); /healthz and /readyz open"
        ]
    open_mode = settings.auth == "none"
    if settings.butler.enabled:
        name = f"Butler door {url}/v4"
        how = "X-API-Key header or ?apikey="
        lines.append(_keyed_door(name, settings.butler, how, open_mode))
    if settings.jaseci.enabled:
        name = f"Jaseci door {url}/js (and {url}/js_public/walker_callback, key in ?key=)"
        how = "Authorization: token <key>"
        lines.append(_keyed_door(name, settings.jaseci, how, open_mode))
    if settings.qrs.enabled:
        qrs = settings.qrs
        name = f"QRS door {url}/qrs"
        how = "X-API-Key or Authorization: Bearer"
        lines.append(_keyed_door(name, qrs, how, open_mode))
        if qrs.listen is not None:
            lines.append(
                f"QRS door https://{qrs.listen.host}:{qrs.listen.port}/qrs: every client with "
                f"a certificate signed by {qrs.listen.client_ca}"
            )
    if settings.mqtt.enabled and settings.mqtt.start.enabled:
        mqtt = settings.mqtt
        tasks = mqtt.start.allowed_tasks
        what = "every task" if tasks is None else f"the tasks {', '.join(tasks)}"
        lines.append(
            f"MQTT door: whoever may publish to {mqtt.start.topic} on {mqtt.host}:{mqtt.port} "
            f"starts {what} (the broker decides who may)"
        )
    return lines
