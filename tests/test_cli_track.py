"""``nfe-invoice track`` against the sandbox over loopback, and the connection options every VTEX command shares:
exit statuses 0 / 2 / 3, one-line reasons, no traceback and no credential in any output."""

from __future__ import annotations

import argparse
import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nfe_invoice.cli import main
from nfe_invoice.cli.common import UsageError
from nfe_invoice.cli.connection import add_connection_options, client_from_args, resolve_connection
from nfe_invoice.vtex.client import AsyncVtexClient, VtexClient
from nfe_invoice.vtex.sandbox import Sandbox, make_order

KEY, TOKEN = "vtexappkey-track-ZXCVB", "TRACK-TOKEN-secret-24680"
ORDER_ID = "1001-01"
SETUP_REQUESTS = 1  # the fixture's invoice POST


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    for name in ("VTEX_ACCOUNT", "VTEX_ENVIRONMENT", "VTEX_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VTEX_APP_KEY", KEY)
    monkeypatch.setenv("VTEX_APP_TOKEN", TOKEN)
    with Sandbox(orders=[make_order(ORDER_ID, [{"id": "7", "price": 1000}])]) as running:
        invoice = {"type": "Output", "issuanceDate": "2026-11-20T10:00:00-03:00", "invoiceNumber": "123",
                   "invoiceValue": "1000", "items": [{"id": "7", "price": 1000, "quantity": 1}]}
        httpx.post(f"{running.base_url}/api/oms/pvt/orders/{ORDER_ID}/invoice", json=invoice,
                   headers={"X-VTEX-API-AppKey": "k", "X-VTEX-API-AppToken": "t"}).raise_for_status()
        yield running


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert KEY not in out + err
    assert TOKEN not in out + err
    assert "Traceback" not in err
    return status, out, err


def _package(sandbox: Sandbox) -> dict[str, Any]:
    package: dict[str, Any] = sandbox.order(ORDER_ID)["packageAttachment"]["packages"][0]
    return package


def test_track_sends_the_tracking_number(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "track", ORDER_ID, "123", "--base-url", sandbox.base_url,
                            "--tracking-number", "TR-77", "--tracking-url", "https://track.example/TR-77",
                            "--courier", "Correios", "--dispatched", "2026-11-21T09:00:00-03:00")
    assert (status, err) == (0, "")
    (line,) = out.splitlines()
    printed = json.loads(line)
    assert printed["call"] == "update_tracking"
    assert (printed["order_id"], printed["invoice_number"]) == (ORDER_ID, "123")
    assert len(printed["receipt"]) == 32
    package = _package(sandbox)
    assert (package["trackingNumber"], package["trackingUrl"], package["courier"]) == (
        "TR-77", "https://track.example/TR-77", "Correios")
    assert package["dispatchedDate"] == "2026-11-21T09:00:00-03:00"


def test_track_sends_tracking_then_delivery_status_with_events(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(capsys, "track", ORDER_ID, "123", "--base-url", sandbox.base_url,
                          "--tracking-number", "TR-1", "--delivered", "--delivered-date", "2026-11-23T15:00:00-03:00",
                          "--event", "Rio de Janeiro,RJ,Coletado pela transportadora,2026-11-21T10:00:00-03:00",
                          "--event", "São Paulo,SP,Saiu para entrega, 2ª tentativa,2026-11-23T08:00:00-03:00")
    assert status == 0
    assert [json.loads(line)["call"] for line in out.splitlines()] == ["update_tracking", "update_tracking_status"]
    courier = _package(sandbox)["courierStatus"]
    assert courier["finished"] is True
    assert courier["deliveredDate"] == "2026-11-23T15:00:00-03:00"
    assert [(e["city"], e["state"], e["description"]) for e in courier["data"]] == [
        ("Rio de Janeiro", "RJ", "Coletado pela transportadora"),
        ("São Paulo", "SP", "Saiu para entrega, 2ª tentativa")]


def test_track_status_alone_needs_a_tracking_number_at_vtex(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "track", ORDER_ID, "123", "--base-url", sandbox.base_url, "--delivered")
    assert status == 3
    assert out == ""
    assert err.startswith("nfe-invoice: VTEX: update_tracking_status: VTEX answered 400")
    assert len(err.strip().splitlines()) == 1


def test_track_on_an_unknown_invoice_is_invoice_not_found(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "track", ORDER_ID, "999", "--base-url", sandbox.base_url,
                            "--tracking-number", "TR-1")
    assert (status, out) == (3, "")
    assert "404" in err
    assert "Invoice Not Found" in err
    assert len(err.strip().splitlines()) == 1
    assert sandbox.stats["requests_total"] == SETUP_REQUESTS + 1  # a 404 is never retried


def test_track_when_vtex_cannot_be_reached(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, _, err = _run(capsys, "track", ORDER_ID, "123", "--base-url", f"http://127.0.0.1:{port}",
                          "--tracking-number", "TR-1", "--max-attempts", "1", "--connect-timeout", "0.5")
    assert status == 3
    assert err.startswith("nfe-invoice: VTEX: update_tracking: PATCH http://127.0.0.1:")
    assert len(err.strip().splitlines()) == 1


def test_track_reads_the_base_url_from_the_environment(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VTEX_BASE_URL", sandbox.base_url)
    status, _, _ = _run(capsys, "track", ORDER_ID, "123", "--tracking-number", "TR-ENV")
    assert status == 0
    assert _package(sandbox)["trackingNumber"] == "TR-ENV"


@pytest.mark.parametrize(
    ("argv", "message"),
    [([], "give --tracking-number, or --delivered / --event"),
     (["--tracking-url", "https://t"], "go with --tracking-number"),
     (["--tracking-number", "T", "--dispatched", "2026-11-21T09:00:00"], "--dispatched needs a UTC offset"),
     (["--tracking-number", "T", "--dispatched", "tomorrow"], "is not an ISO 8601 date-time"),
     (["--event", "Rio,RJ,2026-11-21T10:00:00-03:00"], "expected city,state,description,date"),
     (["--event", "Rio,RJ,Coletado,2026-11-21"], "--event date needs a UTC offset"),
     (["--delivered-date", "2026-11-23T15:00:00-03:00"], "--delivered-date goes with --delivered"),
     (["--tracking-number", ""], "tracking_number"),
     (["--tracking-number", "T", "--account", "my.store"], "not a valid name")],
)
def test_track_usage_errors(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    base = [] if "--account" in argv else ["--base-url", sandbox.base_url]
    status, out, err = _run(capsys, "track", ORDER_ID, "123", *base, *argv)
    assert (status, out) == (2, "")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert sandbox.stats["requests_total"] == SETUP_REQUESTS  # nothing was sent


@pytest.mark.parametrize(
    ("order_id", "invoice_number", "message"),
    [("..", "123", "is not a safe URL path segment"), (".", "123", "is not a safe URL path segment"),
     ("a/b", "123", "is not a safe URL path segment"), (ORDER_ID, "..", "invoice number '..'"),
     (ORDER_ID, "12 3", "invoice number '12 3'")],
)
def test_track_refuses_ids_that_would_reach_another_path(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], order_id: str, invoice_number: str, message: str
) -> None:
    for call in (["--tracking-number", "T"], ["--delivered"]):
        status, out, err = _run(capsys, "track", order_id, invoice_number, "--base-url", sandbox.base_url, *call)
        assert (status, out) == (2, "")
        assert message in err and len(err.strip().splitlines()) == 1
    assert sandbox.stats["requests_total"] == SETUP_REQUESTS  # nothing was sent


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:abc", "http://127.0.0.1:99999"])
def test_a_base_url_that_cannot_be_read_is_a_one_line_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    monkeypatch.setenv("VTEX_APP_KEY", KEY)
    monkeypatch.setenv("VTEX_APP_TOKEN", TOKEN)
    status, out, err = _run(capsys, "track", ORDER_ID, "123", "--tracking-number", "T", "--base-url", url)
    assert (status, out) == (2, "")
    assert "cannot be read as a URL" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["sandbox"], ["serve", "--no-auth", "--base-url", "http://127.0.0.1:9"]])
@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], command: list[str], port: str
) -> None:
    with pytest.raises(SystemExit) as caught:  # argparse's own exit, before anything listens
        main([*command, "--port", port])
    assert caught.value.code == 2
    assert "is not a port number" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "message"), [("0", "must be at least 1"), ("-3", "must be at least 1"),
                                              ("two", "is not a whole number"), ("1.5", "is not a whole number")])
def test_a_count_below_one_is_a_usage_error(capsys: pytest.CaptureFixture[str], value: str, message: str) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["track", ORDER_ID, "123", "--tracking-number", "T", "--max-attempts", value])
    assert caught.value.code == 2
    assert f"{value!r} {message}" in capsys.readouterr().err


def test_track_needs_an_account_or_a_base_url(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "track", ORDER_ID, "123", "--tracking-number", "T")
    assert status == 2
    assert "give --account (or $VTEX_ACCOUNT) or --base-url (or $VTEX_BASE_URL)" in err


def test_track_names_missing_credential_variables(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORE_KEY", KEY)
    status, _, err = _run(capsys, "track", ORDER_ID, "123", "--base-url", sandbox.base_url, "--tracking-number", "T",
                          "--app-key-env", "STORE_KEY", "--app-token-env", "STORE_TOKEN")
    assert status == 2
    assert "STORE_TOKEN" in err
    assert "STORE_KEY" not in err


# ---------------------------------------------------------------------------------------- connection


def _parse(*argv: str, concurrency: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_connection_options(parser, concurrency=concurrency)
    return parser.parse_args(list(argv))


def test_options_win_over_the_environment_which_wins_over_defaults() -> None:
    env = {"VTEX_ACCOUNT": "fromenv", "VTEX_ENVIRONMENT": "vtexcommercebeta", "VTEX_BASE_URL": ""}
    resolved = resolve_connection(_parse("--account", "fromoption", "--rate", "2.5", "--timeout", "9"), env)
    assert (resolved.account, resolved.environment) == ("fromoption", "vtexcommercebeta")
    assert (resolved.rate, resolved.read_timeout, resolved.connect_timeout, resolved.max_attempts) == (2.5, 9, 5, 5)
    assert resolve_connection(_parse(), env).account == "fromenv"
    with pytest.raises(UsageError, match="give --account"):
        resolve_connection(_parse(), {})


@pytest.mark.parametrize("argv", [["--rate", "0"], ["--timeout", "-1"], ["--max-attempts", "0"],
                                  ["--rate", "fast"], ["--max-attempts", "2.5"], ["--timeout", "1e300"],
                                  ["--connect-timeout", "inf"], ["--rate", "nan"], ["--retry-deadline", "1e10"]])
def test_nonsense_numbers_are_refused_by_the_parser(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        _parse(*argv)


def test_client_from_args_builds_either_client() -> None:
    env = {"VTEX_APP_KEY": KEY, "VTEX_APP_TOKEN": TOKEN}
    sync = client_from_args(_parse("--account", "mystore", "--max-attempts", "2"), environ=env)
    assert isinstance(sync, VtexClient)
    assert sync.endpoint.base_url == "https://mystore.vtexcommercestable.com.br"
    assert sync._core.retry.max_attempts == 2
    asynchronous = client_from_args(_parse("--base-url", "http://127.0.0.1:9", "--concurrency", "3",
                                           concurrency=True), asynchronous=True, environ=env)
    assert isinstance(asynchronous, AsyncVtexClient)
    assert asynchronous.max_concurrency == 3
    assert KEY not in repr(sync) + repr(asynchronous)
