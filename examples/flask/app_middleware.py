"""Flask app with explicit middleware; works under ``app.run()`` and any WSGI server:

NACOS_SERVER=127.0.0.1:8848 gunicorn -w 4 -b 0.0.0.0:8000 app_middleware:app
"""

from __future__ import annotations

import argparse

from flask import Flask

from nacos.auto.middleware.wsgi import inject_wsgi_middleware

app = Flask(__name__)
app = inject_wsgi_middleware(app, service_name="user-service", metadata={"version": "v1"})


@app.get("/")
def index() -> str:
    return "user-service"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    app.run(host="127.0.0.1", port=parser.parse_args().port)
