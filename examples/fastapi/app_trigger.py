"""FastAPI app registered by the import trigger (NACOS_SERVICE_NAME from the environment):

NACOS_SERVER=127.0.0.1:8848 NACOS_SERVICE_NAME=order-service NACOS_SERVICE_IP=127.0.0.1 \
    uvicorn app_trigger:app --port 8000
"""

from __future__ import annotations

from fastapi import FastAPI

import nacos.auto.registration.enabled  # noqa: F401

app = FastAPI()


@app.get("/")
async def index() -> str:
    return "order-service"
