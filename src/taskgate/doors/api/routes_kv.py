"""The key-value store: namespaces, their entries, one key. Running executions reach these
routes with their TASKGATE_TOKEN as well as with an API key; a token only the namespaces its
run was given (core/kv.py)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from taskgate.domain.kv import PLAIN_NAMESPACE_PATTERN, KvEntry, KvWrite
from taskgate.domain.model import Strict
from taskgate.doors.api.deps import Core, KvReader, KvWriter

router = APIRouter(prefix="/api/v1/kv", tags=["key-value store"])

Namespace = Annotated[str, Path(description="Namespace name (it cannot hold '/').")]
Key = Annotated[str, Path(description="Key; it may hold '/'.")]
NewNamespace = Annotated[
    str,
    Path(
        pattern=PLAIN_NAMESPACE_PATTERN,
        description="Namespace name: letters, digits, '_', '-', '.', not starting with '.'.",
    ),
]


class NamespaceInfo(BaseModel):
    namespace: str
    keys: int


class NamespaceList(BaseModel):
    items: list[NamespaceInfo]


class Entry(BaseModel):
    namespace: str
    key: str
    value: str
    expires_at: datetime | None
    updated_at: datetime
    secret: bool = False


class EntryList(BaseModel):
    namespace: str
    items: list[Entry]


class EntryWrite(Strict):
    value: str
    ttl_ms: int | None = Field(
        None, ge=0, description="Milliseconds until the key expires; null or 0: never."
    )
    secret: bool = Field(
        False, description="Write-only: reads show *** instead; sequences hide it in logs."
    )


def _entry(entry: KvEntry) -> Entry:
    return Entry(
        namespace=entry.namespace,
        key=entry.key,
        value=entry.value,
        expires_at=entry.expires_at,
        updated_at=entry.updated_at,
        secret=entry.secret,
    )


@router.get("", response_model=NamespaceList)
async def list_namespaces(core: Core, caller: KvReader) -> NamespaceList:
    sizes = await core.kv.namespace_sizes(caller)
    return NamespaceList(items=[NamespaceInfo(namespace=n, keys=k) for n, k in sizes])


@router.get("/{namespace}", response_model=EntryList)
async def list_entries(namespace: Namespace, core: Core, caller: KvReader) -> EntryList:
    entries = await core.kv.entries(namespace, caller)
    return EntryList(namespace=namespace, items=[_entry(e) for e in entries])


@router.delete("/{namespace}", status_code=204)
async def delete_namespace(namespace: Namespace, core: Core, caller: KvWriter) -> Response:
    await core.kv.delete_namespace(namespace, caller)
    return Response(status_code=204)


@router.get("/{namespace}/{key:path}", response_model=Entry)
async def get_entry(namespace: Namespace, key: Key, core: Core, caller: KvReader) -> Entry:
    return _entry(await core.kv.get(namespace, key, caller))


@router.put("/{namespace}/{key:path}", response_model=Entry)
async def put_entry(
    namespace: NewNamespace, key: Key, body: EntryWrite, core: Core, caller: KvWriter
) -> Entry:
    return _entry(
        await core.kv.put(KvWrite(namespace, key, body.value, body.ttl_ms, body.secret), caller)
    )


@router.delete("/{namespace}/{key:path}", status_code=204)
async def delete_entry(namespace: Namespace, key: Key, core: Core, caller: KvWriter) -> Response:
    await core.kv.delete(namespace, key, caller)
    return Response(status_code=204)
