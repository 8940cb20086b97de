"""Call a service by its name with the ``requests`` drop-in: no hard-coded host, pooled connections.

    NACOS_SERVER=127.0.0.1:8848 python examples/client/requests_example.py

The registry comes from ``nacos.yaml`` in the working directory or ``NACOS_SERVER`` (default
127.0.0.1:8848); ``user-service`` must have a registered instance serving ``/api/users/1``.
"""

from nacos.auto.discovery.ext import requests


def main() -> None:
    response = requests.get("http://user-service/api/users/1")
    print(response.status_code, response.text)

    with requests.Session() as session:  # a requests.Session that resolves service names too
        print(session.get("http://user-service/api/users/1", timeout=5).status_code)


if __name__ == "__main__":
    main()
