"""``chargewatch report``: the daily supervision report of one site (DOMAIN item 46)."""

from gateway.report._data import DayData, gather
from gateway.report._render import write

__all__ = ["DayData", "gather", "write"]
