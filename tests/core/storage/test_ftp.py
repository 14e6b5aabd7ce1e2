"""The FTP and FTPS transports against real pyftpdlib servers on loopback (tests/core/storage/servers_net.py); the
FTPS server requires TLS on the control and the data connections."""

from __future__ import annotations

import ftplib
import io
import logging
import socket

import pytest

from batchhub.core.secrets.crypto import Secret
from batchhub.core.storage import ftp as ftp_module
from batchhub.core.storage.base import ErrorClass, TransportError, transport_open
from tests.core.storage import contract
from tests.core.storage.failures import (
    CANARY,
    REFUSED_HOSTS,
    SOFT_TIME_LIMIT,
    FailingStream,
    canary_absent,
    fix_on_your_side,
    raising,
    soft_time_limit_passes,
    transient,
)
from tests.core.storage.servers_net import FTP_LEGACY_USER, PASSWORD, port_free

KINDS = ["ftp", "ftps"]


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def server(kind, request):
    return request.getfixturevalue(f"{kind}_server")


def connect(kind: str, server, settings: dict | None = None, password: str = PASSWORD):
    return transport_open(kind, {**server.settings(), **(settings or {})}, {"password": password})


def refused(kind: str, server, settings: dict | None = None, password: str = PASSWORD) -> TransportError:
    with pytest.raises(TransportError) as raised, connect(kind, server, settings, password):
        pass
    return raised.value


# --- the contract ----------------------------------------------------------------------------------------------


def test_it_passes_the_contract(kind, server):
    with connect(kind, server) as transport:
        assert transport.kind == kind
        contract.check_write_list_read(transport)
        contract.check_move(transport)
        contract.check_list_by_segments(transport)


def test_it_streams_50_mb_both_ways_in_bounded_memory(kind, server):
    with connect(kind, server) as transport:
        contract.check_large_streamed(transport, size=50 * contract.MB, bound=24 * contract.MB)


def test_it_takes_the_password_as_a_decrypted_secret(ftps_server):
    settings = ftps_server.settings()
    with transport_open("ftps", settings, {"password": Secret(PASSWORD)}) as transport:
        assert transport.list("nothing-*") == []


def test_it_ignores_the_passive_address_the_server_announces(ftp_server):
    """The server announces 127.0.0.2, where nothing listens: the transfer goes to the control connection's peer."""
    with connect("ftp", ftp_server) as transport:
        announced, _port = ftplib.parse227(transport._ftp.sendcmd("PASV"))  # noqa: S321
        assert announced == "127.0.0.2"
        transport.write("passive.csv", io.BytesIO(b"p\n"))
        with transport.open_read("passive.csv") as stream:
            assert stream.read() == b"p\n"
        transport.delete("passive.csv")


def test_ftps_data_connections_resume_the_control_connections_tls_session(ftps_server, monkeypatch):
    resumed = []
    original = ftp_module._FTPS.ntransfercmd

    def spying(self, cmd, rest=None):
        conn, size = original(self, cmd, rest)
        resumed.append((cmd.split()[0], conn.session_reused))
        return conn, size

    monkeypatch.setattr(ftp_module._FTPS, "ntransfercmd", spying)
    with connect("ftps", ftps_server) as transport:
        transport.write("tls.csv", io.BytesIO(b"t\n"))
        with transport.open_read("tls.csv") as stream:
            assert stream.read() == b"t\n"
        transport.delete("tls.csv")
    assert resumed == [("STOR", True), ("RETR", True)]


def test_reading_part_of_a_file_leaves_the_session_usable(kind, server):
    with connect(kind, server) as transport:
        transport.write("partial.bin", contract.GeneratedStream(4 * contract.MB))
        with transport.open_read("partial.bin") as stream:
            assert len(stream.read(1000)) == 1000
        assert [item.size for item in transport.list("partial.bin")] == [4 * contract.MB]
        transport.delete("partial.bin")


def test_it_lists_and_replaces_on_a_server_without_mlsd_nor_rename_over_a_file(ftp_server):
    with connect("ftp", ftp_server, {"username": FTP_LEGACY_USER}) as transport:
        transport.write("legacy/old.csv", io.BytesIO(b"first\n"))
        transport.write("legacy/old.csv", io.BytesIO(b"second!\n"))
        listed = transport.list("legacy/*.csv")
        assert [(item.name, item.size) for item in listed] == [("legacy/old.csv", 8)]
        assert listed[0].modified_at is not None and listed[0].modified_at.tzinfo is not None
        assert [item.name for item in transport.list("*")] == []  # a folder is not a file
        with transport.open_read("legacy/old.csv") as stream:
            assert stream.read() == b"second!\n"
        transport.delete("legacy/old.csv")


# --- writes are visible only when whole --------------------------------------------------------------------------


def test_a_source_failing_halfway_leaves_nothing_under_the_name_nor_a_temporary_file(kind, server):
    folder = server.root / "upload"
    names_seen = []

    def look():
        names_seen.append(sorted(path.name for path in folder.iterdir()))

    before = {path.name for path in folder.iterdir()}
    with connect(kind, server) as transport:
        with pytest.raises(ValueError, match="the export failed"):
            transport.write("half.bin", FailingStream(512 * 1024, ValueError("the export failed"), check=look))
        assert transport.list("half.bin") == []
        assert transport.list("*") == [item for item in transport.list("*") if item.name != "half.bin"]
    assert "half.bin" not in names_seen[0]  # meanwhile only a temporary name existed
    assert {path.name for path in folder.iterdir()} == before


# --- failures, classified --------------------------------------------------------------------------------------


def test_a_wrong_password_is_fix_on_your_side_and_never_shown(kind, server, caplog):
    caplog.set_level(logging.DEBUG)
    error = refused(kind, server, password=CANARY)
    fix_on_your_side(error, "auth_refused")
    canary_absent(error, caplog)


def test_a_password_ftp_cannot_send_is_refused_without_showing_it(ftp_server, caplog):
    caplog.set_level(logging.DEBUG)
    error = refused("ftp", ftp_server, password=f"{CANARY}\r\nDELE important.csv")
    fix_on_your_side(error, "settings_invalid")
    canary_absent(error, caplog)


def test_plain_ftp_to_a_server_requiring_tls_says_to_choose_ftps(ftps_server, caplog):
    caplog.set_level(logging.DEBUG)
    error = refused("ftp", ftps_server, {"ca_pem": ""}, password=CANARY)
    fix_on_your_side(error, "auth_refused")
    assert "FTPS" in error.message
    canary_absent(error, caplog)


def test_ftps_to_a_server_without_tls_is_fix_on_your_side(ftp_server):
    fix_on_your_side(refused("ftps", ftp_server), "tls_unsupported")


@pytest.mark.parametrize("trust", ["another CA", "the system's CAs"])
def test_an_untrusted_certificate_is_refused_before_the_password_is_sent(ftps_server, tls_authority, caplog, trust):
    caplog.set_level(logging.DEBUG)
    _authority, other = tls_authority
    ca_pem = other.cert_pem.bytes().decode() if trust == "another CA" else ""
    error = refused("ftps", ftps_server, {"ca_pem": ca_pem}, password=CANARY)
    fix_on_your_side(error, "certificate_invalid")
    assert not [record for record in caplog.records if "USER" in record.getMessage()]  # the server saw no login
    canary_absent(error, caplog)


def test_a_certificate_for_another_host_name_is_refused(ftps_wrong_name_server):
    fix_on_your_side(refused("ftps", ftps_wrong_name_server), "certificate_invalid")


def test_a_certificate_that_is_no_pem_is_fix_on_your_side(ftps_server):
    fix_on_your_side(refused("ftps", ftps_server, {"ca_pem": "not a certificate"}), "settings_invalid")


def test_a_missing_folder_is_fix_on_your_side(kind, server):
    fix_on_your_side(refused(kind, server, {"path": "/no-such-folder"}), "folder_missing")


def test_a_missing_file_is_fix_on_your_side_and_deleting_it_is_not_an_error(kind, server):
    with connect(kind, server) as transport:
        with pytest.raises(TransportError) as raised, transport.open_read("no-such-file.csv"):
            pass
        fix_on_your_side(raised.value, "not_found")
        with pytest.raises(TransportError) as raised:
            transport.move("no-such-file.csv", "elsewhere.csv")
        fix_on_your_side(raised.value, "not_found")
        transport.delete("no-such-file.csv")
        assert transport.list("*.csv") is not None  # the session still works


def test_a_closed_port_is_transient(kind, server):
    transient(refused(kind, server, {"port": port_free()}), "connection_failed")


def test_a_server_that_never_answers_is_transient(kind, server, settings):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        transient(refused(kind, server, {"port": silent.getsockname()[1]}), "timeout")


def test_a_library_failure_no_rule_knows_is_ours(ftp_server, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise KeyError(CANARY)

    monkeypatch.setattr(ftplib.FTP, "mlsd", broken)
    with connect("ftp", ftp_server) as transport, pytest.raises(TransportError) as raised:
        transport.list("*")
    assert (raised.value.error_class, raised.value.code) == (ErrorClass.PLATFORM, "unexpected")
    canary_absent(raised.value, caplog)


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../x", "nul\x00.csv", "line\r\nDELE x.csv"])
def test_names_that_escape_the_folder_or_inject_commands_are_refused(ftp_server, name):
    with connect("ftp", ftp_server) as transport:
        for attempt in (
            lambda: transport.write(name, io.BytesIO(b"x")),
            lambda: transport.open_read(name).__enter__(),
            lambda: transport.delete(name),
            lambda: transport.move("x.csv", name),
        ):
            with pytest.raises(TransportError) as raised:
                attempt()
            fix_on_your_side(raised.value, "bad_path")


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_private_and_internal_hosts_are_refused(kind, server, settings, host):
    settings.STORAGE_ALLOW_LOOPBACK = False
    fix_on_your_side(refused(kind, server, {"host": host}), "address_refused")


def test_celerys_soft_time_limit_passes_through_unchanged(kind, server, monkeypatch):
    folder = server.root / "upload"
    with connect(kind, server) as transport:
        transport.write("limit.csv", io.BytesIO(b"abc"))

        def read_halfway():
            with transport.open_read("limit.csv") as stream:
                monkeypatch.setattr(stream.raw, "_read", raising(SOFT_TIME_LIMIT))
                stream.read()

        soft_time_limit_passes(read_halfway)
        before = {path.name for path in folder.iterdir()}
        soft_time_limit_passes(lambda: transport.write("limit.bin", FailingStream(512 * 1024, SOFT_TIME_LIMIT)))
        assert {path.name for path in folder.iterdir()} == before
        for method, call in (("mlsd", transport.list), ("delete", lambda: transport.delete("limit.csv"))):
            with monkeypatch.context() as patched:
                patched.setattr(ftplib.FTP, method, raising(SOFT_TIME_LIMIT))
                soft_time_limit_passes(call)
        transport.delete("limit.csv")


def test_it_discards_what_a_killed_write_left_of_that_file_only(kind, server):
    folder = server.root / "upload" / f"discard-{kind}"
    folder.mkdir()
    (folder / ".day.csv.0123456789ab.batchhub-part").write_bytes(b"half")
    others = [".day.csv.manifest.json.0123456789ab.batchhub-part", ".other.csv.0123456789ab.batchhub-part"]
    for name in others:
        (folder / name).write_bytes(b"half")
    with connect(kind, server) as transport:
        transport.write(f"discard-{kind}/day.csv", io.BytesIO(b"whole"))
        assert transport.discard_unfinished(f"discard-{kind}/day.csv") == 1
        assert transport.discard_unfinished(f"discard-{kind}/day.csv") == 0  # on an emptied folder too (FTPS)
        assert transport.discard_unfinished("never-made/day.csv") == 0
        assert [item.name for item in transport.list(f"discard-{kind}/*")] == [f"discard-{kind}/day.csv"]
    assert sorted(path.name for path in folder.iterdir()) == sorted(["day.csv", *others])
