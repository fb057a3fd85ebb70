"""Reading an untrusted submission: nothing is unpickled, imported or executed, sizes are bounded,
and every failure becomes a one-line :class:`Rejected` that the check reports."""

from __future__ import annotations

import io
import json
import math
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ddpm_lab.artifacts import Archive, Table
from ddpm_lab.check.graded import Rejected  # noqa: F401  (one class: the rules shared with the student's check raise it)


def one_line(err: BaseException, limit: int = 160) -> str:
    """``Type: first line of the message`` (cut at ``limit``), for a report or a CSV row."""
    text = str(err).splitlines()[0][:limit] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}"


class Submission:
    def __init__(self, root: Path, limits: dict) -> None:
        self.root = Path(root)
        self.real_root = self.root.resolve()
        self.limits = limits

    def path(self, relative: str) -> Path:
        """The file's path, refused if missing, not a regular file, too large, or resolving outside the folder."""
        path = self.root / relative
        if not path.exists() and not path.is_symlink():
            raise Rejected(f"{relative}: missing")
        real = path.resolve()
        if real != self.real_root and self.real_root not in real.parents:
            raise Rejected(f"{relative}: points outside the submission folder")
        if not real.is_file():
            raise Rejected(f"{relative}: not a regular file")
        size = real.stat().st_size
        if size > self.limits["max_file_bytes"]:
            raise Rejected(f"{relative}: {size} bytes, over the limit of {self.limits['max_file_bytes']}")
        return real

    def read_bytes(self, relative: str) -> bytes:
        return self.path(relative).read_bytes()

    def json(self, relative: str) -> dict:
        def no_constants(name: str):
            raise Rejected(f"{relative}: {name} is not a number")

        try:
            data = json.loads(self.read_bytes(relative).decode("utf-8"), parse_constant=no_constants)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise Rejected(f"{relative}: not valid JSON ({one_line(err, 80)})") from None
        if not isinstance(data, dict):
            raise Rejected(f"{relative}: expected a JSON object, got {type(data).__name__}")
        return data

    def npz(self, relative: str) -> dict[str, np.ndarray]:
        """Arrays of a .npz, loaded with allow_pickle=False after checking their declared sizes."""
        raw = self.read_bytes(relative)
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                declared = sum(info.file_size for info in archive.infolist())
        except zipfile.BadZipFile:
            raise Rejected(f"{relative}: not a .npz archive") from None
        if declared > self.limits["max_array_bytes"]:
            raise Rejected(f"{relative}: {declared} bytes uncompressed, over the limit of {self.limits['max_array_bytes']}")
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        except Exception as err:  # object arrays (pickles) and corrupt members land here
            raise Rejected(f"{relative}: unreadable arrays ({one_line(err, 80)})") from None

    def csv_columns(self, relative: str, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Numeric columns of a small CSV file with a header row."""
        try:
            text = self.read_bytes(relative).decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(f"{relative}: not UTF-8 text") from None
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise Rejected(f"{relative}: empty")
        header = [h.strip() for h in lines[0].split(",")]
        missing = [c for c in columns if c not in header]
        if missing:
            raise Rejected(f"{relative}: no column {missing[0]!r} (header {header})")
        out = {c: [] for c in columns}
        for number, line in enumerate(lines[1:], start=2):
            cells = line.split(",")
            if len(cells) != len(header):
                raise Rejected(f"{relative}: line {number} has {len(cells)} fields, the header {len(header)}")
            for c in columns:
                out[c].append(finite(cells[header.index(c)], f"{relative} line {number} {c}"))
        return {c: np.array(v, dtype=np.float64) for c, v in out.items()}

    def table(self, table: Table, *names: str) -> dict[str, np.ndarray]:
        """The columns ``names`` of a declared table (all its columns when none are named)."""
        undeclared = [n for n in names if n not in table.columns]
        if undeclared:
            raise KeyError(f"{table.path} declares no column {undeclared[0]!r}")
        return self.csv_columns(table.path, names or table.columns)

    def image(self, relative: str) -> tuple[int, int]:
        """(width, height) of a readable PNG, refusing decompression bombs."""
        from PIL import Image

        raw = self.read_bytes(relative)
        old = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = self.limits["max_image_pixels"]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(raw)) as img:
                    if img.format != "PNG":
                        raise Rejected(f"{relative}: a {img.format} image, expected PNG")
                    size = img.size
                    img.load()
        except Rejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise Rejected(f"{relative}: over {self.limits['max_image_pixels']} pixels (decompression bomb)") from None
        except Exception as err:
            raise Rejected(f"{relative}: not a readable image ({type(err).__name__})") from None
        finally:
            Image.MAX_IMAGE_PIXELS = old
        if size[0] < 16 or size[1] < 16:
            raise Rejected(f"{relative}: {size[0]}x{size[1]} pixels is too small to read")
        return size


def folder_problem(root: Path, limits: dict) -> str | None:
    """Why ``root`` cannot be graded as a submission folder (one line), or None. Walks at most
    ``max_submission_files`` entries without following links, so a huge folder is refused without being read."""
    root = Path(root)
    if root.is_symlink() and not root.exists():
        return "a broken link, not a folder"
    if not root.exists():
        return "no such folder"
    if not root.is_dir():
        return "a file, not a folder"
    total, count = 0, 0
    try:
        for entry in _walk(root):
            count += 1
            if count > limits["max_submission_files"]:
                return f"holds more than {limits['max_submission_files']} files and folders"
            total += entry
            if total > limits["max_submission_bytes"]:
                return f"holds more than {limits['max_submission_bytes']} bytes"
    except OSError as err:
        return f"unreadable ({type(err).__name__}: {err.strerror or err})"
    if count == 0:
        return "an empty folder"
    return None


def _walk(folder: Path):
    """The size of every entry under ``folder`` (0 for folders and links), never following links."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield 0
                yield from _walk(Path(entry.path))
            else:
                yield entry.stat(follow_symlinks=False).st_size if entry.is_file(follow_symlinks=False) else 0


def finite(value, what: str) -> float:
    """A finite float from a JSON or CSV value; strings, booleans, NaN and infinities are refused."""
    if isinstance(value, bool):
        raise Rejected(f"{what}: expected a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise Rejected(f"{what}: expected a number, got {value[:40]!r}") from None
    if not isinstance(value, (int, float)):
        raise Rejected(f"{what}: expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise Rejected(f"{what}: {value} is not finite")
    return float(value)


def field(data: dict, dotted: str, what: str):
    node = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise Rejected(f"{what}: no field {dotted!r}")
        node = node[part]
    return node


def number(data: dict, dotted: str, what: str) -> float:
    return finite(field(data, dotted, what), f"{what} {dotted}")


def vector(data: dict, dotted: str, what: str, length: int) -> np.ndarray:
    value = field(data, dotted, what)
    if not isinstance(value, list) or len(value) != length:
        raise Rejected(f"{what} {dotted}: expected a list of {length} numbers")
    return np.array([finite(v, f"{what} {dotted}") for v in value])


def declared(arrays: dict, archive: Archive, name: str, **lengths: int) -> np.ndarray:
    """Array ``name`` of a declared archive (``ddpm_lab.artifacts``), checked against its declared dtype and shape;
    ``lengths`` fixes named axes (``size=32``), the others may have any length."""
    spec = archive.spec(name)
    return array(arrays, name, archive.path, spec.dtype, spec.expected_shape(**lengths))


def array(arrays: dict, name: str, what: str, dtype=None, shape: tuple | None = None) -> np.ndarray:
    """An array by name, with its dtype and shape checked (None in ``shape`` matches any length)."""
    if name not in arrays:
        raise Rejected(f"{what}: no array {name!r} (has {sorted(arrays)[:5]})")
    a = arrays[name]
    if dtype is not None and a.dtype != np.dtype(dtype):
        raise Rejected(f"{what} {name}: dtype {a.dtype}, expected {np.dtype(dtype)}")
    if shape is not None and (a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape))):
        raise Rejected(f"{what} {name}: shape {a.shape}, expected {tuple('N' if s is None else s for s in shape)}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise Rejected(f"{what} {name}: holds NaN or infinite values")
    return a
