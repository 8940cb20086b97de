"""Call a service by its name with the ``aiohttp`` drop-in session.

NACOS_SERVER=127.0.0.1:8848 python examples/client/aiohttp_example.py
"""

import asyncio

from nacos.auto.discovery.ext.aiohttp import get_session


async def main() -> None:
    session = get_session()  # one pooled session per event loop
    try:
        async with session.get("http://user-service/api/users/1") as response:
            print(response.status, await response.text())
    finally:
        await session.close()


if __name__ == "__main__":
    asyncio.run(main())
