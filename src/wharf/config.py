"""Typed settings: a YAML file with Quay's key names, overridden by WHARF_* environment variables.

Precedence: defaults < config file < environment. `WHARF_DB_URI=...` overrides `DB_URI`; list and
dict values in the environment are given as JSON.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from wharf.storage import locations

# Pydantic looks for plugins in the entry points of every installed distribution when it builds its
# first model: ~10 ms of CPU in every process, for plugins Wharf does not use. An operator who wants
# one (a tracing plugin, say) sets PYDANTIC_DISABLE_PLUGINS themselves (to "" for all of them).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


# The shortest GC_GRACE_PERIOD_S accepted: a layer uploaded now must outlive the push's manifest.
GC_GRACE_MIN_S = 60
# Quay's names for settings Wharf calls otherwise: read as the Wharf key when that is not given.
_ALIASES = {"GARBAGE_COLLECTION_FREQUENCY": "GC_INTERVAL_S"}


class Settings(BaseModel):
    # Each key's docstring is its documentation (docs/configuration.md, `markdown_table`). It is read
    # from this file's source only there: pydantic's use_attribute_docstrings would read and parse
    # the source in every process that imports this module (every `wharf` command, every server).
    model_config = ConfigDict(extra="allow", frozen=True)

    DATA_DIR: Path = Path("./data")
    """Directory for the SQLite database, local blobs and the token signing key."""
    SERVER_HOSTNAME: str | None = None
    """host[:port] clients use, in every link Wharf hands out, and registry tokens' audience; set it.
    Unset: links use LISTEN_ADDRESS, the audience INSTANCE_SERVICE_KEY_SERVICE."""
    PREFERRED_URL_SCHEME: str = "http"
    """http or https: the scheme of URLs Wharf hands out (the token realm)."""
    LISTEN_ADDRESS: str | None = None
    """host:port `wharf serve` binds (it sets this itself); links use it when SERVER_HOSTNAME is unset."""
    DB_URI: str | None = None
    """Database URL (postgresql://user:pw@host/db); unset, SQLite at DATA_DIR/wharf.db."""
    DB_POOL_SIZE: int = 10
    """Database connections kept open per server process (up to twice as many under load)."""
    DB_HOT_POOL_SIZE: int = Field(4, ge=1)
    """PostgreSQL only: connections per server process for the hottest reads (manifest and blob
    lookups), which run on the event loop; on top of DB_POOL_SIZE's. A process can hold up to
    2 x DB_POOL_SIZE + DB_HOT_POOL_SIZE connections: size PostgreSQL's `max_connections` for
    every process of every node."""
    HTTP_HEADER_TIMEOUT_S: float = Field(30, gt=0)
    """A request's headers must arrive within this many seconds of the connection (or the last response)."""
    HTTP_MAX_HEADER_BYTES: int = Field(64 * 1024, ge=4096)
    """Largest request line plus headers, in bytes; larger answers 431 and closes the connection."""
    HTTP_KEEP_ALIVE_TIMEOUT_S: int = Field(5, ge=1)
    """An idle keep-alive connection is closed after this many seconds (keep it below a proxy's)."""
    HTTP_BODY_IDLE_TIMEOUT_S: float = Field(60, gt=0)
    """A request body (an upload chunk) that sends nothing this long is answered 408 and closed."""
    STORAGE_PATH: Path | None = None
    """Blob directory of the local storage driver; unset, DATA_DIR/storage."""
    DISTRIBUTED_STORAGE_CONFIG: dict[str, Any] | None = None
    """Quay's storage locations `{name: [Driver, {parameters}]}` (LocalStorage, S3Storage, RadosGWStorage)."""
    DISTRIBUTED_STORAGE_PREFERENCE: list[str] = Field(default_factory=list, validate_default=True)
    """Location names in order of preference: Wharf stores blobs in and serves them from the first."""
    STORAGE_REDIRECT: bool = True
    """Blob downloads from object storage redirect to a short-lived presigned URL; false streams them."""
    FEATURE_PROXY_STORAGE: bool = False
    """Quay's name for the opposite of STORAGE_REDIRECT: true streams blob downloads through Wharf."""
    STORAGE_REDIRECT_LIFETIME_S: int = Field(300, ge=1, le=7 * 24 * 3600)
    """How long a presigned blob download URL works, in seconds."""
    SUPER_USERS: list[str] = Field(default_factory=list)
    """Usernames with the superuser panel (the first `admin` is a superuser too)."""
    FEATURE_PROXY_CACHE: bool = False
    """Organizations may be proxy caches of an upstream registry (/api/v1/organization/{org}/proxycache)."""
    PROXY_CACHE_UPSTREAM_TIMEOUT_S: float = Field(30.0, gt=0, le=600)
    """How long a proxy-cache pull waits for the upstream registry to connect or send the next bytes."""
    FEATURE_REPO_MIRROR: bool = False
    """Repositories may mirror tags of a repository in another registry (/api/v1/repository/{R}/mirror)."""
    REPO_MIRROR_INTERVAL: int = Field(30, ge=1, le=86400)
    """Seconds between two looks for mirrors whose sync is due."""
    REPO_MIRROR_DELETE_VANISHED_TAGS: bool = False
    """A mirror's sync deletes its tags that the rule selects and the upstream no longer has."""
    FEATURE_ORG_MIRROR: bool = False
    """Organizations may mirror a whole namespace of another registry (/api/v1/organization/{org}/mirror)."""
    ORG_MIRROR_INTERVAL: int = Field(30, ge=1, le=86400)
    """Seconds between two looks for organization mirrors whose discovery is due."""
    ORG_MIRROR_MAX_DISCOVERY_DURATION: int = Field(1800, ge=10, le=86400)
    """Seconds a discovery may list the upstream namespace before it fails."""
    FEATURE_SUPERUSERS_FULL_ACCESS: bool = True
    """Superusers hold every right everywhere; false: the superuser panel only (Quay's default)."""
    GLOBAL_READONLY_SUPER_USERS: list[str] = Field(default_factory=list)
    """Usernames that read all a superuser may read and change nothing; wins over SUPER_USERS."""
    LIBRARY_NAMESPACE: str = "library"
    """Namespace of single-component repository names (`busybox` is `library/busybox`)."""
    FEATURE_USER_CREATION: bool = True
    """Anyone may sign up (POST /api/v1/user/); superusers can always create users."""
    FEATURE_USERNAME_CONFIRMATION: bool = True
    """A user whose first external sign-in (LDAP, OIDC, GitHub) made an account under another name
    than theirs there (invalid or taken here) is asked to confirm or change it (Quay's key)."""
    FEATURE_USER_INITIALIZE: bool = False
    """Do not create `admin` on first start; the first POST /api/v1/user/initialize creates a superuser."""
    FEATURE_ANONYMOUS_ACCESS: bool = True
    """Allow pulls of public repositories without logging in."""
    FEATURE_PUBLIC_CATALOG: bool = False
    """List public repositories in /v2/_catalog for everyone, not only those with access."""
    CREATE_PRIVATE_REPO_ON_PUSH: bool = True
    """Repositories created by a push are private (else public)."""
    CREATE_NAMESPACE_ON_PUSH: bool = False
    """Reserved: create a missing namespace on push (not implemented yet)."""
    REGISTRY_TOKEN_LIFETIME_S: int = 3600
    """Lifetime of registry bearer tokens, in seconds."""
    LOGIN_CACHE_TTL_S: int = Field(60, ge=0)
    """A process remembers a verified password this long (no argon2 on the next token request);
    any revocation ends it at once. 0: verify every time."""
    AUTHENTICATION_TYPE: Literal["Database", "LDAP"] = "Database"
    """Where users' passwords are checked: Wharf's database, or an LDAP directory (the LDAP_* keys;
    docs/identity.md). Robots, app tokens and OAuth tokens work the same under either."""
    LDAP_URI: str = "ldap://localhost"
    """ldap://host:port or ldaps://host:port of the directory."""
    LDAP_BASE_DN: list[str] = Field(default_factory=list)
    """The directory's base, as Quay gives it: RDNs in order, e.g. ["dc=example", "dc=org"]."""
    LDAP_ADMIN_DN: str | None = None
    """DN of the service account that searches for users."""
    LDAP_ADMIN_PASSWD: str | None = None
    """Its password."""
    LDAP_USER_RDN: list[str] = Field(default_factory=list)
    """Where users are, below LDAP_BASE_DN, e.g. ["ou=people"]."""
    LDAP_UID_ATTR: str = "uid"
    """The attribute holding the name a user signs in with."""
    LDAP_EMAIL_ATTR: str = "mail"
    """The attribute holding a user's e-mail address."""
    LDAP_MEMBEROF_ATTR: str = "memberOf"
    """The attribute listing a user's groups (team synchronization)."""
    LDAP_USER_FILTER: str | None = None
    """Only entries matching this filter may sign in, e.g. (memberOf=cn=registry,ou=groups,...)."""
    LDAP_SUPERUSER_FILTER: str | None = None
    """Entries matching this filter are superusers (checked at each sign-in)."""
    LDAP_RESTRICTED_USER_FILTER: str | None = None
    """With FEATURE_RESTRICTED_USERS and no RESTRICTED_USERS_WHITELIST, entries matching this filter
    are restricted users (recorded at each sign-in); without a filter, every directory user is."""
    FEATURE_RESTRICTED_USERS: bool = False
    """Users are restricted: no organizations, robots or new repositories of their own, the content
    of their own namespace frozen though they still administer what it holds (they work in
    organizations whose teams give them roles). Superusers never are. With AUTHENTICATION_TYPE
    Database every user not in RESTRICTED_USERS_WHITELIST is; with LDAP, see
    LDAP_RESTRICTED_USER_FILTER."""
    RESTRICTED_USERS_WHITELIST: list[str] = Field(default_factory=list)
    """Usernames never restricted. When it is set, every other user is restricted, whatever
    LDAP_RESTRICTED_USER_FILTER says (Quay's rule)."""
    LDAP_START_TLS: bool = False
    """Upgrade ldap:// connections with StartTLS (Wharf's key; ldaps:// is TLS from the start)."""
    LDAP_ALLOW_INSECURE_FALLBACK: bool = False
    """With LDAP_START_TLS, go on without TLS when StartTLS fails (not recommended)."""
    LDAP_CA_FILE: str | None = None
    """PEM file of the CA that signed the directory's certificate (Wharf's key); unset: the system's."""
    LDAP_TIMEOUT: float = Field(10, gt=0)
    """Seconds an LDAP operation may take."""
    LDAP_NETWORK_TIMEOUT: float = Field(10, gt=0)
    """Seconds connecting to the directory may take."""
    FEATURE_TEAM_SYNCING: bool = False
    """Teams may follow a directory group (enableOrganizationTeamSync), with AUTHENTICATION_TYPE LDAP."""
    FEATURE_NONSUPERUSER_TEAM_SYNCING_SETUP: bool = False
    """Organization admins, not only superusers, may turn a team's synchronization on or off."""
    TEAM_RESYNC_STALE_TIME: str = Field("30m", pattern=r"^\s*\d{1,9}\s*[smhdw]\s*$")
    """How old a team's last synchronization may get before the job brings it in step again."""
    TEAM_SYNC_WORKER_FREQUENCY: int = Field(60, ge=1)
    """Seconds between runs of the team synchronization job (each syncs the stale teams)."""
    LDAP_USER_CHECK_INTERVAL_S: int = Field(900, ge=0)
    """How often linked accounts are looked up in the directory, to end the tokens of those no
    longer there (removed, or filtered out by LDAP_USER_FILTER); 0: never (Wharf's key)."""
    REGISTRY_AUTH_MAX_SCOPES: int = Field(50, ge=1)
    """Scopes one /v2/auth request may ask for; more answer 400 (each costs a permission lookup)."""
    INSTANCE_SERVICE_KEY_SERVICE: str = "wharf"
    """Issuer (`iss`) of registry bearer tokens, and their audience (`aud`) while SERVER_HOSTNAME is unset."""
    BLOB_UPLOAD_EXPIRATION_S: int = 24 * 3600
    """An upload untouched this long is abandoned and removed by the cleanup job."""
    UPLOAD_CLEANUP_INTERVAL_S: int = 600
    """How often the abandoned-upload cleanup job runs."""
    UPLOADS_MAX_PER_REPOSITORY: int = Field(100, ge=1)
    """Open (unfinished) blob uploads one repository may have; more answer 429 TOOMANYREQUESTS."""
    UPLOADS_MAX_PER_ACCOUNT: int = Field(500, ge=1)
    """Open blob uploads all repositories of one namespace (user or organization) may have together."""
    DEFAULT_TAG_EXPIRATION: str = "2w"
    """Time-machine window of namespaces that chose none: how long deleted or moved tags stay restorable."""
    TAG_EXPIRATION_OPTIONS: list[str] = Field(default_factory=lambda: ["0s", "1d", "1w", "2w", "4w"])
    """The windows users and organizations may choose from (`tag_expiration_s` must be one of them)."""
    FEATURE_IMMUTABLE_TAGS: bool = False
    """Tags can be made immutable (changeTag `immutable`): then nothing moves, deletes or expires them."""
    FEATURE_AUTO_PRUNE: bool = False
    """Auto-prune policies (`*AutoPrunePolicy*`): a job deletes the tags they select."""
    DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: dict[str, Any] | None = None
    """`{method, value}` applied to every namespace that has no auto-prune policy of its own."""
    AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES: int = Field(60, ge=1)
    """How often the auto-prune job applies the auto-prune and immutability policies."""
    AUTOPRUNE_BATCH_SIZE: int = Field(200, ge=1, le=10000)
    """Tags the auto-prune job deletes or freezes in one transaction (short transactions beside pushes)."""
    FEATURE_QUOTA_MANAGEMENT: bool = False
    """Storage quotas: Warning and Reject limits are enforced, their API is on (sizes are kept always)."""
    FEATURE_EDIT_QUOTA: bool = True
    """With FEATURE_QUOTA_MANAGEMENT, superusers may create, change and delete quotas."""
    DEFAULT_SYSTEM_REJECT_QUOTA_BYTES: int = Field(0, ge=0)
    """Reject limit in bytes of namespaces that have no quota of their own; 0: none."""
    PERMANENTLY_DELETE_TAGS: bool = True
    """Allow removeTagFromTimemachine: past tag lifetimes can be dropped before the window ends."""
    GC_INTERVAL_S: int = 60
    """How often GC runs (a job of the workers); Quay's GARBAGE_COLLECTION_FREQUENCY is read as this."""
    WORKER_SHUTDOWN_GRACE_S: int = Field(60, ge=0)
    """On SIGTERM/SIGINT, seconds `wharf worker` lets its job finish; then it cancels and releases it."""
    GC_GRACE_PERIOD_S: int = 3600
    """Unused blob links and untagged manifests younger than this are spared (pushes in progress); >= 60."""
    GC_ORPHAN_INTERVAL_S: int = Field(24 * 3600, ge=0)
    """How often storage is swept for files no database row owns, which lists every blob; 0 never."""
    GC_ORPHAN_GRACE_S: int = Field(24 * 3600, ge=3600)
    """Storage files and S3 multipart uploads younger than this are never orphans (writes in progress)."""
    CATALOG_PAGE_LIMIT: int = 1000
    """Largest page /v2/_catalog returns, whatever `n` asks for."""
    TAG_LIST_PAGE_LIMIT: int = 10000
    """Largest page tags/list returns, whatever `n` asks for."""
    DATABASE_SECRET_KEY: str | None = None
    """Encrypts database-kept secrets (robot tokens, mirror credentials and proxy passwords, ...);
    nodes must share it. Unset: a key in DATA_DIR/keys."""
    REGISTRY_SIGNING_KEY_PATH: Path | None = None
    """EC P-256 or RSA key (PEM) signing registry tokens, on every node. Unset: one in DATA_DIR/keys."""
    ROBOTS_DISALLOW: bool = False
    """Refuse to create robot accounts and refuse their logins (except ROBOTS_WHITELIST)."""
    ROBOTS_WHITELIST: list[str] = Field(default_factory=list)
    """Robots (`owner+name`) that keep working when ROBOTS_DISALLOW is on."""
    PERMANENT_SESSION_LIFETIME: int = 30 * 24 * 3600
    """Lifetime of a browser session (web UI sign-in), in seconds."""
    SESSION_COOKIE_SECURE: bool = False
    """Send the session cookie over HTTPS only; turn on when Wharf is served over HTTPS."""
    DIRECT_OAUTH_CLIENTID_WHITELIST: list[str] = Field(default_factory=list)
    """OAuth client ids whose authorization scripts may send with Basic auth instead of a browser session."""
    ROBOT_FEDERATION_TOKEN_LIFETIME_S: int = 3600
    """Lifetime of the robot token /oauth2/federation/robot/token hands out for an OIDC token."""
    SSRF_ALLOWED_HOSTS: list[str] = Field(default_factory=list)
    """Internal hosts or CIDRs (`10.0.0.0/8`, `127.0.0.1`, `idp.internal`) outbound calls may reach
    (a mirror's forward proxy at an internal address too)."""
    REGISTRY_STATE: Literal["normal", "readonly"] = "normal"
    """`readonly` for maintenance: pulls, reads and logins work and write nothing (docs/deploy.md)."""
    WORKERS_IN_PROCESS: bool = True
    """Run background jobs inside `wharf serve` (`--no-workers` turns this off)."""
    ACTION_LOG_PULLS: bool = True
    """Record every successful pull (`pull_repo`) in the usage logs; failures are always recorded."""
    FEATURE_IMAGE_PULL_STATS: bool = True
    """Count pulls per repository, tag and manifest (pull statistics API, the UI's pull columns)."""
    FEATURE_LOG_EXPORT: bool = True
    """Users and organization admins may export usage logs (exportlogs) to a callback URL or e-mail."""
    LOG_EXPORT_LINK_EXPIRATION_S: int = 3600
    """How long the signed download link of a log export works."""
    FEATURE_ACTION_LOG_ROTATION: bool = False
    """Archive usage-log entries older than ACTION_LOG_ROTATION_THRESHOLD to storage and delete them."""
    ACTION_LOG_ROTATION_THRESHOLD: str = "30d"
    """Age after which usage-log entries are archived (with FEATURE_ACTION_LOG_ROTATION)."""
    ACTION_LOG_ROTATION_INTERVAL_S: int = 3600
    """How often the log rotation job runs."""
    FEATURE_REQUIRE_TEAM_INVITE: bool = True
    """Adding an outside user to a team invites them to accept or decline (needs FEATURE_MAILING)."""
    FEATURE_MAILING: bool = True
    """Send e-mail (notifications, log export links, address confirmations) when MAIL_SERVER is set."""
    MAIL_SERVER: str | None = None
    """SMTP server host; unset, Wharf sends no e-mail."""
    MAIL_PORT: int = 587
    """SMTP server port."""
    MAIL_USE_TLS: bool = True
    """Upgrade the SMTP connection with STARTTLS."""
    MAIL_USERNAME: str | None = None
    """SMTP login, if the server wants one."""
    MAIL_PASSWORD: str | None = None
    """SMTP password."""
    MAIL_DEFAULT_SENDER: str = "wharf@localhost"
    """From address of the e-mail Wharf sends."""
    NOTIFICATION_SEND_TIMEOUT: int = 10
    """Seconds a webhook, Slack or callback receiver has to answer."""
    NOTIFICATION_RETRY_DELAY_S: int = 30
    """Delay before a failed notification is retried; it doubles on each further failure."""
    NOTIFICATION_TASK_RUN_MINIMUM_INTERVAL_MINUTES: int = 300
    """How often the image-expiry notification job looks for tags about to expire."""
    TRUSTED_PROXIES: list[str] = Field(default_factory=list)
    """Addresses or CIDR networks of reverse proxies whose X-Forwarded-For is believed; unset: none is."""
    WEBHOOK_HOSTNAME_BLACKLIST: list[str] = Field(default_factory=list)
    """Host names webhook and Slack notifications may never call."""
    WEBHOOK_CLIENT_CERT: Path | None = None
    """PEM client certificate presented to https:// webhooks, so receivers can verify the sender."""
    WEBHOOK_CLIENT_KEY: Path | None = None
    """Private key of WEBHOOK_CLIENT_CERT (unset: the key is in the certificate file)."""
    FEATURE_SECURITY_SCANNER: bool = True
    """Index every pushed image and match it against the vulnerability data (docs/security-scanning.md)."""
    SECURITY_SCANNER_INDEXING_INTERVAL: int = Field(30, ge=1)
    """Seconds between looks for manifests not yet indexed by this indexer (Quay's key and default)."""
    SECURITY_SCANNER_VULN_SOURCES: list[str] = Field(default_factory=list)
    """OSV data to import: URLs or paths of zips of OSV records (as osv.dev publishes), or directories."""
    SECURITY_SCANNER_UPDATE_INTERVAL: int = Field(6 * 3600, ge=60)
    """Seconds between updates from SECURITY_SCANNER_VULN_SOURCES (a URL is fetched only when changed)."""
    SECURITY_SCANNER_PULL_POLICY_SEVERITY: (
        Literal["Unknown", "Negligible", "Low", "Medium", "High", "Critical"] | None
    ) = None
    """Registry-wide pull policy: refuse /v2 pulls of images with vulnerabilities this severe or worse."""
    SECURITY_SCANNER_PULL_POLICY_FIXABLE_ONLY: bool = True
    """The registry's pull policy counts only vulnerabilities that have a fixed version."""
    SECURITY_SCANNER_PULL_POLICY_EXEMPT_ROBOTS: bool = False
    """Robot accounts pull whatever the registry's pull policy says."""
    SECURITY_SCANNER_PULL_POLICY_EXEMPT_SUPERUSERS: bool = True
    """Superusers pull whatever the registry's pull policy says."""
    FEATURE_BUILD_SUPPORT: bool = True
    """Users with write access may request Dockerfile builds, run by `wharf builder` (docs/builds.md)."""
    FEATURE_GITHUB_BUILD: bool = False
    """Build triggers connected to GitHub (or a GitHub Enterprise server) through an OAuth
    application (GITHUB_TRIGGER_CONFIG): Wharf lists the user's repositories and installs the
    deploy key and push webhook itself (docs/builds.md)."""
    GITHUB_TRIGGER_CONFIG: dict[str, Any] | None = None
    """The OAuth application of GitHub build triggers: GITHUB_ENDPOINT (https://github.com or a
    GitHub Enterprise server), API_ENDPOINT (its API, by default api.github.com or
    GITHUB_ENDPOINT/api/v3/), CLIENT_ID, CLIENT_SECRET; DEBUGGING: true allows plain http."""
    FEATURE_GITLAB_BUILD: bool = False
    """Build triggers connected to a GitLab server through an OAuth application
    (GITLAB_TRIGGER_CONFIG): Wharf lists the user's projects and installs the deploy key and push
    webhook itself (docs/builds.md)."""
    GITLAB_TRIGGER_CONFIG: dict[str, Any] | None = None
    """The OAuth application of GitLab build triggers: GITLAB_ENDPOINT (https://gitlab.com or
    your server), CLIENT_ID, CLIENT_SECRET; DEBUGGING: true allows plain http."""
    FEATURE_BITBUCKET_BUILD: bool = False
    """Build triggers connected to Bitbucket Cloud through an OAuth consumer
    (BITBUCKET_TRIGGER_CONFIG): Wharf lists the user's repositories and installs the deploy key
    and push webhook itself (docs/builds.md)."""
    BITBUCKET_TRIGGER_CONFIG: dict[str, Any] | None = None
    """The OAuth consumer of Bitbucket build triggers: CONSUMER_KEY, CONSUMER_SECRET;
    BITBUCKET_ENDPOINT (https://bitbucket.org) and API_ENDPOINT (https://api.bitbucket.org/2.0)
    when elsewhere; DEBUGGING: true allows plain http."""
    FEATURE_READER_BUILD_LOGS: bool = False
    """Users with only read access may read build logs (otherwise write access is needed)."""
    BUILD_LOGS_RETENTION: str = "30d"
    """How long the log of a finished build is kept (a duration: 12h, 30d)."""
    BUILD_TIMEOUT: int = Field(3600, ge=1)
    """Seconds a build may run before its builder stops it with an error."""
    BUILD_MAX_ATTEMPTS: int = Field(3, ge=1)
    """Runs of a build whose builder dies under it (killed, cut off past BUILDER_LEASE_S): each
    death marks it internalerror and the next builder runs it again, until this many; 1 never
    retries. Quay tries each build three times."""
    BUILDER_LEASE_S: int = Field(60, ge=3)
    """A running build's lease, renewed by its builder every third of it: a builder that dies
    leaves its build internalerror (then retried, BUILD_MAX_ATTEMPTS) once the lease runs out."""
    BUILDER_CONCURRENCY: int = Field(1, ge=1)
    """Builds one `wharf builder` process runs at once."""
    BUILDER_STORAGE_DIR: Path | None = None
    """Image storage (vfs) and working directories of `wharf builder`; unset, DATA_DIR/builder."""
    BUILDER_REGISTRY: str | None = None
    """scheme://host[:port] of this Wharf's /v2 as a builder reaches it; unset, the public origin."""
    BUILD_NETWORK: Literal["none", "host"] = "none"
    """What a build's RUN steps reach: `none`, only a loopback of their own (buildah runs in a
    network namespace of its own; skopeo, outside it, moves the images in and out); `host`, the
    builder machine's network, as any process on it."""
    USERFILES_MAX_SIZE: int = Field(100 * 1024 * 1024, ge=1)
    """Largest Dockerfile or build archive a user may upload (getFiledropUrl), in bytes."""
    USERFILES_EXPIRATION_S: int = Field(24 * 3600, ge=60)
    """How long an uploaded build file is kept (and an unused upload URL works)."""
    BUILD_ARCHIVE_MAX_BYTES: int = Field(1024 * 1024 * 1024, ge=1)
    """Most bytes a build archive may unpack to; a larger one fails the build."""
    BUILD_ARCHIVE_MAX_ENTRIES: int = Field(20000, ge=1)
    """Most files and directories a build archive may hold."""

    @field_validator("GC_GRACE_PERIOD_S")
    @classmethod
    def _gc_grace(cls, value: int) -> int:
        if value < GC_GRACE_MIN_S:
            raise PydanticCustomError(
                "gc_grace",
                "must be at least {minimum} seconds: garbage collection spares what younger pushes "
                "uploaded only for this long, and with less a push racing it fails with "
                "MANIFEST_BLOB_UNKNOWN",
                {"minimum": GC_GRACE_MIN_S},
            )
        return value

    @field_validator("TRUSTED_PROXIES")
    @classmethod
    def _trusted_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise PydanticCustomError(
                    "trusted_proxies",
                    "{entry} is not an IP address or a CIDR network",
                    {"entry": repr(entry)},
                ) from None
        return value

    @field_validator("DISTRIBUTED_STORAGE_CONFIG")
    @classmethod
    def _storage_locations(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        if value is None:
            return None
        if info.data.get("STORAGE_PATH") is not None:
            raise PydanticCustomError("storage", "give STORAGE_PATH or DISTRIBUTED_STORAGE_CONFIG, not both")
        try:
            locations.parse_locations(value)
        except locations.LocationError as e:
            raise PydanticCustomError("storage", "{problem}", {"problem": str(e)}) from None
        return value

    @field_validator("DISTRIBUTED_STORAGE_PREFERENCE")
    @classmethod
    def _storage_preference(cls, value: list[str], info: ValidationInfo) -> list[str]:
        config = info.data.get("DISTRIBUTED_STORAGE_CONFIG")
        if config:
            try:
                locations.preferred(locations.parse_locations(config), value)
            except locations.LocationError as e:
                raise PydanticCustomError("storage", "{problem}", {"problem": str(e)}) from None
        return value

    @property
    def storage_location(self) -> locations.StorageLocation:
        """Where blobs live: the preferred DISTRIBUTED_STORAGE_CONFIG location, else STORAGE_PATH."""
        if not self.DISTRIBUTED_STORAGE_CONFIG:
            return locations.LocalLocation(self.storage_path)
        found = locations.parse_locations(self.DISTRIBUTED_STORAGE_CONFIG)
        return found[locations.preferred(found, self.DISTRIBUTED_STORAGE_PREFERENCE)]

    @property
    def storage_redirect(self) -> bool:
        return self.STORAGE_REDIRECT and not self.FEATURE_PROXY_STORAGE

    @property
    def public_host(self) -> str:
        """host[:port] of every absolute link Wharf hands out (token realm, webhook and e-mail links,
        pull commands): SERVER_HOSTNAME; unset, the address `wharf serve` listens on, a wildcard
        address (0.0.0.0, ::) read as 127.0.0.1; else `localhost`. Never a request's Host header,
        which the client chooses."""
        if self.SERVER_HOSTNAME:
            return self.SERVER_HOSTNAME
        if not self.LISTEN_ADDRESS:
            return "localhost"
        host, _, port = self.LISTEN_ADDRESS.rpartition(":")
        host = host.strip("[]")
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        default_port = {"http": "80", "https": "443"}.get(self.PREFERRED_URL_SCHEME)
        return host if port in ("", default_port) else f"{host}:{port}"

    @property
    def public_origin(self) -> str:
        """scheme://host[:port] of the links Wharf hands out (see `public_host`)."""
        return f"{self.PREFERRED_URL_SCHEME}://{self.public_host}"

    @property
    def db_uri(self) -> str:
        return self.DB_URI or f"sqlite+aiosqlite:///{(self.DATA_DIR / 'wharf.db').resolve()}"

    @property
    def storage_path(self) -> Path:
        return self.STORAGE_PATH or self.DATA_DIR / "storage"


# WHARF_ variables that are not settings keys.
_NOT_SETTINGS = frozenset(
    {"WHARF_ADMIN_PASSWORD", "WHARF_CONFIG", "WHARF_LOG_LEVEL", "WHARF_LOG_FORMAT", "WHARF_ACCESS_LOG"}
)


def _env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    env = os.environ if environ is None else environ
    if config_file is None and env.get("WHARF_CONFIG"):
        config_file = Path(env["WHARF_CONFIG"])
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text()) or {}
        except OSError as e:
            raise ConfigError(f"cannot read config file {config_file}: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {config_file} is not valid YAML: {e}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {config_file} must hold a mapping of KEY: value")
        values.update(loaded)
    for key, raw in env.items():
        if key.startswith("WHARF_") and key not in _NOT_SETTINGS:
            values[key.removeprefix("WHARF_")] = _env_value(raw)
    values.update(overrides or {})
    for quay_key, key in _ALIASES.items():
        if quay_key in values:
            values.setdefault(key, values.pop(quay_key))
    try:
        return Settings(**values)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None


def key_docstrings() -> dict[str, str]:
    """Each settings key's docstring (the string literal after its line in `Settings`), read from
    this module's source: documentation only, so the import never pays for it."""
    import ast
    from itertools import pairwise

    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings").body
    docs: dict[str, str] = {}
    for stmt, after in pairwise(body):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[stmt.target.id] = after.value.value
    return docs


def markdown_table() -> str:
    """The settings as they appear in docs/configuration.md (a test keeps the two in step)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    docs = key_docstrings()
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "unset" if default is None else f"`{default}`"
        # A docstring may wrap: a table row must not.
        meaning = " ".join(docs.get(name, "").split())
        rows.append(f"| `{name}` | {shown} | {meaning} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
