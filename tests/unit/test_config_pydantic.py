"""Typed settings: the pydantic-settings source, validate-then-swap, errors naming data id, line, key."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from nacos.auto.config import ConfigRejected, ConfigStore, DocumentSpec, NacosSettings, NacosSettingsSource

APP = DocumentSpec("app.yaml", "G", "yaml")


class Db(BaseModel):
    host: str = "localhost"
    port: int = 5432


class AppSettings(NacosSettings):
    nacos_prefix = "app"

    greeting: str = "hello"
    pool_size: int = Field(default=10, ge=1)
    db: Db = Db()


def test_live_settings_follow_accepted_documents() -> None:
    store = ConfigStore([APP]).start()
    live = AppSettings.live(store)
    assert live.get() == AppSettings(greeting="hello", pool_size=10)
    store.apply(APP, "app:\n  greeting: hi\n  db:\n    port: 6543\nother: x\n")
    current = live.get()
    assert (current.greeting, current.db.port, current.db.host) == ("hi", 6543, "localhost")
    assert live.get() is current  # one instance per accepted version


def test_failing_document_is_rejected_and_the_last_good_model_stays() -> None:
    store = ConfigStore([APP]).start()
    live = AppSettings.live(store)
    store.apply(APP, "app:\n  pool_size: 5\n")
    good = live.get()
    record = store.apply(APP, "app:\n  greeting: changed\n  pool_size: 0\n")
    assert not record.accepted
    assert record.reason.startswith("AppSettings: G/app.yaml:3: app.pool_size: Input should be greater than or equal")
    assert live.get() is good and store.get("app.greeting") is None


def test_a_model_that_cannot_validate_the_current_config_fails_clearly() -> None:
    store = ConfigStore([APP]).start()
    store.apply(APP, "app:\n  db:\n    port: not-a-port\n")
    with pytest.raises(ConfigRejected, match=r"G/app.yaml:3: app.db.port"):
        AppSettings.live(store)


def test_init_kwargs_beat_nacos_which_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    store = ConfigStore([APP]).start()
    store.apply(APP, "app:\n  greeting: from-nacos\n")

    class Pinned(AppSettings):
        nacos_store = store

    monkeypatch.setenv("GREETING", "from-env")
    monkeypatch.setenv("POOL_SIZE", "3")
    assert Pinned().greeting == "from-nacos"
    assert Pinned().pool_size == 3  # not in Nacos: the environment still applies
    assert Pinned(greeting="init").greeting == "init"


def test_source_follows_pydantic_settings_protocol() -> None:
    store = ConfigStore([APP]).start()
    store.apply(APP, "app:\n  greeting: hi\n  unknown: 1\n")
    source = NacosSettingsSource(AppSettings, "app", store)
    assert source() == {"greeting": "hi"}  # only the model's fields: unknown keys never break validation
    value, name, complex_ = source.get_field_value(AppSettings.model_fields["greeting"], "greeting")
    assert (value, name, complex_) == ("hi", "greeting", False)
