"""Examples of services built on mt5-worker: fastapi_app (a web service over AsyncMT5Client) and live_ticks (its
WebSocket and SSE endpoints of live ticks)."""
