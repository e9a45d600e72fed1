"""Configuration in one place: command-line options, then environment variables, then ``nfe-invoice.toml``,
then the defaults, in that order of precedence, each value remembering where it came from.

Secrets never live here: the file and the environment name the *variables* that hold the VTEX app key and
token (``app_key_env``, ``app_token_env``), never their values, and :func:`describe` shows only whether each
is set. ``nfe-invoice config`` prints the effective configuration that way.

File: ``--config FILE``, else ``$NFE_INVOICE_CONFIG``, else ``./nfe-invoice.toml`` when it exists. Keys are the
field names of :class:`Settings` (flat, or grouped in any tables: ``[vtex] account = "..."`` reads as
``account``); an unknown key is an error, so a typo never silently falls back to a default.
Environment: ``NFE_INVOICE_<KEY>`` for every key (``NFE_INVOICE_JOURNAL``), plus VTEX's usual
``VTEX_ACCOUNT``, ``VTEX_ENVIRONMENT`` and ``VTEX_BASE_URL``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from .errors import ConfigurationError

CONFIG_FILE_NAME: Final = "nfe-invoice.toml"
_ENV_PREFIX: Final = "NFE_INVOICE_"
_VTEX_ALIASES: Final = {"account": "VTEX_ACCOUNT", "environment": "VTEX_ENVIRONMENT", "base_url": "VTEX_BASE_URL"}


@dataclass(frozen=True)
class Settings:
    """Every setting of the VTEX half, with the safe defaults."""

    # where and who
    account: str | None = None
    environment: str = "vtexcommercestable"
    base_url: str | None = None
    app_key_env: str = "VTEX_APP_KEY"
    app_token_env: str = "VTEX_APP_TOKEN"
    # mapping
    sku_map: str | None = None
    order_id_rule: str = "xped"
    invoice_number_format: str = "{nNF}"
    invoice_url_template: str | None = None
    embed_invoice: bool = True
    invoice_value_as_integer: bool = False
    # safety
    allow_homologation: bool = False
    order_check: bool = True
    trust_store: str | None = None
    # transport
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 5
    retry_deadline: float = 120.0
    rate: float = 10.0  # requests per second for the whole account, shared by every worker on one journal
    concurrency: int = 8
    # journal and workers
    journal: str = "nfe-invoice-journal.db"
    lease: float = 60.0

    def with_values(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Resolved:
    """The effective settings and, for each key, where its value came from."""

    settings: Settings
    origins: Mapping[str, str] = field(default_factory=dict)
    file: Path | None = None


_FIELDS: Final = {f.name: f for f in fields(Settings)}
#: Settings where 0 would mean "never" or "nothing at all": refused rather than obeyed.
_POSITIVE: Final = frozenset({"concurrency", "max_attempts", "lease", "connect_timeout", "read_timeout",
                              "retry_deadline", "rate"})
#: The largest number a setting may hold (about 31 years in seconds): every number here is a duration, a
#: rate or a count, so anything larger, infinity or NaN is a typo, and 1e300 s overflows the clock arithmetic.
LARGEST_NUMBER: Final = 1e9
_DEFAULTS: Final = Settings()


def _convert(key: str, value: object, origin: str) -> object:
    """A raw value (text from the environment, or a TOML value) as the type the setting has."""
    default = getattr(_DEFAULTS, key)
    kind = type(default) if default is not None else str
    if isinstance(value, str) and kind is not str:
        text = value.strip().lower()
        if kind is bool:
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ConfigurationError(f"{key} ({origin}): {value!r} is not true or false")
        try:
            value = kind(text)
        except ValueError:
            raise ConfigurationError(f"{key} ({origin}): {value!r} is not a {kind.__name__}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if value is not None and not isinstance(value, kind):
        raise ConfigurationError(f"{key} ({origin}): expected a {kind.__name__}, got {value!r}")
    if kind in (int, float) and isinstance(value, int | float):
        if not -LARGEST_NUMBER <= value <= LARGEST_NUMBER:  # also false for NaN
            raise ConfigurationError(f"{key} ({origin}): {value!r} is not a finite number up to {LARGEST_NUMBER:g}")
        if value < 0:
            raise ConfigurationError(f"{key} ({origin}): must not be negative")
        if value == 0 and key in _POSITIVE:
            raise ConfigurationError(f"{key} ({origin}): must be greater than 0")
    return value


def _flatten(table: Mapping[str, Any], path: str, into: dict[str, object]) -> None:
    for name, value in table.items():
        where = f"{path}.{name}" if path else name
        if isinstance(value, dict):
            _flatten(value, where, into)
            continue
        key = name.replace("-", "_")
        if key not in _FIELDS:
            raise ConfigurationError(f"unknown setting {where!r}; known: {', '.join(sorted(_FIELDS))}")
        into[key] = value


def find_config_file(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        return Path(explicit)
    if environ.get(f"{_ENV_PREFIX}CONFIG"):
        return Path(environ[f"{_ENV_PREFIX}CONFIG"])
    candidate = Path(CONFIG_FILE_NAME)
    return candidate if candidate.is_file() else None


def read_config_file(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:  # TOML is UTF-8 only
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    values: dict[str, object] = {}
    _flatten(table, "", values)
    return values


def resolve(
    options: Mapping[str, object] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Resolved:
    """The effective settings: ``options`` (None values are "not given") over the environment over the file.

    Raises :class:`ConfigurationError` with a one-line reason for an unreadable file, an unknown key or a
    value of the wrong type.
    """
    env = os.environ if environ is None else environ
    path = find_config_file(config_file, env)
    values: dict[str, object] = {}
    origins: dict[str, str] = dict.fromkeys(_FIELDS, "default")
    if path is not None:
        for key, value in read_config_file(path).items():
            values[key] = _convert(key, value, str(path))
            origins[key] = str(path)
    for key in _FIELDS:
        names = [f"{_ENV_PREFIX}{key.upper()}"]
        if key in _VTEX_ALIASES:
            names.append(_VTEX_ALIASES[key])
        for name in names:
            if env.get(name):
                values[key] = _convert(key, env[name], f"${name}")
                origins[key] = f"${name}"
                break
    for key, value in (options or {}).items():
        if value is None:
            continue
        if key not in _FIELDS:
            raise ConfigurationError(f"unknown setting {key!r}")
        values[key] = _convert(key, value, f"--{key.replace('_', '-')}")
        origins[key] = f"--{key.replace('_', '-')}"
    return Resolved(Settings(**values), origins, path)  # type: ignore[arg-type]


def mask_url(url: str) -> str:
    """A URL with its password (if any) replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, at, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***{at}{host}" if ":" in credentials else url


def describe(resolved: Resolved, environ: Mapping[str, str] | None = None) -> dict[str, dict[str, object]]:
    """Each setting with its value and origin, secrets masked; credentials shown as set or not set."""
    env = os.environ if environ is None else environ
    settings = resolved.settings
    rows: dict[str, dict[str, object]] = {}
    for key in _FIELDS:
        value = getattr(settings, key)
        if key == "journal" and isinstance(value, str):
            value = mask_url(value)
        rows[key] = {"value": value, "from": resolved.origins.get(key, "default")}
    for label, variable in (("app_key", settings.app_key_env), ("app_token", settings.app_token_env)):
        rows[label] = {"value": "set (hidden)" if env.get(variable) else "not set", "from": f"${variable}"}
    return rows
