"""A repository's notifications a page at a time (core/notifications.py `page_for`, the Settings
tab's list): oldest first, filtered by any part of the title in any case with `%` and `_`
literal, the total, a page past the end, and only the repository's own."""

from __future__ import annotations

from wharf.core import accounts, notifications, repositories
from wharf.core.accounts import AccountRecord
from wharf.core.repositories import RepositoryRecord
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database, Db

BOX = SecretBox("test")


def _filled(db: Database) -> tuple[AccountRecord, RepositoryRecord]:
    """admin/app with 30 webhooks titled hook-00..hook-29 (hook-07 as "50%_off"), and admin/other
    with one of its own."""

    def fill(c: Db) -> tuple[AccountRecord, RepositoryRecord]:
        admin = accounts.get_by_name(c, "admin")
        assert admin is not None
        repo = repositories.create(c, "admin", "app", visibility="private", actor=None)
        other = repositories.create(c, "admin", "other", visibility="private", actor=None)
        hook = {"url": "https://hooks.example.com/x"}
        for i in range(30):
            title = "50%_off" if i == 7 else f"Hook-{i:02d}"
            notifications.create(c, BOX, admin, repo, "repo_push", "webhook", hook, {}, title, None)
        notifications.create(c, BOX, admin, other, "repo_push", "webhook", hook, {}, "Hook-elsewhere", None)
        return admin, repo

    return db.run_write(fill)


def test_a_page_of_the_notifications_with_the_total(db: Database) -> None:
    admin, repo = _filled(db)
    first = db.run_read(notifications.page_for, admin, repo, per_page=12)
    assert first.total == 30 and first.pages == 3 and first.page == 1
    assert [n.title for n in first.rows][:3] == ["Hook-00", "Hook-01", "Hook-02"]
    last = db.run_read(notifications.page_for, admin, repo, page=99, per_page=12)
    assert last.page == 3 and [n.title for n in last.rows] == [f"Hook-{i:02d}" for i in range(24, 30)]
    every = [n.uuid for n in db.run_read(notifications.list_for, admin, repo)]
    paged = [
        n.uuid
        for p in (1, 2, 3)
        for n in db.run_read(notifications.page_for, admin, repo, page=p, per_page=12).rows
    ]
    assert paged == every  # the pages together are the whole list, in its order


def test_the_filter_is_any_part_of_the_title_in_any_case(db: Database) -> None:
    admin, repo = _filled(db)
    found = db.run_read(notifications.page_for, admin, repo, contains="hook-1")
    assert found.total == 10 and found.rows[0].title == "Hook-10"
    literal = db.run_read(notifications.page_for, admin, repo, contains="%_")
    assert [n.title for n in literal.rows] == ["50%_off"]
    assert db.run_read(notifications.page_for, admin, repo, contains="elsewhere").total == 0
