"""The bridge server (``mt5-worker bridge``): serves a terminal to workers on other hosts over RPyC."""
