"""FastAPI app whose answers follow Nacos config without a restart.

    NACOS_SERVER=127.0.0.1:8848 NACOS_SERVICE_NAME=demo-app \
        uvicorn fastapi_app:app --app-dir examples/config --port 8000
    nacos-serving config set demo-app.yaml 'app: {greeting: hi}'
    curl localhost:8000/settings
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settings_model import AppSettings, use_local_cache

from nacos.auto import config
from nacos.auto.config import LiveSettings

state: dict[str, LiveSettings[AppSettings]] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The store starts with the server, not at import: validated settings or a clear error at boot.
    state["settings"] = AppSettings.live()
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/value")
async def read_value() -> dict[str, Any]:
    return {"useLocalCache": use_local_cache.get()}


@app.get("/settings")
async def read_settings() -> dict[str, Any]:
    return state["settings"].get().model_dump()


@app.get("/history")
async def read_history() -> list[dict[str, Any]]:
    return [record.to_json() for record in config.history()]
