"""A Django project with no Nacos code at all, registered by the launcher:

    cd examples/django
    python -m nacos.auto.registration --nacos-server 127.0.0.1:8848 --service-name inventory-service \
           --service-ip 127.0.0.1 --service-port 8000 project.wsgi_plain:application
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.plain_settings")
application = get_wsgi_application()
