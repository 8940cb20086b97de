"""The typed settings both example apps expose: the ``app:`` subtree of the service's config."""

from __future__ import annotations

from pydantic import Field

from nacos.auto.config import NacosSettings, value


class AppSettings(NacosSettings):
    """``app:`` in ``{service}.yaml``; a document that does not fit is rejected, the last good stays."""

    nacos_prefix = "app"

    greeting: str = "hello"
    pool_size: int = Field(default=10, ge=1, le=1000)
    use_local_cache: bool = False


#: A plain live value, as Spring's ``@Value("${useLocalCache:false}")``.
use_local_cache = value("useLocalCache", default=False)
