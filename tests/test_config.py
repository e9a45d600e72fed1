"""Configuration: options over environment over nfe-invoice.toml over defaults, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from nfe_invoice.config import Settings, describe, mask_url, resolve
from nfe_invoice.errors import ConfigurationError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nfe-invoice.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    resolved = resolve({}, environ={})
    assert resolved.settings == Settings()
    assert resolved.file is None
    assert set(resolved.origins.values()) == {"default"}


def test_precedence_option_over_environment_over_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'account = "from-file"\nrate = 3\n[vtex]\nenvironment = "vtexcommercebeta"\n')
    env = {"NFE_INVOICE_ACCOUNT": "from-env", "NFE_INVOICE_CONCURRENCY": "4"}
    resolved = resolve({"account": "from-option", "rate": None}, config_file=path, environ=env)
    settings = resolved.settings
    assert settings.account == "from-option"
    assert settings.environment == "vtexcommercebeta"  # a table groups keys; the key is what counts
    assert settings.rate == 3.0
    assert settings.concurrency == 4
    assert resolved.origins["account"] == "--account"
    assert resolved.origins["concurrency"] == "$NFE_INVOICE_CONCURRENCY"
    assert resolved.origins["rate"] == str(path)


def test_vtex_variables_are_read_too(tmp_path: Path) -> None:
    resolved = resolve({}, config_file=write(tmp_path, ""), environ={"VTEX_ACCOUNT": "loja", "VTEX_BASE_URL": "http://x"})
    assert (resolved.settings.account, resolved.settings.base_url) == ("loja", "http://x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('acount = "typo"\n', "unknown setting 'acount'"),
        ("rate = \"fast\"\n", "rate"),
        ("embed_invoice = 3\n", "embed_invoice"),
        ("concurrency = -1\n", "negative"),
        ("account = \n", "not valid TOML"),
        ("lease = inf\n", "not a finite number"),
        ("read_timeout = nan\n", "not a finite number"),
        ("connect_timeout = 1e300\n", "not a finite number"),
        ("max_attempts = 10000000000\n", "not a finite number"),
        ("rate = 0\n", "greater than 0"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        resolve({}, config_file=write(tmp_path, text), environ={})


def test_a_file_that_is_not_utf8_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "nfe-invoice.toml"
    path.write_bytes(b'account = "\xff"\n')
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        resolve({}, config_file=path, environ={})


@pytest.mark.parametrize(("variable", "text"), [("NFE_INVOICE_RATE", "inf"), ("NFE_INVOICE_READ_TIMEOUT", "nan"),
                                                ("NFE_INVOICE_LEASE", "1e300"), ("NFE_INVOICE_RETRY_DEADLINE", "-inf")])
def test_infinite_or_absurd_numbers_from_the_environment_are_refused(tmp_path: Path, variable: str, text: str) -> None:
    with pytest.raises(ConfigurationError, match="not a finite number"):
        resolve({}, config_file=write(tmp_path, ""), environ={variable: text})


def test_booleans_from_the_environment(tmp_path: Path) -> None:
    env = {"NFE_INVOICE_EMBED_INVOICE": "off", "NFE_INVOICE_ALLOW_HOMOLOGATION": "yes"}
    settings = resolve({}, config_file=write(tmp_path, ""), environ=env).settings
    assert settings.embed_invoice is False
    assert settings.allow_homologation is True
    with pytest.raises(ConfigurationError, match="not true or false"):
        resolve({}, config_file=write(tmp_path, ""), environ={"NFE_INVOICE_ORDER_CHECK": "maybe"})


def test_describe_masks_secrets_and_passwords(tmp_path: Path) -> None:
    env = {"VTEX_APP_KEY": "vtexappkey-loja-SECRETKEY", "VTEX_APP_TOKEN": "TOPSECRETTOKEN",
           "NFE_INVOICE_JOURNAL": "postgresql://nfe:hunter2@db.example:5432/journal"}
    resolved = resolve({}, config_file=write(tmp_path, ""), environ=env)
    rows = describe(resolved, environ=env)
    text = repr(rows)
    assert "SECRETKEY" not in text and "TOPSECRETTOKEN" not in text and "hunter2" not in text
    assert rows["app_key"]["value"] == "set (hidden)"
    assert rows["journal"]["value"] == "postgresql://nfe:***@db.example:5432/journal"
    bare = resolve({}, config_file=write(tmp_path, ""), environ={})
    assert describe(bare, environ={})["app_token"]["value"] == "not set"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("journal.db", "journal.db"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_every_vtex_command_reads_the_configuration_file(tmp_path: Path) -> None:
    """`track` (and every command with connection options) resolves through the same layer as batch."""
    import argparse

    from nfe_invoice.cli.connection import add_connection_options, resolve_connection

    config = write(tmp_path, 'account = "from-file"\nrate = 2.5\n')
    parser = argparse.ArgumentParser()
    add_connection_options(parser)
    parser.add_argument("--config")
    connection = resolve_connection(parser.parse_args(["--config", str(config)]), environ={})
    assert (connection.account, connection.rate) == ("from-file", 2.5)
    explicit = resolve_connection(parser.parse_args(["--config", str(config), "--account", "opt"]), environ={})
    assert explicit.account == "opt"


@pytest.mark.parametrize("key", ["concurrency", "max_attempts", "lease", "read_timeout"])
def test_zero_is_refused_where_it_would_mean_never(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigurationError, match="greater than 0"):
        resolve({key: 0}, config_file=write(tmp_path, ""), environ={})


def test_numbers_from_the_environment_are_checked_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="greater than 0"):
        resolve({}, config_file=write(tmp_path, ""), environ={"NFE_INVOICE_CONCURRENCY": "0"})
    with pytest.raises(ConfigurationError, match="negative"):
        resolve({}, config_file=write(tmp_path, ""), environ={"NFE_INVOICE_RATE": "-5"})


def test_the_config_command_shows_options_and_hides_secrets(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "VTEX_APP_KEY": "vtexappkey-SECRET", "VTEX_APP_TOKEN": "TOKENSECRET",
           "NFE_INVOICE_JOURNAL": "postgresql://nfe:pw-SECRET@db/nfe"}
    done = subprocess.run([sys.executable, "-m", "nfe_invoice.cli", "config", "--account", "loja", "--format", "json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert "SECRET" not in done.stdout
    settings = json.loads(done.stdout)["settings"]
    assert settings["account"] == {"value": "loja", "from": "--account"}
    assert settings["journal"]["from"] == "$NFE_INVOICE_JOURNAL"
    assert settings["app_token"]["value"] == "set (hidden)"
