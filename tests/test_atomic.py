"""Tests of trainer.atomic: the one atomic writer of the project."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from trainer.atomic import write_atomic, write_json_atomic

WRITERS, WRITES, SIZE = 6, 40, 1 << 18  # 256 KiB per write: large enough that writes interleave


def test_concurrent_writers_of_one_path_never_tear_it_or_leave_temporary_files(tmp_path):
    # A fixed temporary name (path + ".tmp") fails this: one writer truncates the file another
    # is about to rename, so the target holds a mix of two writes, or a rename finds nothing.
    path = tmp_path / "shared.bin"
    payloads = [bytes([65 + i]) * SIZE for i in range(WRITERS)]
    errors: list[BaseException] = []
    torn: list[bytes] = []
    done = threading.Event()

    def writer(payload: bytes) -> None:
        try:
            for _ in range(WRITES):
                write_atomic(path, payload)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def reader() -> None:
        while not done.is_set():
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue  # before the first rename only
            if data not in payloads:
                torn.append(data[:16] + b"..." + data[-16:] + f" ({len(data)} bytes)".encode())

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    assert not errors, errors[:3]
    assert not torn, torn[:3]
    assert path.read_bytes() in payloads
    assert os.listdir(tmp_path) == ["shared.bin"]  # no temporary file left behind


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = write_atomic(tmp_path / "keep.txt", "old")

    def fail(fh):
        fh.write(b"half of a new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(path, fail)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_text_bytes_and_a_writer_callback(tmp_path):
    assert write_atomic(tmp_path / "a" / "b.txt", "naïve\n").read_text(encoding="utf-8") == "naïve\n"
    assert write_atomic(tmp_path / "c.bin", b"\x00\xff").read_bytes() == b"\x00\xff"
    array = np.arange(10, dtype=np.uint16)
    np.testing.assert_array_equal(np.load(write_atomic(tmp_path / "d.npy", lambda fh: np.save(fh, array))), array)
    assert write_json_atomic(tmp_path / "e.json", {"x": float("nan")}).read_text() == '{\n  "x": NaN\n}'


def test_the_file_gets_the_mode_a_plain_open_would_give(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = write_atomic(tmp_path / "atomic.txt", "x")  # mkstemp alone would make it 0600
    assert os.stat(atomic).st_mode & 0o777 == os.stat(plain).st_mode & 0o777
