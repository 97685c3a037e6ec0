"""What runs beside the API in one process: the run dispatcher, live events, resume of
runs left behind by a killed server. Started and stopped by the app's lifespan."""

from __future__ import annotations

from .platform import Platform


async def start(platform: Platform) -> None:
    """Start the background parts of the platform."""


async def stop(platform: Platform) -> None:
    """Stop them gracefully."""
