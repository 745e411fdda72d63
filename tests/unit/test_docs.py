from pathlib import Path

from wharf.registry.errors import markdown_table

DOCS = Path(__file__).parents[2] / "docs"


def test_registry_error_table_is_current() -> None:
    assert markdown_table() in (DOCS / "registry-api.md").read_text(), (
        "regenerate the table: python -m wharf.registry.errors"
    )


def test_configuration_table_is_current() -> None:
    from wharf.config import markdown_table as settings_table

    assert settings_table() in (DOCS / "configuration.md").read_text(), "regenerate: python -m wharf.config"


def test_every_settings_key_has_a_docstring() -> None:
    from wharf.config import Settings, key_docstrings

    docs = key_docstrings()
    assert [name for name in Settings.model_fields if not docs.get(name, "").strip()] == []


def test_audit_kinds_table_is_current() -> None:
    from wharf.core.audit_kinds import markdown_table as kinds_table

    assert kinds_table() in (DOCS / "audit-logs.md").read_text(), (
        "regenerate: python -m wharf.core.audit_kinds"
    )
