"""Call a service by its name with the ``httpx`` drop-in clients, sync and async.

NACOS_SERVER=127.0.0.1:8848 python examples/client/httpx_example.py
"""

import asyncio

from nacos.auto.discovery.ext.httpx import AsyncClient, Client


def sync_call() -> None:
    with Client(timeout=5) as client:
        response = client.get("http://user-service/api/users/1")
        print(response.status_code, response.text)


async def async_call() -> None:
    async with AsyncClient(timeout=5) as client:
        response = await client.get("http://user-service/api/users/1")
        print(response.status_code, response.text)


if __name__ == "__main__":
    sync_call()
    asyncio.run(async_call())
