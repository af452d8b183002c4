"""Settings from the environment and ``.env``, validated once at start-up.

Every field is read from the variable named by its alias (``MT5_CONNECTION_POOL_SIZE`` ...). A bad value
stops start-up with :class:`SettingsError`, whose message names the variable and what it accepts.
``.env.example`` documents every variable.

The package, one concept a module (the names other modules import are re-exported here):

- :mod:`.names`: the shared constants (the default Redis, the broker schemes, a symbol's name, the shared queue)
  and ``_alias``, a field read from one variable;
- :mod:`.terminal`: the adapter, the real terminal, the simulator, a feed and a bridge;
- :mod:`.service`: the pool, Redis and Celery, routing, clients, logs and metrics; credentials and trading;
- :mod:`.model`: :class:`Settings`, which combines them, its cross-field rules and derived values, ``load`` and
  :func:`env_name`.
"""

from mt5_worker.settings.model import Settings, env_name
from mt5_worker.settings.names import (
    AMQP_SCHEMES,
    DEFAULT_REDIS_URL,
    REDIS_SCHEMES,
    SHARED_QUEUE,
    SYMBOL_NAME,
    URL_FIELDS,
)
from mt5_worker.settings.service import RoutingMode

__all__ = [
    "AMQP_SCHEMES",
    "DEFAULT_REDIS_URL",
    "REDIS_SCHEMES",
    "SHARED_QUEUE",
    "SYMBOL_NAME",
    "URL_FIELDS",
    "RoutingMode",
    "Settings",
    "env_name",
]
