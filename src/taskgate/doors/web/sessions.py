"""Logins of the dashboard: server-side sessions, in this process's memory.

The browser holds only a random session id (an HttpOnly, SameSite=Strict cookie); the key it
logged in with stays here, and is checked again on every request, so a revoked or expired key
ends its sessions at once. Each session has its own CSRF token. Sessions end when they expire,
at logout, and when the server restarts (then the user logs in again).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

COOKIE = "taskgate_session"
# At most this many live sessions; past it the oldest login ends first.
MAX_SESSIONS = 10_000


@dataclass
class Session:
    id: str
    # The API key logged in with; None in open mode (auth: none), where no key exists.
    secret: str | None
    expires_at: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))


class SessionStore:
    def __init__(self, lifetime_seconds: float, max_sessions: int = MAX_SESSIONS) -> None:
        self.lifetime = lifetime_seconds
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def create(self, secret: str | None) -> Session:
        self._drop_expired()
        while len(self._sessions) >= self.max_sessions:
            self._sessions.popitem(last=False)
        session = Session(secrets.token_urlsafe(32), secret, time.time() + self.lifetime)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires_at <= time.time():
            self.drop(session_id)
            return None
        return session

    def drop(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _drop_expired(self) -> None:
        now = time.time()
        for session_id in [s.id for s in self._sessions.values() if s.expires_at <= now]:
            self.drop(session_id)
