"""Pure filesystem helpers for the file picker: list a folder, stay inside a root, filter by type.

No widget code here (the split ipyfilechooser lacks), so the rules that keep the picker inside
its root are tested on their own.

>>> import tempfile, os
>>> root = tempfile.mkdtemp()
>>> open(os.path.join(root, "a.mp4"), "wb").close()
>>> [e.name for e in list_dir(root)]
['a.mp4']
>>> inside(root, "..")
Traceback (most recent call last):
...
vodwidget.errors.InvalidInputError: OutsideRoot: .. is outside the picker's root folder
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vodwidget.errors import InvalidInputError
from vodwidget.media import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

__all__ = ["Entry", "KIND_FILTERS", "inside", "list_dir", "human_size", "kind_of"]

# The picker's type filter: label -> extensions it shows (vodwidget.media's sets, so the picker
# offers exactly what add_file accepts).
KIND_FILTERS: dict[str, frozenset[str]] = {
    "Videos and images": VIDEO_EXTENSIONS | AUDIO_EXTENSIONS | IMAGE_EXTENSIONS,
    "Videos": VIDEO_EXTENSIONS | AUDIO_EXTENSIONS,
    "Images": IMAGE_EXTENSIONS,
}


@dataclass(frozen=True)
class Entry:
    """One listed item: its name, resolved absolute path, whether it is a folder, and its size."""

    name: str
    path: str
    is_dir: bool
    size: int = 0

    @property
    def label(self) -> str:
        """What the picker shows: ``clip.mp4  (1.2 MB)`` or ``photos/``."""
        return f"{self.name}/" if self.is_dir else f"{self.name}  ({human_size(self.size)})"


def kind_of(name: str) -> str | None:
    """'video', 'image' or None, from the extension (audio counts as video: it goes the same way)."""
    ext = Path(name).suffix.lower().lstrip(".")
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS or ext in AUDIO_EXTENSIONS:
        return "video"
    return None


def inside(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """``path`` (absolute, or relative to ``root``) resolved, if it stays within ``root``.

    Symlinks are resolved before the check, so a link pointing out of the root is refused
    like ``..`` is. Raises :class:`InvalidInputError` (code ``OutsideRoot``) otherwise.
    """
    base = Path(root).expanduser().resolve()
    target = (base / Path(path).expanduser()).resolve()
    if target != base and not target.is_relative_to(base):
        raise InvalidInputError(f"{path} is outside the picker's root folder", "OutsideRoot")
    return target


def list_dir(root: str | os.PathLike[str], folder: str | os.PathLike[str] = ".",
             extensions: Iterable[str] | None = None, show_hidden: bool = False) -> list[Entry]:
    """Folders then files of ``folder`` (within ``root``), sorted by name, case-insensitively.

    ``extensions`` keeps only files with those extensions (folders always show). Entries whose
    real path leaves the root (symlinks out of it) and unreadable entries are left out.
    """
    base = Path(root).expanduser().resolve()
    where = inside(base, folder)
    wanted = None if extensions is None else {e.lower().lstrip(".") for e in extensions}
    dirs: list[Entry] = []
    files: list[Entry] = []
    try:
        scan = list(os.scandir(where))
    except OSError as exc:
        raise InvalidInputError(f"cannot list {where.name or where}: {exc.strerror}", "FolderNotReadable") from None
    for item in scan:
        if not show_hidden and item.name.startswith("."):
            continue
        try:
            real = Path(item.path).resolve()
            if not real.is_relative_to(base):
                continue
            st = real.stat()
        except OSError:  # broken link, vanished file, no permission: not pickable anyway
            continue
        if real.is_dir():
            dirs.append(Entry(item.name, str(real), True))
        elif real.is_file():
            if wanted is not None and Path(item.name).suffix.lower().lstrip(".") not in wanted:
                continue
            files.append(Entry(item.name, str(real), False, st.st_size))
    key = lambda e: e.name.lower()  # noqa: E731
    return sorted(dirs, key=key) + sorted(files, key=key)


def human_size(n: float) -> str:
    """Bytes in a short human form.

    >>> human_size(1536), human_size(0), human_size(5 * 1024**3)
    ('1.5 KB', '0 B', '5.0 GB')
    """
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover
