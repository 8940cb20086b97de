"""WSGI and ASGI middleware that register the serving process in Nacos (see ``nacos.auto.registration``)."""
