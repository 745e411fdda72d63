"""The inbox's pages (core/inbox.page_for): newest first with the total, the new-only view, and
what each user may see (their own items and those of organizations they administer)."""

from __future__ import annotations

from wharf.core import accounts, inbox, orgs
from wharf.db.engine import Database, Db


def test_pages_totals_new_only_and_visibility(db: Database) -> None:
    def fill(c: Db) -> tuple[int, int]:
        admin = accounts.get_by_name(c, "admin")
        assert admin is not None
        other = accounts.create_user(c, "other", "pw-long-enough", None)
        org = orgs.create(c, "acme", None, admin, None)
        for i in range(15):
            inbox.add(c, [admin.id], "repo_push", {"summary": f"mine {i}"})
        for i in range(5):
            inbox.add(c, [org.id], "repo_push", {"summary": f"org {i}"})
        inbox.add(c, [other.id], "repo_push", {"summary": "theirs"})
        return admin.id, other.id

    admin, other = db.run_write(fill)
    first = db.run_read(inbox.page_for, admin, per_page=10)
    assert first.total == 20 and first.pages == 2
    assert [i.metadata["summary"] for i in first.rows][:2] == ["org 4", "org 3"]
    assert first.rows[0].organization == "acme" and first.rows[5].organization is None
    second = db.run_read(inbox.page_for, admin, page=5, per_page=10)
    assert second.page == 2 and second.rows[-1].metadata["summary"] == "mine 0"
    db.run_write(inbox.set_dismissed, admin, first.rows[0].uuid, True)
    new = db.run_read(inbox.page_for, admin, new_only=True, per_page=10)
    assert new.total == 19 and new.rows[0].metadata["summary"] == "org 3"
    theirs = db.run_read(inbox.page_for, other)
    assert theirs.total == 1 and theirs.rows[0].metadata["summary"] == "theirs"
