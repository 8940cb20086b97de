"""Plain Flask app, registered by the launcher without a line of Nacos code:

    python -m nacos.auto.registration --nacos-server 127.0.0.1:8848 --service-name user-service \
           --service-ip 127.0.0.1 \
           --service-port 8000 app.py --port 8000
"""

from __future__ import annotations

import argparse

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return "user-service"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    app.run(host="127.0.0.1", port=args.port, debug=args.debug)
