"""The store's exception family: what the spool retries, dead-letters, or reports as config."""

from __future__ import annotations

from chargewatch.errors import ChargeWatchError


class StoreError(ChargeWatchError):
    """A write or query to a time-series store failed; ``store`` names the endpoint."""

    def __init__(self, store: str, detail: str) -> None:
        super().__init__(f"{store}: {detail}")
        self.store = store
        self.detail = detail


class StoreUnavailableError(StoreError):
    """The store did not answer in time, refused the connection, or said 429/5xx; retry later."""


class StoreConfigError(StoreError):
    """401/403/404 or a bad URL: retrying cannot help; the gateway raises a config alert, keeps the data."""

    def __init__(self, store: str, detail: str, status: int) -> None:
        super().__init__(store, detail)
        self.status = status


class StoreQueryError(StoreError):
    """The store rejected a query (bad InfluxQL, unknown field)."""


class UnknownSeriesError(StoreQueryError):
    """A query named a measurement or a field the store does not hold; ``field`` is '' when the
    measurement itself is unknown. The API answers 400 with the message."""

    def __init__(self, store: str, measurement: str, field: str, known: list[str]) -> None:
        what = f"measurement {measurement!r}" if not field else f"field {field!r} of {measurement!r}"
        super().__init__(store, f"unknown {what}; known: {', '.join(known) or 'none yet'}")
        self.measurement = measurement
        self.field = field
        self.known = known


class PartialWriteError(StoreError):
    """Some lines of a batch were rejected (400); every other line is stored.

    ``rejected`` holds ``(line, reason)`` pairs, found by bisecting the batch; the writes of the
    good halves are idempotent because timestamps come from the source.
    """

    def __init__(self, store: str, rejected: list[tuple[str, str]], accepted: int) -> None:
        super().__init__(store, f"{len(rejected)} line(s) rejected, {accepted} stored")
        self.rejected = rejected
        self.accepted = accepted
