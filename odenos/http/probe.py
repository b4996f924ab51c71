"""Does a process answer HTTP at an address?  Used to tell stale ephemerals from live twins."""

from __future__ import annotations

import aiohttp


async def answers(address: str, timeout: float = 2.0) -> bool:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(address + "/"),
        ):
            return True
    except (aiohttp.ClientError, TimeoutError):
        return False
