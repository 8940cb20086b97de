#!/usr/bin/env python
"""Django's manage.py; ``python manage.py runserver 127.0.0.1:8000`` registers the service in Nacos.

The import trigger sits in ``project/settings.py``, so runserver, ``gunicorn project.wsgi`` and
``uvicorn project.asgi:application`` all register (settings from nacos.yaml / NACOS_*).
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
