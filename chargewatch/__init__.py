"""ChargeWatch contracts shared by every component: device profiles, topics, messages,
errors, the retry policy, clocks and structured logging. Components import only this
package from each other, never one another's internals."""

from chargewatch.errors import ChargeWatchError, ConfigError, MessageError
from chargewatch.profiles import DeviceProfile, Point, find_profile, load_profile

__all__ = [
    "ChargeWatchError",
    "ConfigError",
    "DeviceProfile",
    "MessageError",
    "Point",
    "__version__",
    "find_profile",
    "load_profile",
]

__version__ = "0.1.0"
