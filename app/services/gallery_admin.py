"""Adding people to the gallery and removing them, from the admin page.

Added people are stored because the admin asked: ``settings.gallery_added_dir/<Person>/<Person>_0001.jpg``, one
folder each, the index recording them under the prefix ``added/``. Every photo is decoded first
(``model.faces.photo_decode.load_image``, with the app's upload limits): what is stored is the decoded image,
re-encoded as JPEG without metadata (no EXIF, so no GPS position) and at most ``STORED_SIDE`` pixels on its long
side. Faces are found at the next rebuild (a photo without a face is reported there and left out).

A zip archive holds ``Person/*.jpg`` (or ``Anything/Person/*.jpg``): its members are checked before anything is
read (no absolute paths, no ``..``, no symlinks, at most ``max_zip_files`` files and ``max_zip_bytes``
uncompressed bytes, which defuses zip bombs), then read with the same caps. Members that are not images are
skipped and reported.

Removing a person deletes their folder when they were added; a person of the read-only LFW gallery is listed in
``INDEX_DIR/excluded_people.json`` instead, which the rebuild leaves out (``build_index(exclude_people=...)``).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from PIL import Image

from index.gallery import IMAGE_SUFFIXES
from model.faces.photo_decode import ImageDecodeError, load_image
from model.faces.photo_decode import human_size

ADDED_PREFIX = "added/"
EXCLUDED = "excluded_people.json"
MAX_ZIP_FILES = 500
MAX_ZIP_BYTES = 512 * 2**20
STORED_SIDE = 1600
NAME_CHARACTERS = re.compile(r"^[A-Za-z0-9_ -]+$")
MAX_NAME = 80


class GalleryUploadError(ValueError):
    """An upload the admin must fix; ``status`` is the HTTP status (400 bad, 413 too large)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def person_name(raw: str) -> str:
    """An LFW-style folder name from what the admin typed: "ada  lovelace" -> "Ada_Lovelace".

    Letters, digits, spaces, ``_`` and ``-`` only; spaces and underscores become single underscores and each part
    starts with a capital (the rest is kept: "McCartney" stays)."""
    text = (raw or "").strip()
    if not text or not NAME_CHARACTERS.match(text):
        raise GalleryUploadError(
            f"person name {raw!r} is not valid: use letters, digits, spaces, '_' and '-' only, e.g. 'Ada Lovelace'"
        )
    parts = [p for p in re.split(r"[ _]+", text) if p]
    name = "_".join(p[:1].upper() + p[1:] for p in parts)
    if not name or name.strip("-") == "" or len(name) > MAX_NAME:
        raise GalleryUploadError(f"person name {raw!r} is not valid: give 1 to {MAX_NAME} letters, e.g. 'Ada Lovelace'")
    return name


def added_people(root: Path) -> dict[str, int]:
    """Each added person and their number of photos (people with none are left out)."""
    root = Path(root)
    if not root.is_dir():
        return {}
    people = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        count = sum(1 for f in folder.iterdir() if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES)
        if count:
            people[folder.name] = count
    return people


def read_excluded(index_dir: Path) -> list[str]:
    path = Path(index_dir) / EXCLUDED
    if not path.exists():
        return []
    try:
        values = json.loads(path.read_text())
    except ValueError:
        return []
    return sorted({str(v) for v in values}) if isinstance(values, list) else []


def write_excluded(index_dir: Path, people: Iterable[str]) -> None:
    """Replace the list of excluded people atomically."""
    path = Path(index_dir) / EXCLUDED
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{EXCLUDED}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(json.dumps(sorted(set(people)), indent=1) + "\n")
    os.replace(tmp, path)


@dataclass
class AddReport:
    """What an upload added (person -> stored file names) and what it skipped (member -> reason)."""

    added: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.added.values())

    def to_dict(self) -> dict:
        return {"added": self.added, "count": self.count, "skipped": self.skipped}


class GalleryAdmin:
    """The added gallery folder and the exclusions of one index."""

    def __init__(
        self, added_dir: Path, index_dir: Path, max_bytes: int, max_pixels: int,
        max_zip_files: int = MAX_ZIP_FILES, max_zip_bytes: int = MAX_ZIP_BYTES,
    ) -> None:
        self.root = Path(added_dir)
        self.index_dir = Path(index_dir)
        self.max_bytes, self.max_pixels = max_bytes, max_pixels
        self.max_zip_files, self.max_zip_bytes = max_zip_files, max_zip_bytes

    # --------------------------------------------------------------------------------------------- adding

    def add_photos(self, name: str, photos: list[tuple[str, bytes]]) -> AddReport:
        """A few photos of one person; unreadable ones are skipped, none readable is a 400."""
        person = person_name(name)
        if not photos:
            raise GalleryUploadError("no photos: choose one or more photos of the person")
        report, stored = AddReport(), []
        try:
            for filename, data in photos:
                self._add_one(person, filename or "photo", data, report, stored)
        except BaseException:
            self._undo(stored)
            raise
        if not report.count:
            raise GalleryUploadError(f"none of the photos could be read: {report.skipped}")
        self._unexclude(report.added)
        return report

    def add_zip(self, data: bytes) -> AddReport:
        """A zip of ``Person/*.jpg`` folders; see the module docstring for what is refused."""
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError) as error:
            raise GalleryUploadError(f"the file is not a readable zip archive ({error}): upload a .zip of Person/*.jpg folders") from error
        with archive:
            members = archive.infolist()
            files = [m for m in members if not m.is_dir()]
            for member in members:
                self._check_member(member)
            if len(files) > self.max_zip_files:
                raise GalleryUploadError(
                    f"the archive holds {len(files)} files, more than {self.max_zip_files}: split it into smaller archives", 413
                )
            declared = sum(m.file_size for m in files)
            if declared > self.max_zip_bytes:
                raise GalleryUploadError(
                    f"the archive unpacks to {human_size(declared)}, more than {human_size(self.max_zip_bytes)}: "
                    f"split it into smaller archives", 413,
                )
            report, stored, total = AddReport(), [], 0
            try:
                for member in files:
                    parts = [p for p in member.filename.split("/") if p]
                    if any(p.startswith(".") for p in parts) or parts[0] == "__MACOSX":
                        continue  # hidden files and macOS resource forks: not the admin's photos
                    if len(parts) < 2:
                        report.skipped[member.filename] = "not in a person's folder: put photos in Person/photo.jpg"
                        continue
                    if Path(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
                        report.skipped[member.filename] = "not an image (JPEG, PNG or WebP)"
                        continue
                    try:
                        person = person_name(parts[-2])
                    except GalleryUploadError as error:
                        report.skipped[member.filename] = str(error)
                        continue
                    if member.file_size > self.max_bytes:
                        report.skipped[member.filename] = f"larger than {human_size(self.max_bytes)}"
                        continue
                    try:
                        with archive.open(member) as handle:
                            content = handle.read(self.max_bytes + 1)
                    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as error:
                        report.skipped[member.filename] = f"cannot unpack: {error}"
                        continue
                    total += len(content)
                    if total > self.max_zip_bytes:  # the headers lied about the sizes
                        raise GalleryUploadError(f"the archive unpacks to more than {human_size(self.max_zip_bytes)}", 413)
                    if len(content) > self.max_bytes:
                        report.skipped[member.filename] = f"larger than {human_size(self.max_bytes)}"
                        continue
                    self._add_one(person, member.filename, content, report, stored)
            except BaseException:
                self._undo(stored)
                raise
        if not report.count:
            raise GalleryUploadError(f"the archive holds no readable photos in Person/ folders: {report.skipped or 'it is empty'}")
        self._unexclude(report.added)
        return report

    def _check_member(self, member: zipfile.ZipInfo) -> None:
        name = member.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\\" in name or "\x00" in name:
            raise GalleryUploadError(f"the archive member {name!r} has an unsafe path (absolute or with '..'): refused")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise GalleryUploadError(f"the archive member {name!r} is a symbolic link: refused")

    def _add_one(self, person: str, label: str, data: bytes, report: AddReport, stored: list[Path]) -> None:
        try:
            image = load_image(data, max_pixels=self.max_pixels, max_bytes=self.max_bytes)
        except ImageDecodeError as error:
            report.skipped[label] = str(error)
            return
        if max(image.size) > STORED_SIDE:
            image.thumbnail((STORED_SIDE, STORED_SIDE), Image.Resampling.LANCZOS)
        folder = self.root / person
        folder.mkdir(parents=True, exist_ok=True)
        taken = {p.name for p in folder.iterdir()}
        number = len(taken) + 1
        while f"{person}_{number:04d}.jpg" in taken:
            number += 1
        final = folder / f"{person}_{number:04d}.jpg"
        tmp = folder / f".{final.name}.{uuid.uuid4().hex[:6]}"  # hidden: a running rebuild never sees half a file
        image.save(tmp, format="JPEG", quality=92)
        os.replace(tmp, final)
        stored.append(final)
        report.added.setdefault(person, []).append(final.name)

    def _undo(self, stored: list[Path]) -> None:
        for path in stored:
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()  # only when empty
            except OSError:
                pass

    def _unexclude(self, people: Iterable[str]) -> None:
        """A person added again is no longer excluded (the exclusion applies to every gallery)."""
        excluded = read_excluded(self.index_dir)
        kept = [p for p in excluded if p not in set(people)]
        if len(kept) != len(excluded):
            write_excluded(self.index_dir, kept)

    # --------------------------------------------------------------------------------------------- removing

    def remove(self, person: str, indexed_people: Iterable[str]) -> str:
        """Remove ``person``: ``"deleted"`` (an added person's folder) or ``"excluded"`` (a person of the
        read-only gallery). ``KeyError`` when nobody has that name."""
        if not NAME_CHARACTERS.match(person or "") or person.startswith("."):
            raise KeyError(person)
        folder = self.root / person
        if folder.is_dir():
            shutil.rmtree(folder)
            return "deleted"
        if person in set(indexed_people):
            excluded = read_excluded(self.index_dir)
            if person not in excluded:
                write_excluded(self.index_dir, [*excluded, person])
            return "excluded"
        raise KeyError(person)
