"""/api/v1/messages: the banners every page of the UI shows; superusers write them."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from wharf.api.access import Superuser
from wharf.api.deps import FreshLogin, Rt, actor
from wharf.core import global_messages
from wharf.core.global_messages import Message

router = APIRouter(tags=["messages"])


class MessageBody(BaseModel):
    content: str = Field(min_length=1, max_length=global_messages.MAX_CONTENT)
    media_type: Literal["text/plain", "text/markdown"] = "text/markdown"
    severity: Literal["info", "warning", "error"] = "info"


class CreateMessage(BaseModel):
    message: MessageBody


def _view(m: Message) -> dict[str, Any]:
    return {"uuid": m.uuid, "content": m.content, "media_type": m.media_type, "severity": m.severity}


@router.get("/messages", operation_id="getGlobalMessages", summary="The messages shown to every user")
async def get_global_messages(rt: Rt) -> dict[str, Any]:
    return {"messages": [_view(m) for m in await rt.db.read(global_messages.list_all)]}


@router.post(
    "/messages",
    operation_id="createGlobalMessage",
    dependencies=[FreshLogin],
    summary="Show a message to every user (superusers)",
    status_code=201,
)
async def create_global_message(rt: Rt, who: Superuser, body: CreateMessage) -> Response:
    m = body.message
    await rt.db.write(global_messages.create, m.content, m.media_type, m.severity, actor(who))
    return Response(status_code=201)


@router.delete(
    "/message/{uuid}",
    operation_id="deleteGlobalMessage",
    dependencies=[FreshLogin],
    summary="Remove a message (superusers)",
    status_code=204,
)
async def delete_global_message(rt: Rt, who: Superuser, uuid: str) -> Response:
    await rt.db.write(global_messages.remove, uuid, actor(who))
    return Response(status_code=204)
