"""Notifications: repository and namespace notifications, the in-app inbox, authorized e-mails.

Paths, fields and operation ids are Quay's. Wharf adds `signing_secret` (the key of the
X-Wharf-Signature header) and `recent_attempts` (each delivery's outcome) to the notification view.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from wharf.api import views
from wharf.api.deps import Rt, User, actor
from wharf.api.errors import forbidden, invalid_request, not_found
from wharf.api.organizations import admined_org
from wharf.api.permissions import repository_namespace_role
from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import accounts, authorized_emails, inbox, notifications, scopes
from wharf.core.accounts import AccountRecord
from wharf.core.notifications import NotificationRecord
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.integrations import address_confirmation, mail
from wharf.integrations import notification_methods as methods
from wharf.runtime import Runtime

router = APIRouter(tags=["notifications"])


class NotificationCreateRequest(BaseModel):
    event: str
    method: str
    config: dict[str, Any]
    eventConfig: dict[str, Any] = Field(default_factory=dict)
    title: str | None = None


class UpdateNotification(BaseModel):
    dismissed: bool


def _view(rt: Runtime, n: NotificationRecord, attempts: list[notifications.Attempt]) -> dict[str, Any]:
    return {
        "uuid": n.uuid,
        "title": n.title,
        "event": n.event,
        "method": n.method,
        "config": n.config,
        "event_config": n.event_config,
        "number_of_failures": n.number_of_failures,
        "signing_secret": rt.secrets.open(n.signing_secret),
        "recent_attempts": [
            {"event": a.event, "datetime": views.date(a.created_ms), "success": a.ok, "detail": a.detail}
            for a in attempts
        ],
    }


async def _views(rt: Runtime, found: list[NotificationRecord]) -> list[dict[str, Any]]:
    def _load(db: Db) -> list[list[notifications.Attempt]]:
        return [notifications.attempts(db, n.id, limit=5) for n in found]

    attempts = await rt.db.read(_load)
    return [_view(rt, n, a) for n, a in zip(found, attempts, strict=True)]


async def _one_view(rt: Runtime, n: NotificationRecord) -> dict[str, Any]:
    return (await _views(rt, [n]))[0]


async def _admined_repo(
    rt: Runtime, who: Identity, repository: str
) -> tuple[RepositoryRecord, AccountRecord]:
    repo, namespace, _role = await repository_namespace_role(rt, who, repository, permissions.ADMIN)
    return repo, namespace


async def _user_namespace(rt: Runtime, who: Identity) -> AccountRecord:
    if not who.has_scope(scopes.USER_ADMIN):
        raise forbidden("the token lacks the user:admin scope")
    account = await rt.db.read(accounts.get_by_id, who.account_id) if who.account_id is not None else None
    if account is None:
        raise not_found("no such user")
    return account


async def _create(
    rt: Runtime,
    who: Identity,
    namespace: AccountRecord,
    repo: RepositoryRecord | None,
    body: NotificationCreateRequest,
) -> dict[str, Any]:
    try:
        await methods.validate(rt.settings, body.method, body.config)
    except methods.InvalidMethodConfig as e:
        raise invalid_request(str(e)) from None
    if body.method == "email" and not mail.enabled(rt.settings):
        raise invalid_request("e-mail is not configured on this registry (MAIL_SERVER); pick another method")

    try:
        found = await rt.db.write(
            notifications.set_up,
            rt.secrets,
            namespace,
            repo,
            body.event,
            body.method,
            body.config,
            dict(body.eventConfig),
            body.title,
            actor(who),
        )
    except notifications.EmailNotConfirmed as e:
        raise invalid_request(
            f"{e}: POST /api/v1/repository/{{repository}}/authorizedemail/{{email}} sends it a "
            "confirmation link"
        ) from None
    return await _one_view(rt, found)


async def _test(
    rt: Runtime, who: Identity, namespace: AccountRecord, repo: RepositoryRecord | None, uuid: str
) -> dict[str, Any]:
    """Queue the event's sample data, with this repository's (or namespace's) own names."""
    await rt.db.write(notifications.send_test, namespace, repo, uuid, actor(who))
    return {}


# Repository notifications -----------------------------------------------------------------------


@router.post(
    "/repository/{repository:path}/notification/",
    operation_id="createRepoNotification",
    status_code=201,
    summary="Create a notification on a repository",
)
async def create_repo_notification(
    rt: Rt, who: User, repository: str, body: NotificationCreateRequest
) -> dict[str, Any]:
    repo, namespace = await _admined_repo(rt, who, repository)
    return await _create(rt, who, namespace, repo, body)


@router.get(
    "/repository/{repository:path}/notification/",
    operation_id="listRepoNotifications",
    summary="A repository's notifications",
)
async def list_repo_notifications(rt: Rt, who: User, repository: str) -> dict[str, Any]:
    repo, namespace = await _admined_repo(rt, who, repository)
    found = await rt.db.read(notifications.list_for, namespace, repo)
    return {"notifications": await _views(rt, found)}


@router.get(
    "/repository/{repository:path}/notification/{uuid}",
    operation_id="getRepoNotification",
    summary="One notification of a repository",
)
async def get_repo_notification(rt: Rt, who: User, repository: str, uuid: str) -> dict[str, Any]:
    repo, namespace = await _admined_repo(rt, who, repository)
    return await _one_view(rt, await rt.db.read(notifications.get_in, namespace, repo, uuid))


@router.delete(
    "/repository/{repository:path}/notification/{uuid}",
    operation_id="deleteRepoNotification",
    status_code=204,
    summary="Delete a notification",
)
async def delete_repo_notification(rt: Rt, who: User, repository: str, uuid: str) -> Response:
    repo, namespace = await _admined_repo(rt, who, repository)
    await rt.db.write(notifications.delete_notification, namespace, repo, uuid, actor(who))
    return Response(status_code=204)


@router.post(
    "/repository/{repository:path}/notification/{uuid}",
    operation_id="resetRepositoryNotificationFailures",
    status_code=204,
    summary="Reset the failure count of a notification, enabling it again",
)
async def reset_repo_notification(rt: Rt, who: User, repository: str, uuid: str) -> Response:
    repo, namespace = await _admined_repo(rt, who, repository)
    await rt.db.write(notifications.reset_failures, namespace, repo, uuid, actor(who))
    return Response(status_code=204)


@router.post(
    "/repository/{repository:path}/notification/{uuid}/test",
    operation_id="testRepoNotification",
    summary="Send the notification's sample event",
)
async def test_repo_notification(rt: Rt, who: User, repository: str, uuid: str) -> dict[str, Any]:
    repo, namespace = await _admined_repo(rt, who, repository)
    return await _test(rt, who, namespace, repo, uuid)


# Authorized e-mail addresses -------------------------------------------------------------------


def _email_view(found: authorized_emails.EmailAuthorization) -> dict[str, Any]:
    namespace, _, name = found.repository.partition("/")
    return {"email": found.email, "repository": name, "namespace": namespace, "confirmed": found.confirmed}


@router.get(
    "/repository/{repository:path}/authorizedemail/{email}",
    operation_id="checkRepoEmailAuthorized",
    summary="Whether an e-mail address may receive the repository's notifications",
)
async def check_repo_email(rt: Rt, who: User, repository: str, email: str) -> dict[str, Any]:
    repo, _ = await _admined_repo(rt, who, repository)
    found = await rt.db.read(authorized_emails.get, repo, email)
    if found is None:
        raise not_found(f"{email} has not been asked to confirm")
    return _email_view(found)


@router.post(
    "/repository/{repository:path}/authorizedemail/{email}",
    operation_id="sendAuthorizeRepoEmail",
    summary="E-mail a confirmation link to an address, so it can receive notifications",
)
async def send_authorize_email(rt: Rt, who: User, repository: str, email: str) -> dict[str, Any]:
    repo, _ = await _admined_repo(rt, who, repository)
    try:
        found = await address_confirmation.ask(rt, repo, email, who.name, who.origin)
    except (mail.MailUnavailable, mail.MailFailed) as e:
        raise invalid_request(str(e)) from None
    return _email_view(found)


# Namespace notifications (quota events) --------------------------------------------------------


async def _namespace_create(rt: Runtime, who: Identity, ns: AccountRecord, body: Any) -> dict[str, Any]:
    return await _create(rt, who, ns, None, body)


async def _namespace_list(rt: Runtime, ns: AccountRecord) -> dict[str, Any]:
    found = await rt.db.read(notifications.list_for, ns, None)
    return {"notifications": await _views(rt, found)}


@router.get(
    "/organization/{orgname}/notifications",
    operation_id="listOrgNotifications",
    summary="An organization's namespace notifications",
)
async def list_org_notifications(rt: Rt, who: User, orgname: str) -> dict[str, Any]:
    return await _namespace_list(rt, await admined_org(rt, who, orgname))


@router.post(
    "/organization/{orgname}/notifications",
    operation_id="createOrgNotification",
    status_code=201,
    summary="Create a namespace notification (quota events) for an organization",
)
async def create_org_notification(
    rt: Rt, who: User, orgname: str, body: NotificationCreateRequest
) -> dict[str, Any]:
    return await _namespace_create(rt, who, await admined_org(rt, who, orgname), body)


@router.get(
    "/organization/{orgname}/notifications/{uuid}",
    operation_id="getOrgNotification",
    summary="One namespace notification of an organization",
)
async def get_org_notification(rt: Rt, who: User, orgname: str, uuid: str) -> dict[str, Any]:
    org = await admined_org(rt, who, orgname)
    return await _one_view(rt, await rt.db.read(notifications.get_in, org, None, uuid))


@router.delete(
    "/organization/{orgname}/notifications/{uuid}",
    operation_id="deleteOrgNotification",
    status_code=204,
    summary="Delete a namespace notification",
)
async def delete_org_notification(rt: Rt, who: User, orgname: str, uuid: str) -> Response:
    org = await admined_org(rt, who, orgname)
    await rt.db.write(notifications.delete_notification, org, None, uuid, actor(who))
    return Response(status_code=204)


@router.post(
    "/organization/{orgname}/notifications/{uuid}",
    operation_id="resetOrgNotificationFailures",
    status_code=204,
    summary="Reset the failure count of a namespace notification",
)
async def reset_org_notification(rt: Rt, who: User, orgname: str, uuid: str) -> Response:
    org = await admined_org(rt, who, orgname)
    await rt.db.write(notifications.reset_failures, org, None, uuid, actor(who))
    return Response(status_code=204)


@router.post(
    "/organization/{orgname}/notifications/{uuid}/test",
    operation_id="testOrgNotification",
    summary="Send a namespace notification's sample event",
)
async def test_org_notification(rt: Rt, who: User, orgname: str, uuid: str) -> dict[str, Any]:
    org = await admined_org(rt, who, orgname)
    return await _test(rt, who, org, None, uuid)


@router.get(
    "/user/namespacenotifications",
    operation_id="listUserNamespaceNotifications",
    summary="Your namespace's notifications",
)
async def list_user_namespace_notifications(rt: Rt, who: User) -> dict[str, Any]:
    return await _namespace_list(rt, await _user_namespace(rt, who))


@router.post(
    "/user/namespacenotifications",
    operation_id="createUserNamespaceNotification",
    status_code=201,
    summary="Create a namespace notification (quota events) for your namespace",
)
async def create_user_namespace_notification(
    rt: Rt, who: User, body: NotificationCreateRequest
) -> dict[str, Any]:
    return await _namespace_create(rt, who, await _user_namespace(rt, who), body)


@router.get(
    "/user/namespacenotifications/{uuid}",
    operation_id="getUserNamespaceNotification",
    summary="One of your namespace notifications",
)
async def get_user_namespace_notification(rt: Rt, who: User, uuid: str) -> dict[str, Any]:
    ns = await _user_namespace(rt, who)
    return await _one_view(rt, await rt.db.read(notifications.get_in, ns, None, uuid))


@router.delete(
    "/user/namespacenotifications/{uuid}",
    operation_id="deleteUserNamespaceNotification",
    status_code=204,
    summary="Delete one of your namespace notifications",
)
async def delete_user_namespace_notification(rt: Rt, who: User, uuid: str) -> Response:
    ns = await _user_namespace(rt, who)
    await rt.db.write(notifications.delete_notification, ns, None, uuid, actor(who))
    return Response(status_code=204)


@router.post(
    "/user/namespacenotifications/{uuid}",
    operation_id="resetUserNamespaceNotificationFailures",
    status_code=204,
    summary="Reset the failure count of one of your namespace notifications",
)
async def reset_user_namespace_notification(rt: Rt, who: User, uuid: str) -> Response:
    ns = await _user_namespace(rt, who)
    await rt.db.write(notifications.reset_failures, ns, None, uuid, actor(who))
    return Response(status_code=204)


@router.post(
    "/user/namespacenotifications/{uuid}/test",
    operation_id="testUserNamespaceNotification",
    summary="Send the sample event of one of your namespace notifications",
)
async def test_user_namespace_notification(rt: Rt, who: User, uuid: str) -> dict[str, Any]:
    return await _test(rt, who, await _user_namespace(rt, who), None, uuid)


# The in-app inbox ------------------------------------------------------------------------------


def _inbox_view(item: inbox.InboxItem) -> dict[str, Any]:
    return {
        "id": item.uuid,
        "kind": item.kind,
        "created": views.date(item.created_ms),
        "metadata": item.metadata,
        "dismissed": item.dismissed,
        "organization": item.organization,
    }


@router.get("/user/notifications", operation_id="listUserNotifications", summary="Your in-app notifications")
async def list_user_notifications(rt: Rt, who: User, page: int = 1, limit: int = 10) -> dict[str, Any]:
    await _user_namespace(rt, who)
    if not 1 <= page <= 1_000_000 or not 1 <= limit <= 100:
        raise invalid_request("page is 1 to 1000000; limit is 1 to 100")
    assert who.account_id is not None
    found = await rt.db.read(inbox.list_for, who.account_id, offset=(page - 1) * limit, limit=limit + 1)
    return {"notifications": [_inbox_view(i) for i in found[:limit]], "additional": len(found) > limit}


@router.get(
    "/user/notifications/{uuid}", operation_id="getUserNotification", summary="One in-app notification"
)
async def get_user_notification(rt: Rt, who: User, uuid: str) -> dict[str, Any]:
    await _user_namespace(rt, who)
    assert who.account_id is not None
    return _inbox_view(await rt.db.read(inbox.get, who.account_id, uuid))


@router.put(
    "/user/notifications/{uuid}",
    operation_id="updateUserNotification",
    summary="Mark an in-app notification as read (dismissed) or unread",
)
async def update_user_notification(rt: Rt, who: User, uuid: str, body: UpdateNotification) -> dict[str, Any]:
    await _user_namespace(rt, who)
    assert who.account_id is not None
    return _inbox_view(await rt.db.write(inbox.set_dismissed, who.account_id, uuid, body.dismissed))
