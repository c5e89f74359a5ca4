"""The ground-truth label file: one JSON object per line, appended as labels happen."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO

import msgspec

from chargewatch.errors import ChargeWatchError
from firmware_sim.faults.kinds import Label


class LabelFileError(ChargeWatchError):
    """The label file cannot be written or read."""


class LabelWriter:
    """Appends :class:`Label` records to ``path`` as JSON Lines; use as a context manager."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._encoder = msgspec.json.Encoder()
        self._file: IO[bytes] | None = None
        self.written = 0

    def __enter__(self) -> LabelWriter:
        try:
            self._file = self.path.open("ab")
        except OSError as exc:
            raise LabelFileError(f"{self.path}: cannot open label file: {exc}") from exc
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def write(self, labels: Iterable[Label]) -> None:
        """Append ``labels`` and flush, so a crash keeps every label written so far."""
        if self._file is None:
            raise LabelFileError(f"{self.path}: label writer is not open (use `with LabelWriter(...)`)")
        lines = [self._encoder.encode(item) + b"\n" for item in labels]
        if not lines:
            return
        try:
            self._file.write(b"".join(lines))
            self._file.flush()
        except OSError as exc:
            raise LabelFileError(f"{self.path}: cannot write labels: {exc}") from exc
        self.written += len(lines)

    def close(self) -> None:
        """Close the file; idempotent."""
        if self._file is not None:
            self._file.close()
            self._file = None


def read_labels(path: Path | str) -> list[Label]:
    """Every label in a label file, in file order."""
    decoder = msgspec.json.Decoder(Label)
    path = Path(path)
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise LabelFileError(f"{path}: cannot read label file: {exc}") from exc
    try:
        return [decoder.decode(line) for line in lines if line.strip()]
    except msgspec.DecodeError as exc:
        raise LabelFileError(f"{path}: bad label record: {exc}") from exc
