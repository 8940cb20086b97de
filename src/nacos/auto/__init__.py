"""nacos-serving: service discovery, registration and dynamic configuration on Nacos."""

__version__ = "0.1.0"
