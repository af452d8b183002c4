"""``import MetaTrader5`` with ``harness/standin`` on the path: the simulator as the SDK's module, built from this
process's settings (``MT5_SIMULATOR_*``) on its first call (:mod:`harness.sdk_standin`)."""

from harness.sdk_standin import from_settings

globals().update({name: value for name, value in vars(from_settings()).items() if not name.startswith("__")})
