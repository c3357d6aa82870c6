"""client/archive.py: a delivered zip is extracted only when it is safe (no path escape, no link, no bomb)."""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import pytest

from airflow_provider_oneatlas.client.archive import Member, iter_extract, safe_members
from airflow_provider_oneatlas.client.errors import DownloadError


def make_zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_STORED) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return zipfile.ZipFile(buffer)


def test_safe_members_lists_files_and_skips_folders() -> None:
    archive = make_zip({"DIM/": b"", "DIM/a.XML": b"<x/>", "DIM/IMG/b.JP2": b"\0" * 100})
    assert safe_members(archive) == [Member("DIM/a.XML", 4), Member("DIM/IMG/b.JP2", 100)]


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "a/../../evil", "C:/windows/x", "..\\evil.txt"])
def test_path_escapes_are_refused(name: str) -> None:
    with pytest.raises(DownloadError, match="outside the destination"):
        safe_members(make_zip({name: b"x"}))


def test_symbolic_links_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    buffer.seek(0)
    with pytest.raises(DownloadError, match="symbolic link"):
        safe_members(zipfile.ZipFile(buffer))


def test_zip_bombs_are_refused() -> None:
    bomb = make_zip({"zeros": b"\0" * 2_000_000}, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(DownloadError, match="zip bomb"):
        safe_members(bomb)
    assert safe_members(bomb, max_ratio=1e6)  # the limit is the caller's to raise
    with pytest.raises(DownloadError, match="more than 10 bytes"):
        safe_members(make_zip({"a": b"x" * 6, "b": b"y" * 6}), max_total=10)


def test_iter_extract_writes_every_member() -> None:
    archive = make_zip({"a.txt": b"alpha", "b/c.txt": b"gamma" * 1000})
    sinks: dict[str, io.BytesIO] = {}

    @contextmanager
    def open_target(member: Member) -> Iterator[IO[bytes]]:
        sinks[member.name] = io.BytesIO()
        yield sinks[member.name]

    done = list(iter_extract(archive, safe_members(archive), open_target, chunk=7))
    assert [m.name for m in done] == ["a.txt", "b/c.txt"]
    assert sinks["a.txt"].getvalue() == b"alpha" and sinks["b/c.txt"].getvalue() == b"gamma" * 1000


def test_a_member_larger_than_its_header_is_refused() -> None:
    archive = make_zip({"a.txt": b"x" * 100})
    lying = [Member("a.txt", 10)]  # a header that understates the size

    @contextmanager
    def open_target(member: Member) -> Iterator[IO[bytes]]:
        yield io.BytesIO()

    with pytest.raises(DownloadError, match="larger than its header"):
        list(iter_extract(archive, lying, open_target, chunk=4))


def test_a_corrupt_member_is_a_download_error() -> None:
    data = bytearray(make_zip({"a.txt": b"hello world" * 100}).fp.getvalue())  # type: ignore[union-attr]
    start = data.index(b"a.txt") + len(b"a.txt")  # the stored bytes follow the local header's name
    data[start + 10] ^= 0xFF  # one flipped byte: the CRC no longer matches
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))

    @contextmanager
    def open_target(member: Member) -> Iterator[IO[bytes]]:
        yield io.BytesIO()

    with pytest.raises(DownloadError, match="corrupt"):
        list(iter_extract(archive, safe_members(archive), open_target))
