"""Time-series storage for the gateway: one protocol, three backends, and the store ceiling.

``InfluxV1Store`` (``/write`` + InfluxQL ``/query``), ``InfluxV2Store`` (``/api/v2/write`` via
influxdb-client's synchronous API; queries through VictoriaMetrics' export API) and the
embedded ``SQLiteStore`` all take the line protocol built by :mod:`gateway.lineproto`
(millisecond timestamps) and raise the errors of :mod:`gateway.store.errors`.
"""

from gateway.store.base import Row, TimeSeriesStore
from gateway.store.ceiling import store_ceiling
from gateway.store.errors import (
    PartialWriteError,
    StoreConfigError,
    StoreError,
    StoreQueryError,
    StoreUnavailableError,
    UnknownSeriesError,
)
from gateway.store.influx_v1 import InfluxV1Store
from gateway.store.influx_v2 import InfluxV2Store
from gateway.store.retention import Retention
from gateway.store.sqlite import SQLiteStore

__all__ = [
    "InfluxV1Store",
    "InfluxV2Store",
    "PartialWriteError",
    "Retention",
    "Row",
    "SQLiteStore",
    "StoreConfigError",
    "StoreError",
    "StoreQueryError",
    "StoreUnavailableError",
    "TimeSeriesStore",
    "UnknownSeriesError",
    "store_ceiling",
]
