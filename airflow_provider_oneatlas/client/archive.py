"""Safe extraction of delivered zips: no path escapes, no zip bombs."""

from __future__ import annotations

import posixpath
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO

from airflow_provider_oneatlas.client.errors import DownloadError

#: Defaults: imagery compresses poorly, so a high ratio means a bomb, not a very good JPEG 2000.
MAX_RATIO = 100.0
MAX_TOTAL_SIZE = 64 * 1024**3
MAX_MEMBERS = 100_000


@dataclass(frozen=True)
class Member:
    name: str
    size: int


def safe_members(
    archive: zipfile.ZipFile, *, max_ratio: float = MAX_RATIO, max_total: int = MAX_TOTAL_SIZE
) -> list[Member]:
    """The files of ``archive``, after refusing anything unsafe to write out."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise DownloadError(f"zip has {len(infos)} entries, more than the limit of {MAX_MEMBERS}")
    total = 0
    members = []
    for info in infos:
        name = info.filename
        if "\\" in name:
            name = name.replace("\\", "/")
        normalized = posixpath.normpath(name)
        if (
            name.startswith("/")
            or (len(name) > 1 and name[1] == ":")
            or normalized.startswith("..")
            or "/../" in f"/{name}/"
        ):
            raise DownloadError(f"zip entry {info.filename!r} points outside the destination: not extracted")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise DownloadError(f"zip entry {info.filename!r} is a symbolic link: not extracted")
        if info.is_dir():
            continue
        total += info.file_size
        if total > max_total:
            raise DownloadError(f"zip would extract to more than {max_total} bytes: not extracted")
        if info.compress_size and info.file_size / info.compress_size > max_ratio:
            raise DownloadError(
                f"zip entry {info.filename!r} expands {info.file_size / info.compress_size:.0f}x "
                f"(limit {max_ratio:g}x): looks like a zip bomb, not extracted"
            )
        members.append(Member(normalized, info.file_size))
    return members


def iter_extract(
    archive: zipfile.ZipFile,
    members: list[Member],
    open_target: Callable[[Member], AbstractContextManager[IO[bytes]]],
    chunk: int = 1 << 20,
) -> Iterator[Member]:
    """Write each member through ``open_target``, checking the real size against the declared one
    (a lying header must not let a bomb through)."""
    for member in members:
        written = 0
        try:
            with archive.open(member.name) as source, open_target(member) as target:
                while data := source.read(chunk):
                    written += len(data)
                    if written > member.size:
                        raise DownloadError(f"zip entry {member.name!r} is larger than its header says: not extracted")
                    target.write(data)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise DownloadError(f"zip entry {member.name!r} is corrupt ({exc}): not extracted") from None
        yield member
