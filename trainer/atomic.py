"""Atomic file writes: a reader sees the old file or the whole new one, never half of one.

The one writer of the project (the trainer, the harness and the sandbox child all use
it). Each call writes its own temporary file, made by ``tempfile.mkstemp`` in the target's
folder (so the rename never crosses a file system), flushes and fsyncs it, then
``os.replace``-s it over the target. Two processes or threads writing the same path at
once therefore never share a temporary file: the last rename wins and the target is
always one whole write. On any error the temporary file is removed and the target is left
as it was.

Only the standard library is used, so anything may import it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["write_atomic", "write_json_atomic"]


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it, so this is done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_atomic(path: str | Path, data: str | bytes | Callable[[BinaryIO], object]) -> Path:
    """Write ``data`` to ``path`` atomically and return the path; creates missing folders.

    ``data`` is text (written as UTF-8), bytes, or a callable that writes into the binary
    file object it is given (``lambda fh: torch.save(obj, fh)``, ``lambda fh: np.save(fh, a)``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, str):
                fh.write(data.encode("utf-8"))
            elif isinstance(data, (bytes, bytearray, memoryview)):
                fh.write(data)
            else:
                data(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the mode a plain open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, obj) -> Path:
    """``obj`` as indented JSON (NaN and inf as JavaScript literals), written atomically."""
    return write_atomic(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True))

