"""A real OpenLDAP server (Debian's slapd) on a loopback port, for the directory tests.

Each server gets a directory of its own: a slapd.conf, an MDB database filled by slapadd from an
LDIF of the people and groups below, and a foreground slapd. Users are added and removed through
the protocol (as the directory's administrator), so a test can change the directory under a
running Wharf.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.waiting import wait_until

SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "directory-admin-pw"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"

_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {root}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 104857600
suffix "{suffix}"
rootdn "{admin_dn}"
rootpw {admin_password}
directory {root}/db
"""


_TLS_CONF = """\
TLSCACertificateFile {root}/ca.pem
TLSCertificateFile {root}/server.pem
TLSCertificateKeyFile {root}/server-key.pem
"""


def make_ca(root: Path, name: str) -> tuple[Any, Any]:
    """A test CA: (certificate, key); its PEM is written to root/<name>.pem."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Wharf test CA {name}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    (root / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _server_cert(root: Path) -> None:
    """ca.pem, and server.pem / server-key.pem it signed for 127.0.0.1 and localhost."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca, ca_key = make_ca(root, "ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (root / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / "server-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def available() -> bool:
    if shutil.which("slapd", path="/usr/sbin:/usr/bin") is None:
        return False
    try:
        import ldap  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _person(uid: str, password: str, mail: str | None, cn: str | None = None) -> str:
    lines = [
        f"dn: uid={uid},{PEOPLE}",
        "objectClass: inetOrgPerson",
        f"uid: {uid}",
        f"cn: {cn or uid}",
        f"sn: {uid}",
        f"userPassword: {password}",
    ]
    if mail:
        lines.append(f"mail: {mail}")
    return "\n".join(lines) + "\n"


@dataclass
class LdapServer:
    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    users: dict[str, str] = field(default_factory=dict)
    tls_port: int | None = None
    """The ldaps:// port, when the server has a certificate (start_slapd(tls=True))."""

    @property
    def uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_uri(self) -> str:
        assert self.tls_port is not None
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def ca_file(self) -> str:
        """The PEM of the CA that signed the server's certificate."""
        return str(self.root / "ca.pem")

    def settings(self, **more: Any) -> dict[str, Any]:
        """Quay's LDAP_* keys for this directory."""
        return {
            "AUTHENTICATION_TYPE": "LDAP",
            "LDAP_URI": self.uri,
            "LDAP_BASE_DN": SUFFIX.split(","),
            "LDAP_ADMIN_DN": ADMIN_DN,
            "LDAP_ADMIN_PASSWD": ADMIN_PASSWORD,
            "LDAP_USER_RDN": ["ou=people"],
            "LDAP_UID_ATTR": "uid",
            "LDAP_EMAIL_ATTR": "mail",
            **more,
        }

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["/usr/sbin/slapd", "-f", str(self.root / "slapd.conf"), "-h", self._listen(), "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "slapd.log").open("ab"),
        )
        wait_until(self._answers, "slapd answers", timeout_s=30)

    def _listen(self) -> str:
        urls = [f"{self.uri}/"]
        if self.tls_port is not None:
            urls.append(f"{self.ldaps_uri}/")
        return " ".join(urls)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def _answers(self) -> bool:
        import ldap

        conn = ldap.initialize(self.uri)
        try:
            conn.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
            return True
        except ldap.SERVER_DOWN:
            return False
        finally:
            conn.unbind_s()

    @contextmanager
    def admin(self) -> Iterator[Any]:
        import ldap

        conn = ldap.initialize(self.uri)
        conn.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
        try:
            yield conn
        finally:
            conn.unbind_s()

    def add_user(self, uid: str, password: str, mail: str | None = None) -> None:
        from ldap import modlist

        attrs = {
            "objectClass": [b"inetOrgPerson"],
            "uid": [uid.encode()],
            "cn": [uid.encode()],
            "sn": [uid.encode()],
            "userPassword": [password.encode()],
        }
        if mail:
            attrs["mail"] = [mail.encode()]
        with self.admin() as conn:
            conn.add_s(f"uid={uid},{PEOPLE}", modlist.addModlist(attrs))
        self.users[uid] = password

    def set_group(self, cn: str, uids: list[str]) -> None:
        """Makes group `cn` (a groupOfNames under ou=groups) list exactly `uids`; an empty list
        removes the group (groupOfNames needs a member)."""
        import ldap
        from ldap import modlist

        dn = group_dn(cn)
        with self.admin() as conn:
            with suppress(ldap.NO_SUCH_OBJECT):
                conn.delete_s(dn)
            if uids:
                attrs = {
                    "objectClass": [b"groupOfNames"],
                    "cn": [cn.encode()],
                    "member": [f"uid={u},{PEOPLE}".encode() for u in uids],
                }
                conn.add_s(dn, modlist.addModlist(attrs))

    def set_member_of(self, uid: str, dns: list[str], attr: str = "seeAlso") -> None:
        """Gives the user's entry these group DNs in `attr`, as Active Directory's memberOf (any
        DN-valued attribute the schema allows on a person serves as LDAP_MEMBEROF_ATTR)."""
        import ldap

        with self.admin() as conn:
            conn.modify_s(
                f"uid={uid},{PEOPLE}", [(ldap.MOD_REPLACE, attr, [d.encode() for d in dns] or None)]
            )

    def set_password(self, uid: str, password: str) -> None:
        import ldap

        with self.admin() as conn:
            conn.modify_s(f"uid={uid},{PEOPLE}", [(ldap.MOD_REPLACE, "userPassword", [password.encode()])])
        self.users[uid] = password

    def remove_user(self, uid: str) -> None:
        with self.admin() as conn:
            conn.delete_s(f"uid={uid},{PEOPLE}")
        self.users.pop(uid, None)


def group_dn(cn: str) -> str:
    return f"cn={cn},{GROUPS}"


def _group(cn: str, uids: list[str]) -> str:
    members = "".join(f"member: uid={u},{PEOPLE}\n" for u in uids)
    return f"dn: {group_dn(cn)}\nobjectClass: groupOfNames\ncn: {cn}\n{members}"


def start_slapd(
    root: Path,
    people: dict[str, tuple[str, str | None]],
    groups: dict[str, list[str]] | None = None,
    *,
    tls: bool = False,
    size_limit: int | None = None,
) -> LdapServer:
    """A directory at SUFFIX with `people` {uid: (password, mail)} under ou=people and `groups`
    {cn: [uid...]} (groupOfNames) under ou=groups, listening on a free loopback port. With
    `size_limit`, a search by anyone but the rootdn (which no limit binds) answers at most that many
    entries, or pages of at most that many (simple paged results, RFC 2696) without a total limit:
    Active Directory's MaxPageSize."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "db").mkdir()
    conf = root / "slapd.conf"
    text = _CONF.format(root=root, suffix=SUFFIX, admin_dn=ADMIN_DN, admin_password=ADMIN_PASSWORD)
    if tls:
        # With a certificate (a CA made here), StartTLS on ldap:// and TLS from the start on ldaps://.
        _server_cert(root)
        text = _TLS_CONF.format(root=root) + text
    if size_limit is not None:
        n = size_limit
        text += f"limits users size.soft={n} size.hard={n} size.pr={n} size.prtotal=unlimited\n"
    conf.write_text(text)
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
        *(_person(uid, pw, mail) for uid, (pw, mail) in people.items()),
        *(_group(cn, uids) for cn, uids in (groups or {}).items()),
    ]
    ldif = root / "data.ldif"
    ldif.write_text("\n".join(entries))
    subprocess.run(["/usr/sbin/slapadd", "-f", str(conf), "-l", str(ldif)], check=True, capture_output=True)
    server = LdapServer(
        root,
        _free_port(),
        users={uid: pw for uid, (pw, _) in people.items()},
        tls_port=_free_port() if tls else None,
    )
    server.start()
    return server
