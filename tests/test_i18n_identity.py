"""What an admin reads from the Identity client, the sync engine and the scheduler, in
Brazilian Portuguese: refusals, connection failures, the preview's mode and reason, the
held-disable note and the run's log lines, with their plural forms; and in English as before.

Real code paths throughout (a client on httpx.MockTransport, a state store in a temporary
folder, a scheduler that is never started): no Identity, no AD.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from smartsync_tui.targets.identity.agent_keys import PrivateKey
from smartsync_tui.core.errors import InputError, UserError
from smartsync_tui.targets.identity.client import IdentityClient
from smartsync_tui.targets.identity.errors import IdentityProtocolError, IdentityThrottled, IdentityUnreachable, TokenRejected
from smartsync_tui.targets.identity.network import ProxyChoice
from smartsync_tui.config.paths import Home
from smartsync_tui.engine.scheduler import Scheduler
from smartsync_tui.config.secret_store import SecretStore
from smartsync_tui.config.settings import AppSettings, DirectorySettings, save_settings
from smartsync_tui.store.state_store import PendingOp, StateStore
from smartsync_tui.engine.results import count_text
from smartsync_tui.engine.sync import SyncEngine
from smartsync_tui.engine.plan import Planner, describe_change
from tests.support.plans import engine_reason, held_note

BASE = "https://identity.example.com"
PROBLEM_TYPE = "https://identity-agent-api.invalid/problems/"
CORP = DirectorySettings(id="corp", display_name="Corp", server="dc1.corp.example", bind_user="svc@corp.example",
                         base_dn="DC=corp,DC=example")


def _client(*answers: httpx.Response | Exception, **options) -> IdentityClient:
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    options.setdefault("token", SecretStr("idt_secret-token-0123456789"))
    options.setdefault("agent_key", SecretStr("iak_secret-key-0123456789"))
    return IdentityClient(BASE, transport=httpx.MockTransport(handler), proxy=ProxyChoice("none"),
                          sleep=lambda _s: None, **options)


def _problem(status: int, slug: str) -> httpx.Response:
    return httpx.Response(status, json={"type": PROBLEM_TYPE + slug, "title": slug, "status": status},
                          headers={"Content-Type": "application/problem+json"})


def _batch_answer(n: int) -> httpx.Response:
    return httpx.Response(200, json={"results": [{"status": "created"}] * (n + 1)})


def _unreachable() -> str:
    with pytest.raises(IdentityUnreachable) as caught:
        _client(httpx.ConnectError("[Errno 111] Connection refused"), max_retries=0).ping()
    return str(caught.value)


def _throttled(max_retries: int) -> str:
    with pytest.raises(IdentityThrottled) as caught:
        _client(_problem(429, "throttled"), max_retries=max_retries).get_directory()
    return str(caught.value)


def _bad_batch(n: int) -> str:
    with pytest.raises(IdentityProtocolError) as caught:
        _client(_batch_answer(n)).upsert_users([{"external_id": str(i)} for i in range(n)])
    return str(caught.value)


# --------------------------------------------------------------------------- Identity


def test_unreachable_identity_in_portuguese(portuguese):
    assert _unreachable() == (
        "Não foi possível conectar ao Identity em identity.example.com: a conexão foi recusada (nada aceita "
        "conexões nesse endereço e porta). Confira o endereço, o DNS, o firewall e as configurações de proxy.")


def test_rejected_token_in_portuguese(portuguese):
    with pytest.raises(TokenRejected) as caught:
        _client(_problem(401, "token-rejected")).get_directory()
    assert str(caught.value) == (
        "O Identity em identity.example.com recusou o token do diretório (desconhecido ou revogado): gere um novo "
        "token no Identity e copie-o para as configurações deste diretório.")
    assert caught.value.kind == "token-rejected"  # what code compares: the kind, not the words


def test_throttling_counts_attempts_with_plural_forms(portuguese):
    assert "(HTTP 429) após 2 tentativas. Nada foi perdido" in _throttled(1)
    assert "limitando as requisições deste agente (HTTP 429). Nada foi perdido" in _throttled(0)


def test_a_batch_not_understood_says_one_user_or_users(portuguese):
    assert "respondeu a um lote de 1 usuário com resultados" in _bad_batch(1)
    assert "respondeu a um lote de 2 usuários com resultados" in _bad_batch(2)


def test_proxy_and_address_refusals_in_portuguese(portuguese):
    with pytest.raises(InputError) as caught:
        ProxyChoice("manual")
    assert str(caught.value).endswith("o modo de proxy manual precisa do endereço do proxy (host e porta)")
    with pytest.raises(InputError) as caught:
        IdentityClient("https://identity.example.com/?x=1")
    assert "o endereço do Identity não pode ter consulta (?...) nem fragmento (#...)" in str(caught.value)


def test_a_stored_private_key_that_does_not_load(portuguese):
    with pytest.raises(UserError, match="A chave privada gravada deste diretório não pode ser lida"):
        PrivateKey(SecretStr("not a key"))


def test_identity_messages_unchanged_in_english(english):
    assert _unreachable() == (
        "Cannot reach Identity at identity.example.com: the connection was refused (nothing accepts connections on "
        "that address and port). Check the address, DNS, the firewall and the proxy settings.")
    assert "(HTTP 429) after 2 attempts. Nothing was lost" in _throttled(1)
    assert "answered a batch of 1 users with results" not in _bad_batch(1)
    assert "answered a batch of 2 users with results" in _bad_batch(2)


# --------------------------------------------------------------------------- the sync


@pytest.fixture
def state(tmp_path: Path):
    with StateStore(tmp_path / "state.db") as store:
        yield store


def test_preview_heading_mode_and_reason_in_portuguese(state, portuguese):
    mode, reason = engine_reason(state)
    assert mode == "delta"  # the code stays: the state store and --json keep it
    assert reason == "alterações desde o USN 4242"
    planner = Planner("corp", state, mode, reason)
    assert planner.plan.mode_label == "incremental"


def test_held_disables_note_with_plural_forms(state, portuguese):
    assert held_note(state, 1).startswith("1 usuário seria desativado, acima do limite de exclusão (0): ")
    assert held_note(state, 2).startswith("2 usuários seriam desativados, acima do limite de exclusão (0): ")
    assert "as desativações ficam retidas até que um administrador as permita" in held_note(state, 2)


def test_run_of_an_unknown_directory_and_its_log_lines(state, portuguese, caplog):
    engine = SyncEngine(AppSettings(directories=[CORP]), SecretStore(Path(state.path).parent / "s.json"), state)
    with caplog.at_level(logging.INFO, logger="smartsync.sync"):
        result = engine.run("nope")
    assert result.error == "Não há diretório 'nope' (configurados: corp)."
    assert result.error_kind == "error"  # UserError.kind
    text = caplog.text
    assert "sincronização - de nope: falhou após " in text
    assert "sincronização de nope: Não há diretório 'nope'" in text


def test_counts_and_member_changes_in_portuguese(portuguese):
    assert (count_text("create", 1), count_text("create", 2), count_text("users_read", 10000)) == (
        "1 criação", "2 criações", "10.000 usuários lidos")
    assert describe_change(("members+", None, ["ana", "ivan"])) == "+membros ana, ivan"
    assert describe_change(("last_name", "Gonçalves", "Lima")) == "sobrenome: Gonçalves → Lima"
    assert describe_change(("active", False, True)) == "ativo: não → sim"
    assert describe_change(("email", None, "ana@corp.example"), value=repr, arrow="->") == "e-mail: None -> 'ana@corp.example'"


def test_sync_messages_unchanged_in_english(state, english, caplog):
    assert engine_reason(state) == ("delta", "changes since USN 4242")
    assert Planner("corp", state, "delta", "").plan.mode_label == "delta"
    assert held_note(state, 2).startswith("2 users would be disabled, more than the deletion threshold (0): ")
    assert held_note(state, 1).startswith("1 user would be disabled")
    assert (count_text("create", 3), count_text("group_create", 1)) == ("create 3", "group_create 1")
    engine = SyncEngine(AppSettings(directories=[CORP]), SecretStore(Path(state.path).parent / "s.json"), state)
    with caplog.at_level(logging.INFO, logger="smartsync.sync"):
        assert engine.run("nope").error == "There is no directory 'nope' (configured: corp)."
    assert "sync nope -: failed in " in caplog.text


# --------------------------------------------------------------------------- the scheduler


def _scheduler(tmp_path: Path, settings: AppSettings) -> Scheduler:
    home = Home(tmp_path / "config", tmp_path / "data", tmp_path / "log")
    for folder in (home.config_dir, home.data_dir, home.log_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return Scheduler(home, settings=settings, secrets=SecretStore(home.secrets_file), login_checks=False)


def test_scheduler_refusal_and_settings_log_in_portuguese(tmp_path, portuguese, caplog):
    scheduler = _scheduler(tmp_path, AppSettings(directories=[CORP]))
    scheduler.stop_event.set()
    with pytest.raises(UserError) as caught:
        scheduler.trigger("corp")
    assert str(caught.value) == "o agente está sendo encerrado: a execução não foi iniciada"

    scheduler = _scheduler(tmp_path / "other", AppSettings())
    save_settings(scheduler.home.settings_file, AppSettings(directories=[CORP]))
    with caplog.at_level(logging.INFO, logger="smartsync.scheduler"):
        assert scheduler.reload_settings_if_changed()
    assert "configurações: diretório corp adicionado" in caplog.text
    assert "configurações recarregadas de " in caplog.text


def test_scheduler_messages_unchanged_in_english(tmp_path, english, caplog):
    scheduler = _scheduler(tmp_path, AppSettings(directories=[CORP]))
    scheduler.stop_event.set()
    with pytest.raises(UserError, match="^the engine is stopping: the run was not started$"):
        scheduler.trigger("corp")
    scheduler = _scheduler(tmp_path / "other", AppSettings())
    save_settings(scheduler.home.settings_file, AppSettings(directories=[CORP]))
    with caplog.at_level(logging.INFO, logger="smartsync.scheduler"):
        scheduler.reload_settings_if_changed()
    assert "settings: directory corp added" in caplog.text


def test_leftovers_keep_their_reason_in_the_language_set(state, portuguese):
    planner = Planner("corp", state, "delta", "")
    planner.add_leftovers([PendingOp("g1", "user", "update", "CN=a,DC=corp,DC=example", {"login": "a"})])
    assert planner.plan.ops[0].why == "pendente de uma execução anterior"
