"""A resident engine keeps each directory's AD connection between runs (engine/sources.py).

Against the session's Samba DC through a relay the test can cut (a DC or firewall dropping an
idle connection), and with stand-in sources for the pool's own rules.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from smartsync_tui.config.settings import DirectorySettings
from smartsync_tui.engine import sources as engine_sources
from smartsync_tui.engine.results import SyncOptions
from smartsync_tui.engine.sources import SourcePool
from smartsync_tui.engine.sync import SyncEngine
from tests.support.relay import Relay
from tests.support.sync_env import make_sync_env


def test_runs_reuse_the_connection_and_reconnect_when_it_was_dropped(samba_dc, emulator, tmp_path):
    relay = Relay(samba_dc.host, 636).start()
    env = make_sync_env(samba_dc, emulator, tmp_path, server="127.0.0.1", port=relay.port)
    pool = SourcePool()
    try:
        env.ad.add_user("kept", "Kept", "Connection")
        engine = SyncEngine(env.settings, env.secrets, env.state, sources=pool)
        assert engine.run("corp", SyncOptions(full=True)).outcome == "ok"
        assert engine.run("corp", SyncOptions()).outcome == "ok"
        assert (pool.opened, pool.reused) == (1, 1)
        # The kept connection is cut while idle: the next run notices at its first request and connects again.
        relay.stop()
        relay.start()
        env.ad.add_user("after", "After", "Cut")
        result = engine.run("corp", SyncOptions())
        assert result.outcome == "ok" and result.counts["create"] == 1, result.error
        assert pool.opened == 2  # the cut one replaced within the same run
        assert env.ad.login("after") in {u["login"] for u in env.identity_users().values()}
        # A DC that stays away fails the run, and nothing is kept of it.
        relay.stop()
        assert engine.run("corp", SyncOptions()).outcome == "failed"
        relay.start()
        assert engine.run("corp", SyncOptions()).outcome == "ok"
    finally:
        pool.close()
        relay.stop()
        env.ad.close()
        env.state.close()


class _Source:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _directory(**changes: object) -> DirectorySettings:
    values = dict(id="corp", server="dc.example.test", bind_user="svc", base_dn="DC=example,DC=test")
    return DirectorySettings(**(values | changes))


@pytest.fixture
def opened(monkeypatch) -> list[_Source]:  # type: ignore[no-untyped-def]
    made: list[_Source] = []

    def open_source(directory, password):  # type: ignore[no-untyped-def]
        made.append(_Source())
        return made[-1]

    monkeypatch.setattr(engine_sources, "open_source", open_source)
    return made


def test_a_connection_is_reused_only_for_the_same_settings_and_password_and_not_after_long_idle(opened):
    now = [0.0]
    pool = SourcePool(clock=lambda: now[0])
    secret = SecretStr("pw")
    first, reused = pool.take(_directory(), secret)
    assert not reused
    pool.give_back(_directory(), secret, first)
    again, reused = pool.take(_directory(), secret)
    assert again is first and reused
    pool.give_back(_directory(), secret, again)
    for other, password in ((_directory(server="dc2.example.test"), secret), (_directory(), SecretStr("new")),
                            (_directory(bind_user="other"), secret), (_directory(tls="starttls"), secret)):
        source, reused = pool.take(other, password)
        assert not reused and source is not first
        pool.give_back(other, password, source)
    assert first.closed
    kept = opened[-1]
    now[0] += engine_sources.MAX_IDLE_SECONDS + 1
    source, reused = pool.take(_directory(tls="starttls"), secret)
    assert not reused and kept.closed
    pool.give_back(_directory(), secret, source)
    pool.discard("corp")
    assert source.closed
    pool.give_back(_directory(), secret, kept2 := pool.open(_directory(), secret))
    pool.close()
    assert kept2.closed
