"""FastAPI app with the ASGI middleware: registered on lifespan startup, removed on shutdown.

NACOS_SERVER=127.0.0.1:8848 uvicorn app:app --port 8000 [--workers 2]
"""

from __future__ import annotations

from fastapi import FastAPI

from nacos.auto.middleware.asgi import inject_asgi_middleware

api = FastAPI()


@api.get("/")
async def index() -> str:
    return "order-service"


app = inject_asgi_middleware(api, service_name="order-service")
