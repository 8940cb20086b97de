"""Flask app registered by the import trigger (settings from nacos.yaml / NACOS_*):

NACOS_SERVER=127.0.0.1:8848 NACOS_SERVICE_NAME=user-service python app_trigger.py --port 8000
"""

from __future__ import annotations

import argparse

from flask import Flask

import nacos.auto.registration.enabled  # noqa: F401  (registers the service when the server is up)
from nacos.auto.registration import set_online

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return "user-service"


@app.post("/offline")
def offline() -> str:
    set_online(False)  # out of rotation, still serving
    return "offline"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--debug", action="store_true", help="use the reloader (only the serving child registers)")
    args = parser.parse_args()
    app.run(host="127.0.0.1", port=args.port, debug=args.debug)
