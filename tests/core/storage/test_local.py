"""The local folder transport on a real folder: the contract, whole-or-nothing writes, the root never left."""

from __future__ import annotations

import errno
import io
import os

import pytest

from batchhub.core.storage.base import ErrorClass, TransportError, transport_open
from tests.core.storage import contract
from tests.core.storage.contract import MB, GeneratedStream
from tests.core.storage.failures import SOFT_TIME_LIMIT, FailingStream, raising, soft_time_limit_passes

pytestmark = pytest.mark.portable


@pytest.fixture
def root(settings, tmp_path):
    settings.STORAGE_LOCAL_ROOT = tmp_path / "root"
    settings.STORAGE_LOCAL_ROOT.mkdir()
    return settings.STORAGE_LOCAL_ROOT


@pytest.fixture
def local(root):
    with transport_open("local", {"path": "exports/pushwave"}, {}) as transport:
        yield transport


@pytest.fixture
def folder(root):
    return root / "exports" / "pushwave"


def all_files(path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if not p.is_dir())


def test_it_passes_the_contract(local):
    contract.check_write_list_read(local)
    contract.check_move(local)
    contract.check_list_by_segments(local)


def test_an_empty_file_is_written_and_read_back(local):
    assert local.write("empty/none.csv", io.BytesIO(b"")) == 0
    assert [(item.name, item.size) for item in local.list("empty/*")] == [("empty/none.csv", 0)]
    with local.open_read("empty/none.csv") as stream:
        assert stream.read() == b""
    local.delete("empty/none.csv")


def test_it_streams_50_mb_in_bounded_memory(local):
    contract.check_large_streamed(local)


def test_it_creates_the_missing_folder_on_write_under_the_root(local, folder):
    assert not folder.exists()
    assert local.list() == []  # a folder not there yet holds nothing
    assert local.write("in/sub/a.csv", io.BytesIO(b"x")) == 1
    assert (folder / "in" / "sub" / "a.csv").read_bytes() == b"x"


def test_a_write_that_fails_halfway_leaves_nothing(local, folder):
    with pytest.raises(ValueError, match="source broke"):
        local.write("big.bin", FailingStream(3 * MB, ValueError("source broke")))
    assert all_files(folder) == []  # no file under the name, no .part left behind


def test_a_failed_replacement_keeps_the_old_file_whole(local, folder):
    local.write("a.csv", io.BytesIO(b"old\n"))
    failure = TransportError(ErrorClass.TRANSIENT, "timeout", "the source timed out")
    with pytest.raises(TransportError) as caught:
        local.write("a.csv", FailingStream(2 * MB, failure))
    assert caught.value is failure  # the source's own classified error passes through unchanged
    assert (folder / "a.csv").read_bytes() == b"old\n"
    assert all_files(folder) == ["a.csv"]


def test_temporary_files_are_never_listed(local, folder):
    local.write("a.csv", io.BytesIO(b"1"))
    (folder / ".a.csv.x1y2.part").write_bytes(b"half")
    assert [item.name for item in local.list()] == ["a.csv"]


def test_it_lists_by_glob_level_by_level_sorted(local):
    for name in ("b.csv", "a.csv", "in/c.csv", "in/deep/d.csv", "in/e.txt"):
        local.write(name, io.BytesIO(b"1"))
    assert [item.name for item in local.list()] == ["a.csv", "b.csv"]  # `*` never crosses a `/`
    assert [item.name for item in local.list("in/*.csv")] == ["in/c.csv"]
    assert [item.name for item in local.list("in/*")] == ["in/c.csv", "in/e.txt"]
    assert [item.name for item in local.list("*/*/*.csv")] == ["in/deep/d.csv"]
    assert [item.name for item in local.list("?.csv")] == ["a.csv", "b.csv"]
    assert local.list("missing/*") == []


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a\x00b", "in/../../x", "..", "a\\b", "", "."])
def test_names_that_could_leave_the_folder_are_refused(local, name):
    for call in (
        lambda: local.write(name, io.BytesIO(b"x")),
        lambda: local.open_read(name).__enter__(),
        lambda: local.delete(name),
        lambda: local.move("a.csv", name),
    ):
        with pytest.raises(TransportError) as caught:
            call()
        assert (caught.value.error_class, caught.value.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "bad_path")


@pytest.mark.parametrize("path", ["../other", "/etc", "", "exports/../../x", "a\x00b", None])
def test_a_folder_outside_the_root_is_refused(root, path):
    with pytest.raises(TransportError) as caught:
        transport_open("local", {"path": path}, {})
    assert (caught.value.error_class, caught.value.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "bad_path")


def test_a_symlink_leading_out_of_the_root_is_not_followed(local, folder, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"not yours")
    folder.mkdir(parents=True)
    (folder / "escape").symlink_to(outside, target_is_directory=True)
    (folder / "linked.txt").symlink_to(outside / "secret.txt")

    for call in (
        lambda: local.open_read("escape/secret.txt").__enter__(),
        lambda: local.open_read("linked.txt").__enter__(),
        lambda: local.write("escape/new.txt", io.BytesIO(b"x")),
        lambda: local.delete("linked.txt"),
        lambda: local.move("escape/secret.txt", "mine.txt"),
        lambda: local.list("escape/*"),
    ):
        with pytest.raises(TransportError) as caught:
            call()
        assert caught.value.code == "bad_path"
    assert local.list() == []  # the links are not files of the folder
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"not yours"


def test_a_configured_folder_that_is_a_symlink_out_is_refused(root, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (root / "exports").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(TransportError) as caught:
        transport_open("local", {"path": "exports/pushwave"}, {})
    assert caught.value.code == "bad_path"


def test_a_final_symlink_swapped_in_after_the_check_is_not_opened(local, folder, tmp_path, monkeypatch):
    (tmp_path / "secret.txt").write_bytes(b"not yours")
    folder.mkdir(parents=True)
    (folder / "a.csv").symlink_to(tmp_path / "secret.txt")
    monkeypatch.setattr(type(local), "_path", lambda self, name: folder / name)  # the check raced and lost
    with pytest.raises(TransportError) as caught:
        local.open_read("a.csv").__enter__()
    assert caught.value.code == "bad_path"


def test_a_missing_file_is_fix_on_your_side(local):
    with pytest.raises(TransportError) as caught:
        local.open_read("missing.csv").__enter__()
    assert (caught.value.error_class, caught.value.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "file_not_found")
    assert "missing.csv" in caught.value.message
    with pytest.raises(TransportError) as caught:
        local.move("missing.csv", "done/missing.csv")
    assert caught.value.code == "file_not_found"


def test_a_move_onto_itself_keeps_the_file(local):
    local.write("same/a.csv", io.BytesIO(b"kept"))
    local.move("same/a.csv", "same/./a.csv")
    with local.open_read("same/a.csv") as stream:
        assert stream.read() == b"kept"
    local.delete("same/a.csv")


def test_deleting_a_file_already_gone_is_not_an_error(local):
    local.delete("never-there.csv")


def test_a_folder_in_the_way_is_fix_on_your_side(local, folder):
    (folder / "a.csv").mkdir(parents=True)
    for call in (
        lambda: local.write("a.csv", io.BytesIO(b"x")),
        lambda: local.open_read("a.csv").__enter__(),
        lambda: local.delete("a.csv"),
    ):
        with pytest.raises(TransportError) as caught:
            call()
        assert (caught.value.error_class, caught.value.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "not_a_file")


@pytest.mark.parametrize(
    ("number", "error_class", "code"),
    [
        (errno.ENOSPC, ErrorClass.FIX_ON_YOUR_SIDE, "disk_full"),
        (errno.EDQUOT, ErrorClass.FIX_ON_YOUR_SIDE, "disk_full"),
        (errno.EACCES, ErrorClass.FIX_ON_YOUR_SIDE, "permission_denied"),
        (errno.EROFS, ErrorClass.FIX_ON_YOUR_SIDE, "permission_denied"),
        (errno.EIO, ErrorClass.PLATFORM, "io_failed"),
    ],
)
def test_os_errors_on_write_are_classified_and_leave_nothing(local, folder, monkeypatch, number, error_class, code):
    # The tests run as root, for whom neither a full disk nor a denied folder can be arranged: the OS's answer is
    # given at the point where the kernel would give it.
    def fsync(fd):
        raise OSError(number, os.strerror(number))

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(TransportError) as caught:
        local.write("a.csv", GeneratedStream(2 * MB))
    assert (caught.value.error_class, caught.value.code) == (error_class, code)
    assert caught.value.retryable is False
    assert all_files(folder) == []


def test_a_failure_while_reading_is_classified(local, monkeypatch):
    local.write("a.csv", io.BytesIO(b"abc"))
    with local.open_read("a.csv") as stream:
        monkeypatch.setattr(stream.raw, "_read", _Broken(OSError(errno.EIO, "I/O error")).read)
        with pytest.raises(TransportError) as caught:
            stream.read(10)
    assert (caught.value.error_class, caught.value.code) == (ErrorClass.PLATFORM, "io_failed")
    with local.open_read("a.csv") as stream:
        monkeypatch.setattr(stream.raw, "_read", _Broken(RuntimeError("unexpected")).read)
        with pytest.raises(TransportError) as caught:
            stream.read(10)
    assert caught.value.error_class is ErrorClass.PLATFORM


class _Broken:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def read(self, size=-1):
        raise self.error

    def close(self) -> None:
        pass


def test_an_unknown_kind_is_ours_to_fix():
    with pytest.raises(TransportError) as caught:
        transport_open("floppy", {}, {})
    assert (caught.value.error_class, caught.value.code) == (ErrorClass.PLATFORM, "unknown_kind")


def test_celerys_soft_time_limit_passes_through_unchanged(local, folder, monkeypatch):
    local.write("a.csv", io.BytesIO(b"abc"))

    def read_halfway():
        with local.open_read("a.csv") as stream:
            monkeypatch.setattr(stream.raw, "_read", raising(SOFT_TIME_LIMIT))
            stream.read()

    soft_time_limit_passes(read_halfway)
    soft_time_limit_passes(lambda: local.write("b.csv", FailingStream(2 * MB, SOFT_TIME_LIMIT)))
    assert all_files(folder) == ["a.csv"]  # the unfinished write is gone all the same
    monkeypatch.setattr(os, "scandir", raising(SOFT_TIME_LIMIT))
    soft_time_limit_passes(local.list)


def test_it_discards_what_a_killed_write_left_of_that_file_only(local, folder):
    local.write("day.csv", io.BytesIO(b"whole"))
    leftovers = [".day.csv.k1ll3d_x.part", ".day.csv.2nd_kill.part"]
    others = [".day.csv.manifest.json.k1ll3d_x.part", ".other.csv.k1ll3d_x.part", ".day.csv.notours.tmp"]
    for name in leftovers + others:
        (folder / name).write_bytes(b"half")
    assert local.discard_unfinished("day.csv") == 2
    assert sorted(path.name for path in folder.iterdir()) == sorted(["day.csv", *others])
    assert local.discard_unfinished("never-written/day.csv") == 0
