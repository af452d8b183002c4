"""The real terminal: a thin adapter over the ``MetaTrader5`` module (Windows only, imported lazily).

Results are rebuilt as this package's named tuples: the SDK's compiled struct sequences cannot be pickled
by module path, so they must not leak into Celery results or across the bridge.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any, ClassVar

from mt5_worker.errors import SettingsError
from mt5_worker.terminal.port import AccountInfo, TerminalInfo

UNAVAILABLE = (
    "MT5_BACKEND=metatrader5 needs the MetaTrader5 package, which exists only for Windows "
    "(pip install 'mt5-worker[metatrader5]' on the terminal's Windows host). On {platform}, use "
    "MT5_BACKEND=simulator, or MT5_BACKEND=bridge with `mt5-worker bridge` running beside the terminal."
)


def load_module() -> ModuleType:
    """Import ``MetaTrader5`` or stop start-up with a message saying what to use instead."""
    try:
        return importlib.import_module("MetaTrader5")
    except ImportError:
        raise SettingsError(UNAVAILABLE.format(platform=sys.platform)) from None


class MetaTrader5Terminal:
    """The :class:`~mt5_worker.terminal.port.Terminal` port over the real SDK module."""

    backend: ClassVar[str] = "metatrader5"

    def __init__(self, module: ModuleType | None = None) -> None:
        self._mt5: Any = module if module is not None else load_module()

    def initialize(
        self,
        path: str | None = None,
        *,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout: int = 60000,
        portable: bool = False,
    ) -> bool:
        # Pass only what is set, as the SDK's own examples do; how its parser treats None is undocumented.
        kwargs: dict[str, Any] = {"timeout": timeout, "portable": portable}
        kwargs |= {k: v for k, v in (("login", login), ("password", password), ("server", server)) if v is not None}
        args = () if path is None else (path,)
        return bool(self._mt5.initialize(*args, **kwargs))

    def login(
        self, login: int, password: str | None = None, server: str | None = None, *, timeout: int = 60000
    ) -> bool:
        kwargs: dict[str, Any] = {"timeout": timeout}
        kwargs |= {k: v for k, v in (("password", password), ("server", server)) if v is not None}
        return bool(self._mt5.login(login, **kwargs))

    def shutdown(self) -> bool:
        self._mt5.shutdown()
        return True

    def account_info(self) -> AccountInfo | None:
        info = self._mt5.account_info()
        return None if info is None else AccountInfo(**_fields(info, AccountInfo._fields))

    def terminal_info(self) -> TerminalInfo | None:
        info = self._mt5.terminal_info()
        return None if info is None else TerminalInfo(**_fields(info, TerminalInfo._fields))

    def version(self) -> tuple[int, int, str] | None:
        version = self._mt5.version()
        return None if version is None else (int(version[0]), int(version[1]), str(version[2]))

    def last_error(self) -> tuple[int, str]:
        code, message = self._mt5.last_error()
        return (int(code), str(message))


def _fields(info: Any, names: tuple[str, ...]) -> dict[str, Any]:
    # Take our fields by name, so a newer SDK that adds fields does not break the adapter.
    values = info._asdict()
    return {name: values[name] for name in names}
