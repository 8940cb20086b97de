"""Automatic registration of the serving process in Nacos.

Three ways in: the launcher (``python -m nacos.auto.registration ... app.py``), the import trigger
(``import nacos.auto.registration.enabled``) and the middleware (``nacos.auto.middleware``). All of them
end in one per-process :class:`~nacos.auto.registration.registrar.Registrar`; importing this package does
no I/O. ``set_online(False)`` takes the instance out of rotation without stopping the server.
"""

from nacos.auto.registration.registrar import configure, current, set_online

__all__ = ["configure", "current", "set_online"]
