"""Drop-ins for HTTP libraries: ``from nacos.auto.discovery.ext import requests`` and call services by name.

Each submodule imports its library only when imported itself, so installing one extra is enough.
"""
