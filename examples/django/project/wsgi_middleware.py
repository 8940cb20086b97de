"""Explicit control: the WSGI application wrapped by the registration middleware.

cd examples/django
NACOS_SERVER=127.0.0.1:8848 NACOS_SERVICE_IP=127.0.0.1 gunicorn -w 2 -b 127.0.0.1:8000 project.wsgi_middleware
"""

import os

from django.core.wsgi import get_wsgi_application

from nacos.auto.middleware.wsgi import inject_wsgi_middleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.plain_settings")
application = inject_wsgi_middleware(get_wsgi_application(), service_name="inventory-service")
