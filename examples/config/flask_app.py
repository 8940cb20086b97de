"""Flask app whose answers follow Nacos config without a restart.

NACOS_SERVER=127.0.0.1:8848 NACOS_SERVICE_NAME=demo-app python examples/config/flask_app.py --port 5000
nacos-serving config set demo-app.yaml 'useLocalCache: true
app: {greeting: hi, pool_size: 20}'
curl localhost:5000/settings        # -> {"greeting": "hi", "pool_size": 20, ...}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flask import Flask, Response, jsonify

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settings_model import AppSettings, use_local_cache

from nacos.auto import config


def create_app() -> Flask:
    """Build the app; the config store starts here (not at import) and validates the model now."""
    settings = AppSettings.live()
    app = Flask(__name__)

    @app.get("/value")
    def read_value() -> Response:
        return jsonify(useLocalCache=use_local_cache.get())

    @app.get("/settings")
    def read_settings() -> Response:
        return jsonify(settings.get().model_dump())

    @app.get("/history")
    def read_history() -> Response:
        return jsonify([record.to_json() for record in config.history()])

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    create_app().run(host=args.host, port=args.port, use_reloader=False)


if __name__ == "__main__":
    main()
