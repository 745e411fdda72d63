"""`wharf builds`: the key that signs what Wharf built, and checking a built image's provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wharf.cli.base import CliError, ConfigFile, DataDir, app, existing_database, settings_from

if TYPE_CHECKING:
    from wharf.config import Settings

builds_cli = typer.Typer(
    help="Dockerfile builds: the key that signs what Wharf built, and checking it (docs/builds.md).",
    short_help="Print the build signing key; verify a built image's provenance.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(builds_cli, name="builds")


@builds_cli.command("signing-key", short_help="Print the public key that verifies built images.")
def builds_signing_key(data_dir: DataDir = None, config: ConfigFile = None) -> None:
    """Print the PEM public key (ECDSA P-256) that verifies the provenance Wharf attaches to the
    images it builds, as /build-signing-key.pub serves it; made now if no build made it yet."""
    from wharf.core.secretbox import SecretBox
    from wharf.services import build_attestations

    settings = settings_from(data_dir, config)
    box = SecretBox.from_settings(
        settings.DATABASE_SECRET_KEY, settings.DATA_DIR / "keys" / "database-secret.key"
    )
    typer.echo(build_attestations.public_key(settings, box), nl=False)


@builds_cli.command("verify", short_help="Verify the signed provenance attached to a built image.")
def builds_verify(
    image: Annotated[
        str,
        typer.Argument(metavar="REPO[:TAG|@DIGEST]", help="namespace/name with a tag (latest) or a digest."),
    ],
    key: Annotated[
        Path | None,
        typer.Option("--key", metavar="FILE", help="A PEM public key [default: this installation's key]."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result and the statement as JSON.")
    ] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Check the provenance referrer of a built image: its DSSE signature with the key, and that
    its statement is about this image. Exit status 0 when it verifies, 1 when there is none or it
    does not verify (tampered, another key), 2 when the image or the key cannot be found."""
    import asyncio

    from wharf.core import build_provenance as prov
    from wharf.core import repositories
    from wharf.core.errors import ManifestNotFound
    from wharf.runtime import Runtime
    from wharf.services import build_attestations

    name, reference = _image_reference(image)
    settings = settings_from(data_dir, config)
    existing_database(settings).dispose()
    public = _verification_key(key, settings)

    async def _run() -> build_attestations.Verified:
        rt = Runtime.create(settings)
        try:
            namespace, _, repo_name = name.partition("/")
            repo = await rt.db.read(repositories.get, namespace, repo_name)
            if repo is None:
                raise CliError(f"no repository named {name!r}", "names are case-sensitive", 2)
            return await build_attestations.verify(rt.db, rt.store, repo, reference, public)
        finally:
            await rt.close()

    try:
        verified = asyncio.run(_run())
    except ManifestNotFound:
        raise CliError(f"{name} holds no image {reference}", "give a tag or digest it holds", 2) from None
    except prov.ProvenanceInvalid as e:
        if as_json:
            typer.echo(json.dumps({"image": image, "verified": False, "reason": e.reason}, indent=2))
            raise typer.Exit(1) from None
        raise CliError(
            f"{image}: {e.reason}", "the image was not built by this Wharf, or was changed since"
        ) from None
    if as_json:
        result = {
            "image": image,
            "verified": True,
            "digest": verified.digest,
            "provenance": verified.referrer,
            "sbom": verified.sbom,
            "statement": verified.statement,
        }
        typer.echo(json.dumps(result, indent=2))
        return
    run_details = verified.statement["predicate"]["runDetails"]
    typer.echo(
        f"{name}@{verified.digest}: provenance {verified.referrer} verified "
        f"(build {run_details['metadata']['invocationId']} by {run_details['builder']['id']})"
    )


def _image_reference(image: str) -> tuple[str, str]:
    if "@" in image:
        name, _, reference = image.partition("@")
    else:
        last = image.rsplit("/", 1)[-1]
        name, reference = (
            (image.rsplit(":", 1)[0], last.split(":", 1)[1]) if ":" in last else (image, "latest")
        )
    if name.count("/") != 1 or not all(name.split("/")):
        raise CliError(f"{image!r} is not namespace/name[:tag|@digest]", "e.g. acme/app:latest", 2)
    return name, reference


def _verification_key(key: Path | None, settings: Settings) -> str:
    from wharf.core import build_signing
    from wharf.services import build_attestations

    if key is not None:
        try:
            return key.read_text()
        except OSError as e:
            raise CliError(
                f"cannot read {key}: {e.strerror}", "give --key a PEM public key file", 2
            ) from None
    public = build_signing.public_key(build_attestations.key_file(settings))
    if public is None:
        raise CliError(
            "this Wharf has no build signing key yet", "no build has signed anything: give --key", 2
        )
    return public
