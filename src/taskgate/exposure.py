"""Who may use each door, in one line per door: logged at every start, so that what the
config opens is never a surprise (docs/security.md)."""

from __future__ import annotations

from collections.abc import Sequence

from taskgate.config import Settings

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


def door_lines(settings: Settings) -> list[str]:
    url = settings.url
    if settings.auth == "none":
        lines = [f"API {url}/api/v1: open to every caller that can connect (auth: none)"]
    else:
        lines = [
            f"API {url}/api/v1: API key required (Authorization: Bearer); /healthz and /readyz open"
        ]
    if settings.butler.enabled:
        butler = settings.butler
        name = f"Butler door {url}/v4"
        if settings.auth == "none":
            lines.append(f"{name}: connections from {_networks(butler.allow_from)}, no key")
        else:
            lines.append(
                _key_door(
                    name,
                    butler.allow_from,
                    butler.require_api_key,
                    butler.open_to,
                    "X-API-Key header or ?apikey=",
                )
            )
    if settings.jaseci.enabled:
        jaseci = settings.jaseci
        name = f"Jaseci door {url}/js (and {url}/js_public/walker_callback, key in ?key=)"
        if settings.auth == "none":
            lines.append(f"{name}: connections from {_networks(jaseci.allow_from)}, no key")
        else:
            lines.append(
                _key_door(
                    name,
                    jaseci.allow_from,
                    jaseci.require_api_key,
                    jaseci.open_to,
                    "Authorization: token <key>",
                )
            )
    if settings.qrs.enabled:
        qrs = settings.qrs
        name = f"QRS door {url}/qrs"
        if settings.auth == "none":
            lines.append(f"{name}: connections from {_networks(qrs.allow_from)}, no key")
        else:
            lines.append(
                _key_door(
                    name,
                    qrs.allow_from,
                    qrs.require_api_key,
                    qrs.open_to,
                    "X-API-Key or Authorization: Bearer",
                )
            )
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
