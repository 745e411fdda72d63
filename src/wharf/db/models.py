"""Tables. Times are integer milliseconds since the epoch (UTC), as Quay's tag lifetimes are."""

from __future__ import annotations

import secrets

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def new_generation() -> int:
    """The first `Account.credential_gen` of an account: random below 2**52 (exact in any JSON
    number), so it is far from every other account's."""
    return secrets.randbits(52)


class Account(Base):
    """A user, an organization or a robot; every user and organization is a namespace."""

    __tablename__ = "accounts"
    # The entity search's prefix match (core/entities.py); text_pattern_ops on PostgreSQL, set by
    # migration 0035 (no postgresql_* option here: see Tag's indexes).
    __table_args__ = (Index("ix_accounts_name_pattern", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # user | org | robot
    email: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    # The namespace's time-machine window; None means DEFAULT_TAG_EXPIRATION.
    tag_expiration_s: Mapped[int | None] = mapped_column(Integer)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    # Registry and federation tokens carry the value current when they were issued; every change
    # that must end them (disabling, a new password or robot token, a lost membership or role)
    # bumps it. It starts random, so an id SQLite reuses after a deletion matches no old token.
    credential_gen: Mapped[int] = mapped_column(BigInteger, default=new_generation, server_default="0")
    secscan_pull_policy: Mapped[str | None] = mapped_column(Text)
    """The organization's pull policy (secscan/policy.py JSON); NULL: the registry's default.
    On the account row because the manifest GET reads that row anyway (migration 0029)."""
    secscan_sbom_format: Mapped[str | None] = mapped_column(String(16))
    """cyclonedx | spdx: attach that SBOM to every image indexed in the namespace; NULL: none."""


class Repository(Base):
    __tablename__ = "repositories"
    __table_args__ = (
        UniqueConstraint("namespace_id", "name", name="uq_repositories_namespace_name"),
        # The public repository list (anonymous visitors, the Public scope) in name order: its count
        # and pages from the public part of this index (migration 0024).
        Index("ix_repositories_visibility_full_name", "visibility", "full_name"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    # "namespace/name", kept so that the catalog pages in the spec's lexical order with one index.
    full_name: Mapped[str] = mapped_column(String(512), unique=True)
    visibility: Mapped[str] = mapped_column(String(16), default="private")  # public | private
    state: Mapped[int] = mapped_column(Integer, default=0)  # 0 NORMAL, 1 READ_ONLY, 2 MIRROR
    description: Mapped[str | None] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    secscan_sbom_format: Mapped[str | None] = mapped_column(String(16))
    """cyclonedx | spdx: attach that SBOM to the repository's indexed images (the namespace's when NULL)."""
    tags_version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    """Bumped by the database (triggers of migration 0045) whenever a live tag of the repository
    changes: what a kept page of tags/list is checked against (core/tag_list_cache.py)."""


class Blob(Base):
    """A verified blob in storage, shared by every repository that links it."""

    __tablename__ = "blobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(160), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class RepositoryBlob(Base):
    """A repository may serve a blob only through this link."""

    __tablename__ = "repository_blobs"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"), primary_key=True, index=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Upload(Base):
    """A resumable blob upload; its bytes live in storage at uploads/<id>."""

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    # The request writing to the upload now, on any node: one at a time, or bytes would interleave.
    writer_token: Mapped[str | None] = mapped_column(String(32))
    writer_until_ms: Mapped[int | None] = mapped_column(BigInteger)


class Manifest(Base):
    __tablename__ = "manifests"
    __table_args__ = (
        UniqueConstraint("repository_id", "digest", name="uq_manifests_repository_digest"),
        Index("ix_manifests_subject", "repository_id", "subject_digest"),
        Index("ix_manifests_digest", "digest"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(160))
    media_type: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    config_media_type: Mapped[str | None] = mapped_column(String(255))
    artifact_type: Mapped[str | None] = mapped_column(String(255))
    subject_digest: Mapped[str | None] = mapped_column(String(160))
    annotations_json: Mapped[str | None] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    # Set by DELETE; the row stays for tag history until garbage collection removes it.
    deleted_ms: Mapped[int | None] = mapped_column(BigInteger)


class ManifestBlob(Base):
    __tablename__ = "manifest_blobs"
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"), primary_key=True, index=True)


class ManifestLabel(Base):
    """A key/value label on a manifest: read from the image configuration at push, or added by API."""

    __tablename__ = "manifest_labels"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(String(64), default="text/plain")
    source_type: Mapped[str] = mapped_column(String(16))  # manifest | api | internal


class ManifestChild(Base):
    __tablename__ = "manifest_children"
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("manifests.id"), primary_key=True, index=True)


class Tag(Base):
    """One lifetime of a tag: moving or deleting a tag closes its row and never rewrites it."""

    __tablename__ = "tags"
    __table_args__ = (
        Index("ix_tags_repository_name_end", "repository_id", "name", "lifetime_end_ms"),
        Index(
            "uq_tags_live",
            "repository_id",
            "name",
            unique=True,
            sqlite_where=text("lifetime_end_ms IS NULL"),
            # PostgreSQL has the same predicate: migration 0001 creates it with postgresql_where.
            # Not repeated here, because a `postgresql_*` option imports the PostgreSQL dialect
            # (~2 MiB) into every process, SQLite servers too; Alembic does not compare index
            # predicates, so test_migrations cannot see it. A migration that recreates this index
            # must say postgresql_where itself (tests/core/test_migrations.py checks the database).
        ),
        # Covers tags/list (core/tags.list_names): the live names of a repository with what the
        # listing filters on, so that a page is read from the index alone.
        Index(
            "ix_tags_live_names",
            "repository_id",
            "name",
            "hidden",
            "expires_ms",
            sqlite_where=text("lifetime_end_ms IS NULL"),
            # PostgreSQL's predicate is in migration 0021 (no postgresql_* option here: see above)
        ),
        # The web's Tags tab sorted by last change (core/tag_pages): a page's tags, and the count,
        # read from the index alone, `name` making the order total for stable paging.
        Index(
            "ix_tags_live_modified",
            "repository_id",
            "lifetime_start_ms",
            "name",
            "hidden",
            "expires_ms",
            sqlite_where=text("lifetime_end_ms IS NULL"),
            # PostgreSQL's predicate is in migration 0022 (no postgresql_* option here: see above)
        ),
        # The Tag history tab (core/history_pages): every lifetime of a repository newest first, a
        # page at any offset and the count from the index alone, `id` breaking ties (0024).
        Index("ix_tags_repository_start", "repository_id", "lifetime_start_ms", "id", "hidden"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id"), index=True)
    lifetime_start_ms: Mapped[int] = mapped_column(BigInteger)
    lifetime_end_ms: Mapped[int | None] = mapped_column(BigInteger)
    # A scheduled end (API expiration or the quay.expires-after label): the tag reads as gone once it
    # passes, and the expiry job then sets lifetime_end_ms to it.
    expires_ms: Mapped[int | None] = mapped_column(BigInteger, index=True)
    immutable: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    reversion: Mapped[bool] = mapped_column(Boolean, default=False)


class LogEntry(Base):
    """The audit log: written only by core functions, in the transaction of the change."""

    __tablename__ = "log_entries"
    __table_args__ = (
        Index("ix_log_entries_account_time", "account_id", "created_ms"),
        Index("ix_log_entries_repository_time", "repository_id", "created_ms"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(Integer)
    performer_id: Mapped[int | None] = mapped_column(Integer)
    repository_id: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")


class Job(Base):
    """The durable job queue; workers claim rows with a lease."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "queue", "available_after_ms"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    queue: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text, default="{}")
    # A job with a dedupe key is enqueued at most once while it is pending.
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    available_after_ms: Mapped[int] = mapped_column(BigInteger)
    lease_until_ms: Mapped[int | None] = mapped_column(BigInteger)
    # Who holds the lease: only that worker may extend, release, complete or fail the claim.
    lease_token: Mapped[str | None] = mapped_column(String(32))
    retries_remaining: Mapped[int] = mapped_column(Integer, default=5)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class AccessToken(Base):
    """An OAuth access token. Only a hash of its secret half is stored; the first half finds the row."""

    __tablename__ = "access_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    # Tokens of an OAuth application are deleted with it by core/applications.py.
    application_id: Mapped[int | None] = mapped_column(Integer, index=True)
    uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    title: Mapped[str | None] = mapped_column(String(255))
    lookup: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(255))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int | None] = mapped_column(BigInteger)


class Team(Base):
    """A group of an organization's members with one role in it: member, creator or admin."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_teams_org_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class TeamSync(Base):
    """A team whose user members follow a group of the directory (Quay's TeamSync): a job adds the
    group's people and removes the others; robots stay managed by hand."""

    __tablename__ = "team_syncs"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    service: Mapped[str] = mapped_column(String(32))
    config: Mapped[str] = mapped_column(Text)
    """JSON, as given to enableOrganizationTeamSync ({"group_dn": ...} for LDAP)."""
    created_ms: Mapped[int] = mapped_column(BigInteger)
    last_updated_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """When the last synchronisation succeeded; None until the first one."""
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class TeamMember(Base):
    __tablename__ = "team_members"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TeamInvite(Base):
    """A pending invitation to join a team: of an existing user, or of an e-mail address that may
    have no account yet. Only a hash of the code the invitee is sent is kept; accepting or
    declining deletes the row, so a code works once (migration 0035)."""

    __tablename__ = "team_invites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    email: Mapped[str | None] = mapped_column(String(255))
    inviter_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)


class RecoveryToken(Base):
    """A password-reset link sent by e-mail (requestRecoveryEmail): only a hash of its code is kept;
    it works once and for a short while (migration 0035)."""

    __tablename__ = "recovery_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)


class RepositoryPermission(Base):
    """A role (read, write, admin) on one repository, for a user or robot XOR a team."""

    __tablename__ = "repository_permissions"
    __table_args__ = (
        UniqueConstraint("repository_id", "account_id", name="uq_repository_permissions_account"),
        UniqueConstraint("repository_id", "team_id", name="uq_repository_permissions_team"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))


class Robot(Base):
    """A robot account (`owner+name`): its account row plus what only robots have.

    The token is kept encrypted, not hashed, because Quay shows robot tokens again on request.
    """

    __tablename__ = "robots"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    token_ciphertext: Mapped[str] = mapped_column(Text)
    last_accessed_ms: Mapped[int | None] = mapped_column(BigInteger)
    """When it last logged in (to a minute: see core/robots.mark_accessed)."""


class AppToken(Base):
    """An app-specific token: a password substitute for CLI logins, shown once, stored hashed."""

    __tablename__ = "app_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    lookup: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_used_ms: Mapped[int | None] = mapped_column(BigInteger)


class LoginThrottle(Base):
    """Failed logins per username and per client address, for growing delays."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class Prototype(Base):
    """A default permission: when someone (or a given user) creates a repository in the organization,
    a user, robot or team gets a role on it."""

    __tablename__ = "prototypes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    activating_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    delegate_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    delegate_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))


class OAuthApplication(Base):
    """An OAuth application of an organization. The client secret is kept encrypted: Quay shows it again."""

    __tablename__ = "oauth_applications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    application_uri: Mapped[str] = mapped_column(String(2048), default="")
    redirect_uri: Mapped[str] = mapped_column(String(2048), default="")
    avatar_email: Mapped[str | None] = mapped_column(String(255))
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class OAuthCode(Base):
    """An authorization code of the OAuth code grant: single use, short-lived, stored hashed."""

    __tablename__ = "oauth_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("oauth_applications.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    lookup: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(255))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    expires_ms: Mapped[int] = mapped_column(BigInteger)


class WebSession(Base):
    """A browser session: the cookie holds lookup + secret; changes need the CSRF token as well."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    lookup: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    login_ms: Mapped[int] = mapped_column(BigInteger)
    """When the password was last entered: "fresh login" checks read it."""
    expires_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class RobotFederation(Base):
    """An OIDC identity (issuer, subject) trusted to act as a robot without its token (keyless)."""

    __tablename__ = "robot_federations"
    __table_args__ = (
        UniqueConstraint("robot_id", "issuer", "subject", name="uq_robot_federations_identity"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(2048))
    subject: Mapped[str] = mapped_column(String(1024))


class FederatedLogin(Base):
    """A user account's identity in an external system (an LDAP directory's name for it): a login
    there signs in to this account, whatever the account is called here."""

    __tablename__ = "federated_logins"
    __table_args__ = (UniqueConstraint("service", "service_ident", name="uq_federated_logins_ident"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    service: Mapped[str] = mapped_column(String(32))
    service_ident: Mapped[str] = mapped_column(String(255))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """A restricted user (FEATURE_RESTRICTED_USERS, LDAP_RESTRICTED_USER_FILTER), as of the last
    sign-in: no organizations or repositories of their own."""
    confirm_username: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """The account this link made got another name than the external one (invalid or taken here):
    its owner is asked to confirm or change it (Quay's confirm_username prompt) until they do."""


class ExternalLoginState(Base):
    """A login under way at an OpenID Connect provider: what the callback checks (state, the
    browser that started it, nonce, PKCE verifier). Single use, short-lived."""

    __tablename__ = "external_login_states"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(32))
    intent: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(64))
    verifier: Mapped[str] = mapped_column(String(128))
    redirect: Mapped[str] = mapped_column(String(2048))
    expires_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class Star(Base):
    """A user's star on a repository; both deletions take the star with them."""

    __tablename__ = "stars"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_ms: Mapped[int] = mapped_column(BigInteger)


class BlobDeletion(Base):
    """A blob garbage collection (or its orphan sweep) is deleting from storage: an upload of the
    same digest waits until the row is gone, so that it never publishes a blob whose file is about
    to disappear."""

    __tablename__ = "blob_deletions"
    digest: Mapped[str] = mapped_column(String(160), primary_key=True)
    started_ms: Mapped[int] = mapped_column(BigInteger)


class Notification(Base):
    """A notification an admin set up: when `event` happens in the repository (or, for namespace
    events such as quota, in the namespace), deliver it by `method`."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_repository_event", "repository_id", "event"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    # None for a namespace notification.
    repository_id: Mapped[int | None] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(255))
    config_json: Mapped[str] = mapped_column(Text, default="{}")
    event_config_json: Mapped[str] = mapped_column(Text, default="{}")
    # The HMAC key of the X-Wharf-Signature header, encrypted (the admin can read it again).
    signing_secret: Mapped[str] = mapped_column(Text)
    number_of_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class NotificationAttempt(Base):
    """The outcome of one delivery attempt; the newest few per notification are kept."""

    __tablename__ = "notification_attempts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    ok: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text, default="")


class NotifiedTag(Base):
    """Tags an image-expiry notification already announced, so each is announced once."""

    __tablename__ = "notified_tags"
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class UserNotification(Base):
    """An in-app notification (the bell): for a user, or for the admins of an organization."""

    __tablename__ = "user_notifications"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    dismissed: Mapped[bool] = mapped_column(Boolean, default=False)


class AuthorizedEmail(Base):
    """An e-mail address confirmed (or waiting for confirmation) to receive a repository's
    notifications. Only a hash of the confirmation code is kept."""

    __tablename__ = "authorized_emails"
    __table_args__ = (UniqueConstraint("repository_id", "email"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(255))
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class LogExport(Base):
    """A usage-log export (exportlogs): what it covers, where its link goes, and how far it got."""

    __tablename__ = "log_exports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    # The entries exported, as core.logs.Scope has them: a namespace, a repository, or what
    # involves one user (their namespace and their own actions).
    namespace_id: Mapped[int | None] = mapped_column(Integer)
    repository_id: Mapped[int | None] = mapped_column(Integer)
    involving_id: Mapped[int | None] = mapped_column(Integer)
    # Names as they were when asked, for the callback and the file (a repository may go since).
    namespace_name: Mapped[str] = mapped_column(String(255))
    repository_name: Mapped[str | None] = mapped_column(String(255))
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    callback_url: Mapped[str | None] = mapped_column(Text)
    callback_email: Mapped[str | None] = mapped_column(String(255))
    # scheme://host the download link points at (Settings.public_origin when the export was asked).
    origin: Mapped[str] = mapped_column(String(512))
    state: Mapped[str] = mapped_column(String(16))  # queued|running|exported|complete|failed|expired
    entries_written: Mapped[int] = mapped_column(BigInteger, default=0)
    storage_path: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger)


class GlobalMessage(Base):
    """A banner every page of the UI shows (superusers write them: /api/v1/messages)."""

    __tablename__ = "global_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    content: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(String(32))  # text/plain | text/markdown
    severity: Mapped[str] = mapped_column(String(16))  # info | warning | error
    created_ms: Mapped[int] = mapped_column(BigInteger)


# Security scanning (issue 16) ---------------------------------------------------------------------


class SecscanIndex(Base):
    """What indexing a manifest digest found out; one per digest, shared by every repository
    that holds the manifest. No row means the digest is still queued."""

    __tablename__ = "secscan_indexes"
    digest: Mapped[str] = mapped_column(String(160), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # queued | scanned | failed | unsupported
    indexer_version: Mapped[int] = mapped_column(Integer)
    # Why it failed or is unsupported; a warning (a skipped oversized file) when scanned.
    reason: Mapped[str | None] = mapped_column(Text)
    # os-release as found ({"id", "version_id", "version_codename", "pretty_name"}), JSON.
    distribution_json: Mapped[str | None] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    indexed_ms: Mapped[int] = mapped_column(BigInteger)
    # Failures for a passing reason (the blob store failing, a layer not there yet) in a row;
    # while retries are left, the backfill queues the digest again once retry_after_ms is past.
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    retry_after_ms: Mapped[int | None] = mapped_column(BigInteger)


class SecscanPackage(Base):
    """One package an index found, with the layer that added it (Quay's AddedBy)."""

    __tablename__ = "secscan_packages"
    __table_args__ = (Index("ix_secscan_packages_match", "ecosystem", "match_name"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    manifest_digest: Mapped[str] = mapped_column(
        ForeignKey("secscan_indexes.digest", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(255))
    version_format: Mapped[str] = mapped_column(String(16))  # dpkg | apk | python | npm
    # The OSV ecosystem its advisories are filed under ("Debian:12", "PyPI"); "" when unknown
    # (an OS package on a distribution the image does not name).
    ecosystem: Mapped[str] = mapped_column(String(64))
    # The name advisories use: the source package for a distribution's, normalized for PyPI's.
    match_name: Mapped[str] = mapped_column(String(255))
    namespace: Mapped[str] = mapped_column(String(64))  # "debian:12"; "" for language packages
    source_name: Mapped[str] = mapped_column(String(255), default="")
    source_version: Mapped[str] = mapped_column(String(255), default="")
    arch: Mapped[str] = mapped_column(String(32), default="")
    added_by: Mapped[str] = mapped_column(String(160))  # the layer's digest
    path: Mapped[str] = mapped_column(Text, default="")


class SecscanVulnerability(Base):
    """One OSV record of the vulnerability store."""

    __tablename__ = "secscan_vulnerabilities"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    osv_id: Mapped[str] = mapped_column(String(255), unique=True)
    aliases_json: Mapped[str] = mapped_column(Text, default="[]")
    summary: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str] = mapped_column(Text, default="")
    links_json: Mapped[str] = mapped_column(Text, default="[]")
    severity: Mapped[str] = mapped_column(String(16))  # Quay's level: Unknown ... Critical
    score: Mapped[float | None] = mapped_column(Float)  # the CVSS base score, when there is one
    vector: Mapped[str | None] = mapped_column(String(255))
    # The record's own `modified` (RFC 3339) as written: an import skips records it already has.
    modified: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(255))  # the archive or directory it came from
    imported_ms: Mapped[int] = mapped_column(BigInteger)


class SecscanAffected(Base):
    """One `affected` entry of a record: the package it names and its ranges, kept as JSON."""

    __tablename__ = "secscan_affected"
    __table_args__ = (Index("ix_secscan_affected_package", "ecosystem", "package"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    vulnerability_id: Mapped[int] = mapped_column(
        ForeignKey("secscan_vulnerabilities.id", ondelete="CASCADE"), index=True
    )
    ecosystem: Mapped[str] = mapped_column(String(64))
    package: Mapped[str] = mapped_column(String(255))  # normalized as SecscanPackage.match_name
    affected_json: Mapped[str] = mapped_column(Text)


class SecscanMatch(Base):
    """A package of an index that a vulnerability affects, and the version that fixes it."""

    __tablename__ = "secscan_matches"
    package_id: Mapped[int] = mapped_column(
        ForeignKey("secscan_packages.id", ondelete="CASCADE"), primary_key=True
    )
    vulnerability_id: Mapped[int] = mapped_column(
        ForeignKey("secscan_vulnerabilities.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    manifest_digest: Mapped[str] = mapped_column(String(160), index=True)
    fixed_by: Mapped[str] = mapped_column(String(255), default="")


class SecscanSource(Base):
    """A SECURITY_SCANNER_VULN_SOURCES entry's last update: for conditional downloads, and for
    operators (`wharf secscan status`)."""

    __tablename__ = "secscan_sources"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(1024), unique=True)
    etag: Mapped[str | None] = mapped_column(String(255))
    last_modified: Mapped[str | None] = mapped_column(String(64))
    last_attempt_ms: Mapped[int] = mapped_column(BigInteger)
    last_success_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    imported: Mapped[int] = mapped_column(BigInteger, default=0)  # records its last success wrote


class RepositoryPullStatistics(Base):
    """How often a repository's manifests were pulled (GET /v2/.../manifests/...) and when last.

    Like the tag and manifest tables below, written only by the audit buffer's batches
    (core/pull_stats.py): a pull itself writes nothing."""

    __tablename__ = "repository_pull_statistics"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    pull_count: Mapped[int] = mapped_column(BigInteger)
    last_pull_ms: Mapped[int] = mapped_column(BigInteger)


class TagPullStatistics(Base):
    """Pulls by tag name: a deleted and re-pushed tag keeps its count, as on Quay."""

    __tablename__ = "tag_pull_statistics"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    tag_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    pull_count: Mapped[int] = mapped_column(BigInteger)
    last_pull_ms: Mapped[int] = mapped_column(BigInteger)


class ManifestPullStatistics(Base):
    """Pulls of a manifest, by tag or by digest (the image of an index pulled by tag counts too)."""

    __tablename__ = "manifest_pull_statistics"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    manifest_digest: Mapped[str] = mapped_column(String(160), primary_key=True)
    pull_count: Mapped[int] = mapped_column(BigInteger)
    last_pull_ms: Mapped[int] = mapped_column(BigInteger)


class SecscanAnnounced(Base):
    """A vulnerability that `vulnerability_found` has announced for a manifest digest: a re-match
    (new data, a re-index) that finds it again announces nothing."""

    __tablename__ = "secscan_announced"
    manifest_digest: Mapped[str] = mapped_column(String(160), primary_key=True)
    vulnerability_id: Mapped[int] = mapped_column(
        ForeignKey("secscan_vulnerabilities.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    announced_ms: Mapped[int] = mapped_column(BigInteger)


class AutoPrunePolicy(Base):
    """A namespace's (repository_id NULL) or a repository's auto-prune policy: keep the newest
    `value` tags (method number_of_tags) or delete tags older than `value` (creation_date, a
    duration such as 7d), of the tags whose name matches `tag_pattern` (or does not, when
    `tag_pattern_matches` is false; all tags when there is no pattern)."""

    __tablename__ = "autoprune_policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    method: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(32))
    tag_pattern: Mapped[str | None] = mapped_column(String(256))
    tag_pattern_matches: Mapped[bool] = mapped_column(Boolean, default=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ImmutabilityPolicy(Base):
    """A namespace's (repository_id NULL) or a repository's immutability policy: tags whose name
    matches `tag_pattern` (or does not, when `tag_pattern_matches` is false) become immutable when
    they are pushed or moved, and the auto-prune job freezes those that exist already."""

    __tablename__ = "immutability_policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    tag_pattern: Mapped[str] = mapped_column(String(256))
    tag_pattern_matches: Mapped[bool] = mapped_column(Boolean, default=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


# Storage quotas (issue 17) ------------------------------------------------------------------------


class NamespaceQuota(Base):
    """A namespace's storage quota (Quay's UserOrganizationQuota): one per namespace."""

    __tablename__ = "namespace_quotas"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), unique=True)
    limit_bytes: Mapped[int] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class QuotaLimit(Base):
    """A threshold of a quota: `Warning` notifies, `Reject` refuses pushes that add bytes."""

    __tablename__ = "quota_limits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quota_id: Mapped[int] = mapped_column(ForeignKey("namespace_quotas.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))  # Warning | Reject
    percent: Mapped[int] = mapped_column(Integer)


class QuotaRepositoryBlob(Base):
    """How many counted manifests of a repository reference a blob (core/quotas.py): the blob is
    in the repository's size while `refs` > 0. `size` is the blob's, kept so that releasing a
    blob needs no join."""

    __tablename__ = "quota_repository_blobs"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    blob_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    refs: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)


class QuotaNamespaceBlob(Base):
    """How many repositories of a namespace hold a blob in their size: the blob is in the
    namespace's size while `refs` > 0."""

    __tablename__ = "quota_namespace_blobs"
    namespace_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    blob_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    refs: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)


class QuotaRepositorySize(Base):
    """A repository's size: every blob its counted manifests reference, once."""

    __tablename__ = "quota_repository_sizes"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    size_bytes: Mapped[int] = mapped_column(BigInteger)


class QuotaNamespaceSize(Base):
    """A namespace's size: every blob its repositories hold, once; and the highest limit
    threshold (percent) a notification was already sent for, so that each crossing fires once."""

    __tablename__ = "quota_namespace_sizes"
    namespace_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    notified_percent: Mapped[int | None] = mapped_column(Integer)


class ProxyCacheConfig(Base):
    """An organization that caches an upstream registry (Quay's ProxyCacheConfig): pulls from it
    fetch from the upstream what is missing or stale; pushes to it are refused."""

    __tablename__ = "proxy_cache_configs"
    org_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    upstream_registry: Mapped[str] = mapped_column(String(512))  # host[:port][/namespace prefix]
    # Sealed with the secret box (core/secretbox.py): they are sent again on every upstream login.
    username_sealed: Mapped[str | None] = mapped_column(Text)
    password_sealed: Mapped[str | None] = mapped_column(Text)
    expiration_s: Mapped[int] = mapped_column(Integer)
    insecure: Mapped[bool] = mapped_column(Boolean, default=False)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class RepoMirrorConfig(Base):
    """A repository that mirrors tags of a repository in another registry (Quay's
    RepoMirrorConfig); the sync's state and progress live here too."""

    __tablename__ = "repo_mirror_configs"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    external_reference: Mapped[str] = mapped_column(String(1024))  # host[:port]/path/of/repository
    # Sealed with the secret box (core/secretbox.py): sent again on every sync.
    username_sealed: Mapped[str | None] = mapped_column(Text)
    password_sealed: Mapped[str | None] = mapped_column(Text)
    robot_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    sync_interval: Mapped[int] = mapped_column(Integer)
    sync_start_ms: Mapped[int] = mapped_column(BigInteger)  # when the next sync is due
    sync_expiration_ms: Mapped[int | None] = mapped_column(BigInteger)
    sync_status: Mapped[str] = mapped_column(String(16))
    sync_retries_remaining: Mapped[int] = mapped_column(Integer)
    root_rule: Mapped[str] = mapped_column(Text)  # JSON {rule_kind, rule_value}
    external_registry_config: Mapped[str] = mapped_column(Text)  # JSON {verify_tls, proxy, ...}
    skopeo_timeout_interval: Mapped[int] = mapped_column(Integer)
    architecture_filter: Mapped[str] = mapped_column(Text)  # JSON list
    tags_done: Mapped[int] = mapped_column(Integer, default=0)
    tags_total: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    bytes_done: Mapped[int] = mapped_column(BigInteger, server_default="0")  # by the running sync
    last_success_ms: Mapped[int | None] = mapped_column(BigInteger)  # for mirror health: stale mirrors
    sync_token: Mapped[str | None] = mapped_column(String(32))  # the running sync's (core/mirrors.py)
    # made by the organization's mirror (core/org_mirror_repos.py): a new one may take it over
    org_mirror: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The passwords of the proxy URLs in external_registry_config (stored there as ********), each
    # sealed with the secret box: JSON {"http_proxy": token, ...} (core/proxy_passwords.py).
    proxy_passwords_sealed: Mapped[str | None] = mapped_column(Text)


class OrgMirrorConfig(Base):
    """An organization that mirrors every repository of a namespace in another registry (Quay's
    OrgMirrorConfig): discovery lists the upstream namespace, each repository found is created in
    the organization with a repository mirror of its own (RepoMirrorConfig) that copies its tags."""

    __tablename__ = "org_mirror_configs"
    org_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    external_registry_type: Mapped[str] = mapped_column(String(16))  # harbor | quay
    external_registry_url: Mapped[str] = mapped_column(String(1024))  # https://host[:port]
    external_namespace: Mapped[str] = mapped_column(String(255))
    # Sealed with the secret box (core/secretbox.py), as a repository mirror's.
    username_sealed: Mapped[str | None] = mapped_column(Text)
    password_sealed: Mapped[str | None] = mapped_column(Text)
    robot_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    visibility: Mapped[str] = mapped_column(String(16))  # of the repositories it creates
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    sync_interval: Mapped[int] = mapped_column(Integer)
    sync_start_ms: Mapped[int] = mapped_column(BigInteger)  # when the next discovery is due
    sync_expiration_ms: Mapped[int | None] = mapped_column(BigInteger)
    sync_status: Mapped[str] = mapped_column(String(16))
    sync_retries_remaining: Mapped[int] = mapped_column(Integer)
    external_registry_config: Mapped[str] = mapped_column(Text)  # JSON {verify_tls, proxy}
    repository_filters: Mapped[str] = mapped_column(Text)  # JSON list of globs, "!glob" excludes
    architecture_filter: Mapped[str] = mapped_column(Text)  # JSON list
    skopeo_timeout: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    proxy_passwords_sealed: Mapped[str | None] = mapped_column(Text)  # as a repository mirror's


class OrgMirrorRepository(Base):
    """A repository an organization mirror discovered upstream; `repository_id` is the one it
    created in the organization (its sync state is that repository's mirror's)."""

    __tablename__ = "org_mirror_repositories"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_org_mirror_repositories_org_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("org_mirror_configs.org_id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))  # the name upstream (and in the organization)
    repository_id: Mapped[int | None] = mapped_column(ForeignKey("repositories.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16))  # CREATED | SKIP (filtered out) | FAILED
    status_message: Mapped[str | None] = mapped_column(Text)
    discovered_ms: Mapped[int] = mapped_column(BigInteger)


class ProxyCachePendingBlob(Base):
    """A blob a pulled-through manifest names that is not stored yet: the manifest is kept without
    its link to the blob, which is made when the blob is first pulled through."""

    __tablename__ = "proxy_cache_pending_blobs"
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(160), primary_key=True, index=True)


class ProxyCacheFetch(Base):
    """A blob being fetched from an upstream, by one request on one node (`holder`) until
    `until_ms` (renewed while it streams): concurrent pulls of the same blob wait for it and then
    read it from storage, instead of fetching it again."""

    __tablename__ = "proxy_cache_fetches"
    digest: Mapped[str] = mapped_column(String(160), primary_key=True)
    holder: Mapped[str] = mapped_column(String(32))
    until_ms: Mapped[int] = mapped_column(BigInteger)


class UserFile(Base):
    """A file a user dropped for a build (getFiledropUrl): reserved first, then uploaded by a PUT
    to /userfiles/<id> into the blob store under `userfiles/`. Only its owner may upload it, and
    an unused drop expires."""

    __tablename__ = "user_files"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    mime_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    uploaded_ms: Mapped[int | None] = mapped_column(BigInteger)


class BuildTrigger(Base):
    """A build trigger of a repository (Quay's RepositoryBuildTrigger): a git push to its webhook
    URL queues a build. Its webhook token and the private half of its deploy key are sealed with
    the secret box (core/secretbox.py): both are shown or used again."""

    __tablename__ = "build_triggers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    # custom-git | github | gitlab | bitbucket
    service: Mapped[str] = mapped_column(String(32))
    connected_user_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    disabled_reason: Mapped[str | None] = mapped_column(String(64))
    config_json: Mapped[str] = mapped_column(Text, default="{}")
    token_sealed: Mapped[str | None] = mapped_column(Text)
    private_key_sealed: Mapped[str | None] = mapped_column(Text)
    public_key: Mapped[str | None] = mapped_column(Text)
    # A GitHub trigger's OAuth token (sealed): its repositories, deploy key and webhook are reached with it.
    auth_token_sealed: Mapped[str | None] = mapped_column(Text)
    pull_robot_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Build(Base):
    """A Dockerfile build of a repository (Quay's RepositoryBuild): what to build, from what, and
    how far it got. Its log is in build_log_entries."""

    __tablename__ = "builds"
    __table_args__ = (Index("ix_builds_repository_created", "repository_id", "created_ms"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    phase: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(255))
    docker_tags_json: Mapped[str] = mapped_column(Text, default="[]")
    dockerfile_path: Mapped[str] = mapped_column(Text)
    context: Mapped[str] = mapped_column(Text)
    subdirectory: Mapped[str] = mapped_column(Text)
    archive_url: Mapped[str | None] = mapped_column(Text)
    # The user file (UserFile.id) holding the Dockerfile or archive, when one was uploaded.
    resource_key: Mapped[str | None] = mapped_column(String(36), index=True)
    pull_robot_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    manual_user_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    manual_user: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Times a builder claimed the build (a second claim means the first builder died).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    started_ms: Mapped[int | None] = mapped_column(BigInteger)
    completed_ms: Mapped[int | None] = mapped_column(BigInteger, index=True)
    manifest_digest: Mapped[str | None] = mapped_column(String(160))
    # The trigger that started the build, and what it said about the commit (Quay's
    # trigger_metadata: commit, ref, default_branch, git_url, commit_info).
    trigger_id: Mapped[int | None] = mapped_column(
        ForeignKey("build_triggers.id", ondelete="SET NULL"), index=True
    )
    trigger_metadata_json: Mapped[str | None] = mapped_column(Text)


class BuildLogEntry(Base):
    """One line of a build's log, in order (`sequence` from 0), as Quay's build logs hold them:
    a message, its type (phase | command | error | empty for output) and data."""

    __tablename__ = "build_log_entries"
    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    data_json: Mapped[str | None] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
