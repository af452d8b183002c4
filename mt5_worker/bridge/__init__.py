"""Both ends of the bridge, which serves a terminal (the real one, on its Windows host) to workers elsewhere
(``MT5_BACKEND=bridge``), over RPyC with a token and optional TLS:

- :mod:`.terminal`: the worker's end: :class:`~mt5_worker.bridge.terminal.BridgeTerminal`, the port over TCP;
  transport trouble becomes the SDK's IPC codes;
- :mod:`.codec`: what crosses for each port function, both ways, derived from the SDK table;
- :mod:`.wire`: what both ends agree on below that: the handshake, plain data, arrays, safe RPyC settings;
- :mod:`.server`: ``mt5-worker bridge``: token and TLS checks, start-up, the listener;
- :mod:`.service`: what one authenticated connection may call: the port's functions, nothing else;
- :mod:`.core`: what every connection shares: the terminal, its lock, the log, running one call;
- :mod:`.simulator_control`: the ``sim_*`` functions tests and the fault campaign drive a simulator with.
"""
