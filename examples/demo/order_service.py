"""The demo's ``order-service``: FastAPI, registered by the import trigger, calling ``user-service``.

``nacos-serving demo`` runs it under uvicorn; the service name and registry come from the
environment, the port from uvicorn itself:

    NACOS_SERVER=127.0.0.1:8848 NACOS_SERVICE_NAME=order-service \
        uvicorn order_service:app --app-dir examples/demo --port 8003

It calls ``http://user-service/...`` through the ``requests`` drop-in: the host is a service name,
resolved to a live instance on every call.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import nacos.auto.registration.enabled  # noqa: F401  (registers this app when uvicorn serves it)
from nacos.auto.discovery.ext import requests

app = FastAPI()


@app.get("/api/orders/{order_id}")
def get_order(order_id: int) -> dict[str, Any]:
    # A sync endpoint: FastAPI runs it on a worker thread, so the blocking call does not stall the loop.
    user = requests.get(f"http://user-service/api/users/{order_id}", timeout=5)
    user.raise_for_status()
    return {"id": order_id, "item": "book", "user": user.json()}
