"""Call a service by its name with the ``urllib`` drop-in ``urlopen``.

NACOS_SERVER=127.0.0.1:8848 python examples/client/urllib_example.py
"""

from nacos.auto.discovery.ext.urllib import urlopen


def main() -> None:
    with urlopen("http://user-service/api/users/1", timeout=5) as response:
        print(response.status, response.read().decode())


if __name__ == "__main__":
    main()
