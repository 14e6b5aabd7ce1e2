"""The SFTP transport against a real asyncssh server on loopback (tests/core/storage/servers_net.py)."""

from __future__ import annotations

import io
import logging
import socket
import subprocess
import threading

import paramiko
import pytest

from batchhub.core.storage.base import ErrorClass, TransportError, transport_open
from batchhub.core.storage.sftp import host_key_fingerprint, host_key_pin
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
from tests.core.storage.servers_net import PASSWORD, SFTP_LEGACY_USER, port_free


def sftp(server, settings: dict | None = None, **secrets):
    return transport_open("sftp", {**server.settings(), **(settings or {})}, secrets or {"password": PASSWORD})


def refused(server, settings: dict | None = None, **secrets) -> TransportError:
    with pytest.raises(TransportError) as raised, sftp(server, settings, **secrets):
        pass
    return raised.value


# --- the contract ----------------------------------------------------------------------------------------------


def test_it_passes_the_contract(sftp_server):
    with sftp(sftp_server) as transport:
        contract.check_write_list_read(transport)
        contract.check_move(transport)
        contract.check_list_by_segments(transport)


def test_it_streams_50_mb_both_ways_in_bounded_memory(sftp_server):
    with sftp(sftp_server) as transport:
        contract.check_large_streamed(transport, size=50 * contract.MB, bound=24 * contract.MB)


def test_it_signs_in_with_a_private_key_and_its_passphrase(sftp_server):
    key = sftp_server.private_key(passphrase="open sesame")
    with sftp(sftp_server, private_key=key, private_key_passphrase="open sesame") as transport:
        transport.write("key.csv", io.BytesIO(b"k\n"))
        assert [item.name for item in transport.list("key.csv")] == ["key.csv"]
        transport.delete("key.csv")


def test_it_signs_in_with_an_unencrypted_private_key(sftp_server):
    with sftp(sftp_server, private_key=sftp_server.private_key()) as transport:
        assert transport.list("nothing-*.csv") == []


def test_it_lists_relative_names_in_subfolders_only_when_the_pattern_names_them(sftp_server):
    folder = sftp_server.root / "upload"
    with sftp(sftp_server) as transport:
        transport.write("top.csv", io.BytesIO(b"1\n"))
        transport.write("listing/inner.csv", io.BytesIO(b"22\n"))
        transport.write("listing/deeper/deep.csv", io.BytesIO(b"333\n"))
        (folder / "listing" / "linked.csv").symlink_to(folder / "listing" / "deeper" / "deep.csv")
        (folder / "listing" / "dangling.csv").symlink_to(folder / "nowhere.csv")
        assert "top.csv" in {item.name for item in transport.list("*.csv")}
        assert not any("/" in item.name for item in transport.list("*"))
        assert [(item.name, item.size) for item in transport.list("listing/*.csv")] == [
            ("listing/inner.csv", 3),
            ("listing/linked.csv", 4),
        ]
        assert [item.name for item in transport.list("listing/*/*.csv")] == ["listing/deeper/deep.csv"]
        for name in ("top.csv", "listing/inner.csv", "listing/deeper/deep.csv", "listing/linked.csv"):
            transport.delete(name)
        (folder / "listing" / "dangling.csv").unlink()


def test_reading_part_of_a_file_leaves_the_session_usable_and_no_thread_behind(sftp_server):
    before = set(threading.enumerate())
    with sftp(sftp_server) as transport:
        transport.write("partial.bin", contract.GeneratedStream(8 * contract.MB))
        with transport.open_read("partial.bin") as stream:
            assert len(stream.read(1000)) == 1000
        assert [item.size for item in transport.list("partial.bin")] == [8 * contract.MB]
        transport.delete("partial.bin")
        ssh = transport._ssh
    ssh.join(5)
    assert set(threading.enumerate()) <= before


def test_a_file_that_shrinks_while_it_is_read_is_transient(sftp_server):
    with sftp(sftp_server) as transport:
        transport.write("shrinking.bin", contract.GeneratedStream(8 * contract.MB))
        with pytest.raises(TransportError) as raised, transport.open_read("shrinking.bin") as stream:
            stream.read(100 * 1024)
            with open(sftp_server.root / "upload" / "shrinking.bin", "r+b") as local:
                local.truncate(contract.MB)
            while stream.read(256 * 1024):
                pass
        transient(raised.value, "file_changed")
        transport.delete("shrinking.bin")


# --- writes are visible only when whole --------------------------------------------------------------------------


def test_a_write_is_visible_under_its_name_only_once_whole(sftp_server):
    folder = sftp_server.root / "upload"
    seen_during_write = []

    class Watching(contract.GeneratedStream):
        def readinto(self, buffer):
            if self.position == 256 * 1024:
                seen_during_write.append((folder / "whole.bin").exists())
            return super().readinto(buffer)

    with sftp(sftp_server) as transport:
        assert transport.write("whole.bin", Watching(1024 * 1024)) == 1024 * 1024
        assert seen_during_write == [False]
        assert (folder / "whole.bin").stat().st_size == 1024 * 1024
        transport.delete("whole.bin")


def test_a_source_failing_halfway_leaves_nothing_under_the_name_nor_a_temporary_file(sftp_server):
    folder = sftp_server.root / "upload"
    before = set(folder.iterdir())
    with sftp(sftp_server) as transport:
        with pytest.raises(ValueError, match="the export failed"):  # the caller's own error, as it was
            transport.write("half.bin", FailingStream(512 * 1024, ValueError("the export failed")))
        assert transport.list("half.bin") == []
    assert set(folder.iterdir()) == before


def test_it_replaces_a_file_on_a_server_without_posix_rename(sftp_server):
    with sftp(sftp_server, {"username": SFTP_LEGACY_USER}) as transport:
        transport.write("legacy.csv", io.BytesIO(b"first\n"))
        transport.write("legacy.csv", io.BytesIO(b"second\n"))
        with transport.open_read("legacy.csv") as stream:
            assert stream.read() == b"second\n"
        transport.write("legacy.done", io.BytesIO(b"old\n"))
        transport.move("legacy.csv", "legacy.done")
        with transport.open_read("legacy.done") as stream:
            assert stream.read() == b"second\n"
        transport.delete("legacy.done")


# --- the host key ------------------------------------------------------------------------------------------------


def test_the_pin_is_the_sha256_fingerprint_whatever_form_it_is_given_in(sftp_server):
    line = sftp_server.host_key
    fingerprint = host_key_fingerprint(line)
    assert fingerprint == sftp_server_key_fingerprint(line)
    assert host_key_pin(line) == fingerprint
    assert host_key_pin(f"[127.0.0.1]:{sftp_server.port} {line} comment") == fingerprint  # known_hosts form
    assert host_key_pin(f"  {fingerprint}=  ") == fingerprint


def sftp_server_key_fingerprint(line: str) -> str:
    """What OpenSSH's ssh-keygen shows for the key line."""
    shown = subprocess.run(["ssh-keygen", "-l", "-f", "-"], input=line.encode(), capture_output=True, check=True)
    return shown.stdout.decode().split()[1]


@pytest.mark.parametrize(
    "value",
    [
        "ssh-ed25519 not-base64!",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIMQ9oVGsrQyp4VQBS8Q7Z4f01v/QGFfwUFzAbpKAoOoN",  # an ed25519 key called RSA
        "SHA256:tooshort",
        "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
        "just some text",
    ],
)
def test_a_pin_in_no_known_form_is_refused(value):
    with pytest.raises(TransportError) as raised:
        host_key_pin(value)
    fix_on_your_side(raised.value, "host_key_invalid")


def test_a_fingerprint_pin_connects(sftp_server):
    with sftp(sftp_server, {"host_key": host_key_fingerprint(sftp_server.host_key)}) as transport:
        assert transport.list("nothing-*") == []


def test_another_host_key_is_refused_before_any_credential_is_sent(sftp_server, caplog):
    caplog.set_level(logging.DEBUG)
    error = refused(sftp_server, {"host_key": sftp_server.other_host_key}, password=CANARY)
    fix_on_your_side(error, "host_key_mismatch")
    assert host_key_fingerprint(sftp_server.host_key) in error.message  # what the partner checks with their admin
    assert host_key_fingerprint(sftp_server.other_host_key) in error.message
    assert not [record for record in caplog.records if "Beginning auth" in record.getMessage()]  # the server's log
    canary_absent(error, caplog)


def test_a_missing_pin_is_refused_with_the_key_the_server_presented_and_no_credential_sent(sftp_server, caplog):
    caplog.set_level(logging.DEBUG)
    error = refused(sftp_server, {"host_key": ""}, password=CANARY)
    fix_on_your_side(error, "host_key_missing")
    assert host_key_fingerprint(sftp_server.host_key) in error.message
    assert not [record for record in caplog.records if "Beginning auth" in record.getMessage()]
    canary_absent(error, caplog)


# --- failures, classified --------------------------------------------------------------------------------------


def test_a_wrong_password_is_fix_on_your_side_and_never_shown(sftp_server, caplog):
    caplog.set_level(logging.DEBUG)
    error = refused(sftp_server, password=CANARY)
    fix_on_your_side(error, "auth_refused")
    assert [record for record in caplog.records if "Beginning auth" in record.getMessage()]  # seen when it happens
    canary_absent(error, caplog)


def test_a_wrong_passphrase_is_fix_on_your_side_and_never_shown(sftp_server, caplog):
    caplog.set_level(logging.DEBUG)
    key = sftp_server.private_key(passphrase="the right one")
    error = refused(sftp_server, private_key=key, private_key_passphrase=CANARY)
    fix_on_your_side(error, "private_key_invalid")
    canary_absent(error, caplog)


def test_a_key_the_server_does_not_authorise_is_refused_and_its_passphrase_never_shown(sftp_server, caplog):
    caplog.set_level(logging.DEBUG)
    key = sftp_server.private_key(passphrase=CANARY, key=sftp_server.stranger_key)
    error = refused(sftp_server, private_key=key, private_key_passphrase=CANARY)
    fix_on_your_side(error, "auth_refused")
    canary_absent(error, caplog)


def test_a_malformed_private_key_is_never_shown(sftp_server, caplog):
    caplog.set_level(logging.DEBUG)
    key = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{CANARY}\n-----END OPENSSH PRIVATE KEY-----\n"
    error = refused(sftp_server, private_key=key)
    fix_on_your_side(error, "private_key_invalid")
    canary_absent(error, caplog)


def test_an_encrypted_key_without_its_passphrase_asks_for_it(sftp_server):
    error = refused(sftp_server, private_key=sftp_server.private_key(passphrase="secret words"))
    fix_on_your_side(error, "private_key_passphrase")


def test_a_missing_folder_is_fix_on_your_side(sftp_server):
    fix_on_your_side(refused(sftp_server, {"path": "/no-such-folder"}), "folder_missing")


def test_a_missing_file_is_fix_on_your_side_and_deleting_it_is_not_an_error(sftp_server):
    with sftp(sftp_server) as transport:
        with pytest.raises(TransportError) as raised, transport.open_read("no-such-file.csv"):
            pass
        fix_on_your_side(raised.value, "not_found")
        with pytest.raises(TransportError) as raised:
            transport.move("no-such-file.csv", "elsewhere.csv")
        fix_on_your_side(raised.value, "not_found")
        transport.delete("no-such-file.csv")


def test_a_closed_port_is_transient(sftp_server):
    transient(refused(sftp_server, {"port": port_free()}), "connection_failed")


def test_a_server_that_never_answers_is_transient(sftp_server, settings):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        transient(refused(sftp_server, {"port": silent.getsockname()[1]}))


def test_a_library_failure_no_rule_knows_is_ours(sftp_server, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise KeyError(CANARY)

    monkeypatch.setattr(paramiko.SFTPClient, "listdir_attr", broken)
    with sftp(sftp_server) as transport, pytest.raises(TransportError) as raised:
        transport.list("*")
    assert (raised.value.error_class, raised.value.code) == (ErrorClass.PLATFORM, "unexpected")
    canary_absent(raised.value, caplog)


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../x", "nul\x00.csv", "back\\slash"])
def test_names_that_escape_the_folder_are_refused(sftp_server, name):
    with sftp(sftp_server) as transport:
        for attempt in (
            lambda: transport.write(name, io.BytesIO(b"x")),
            lambda: transport.open_read(name).__enter__(),
            lambda: transport.delete(name),
            lambda: transport.move("x.csv", name),
            lambda: transport.list(name),
        ):
            with pytest.raises(TransportError) as raised:
                attempt()
            fix_on_your_side(raised.value, "bad_path")


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_private_and_internal_hosts_are_refused(sftp_server, settings, host):
    settings.STORAGE_ALLOW_LOOPBACK = False
    fix_on_your_side(refused(sftp_server, {"host": host}), "address_refused")


def test_the_connection_is_closed_with_the_job(sftp_server):
    before = set(threading.enumerate())
    with sftp(sftp_server) as transport:
        ssh = transport._ssh
        assert ssh.is_active()
    assert not ssh.is_active()
    ssh.join(5)  # paramiko's reader thread ends with it
    assert set(threading.enumerate()) <= before


def test_celerys_soft_time_limit_passes_through_unchanged(sftp_server, monkeypatch):
    folder = sftp_server.root / "upload"
    with sftp(sftp_server) as transport:
        transport.write("limit.csv", io.BytesIO(b"abc"))

        def read_halfway():
            with transport.open_read("limit.csv") as stream:
                monkeypatch.setattr(stream.raw, "_read", raising(SOFT_TIME_LIMIT))
                stream.read()

        soft_time_limit_passes(read_halfway)
        before = set(folder.iterdir())
        soft_time_limit_passes(lambda: transport.write("limit.bin", FailingStream(512 * 1024, SOFT_TIME_LIMIT)))
        assert set(folder.iterdir()) == before  # the temporary file is gone all the same
        for method, call in (("listdir_attr", transport.list), ("remove", lambda: transport.delete("limit.csv"))):
            with monkeypatch.context() as patched:
                patched.setattr(paramiko.SFTPClient, method, raising(SOFT_TIME_LIMIT))
                soft_time_limit_passes(call)
        transport.delete("limit.csv")


def test_it_discards_what_a_killed_write_left_of_that_file_only(sftp_server):
    folder = sftp_server.root / "upload" / "discard"
    folder.mkdir()
    (folder / ".day.csv.0123456789ab.batchhub-part").write_bytes(b"half")
    other = ".other.csv.0123456789ab.batchhub-part"
    (folder / other).write_bytes(b"half")
    with sftp(sftp_server) as transport:
        transport.write("discard/day.csv", io.BytesIO(b"whole"))
        assert transport.discard_unfinished("discard/day.csv") == 1
        assert transport.discard_unfinished("never-made/day.csv") == 0
    assert sorted(path.name for path in folder.iterdir()) == sorted(["day.csv", other])
