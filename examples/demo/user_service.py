"""The demo's ``user-service``: a plain Flask app with no registration code at all.

``nacos-serving demo`` starts two of these with the zero-intrusion launcher, which registers each
one in Nacos and drains it on SIGTERM:

    python -m nacos.auto.registration --nacos-server 127.0.0.1:8848 --service-name user-service \
           --service-port 8001 --drain-seconds 1 user_service.py --port 8001

The only Nacos line is the live config value: publishing ``user-service.yaml`` with a new
``greeting`` changes what the running app answers, without a restart.
"""

from __future__ import annotations

import argparse

from flask import Flask, Response, jsonify, request

from nacos.auto.config import value

greeting = value("greeting", default="hello")  # read on every request: follows user-service.yaml live
app = Flask(__name__)


@app.get("/api/users/<int:user_id>")
def get_user(user_id: int) -> Response:
    # SERVER_PORT says which instance answered, so a caller can see the load spread.
    return jsonify(
        id=user_id, name=f"user-{user_id}", greeting=greeting.get(), port=int(request.environ["SERVER_PORT"])
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    app.run(host="127.0.0.1", port=args.port, use_reloader=False)
