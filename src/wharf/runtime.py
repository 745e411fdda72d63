"""The long-lived services one Wharf process shares between its surfaces and workers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from wharf.auth.passwords import PasswordLogins
from wharf.auth.tokens import TokenService
from wharf.config import Settings
from wharf.core.audit_buffer import AuditBuffer
from wharf.core.errors import InvalidInput, ReadOnlyMode
from wharf.core.repositories import REGISTRY_READ_ONLY
from wharf.core.secretbox import SecretBox
from wharf.core.tag_list_cache import TagListCache
from wharf.db.engine import Database
from wharf.integrations import bitbucket_repos, github_repos, gitlab_repos, oidc_login, upstream
from wharf.integrations.oidc import Verifier
from wharf.integrations.oidc_login import LoginService
from wharf.integrations.upstream import ClientPool
from wharf.storage.base import BlobStore
from wharf.storage.filesystem import FilesystemStore
from wharf.storage.locations import S3Options

if TYPE_CHECKING:
    from wharf.integrations.ldap_directory import LdapLogins


@dataclass(slots=True)
class Runtime:
    settings: Settings
    db: Database
    store: BlobStore
    tokens: TokenService
    secrets: SecretBox
    passwords: PasswordLogins
    """Password verification, with the process's memory of recent successes (auth/passwords.py)."""
    audit_buffer: AuditBuffer = field(init=False)
    """Log entries of pulls and failed requests, written in batches (core/audit_buffer.py)."""
    oidc: Verifier = field(init=False)
    """ID tokens of external OpenID Connect issuers (robot federation, integrations/oidc.py)."""
    directory: LdapLogins | None = field(init=False)
    """The LDAP directory users sign in against, when AUTHENTICATION_TYPE is LDAP."""
    login_services: dict[str, LoginService] = field(init=False)
    """OpenID Connect login providers (*_LOGIN_CONFIG), read at start: a bad block stops it."""
    proxy_caches: dict[str, tuple[float, object]] = field(init=False, default_factory=dict)
    """Which namespaces are proxy-cache organizations, as read lately (services/proxy_cache.py)."""
    upstream_tokens: dict[tuple[str, ...], tuple[str, float]] = field(init=False, default_factory=dict)
    """Tokens of upstream registries until they expire (integrations/upstream.py)."""
    upstream_clients: ClientPool = field(init=False, default_factory=ClientPool)
    """HTTP clients of upstream registries, their connections kept (integrations/upstream.py)."""
    tag_lists: TagListCache = field(init=False, default_factory=TagListCache)
    """Pages of tags/list read lately, served while the repository's tags stay as they were
    (core/tag_list_cache.py)."""

    def __post_init__(self) -> None:
        self.audit_buffer = AuditBuffer(self.db)
        self.oidc = Verifier(self.settings)
        self.directory = None
        if self.settings.AUTHENTICATION_TYPE == "LDAP":
            # Imported only then: a registry of its own users never loads the LDAP client.
            from wharf.integrations.ldap_directory import LdapLogins

            self.directory = LdapLogins(self.settings)
        self.login_services = oidc_login.services(self.settings)
        if self.settings.FEATURE_PROXY_CACHE:
            upstream.preload()
        # A bad GITHUB_, GITLAB_ or BITBUCKET_TRIGGER_CONFIG stops the start, as a bad login block does.
        github_repos.application(self.settings)
        gitlab_repos.application(self.settings)
        bitbucket_repos.application(self.settings)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        return cls(
            settings=settings,
            db=Database(
                settings.db_uri,
                settings.DB_POOL_SIZE,
                _read_only_error(settings),
                InvalidInput,
                hot_pool_size=settings.DB_HOT_POOL_SIZE,
            ),
            store=open_store(settings),
            # The key and cryptography are loaded by the first token, not at start-up: ~11 MiB an
            # idle server does not hold (`wharf serve` checks the key in its start-up child).
            tokens=token_service(settings, key_on_first_use=True),
            # Its key file is made now; cryptography is imported by the first seal or open.
            secrets=SecretBox.from_settings(
                settings.DATABASE_SECRET_KEY, settings.DATA_DIR / "keys" / "database-secret.key"
            ),
            passwords=PasswordLogins(settings.LOGIN_CACHE_TTL_S),
        )

    async def close(self) -> None:
        await self.audit_buffer.flush()
        await self.upstream_clients.aclose()
        self.db.dispose()


def _read_only_error(settings: Settings) -> Callable[[], Exception] | None:
    """While REGISTRY_STATE is `readonly`, the database refuses every write with this error."""
    if settings.REGISTRY_STATE != "readonly":
        return None
    return lambda: ReadOnlyMode(REGISTRY_READ_ONLY)


def token_service(settings: Settings, *, key_on_first_use: bool = False) -> TokenService:
    """The registry token service of these settings; the key is read (or made) now unless
    `key_on_first_use`."""
    return TokenService(
        settings.REGISTRY_SIGNING_KEY_PATH or settings.DATA_DIR / "keys" / "registry-signing.pem",
        issuer=settings.INSTANCE_SERVICE_KEY_SERVICE,
        lifetime_s=settings.REGISTRY_TOKEN_LIFETIME_S,
        audience=registry_audience(settings),
        create=settings.REGISTRY_SIGNING_KEY_PATH is None,
        key_on_first_use=key_on_first_use,
    )


def registry_audience(settings: Settings) -> str:
    """The `aud` of registry tokens: fixed by the configuration, never taken from a request."""
    return settings.SERVER_HOSTNAME or settings.INSTANCE_SERVICE_KEY_SERVICE


def open_store(settings: Settings) -> BlobStore:
    """The blob store of the configured storage location."""
    location = settings.storage_location
    if isinstance(location, S3Options):
        # Imported only when configured: the S3 client (httpx, obstore, XML) is ~10 MiB.
        from wharf.storage.s3 import S3BlobStore

        return S3BlobStore(
            replace(
                location,
                redirect=settings.storage_redirect,
                redirect_lifetime_s=settings.STORAGE_REDIRECT_LIFETIME_S,
            )
        )
    return FilesystemStore(location.path)
