"""FastAPI app with no Nacos code at all, served and registered by the launcher (uvicorn underneath):

    cd examples/fastapi
    python -m nacos.auto.registration --nacos-server 127.0.0.1:8848 --service-name order-service \
           --service-ip 127.0.0.1 --service-port 8000 app_plain:app
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def index() -> str:
    return "order-service"
