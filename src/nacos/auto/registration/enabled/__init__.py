"""Import trigger: ``import nacos.auto.registration.enabled`` registers this service automatically.

It only installs post-import hooks (no I/O here): Flask, Starlette/FastAPI and Django are instrumented
when imported, before or after this module; registration happens when the server is up. Settings come
from ``nacos.yaml`` and ``NACOS_*`` (``NACOS_SERVICE_NAME`` at least).
"""

from nacos.auto.registration.instrument import instrument_frameworks

instrument_frameworks()
