"""One MQTT 5 connection to the broker, driven by paho's network thread.

paho is used directly (not aiomqtt) because a start message may be acknowledged only after
its start is committed: that needs paho's manual acknowledgement (`manual_ack`, `ack()`),
which aiomqtt does not expose. paho's own thread does the socket work and reconnects with
backoff; everything it reports is handed to the asyncio loop, and the door calls back into
paho (publish, ack) from the loop, which paho allows from any thread.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, _ConnectionState
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from taskgate.config.mqtt import MqttSettings
from taskgate.core.connections import ConnectionState
from taskgate.domain.backoff import backoff_delay, jittered

log = logging.getLogger("taskgate.mqtt")


# paho's states in which its own reconnect wait gives up: the client is being stopped.
_STOPPING = (_ConnectionState.MQTT_CS_DISCONNECTING, _ConnectionState.MQTT_CS_DISCONNECTED)


class _Client(paho.Client):
    """paho's client with taskgate's reconnect waits: the one backoff formula, with jitter,
    and fractions of a second (paho doubles whole seconds from 1: +1, +3, +7 s after a broker
    restart, while the broker may be dropping what it queued for us)."""

    first_wait = 0.2
    longest_wait = 2.0
    failed_tries = 0

    def _reconnect_wait(self) -> None:
        self.failed_tries += 1
        delay = backoff_delay(self.failed_tries, first=self.first_wait, longest=self.longest_wait)
        deadline = time.monotonic() + jittered(delay, random.random())
        # paho's own wait stops early when the client is being stopped; so does this one.
        while not self._thread_terminate and self._state not in _STOPPING:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, 0.1))


@dataclass(frozen=True)
class Incoming:
    """A received message; `ack` tells the broker it is handled (no-op for QoS 0)."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    generation: int
    # The broker delivers it again (after a reconnect) because it was not acknowledged.
    redelivered: bool
    response_topic: str | None
    correlation_data: bytes | None
    user_properties: dict[str, str]


class MqttConnection:
    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        subscriptions: list[str],
        on_message: Callable[[Incoming], None],
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        # What /readyz and the metrics show about the broker connection.
        self.state = ConnectionState()
        self._subscriptions = subscriptions
        self._on_message = on_message
        self._loop: asyncio.AbstractEventLoop | None = None
        # Counts connections: an ack is sent only on the connection that delivered the message,
        # since after a reconnect the broker redelivers what was not acknowledged.
        self._generation = 0
        # Whether the broker kept our session at the last connect (it then delivers again
        # what was not acknowledged before).
        self._session_present = False
        self._connected_event = asyncio.Event()
        self._client = self._build()

    def _build(self) -> paho.Client:
        s = self.settings
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
        )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls.enabled:
            context = ssl.create_default_context(
                cafile=str(s.tls.ca_file) if s.tls.ca_file else None
            )
            if s.tls.cert_file:
                context.load_cert_chain(
                    str(s.tls.cert_file), str(s.tls.key_file) if s.tls.key_file else None
                )
            if s.tls.insecure:
                context.check_hostname = False
            client.tls_set_context(context)
        client.first_wait = s.reconnect_min_seconds
        client.longest_wait = max(s.reconnect_min_seconds, s.reconnect_max_seconds)
        # No limit of our own on unacknowledged publishes: with one, paho scans its whole
        # outgoing queue on every PUBACK, which is quadratic in a burst of events.
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(s.max_queued_publishes)
        client.on_connect = self._handle_connect
        client.on_connect_fail = self._handle_connect_fail
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry
        props.ReceiveMaximum = self.settings.receive_maximum
        return props

    async def start(self) -> None:
        """Begin connecting in the background; the door works once the broker answers."""
        self._loop = asyncio.get_running_loop()
        s = self.settings
        log.info(
            "MQTT connecting to %s:%s as %s (clean start %s)",
            s.host,
            s.port,
            self.client_id,
            s.clean_start,
        )
        self._client.connect_async(
            s.host,
            s.port,
            keepalive=s.keepalive,
            clean_start=s.clean_start,
            properties=self._connect_properties(),
        )
        self._client.loop_start()

    async def stop(self) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        self.state.connected = False

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._connected_event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int | None = None,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> None:
        """Queue a message; paho sends it now or, at QoS 1, after the next reconnect."""
        info = self._client.publish(
            topic,
            payload,
            qos=self.settings.qos if qos is None else qos,
            retain=retain,
            properties=properties,
        )
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("MQTT publish to %s dropped: %s", topic, paho.error_string(info.rc))

    def ack(self, message: Incoming) -> None:
        if message.qos == 0:
            return
        if message.generation != self._generation or not self.state.connected:
            # The broker will deliver it again on the new connection.
            return
        self._client.ack(message.mid, message.qos)

    def delivered_again(self, message: Incoming) -> bool | None:
        """Whether the broker delivers `message` again by itself, now that the connection it
        came on has ended: True (it kept our session), False (it forgot it: only we have
        it), None (not connected yet: not known). False while its connection is up."""
        if message.qos == 0 or message.generation == self._generation:
            return False
        if not self.state.connected:
            return None
        return self._session_present

    # paho's thread calls these; each hands over to the loop.

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)

    def _handle_connect(
        self,
        client: paho.Client,
        _userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._call(self._failed, f"connection refused: {reason}")
            return
        self._generation += 1
        if isinstance(client, _Client):
            client.failed_tries = 0
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # paho leaves Nagle on: a small answer would wait for the broker's delayed ACK
            # (about 40 ms) behind the previous one.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # retainHandling 2: a retained start message is not replayed at every (re)subscribe,
        # which would start its task again after each reconnect.
        options = SubscribeOptions(qos=self.settings.qos, retainHandling=2)
        for topic in self._subscriptions:
            client.subscribe(topic, options=options)
        self._call(self._connected, flags.session_present)

    def _handle_connect_fail(self, _client: paho.Client, _userdata: Any) -> None:
        self._call(self._failed, "broker unreachable")

    def _handle_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: paho.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._generation += 1
        self._call(self._disconnected, str(reason))

    def _handle_message(
        self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage
    ) -> None:
        props = getattr(message, "properties", None)
        response_topic = getattr(props, "ResponseTopic", None) if props else None
        correlation = getattr(props, "CorrelationData", None) if props else None
        user = dict(getattr(props, "UserProperty", []) or []) if props else {}
        incoming = Incoming(
            topic=message.topic,
            payload=bytes(message.payload),
            qos=message.qos,
            mid=message.mid,
            generation=self._generation,
            redelivered=bool(message.dup),
            response_topic=response_topic,
            correlation_data=correlation,
            user_properties=user,
        )
        self._call(self._on_message, incoming)

    # On the loop.

    def _connected(self, session_present: bool) -> None:
        reconnect = self.state.down_since is not None
        self.state.came_up()
        self._session_present = session_present
        self.state.last_error = ""
        self._connected_event.set()
        log.info(
            "MQTT connected to %s:%s (session present %s, reconnects %d%s)",
            self.settings.host,
            self.settings.port,
            session_present,
            self.state.reconnects,
            f", after {self.state.last_outage_seconds:.2f} s away" if reconnect else "",
        )

    def _failed(self, reason: str) -> None:
        self.state.went_down()
        self.state.last_error = reason
        self._connected_event.clear()
        log.warning("MQTT %s:%s: %s", self.settings.host, self.settings.port, reason)

    def _disconnected(self, reason: str) -> None:
        was = self.state.connected
        self.state.went_down()
        self.state.last_error = f"disconnected: {reason}"
        self._connected_event.clear()
        if was:
            log.warning(
                "MQTT disconnected from %s:%s: %s", self.settings.host, self.settings.port, reason
            )
