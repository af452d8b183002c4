"""The directory a process puts on its ``PYTHONPATH`` so that ``import MetaTrader5`` finds the stand-in module
(:mod:`harness.sdk_standin`)."""
