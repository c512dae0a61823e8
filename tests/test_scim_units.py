"""The SCIM target's pure parts, without a server: the resources and their PATCH, the member chunks,
the pace, the profiles, the settings' URL rule and the refusals."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from smartsync_tui.config.settings import DirectorySettings, ScimSettings
from smartsync_tui.targets.scim import resources
from smartsync_tui.targets.scim.pace import MIN_RATE, Pace
from smartsync_tui.targets.scim.profiles import PROFILES, narrowed, profile


def apply_operations(resource: Mapping, operations: Iterable[dict]) -> dict:
    """``resource`` after ``operations`` of resources.user_operations, as a provider applies them."""
    flat = _flatten(resource)
    for operation in operations:
        if operation["op"] == "remove":
            flat.pop(operation["path"], None)
        else:
            flat[operation["path"]] = operation["value"]
    return resources.user_from_paths(flat)


def _flatten(resource: Mapping) -> dict[str, object]:
    """A resource as path -> value (the inverse of resources.user_from_paths); an extension's
    attributes behind its URN, a manager as the one complex value it is."""
    flat: dict[str, object] = {}
    for key, value in resource.items():
        if key == "schemas":
            continue
        if key.startswith("urn:") and isinstance(value, Mapping):
            for k, v in value.items():
                if isinstance(v, Mapping) and k != "manager":
                    flat.update({f"{key}:{k}.{kk}": vv for kk, vv in v.items()})
                else:
                    flat[f"{key}:{k}"] = v
        elif key == "name" and isinstance(value, Mapping):
            flat.update({f"name.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


text = st.one_of(st.none(), st.text(min_size=1, max_size=20))
payloads = st.fixed_dictionaries({
    "external_id": st.just("5e1f0000-0000-4000-8000-000000000001"),
    "login": st.text(min_size=1, max_size=20), "first_name": text, "last_name": text, "email": text,
    "display_name": text, "job_title": text, "department": text, "active": st.booleans(),
})


@settings(max_examples=300, deadline=None)
@given(old=payloads, new=payloads)
def test_the_patch_of_two_users_leads_where_the_put_would(old, new):
    operations = resources.user_operations(old, new)
    assert apply_operations(resources.user_resource(old), operations) == resources.user_resource(new)
    # Only what changed is sent: an unchanged user costs no operation at all.
    assert resources.user_operations(new, new) == []
    paths = [op["path"] for op in operations]
    assert len(paths) == len(set(paths))


def test_a_user_resource_has_the_core_fields_the_enterprise_department_and_a_display_name():
    body = resources.user_resource({"external_id": "g1", "login": "ana@corp", "first_name": "Ana", "last_name": "Lima",
                                    "email": "ana@corp", "display_name": None, "job_title": "Analista",
                                    "department": "TI", "active": False})
    assert body == {
        "schemas": [resources.CORE_USER, resources.ENTERPRISE_USER], "externalId": "g1", "userName": "ana@corp",
        "name": {"givenName": "Ana", "familyName": "Lima"}, "displayName": "Ana Lima", "title": "Analista",
        "emails": [{"value": "ana@corp", "type": "work", "primary": True}], "active": False,
        resources.ENTERPRISE_USER: {"department": "TI"},
    }
    bare = resources.user_resource({"external_id": "g2", "login": "svc", "active": True})
    assert bare["displayName"] == "svc" and "emails" not in bare and bare["schemas"] == [resources.CORE_USER]


def test_member_changes_are_chunked_to_the_limit_and_an_id_cannot_widen_a_filter():
    add = resources.member_operations("add", [f"u{i}" for i in range(250)], 100)
    assert [len(ops[0]["value"]) for ops in add] == [100, 100, 50]
    remove = resources.member_operations("remove", ['a"] or value pr [x', "b"], 1)
    assert len(remove) == 2
    path = remove[0][0]["path"]
    assert path == 'members[value eq ' + json.dumps('a"] or value pr [x') + "]"
    assert resources.member_operations("add", [], 20) == []


def test_the_pace_halves_on_a_429_holds_every_sender_and_grows_again():
    now = [100.0]
    slept: list[float] = []
    pace = Pace(10.0, clock=lambda: now[0], sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    for _ in range(5):
        pace.wait()
    assert slept == pytest.approx([0.1] * 4)
    held = pace.refused(2.0)
    assert held == 2.0 and pace.rate == 5.0 and pace.throttled == 1
    slept.clear()
    pace.wait()
    assert slept and slept[0] >= 2.0 - 1e-9  # held until Retry-After
    before = pace.rate
    for _ in range(50):
        pace.answered()
    assert pace.rate > before
    for _ in range(40):
        pace.refused(None)
    assert pace.rate == MIN_RATE


def test_a_pace_with_no_rate_starts_from_half_what_it_saw_at_the_first_429():
    now = [0.0]
    pace = Pace(None, clock=lambda: now[0], sleep=lambda s: None)
    for _ in range(20):
        pace.wait()
        now[0] += 0.01  # 100 requests per second
    pace.refused(0)
    assert 40 <= pace.rate <= 60


def test_a_provider_limit_is_met_by_a_rate_that_settles_under_it():
    """A provider that takes 20 requests a second: after the first 429s the rate stays near it."""
    now = [0.0]
    pace = Pace(None, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    window: list[float] = []
    refused = 0
    for _ in range(2000):
        pace.wait()
        now[0] += 0.001  # the request itself
        window = [t for t in window if now[0] - t < 1.0]
        if len(window) >= 20:
            refused += 1
            pace.refused(1.0)
        else:
            window.append(now[0])
            pace.answered()
    assert refused < 40  # not one 429 per second of the run: it settled
    assert 5 <= pace.rate <= 40


def test_profiles_are_known_by_name_and_an_unknown_one_names_the_others():
    assert profile("aws-identity-center").members_per_add == 100
    entra = profile("entra-id")
    assert (entra.members_per_add, entra.members_per_remove, entra.members_with_other_changes) == (20, 1, False)
    assert not profile("zitadel").groups
    with pytest.raises(Exception, match="There is no SCIM profile 'okta' \\(known: generic, aws-identity-center"):
        profile("okta")
    assert narrowed(PROFILES["generic"], {"patch": {"supported": False}}).patch is False
    assert narrowed(PROFILES["generic"], {"patch": {"supported": True}}).patch is True
    assert all(p.limits() for p in PROFILES.values())


ENTERPRISE = resources.ENTERPRISE_USER
TYPES_WITH_GROUPS = {"Resources": [
    {"name": "User", "endpoint": "/Users", "schemaExtensions": [{"schema": ENTERPRISE, "required": False}]},
    {"name": "Group", "endpoint": "/Groups"}]}


def test_what_a_provider_says_it_lacks_narrows_the_profile_and_nothing_else_does():
    generic = PROFILES["generic"]
    config = {"patch": {"supported": True}, "filter": {"supported": True}, "bulk": {"supported": True, "maxOperations": 1000}}
    same = narrowed(generic, config, TYPES_WITH_GROUPS)
    assert (same.patch, same.groups, same.enterprise, "eq" in same.filter_operators) == (True, True, True, True)
    assert same.bulk_operations == 1000  # recorded, not used
    users_only = {"Resources": [{"name": "User", "endpoint": "/Users", "schemaExtensions": []}]}
    less = narrowed(generic, {"patch": {"supported": False}, "filter": {"supported": False}}, users_only)
    assert (less.patch, less.groups, less.enterprise, less.filter_operators) == (False, False, False, frozenset())
    # A profile's own limits stay: a provider that says it can does not widen them.
    entra = narrowed(PROFILES["entra-id"], config, TYPES_WITH_GROUPS)
    assert (entra.members_per_remove, entra.members_on_get) == (1, False)
    # User without a word on extensions: the extension stays (the RFC makes the list optional).
    assert narrowed(generic, {}, {"Resources": [{"name": "User"}, {"name": "Group"}]}).enterprise is True


@settings(max_examples=200, deadline=None)
@given(config=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
                               ["patch", "filter", "bulk", "supported", "maxOperations", "Resources", "name",
                                "schemaExtensions", "schema"]), inner, max_size=4), max_leaves=12),
       types=st.recursive(st.none() | st.text(max_size=5),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
                              ["Resources", "name", "schemaExtensions", "schema"]), inner, max_size=3), max_leaves=12))
def test_an_answer_of_any_shape_only_ever_narrows(config, types):
    for base in PROFILES.values():
        got = narrowed(base, config, types)
        assert got.patch <= base.patch and got.groups <= base.groups and got.enterprise <= base.enterprise
        assert got.filter_operators <= base.filter_operators
        assert (got.members_per_add, got.members_per_remove, got.rate_per_second) == (
            base.members_per_add, base.members_per_remove, base.rate_per_second)


def test_only_the_generic_profile_asks_the_provider_and_atlassian_wants_an_email():
    assert [p.name for p in PROFILES.values() if p.discover] == ["generic"]
    atlassian = PROFILES["atlassian"]
    assert "requires an e-mail" in atlassian.refusal("user", {"login": "ana", "first_name": "Ana"})
    assert atlassian.refusal("user", {"login": "ana", "email": "ana@corp.example"}) is None
    assert not atlassian.delete_removes and any("only deactivates" in line for line in atlassian.limits())
    assert {PROFILES[n].paging for n in ("aws-identity-center", "entra-id", "google-cloud-identity")} == {"cursor", "none"}


def test_without_the_enterprise_extension_no_enterprise_path_is_sent():
    payload = {"external_id": "g1", "login": "ana", "department": "Sales", "employee_number": "7",
               "manager": "g0", f"{ENTERPRISE}:costCenter": "12"}
    whole = resources.user_resource(payload, {"g0": "m0"})
    assert whole[ENTERPRISE] == {"department": "Sales", "employeeNumber": "7", "manager": {"value": "m0"},
                                 "costCenter": "12"}
    bare = resources.user_resource(payload, {"g0": "m0"}, enterprise=False)
    assert ENTERPRISE not in bare and bare["schemas"] == [resources.CORE_USER]
    assert resources.user_operations(payload, {**payload, "department": "HR"}, enterprise=False) == []


@pytest.mark.parametrize("url, fine", [
    ("https://scim.example.com/scim/v2", True), ("https://scim.example.com/", True),
    ("http://127.0.0.1:8080/t1", True), ("http://localhost/scim", True),
    ("http://scim.example.com/scim", False), ("ftp://scim.example.com", False),
    ("https://user:pw@scim.example.com", False), ("https://scim.example.com/?token=x", False),
    ("https://scim.example.com/#x", False), ("https://scim.example.com:99999/", False), ("scim.example.com", False),
    ("https://scim.exa mple.com/", False), ("", False),
])
def test_a_scim_url_must_be_https_except_to_this_machine(url, fine):
    if fine:
        assert ScimSettings(base_url=url).base_url == url.rstrip("/")
    else:
        with pytest.raises(ValidationError):
            ScimSettings(base_url=url)


def test_a_scim_directory_needs_its_scim_section():
    with pytest.raises(ValidationError, match="needs its scim section"):
        DirectorySettings(id="c", server="dc1", bind_user="u@c", base_dn="DC=c", target="scim")
    d = DirectorySettings(id="c", server="dc1", bind_user="u@c", base_dn="DC=c", target="scim",
                          scim={"base_url": "https://scim.example.com"})
    assert d.scim is not None and d.scim.profile == "generic" and not d.syncs_to_identity


def test_the_scim_target_refuses_before_sending_what_the_profile_cannot_take():
    from smartsync_tui.targets.scim.target import ScimTarget

    def target(name: str, **scim) -> ScimTarget:
        t = ScimTarget.__new__(ScimTarget)
        t.profile, t.settings = profile(name), ScimSettings(base_url="https://s.example.com", **scim)
        return t

    user = {"external_id": "g", "login": "a" * 40, "first_name": "A", "last_name": None, "email": "a@x"}
    assert "longer than 39" in target("github-emu").refusal("user", user)
    assert target("generic").refusal("user", user) is None
    assert "missing sn" in target("zitadel").refusal("user", {**user, "login": "a"})
    assert "has none" in target("zitadel").refusal("group", {"external_id": "g", "name": "TI"})
    assert "scim.groups is off" in target("generic", groups=False).refusal("group", {"external_id": "g"})
    assert target("aws-identity-center").flattens_groups()


def test_a_profiles_refusals_are_shown_in_the_consoles_language(portuguese):
    from smartsync_tui.ui.screens.details import skipped_reason

    zitadel = profile("zitadel")
    stored = zitadel.refusal("user", {"external_id": "g", "login": "a", "first_name": "A"})
    assert stored == "missing sn, mail (Zitadel requires first name, last name and e-mail)"  # kept in English
    assert skipped_reason(stored) == "faltam sn, mail (Zitadel exige nome, sobrenome e e-mail)"
    long = profile("github-emu").refusal("user", {"external_id": "g", "login": "x" * 40})
    assert skipped_reason(long) == "login com mais de 39 caracteres (o limite do GitHub Enterprise Managed Users)"
    assert skipped_reason(zitadel.refusal("group", {})) == "os grupos não são enviados: Zitadel não tem grupos"
    assert skipped_reason("missing mail (Identity requires first name, last name and e-mail)") == (
        "faltam mail (o Identity exige nome, sobrenome e e-mail)")


def test_the_profile_options_help_names_every_profile():
    from smartsync_tui.cli.main import build_parser

    directory = next(a for a in build_parser()._actions if a.dest == "command").choices["directory"]
    for verb in ("add", "edit"):
        command = next(a for a in directory._actions if a.dest == "action").choices[verb]
        (option,) = [a for a in command._actions if "--profile" in a.option_strings]
        named = set(option.help.split(": ", 1)[1].split(" (see")[0].replace(" or ", ", ").split(", "))
        assert named == set(PROFILES), verb


class _Recorder:
    """A SCIM client that answers every request 200 and records it (what the target asks, not how)."""

    def __init__(self, types: dict | None = None) -> None:
        import threading

        self.sent: list[tuple[str, str, object]] = []
        self._lock = threading.Lock()
        self.types = TYPES_WITH_GROUPS if types is None else types
        self.config_delay = 0.0
        self.patch = True

    def request(self, method: str, path: str, body: object = None, *, params: dict | None = None,  # type: ignore[no-untyped-def]
                retries: int | None = None):
        from smartsync_tui.targets.scim.client import Answer

        with self._lock:
            self.sent.append((method, path, body))
        if path == "/ServiceProviderConfig":
            time.sleep(self.config_delay)  # a slow answer: the other threads arrive while it is asked
            return Answer(200, {"patch": {"supported": self.patch}, "filter": {"supported": True}})
        if path == "/ResourceTypes":
            return Answer(200, self.types)
        return Answer(200, {"id": "x1", "Resources": []})

    def close(self) -> None:
        pass


def _scim_target(name: str, client: _Recorder):  # type: ignore[no-untyped-def]
    from smartsync_tui.targets.scim.target import ScimTarget

    return ScimTarget(client, ScimSettings(base_url="https://scim.example.com/v2"), profile(name))  # type: ignore[arg-type]


def test_a_group_whose_members_came_and_went_is_one_patch_without_limits_and_several_with():
    from smartsync_tui.targets.base import Known

    ids = {f"u{i}": f"r{i}" for i in range(6)}
    old = {"external_id": "g1", "name": "TI", "members": ["u0", "u1", "u2"]}
    new = {"external_id": "g1", "name": "TI", "members": ["u1", "u2", "u3", "u4"]}
    for name, patches in (("generic", 1), ("aws-identity-center", 2), ("entra-id", 2)):
        client = _Recorder()
        [result] = _scim_target(name, client).apply_groups([new], ids, {"g1": Known("remote-g1", old)})
        assert result.ok, result.error
        sent = [(m, p) for m, p, _b in client.sent if m == "PATCH"]
        assert sent == [("PATCH", "/Groups/remote-g1")] * patches, (name, client.sent)
    # Nothing changed that SCIM holds: no request at all, not even the questions of a generic profile.
    client = _Recorder()
    [same] = _scim_target("generic", client).apply_groups([old], ids, {"g1": Known("remote-g1", old)})
    assert same.ok and client.sent == []


@pytest.mark.parametrize("patch", [False, True], ids=["no-patch", "patch"])
def test_a_generic_target_asks_once_however_many_threads_send(patch):
    from concurrent.futures import ThreadPoolExecutor

    from smartsync_tui.targets.base import Known

    client = _Recorder(types={"Resources": [{"name": "User", "schemaExtensions": []}, {"name": "Group"}]})
    client.config_delay, client.patch = 0.05, patch
    target = _scim_target("generic", client)
    users = [{"external_id": f"g{i}", "login": f"u{i}@corp.example", "department": "TI", "active": True}
             for i in range(40)]
    # Updates (what a delta sends): each thread computes its change before the provider was asked.
    known = {u["external_id"]: Known(f"r{i}", {**u, "department": "RH", "login": "old"}) for i, u in enumerate(users)}
    with ThreadPoolExecutor(4) as pool:
        results = [r for batch in pool.map(lambda u: target.apply_users([u], known), users) for r in batch]
    assert all(r.ok for r in results)
    asked = [p for _m, p, _b in client.sent if p in ("/ServiceProviderConfig", "/ResourceTypes")]
    assert asked == ["/ServiceProviderConfig", "/ResourceTypes"]
    assert [p for _m, p, _b in client.sent[:2]] == asked  # before any write
    # What the provider said holds for every thread's request: no PATCH (it has none), no department.
    writes = [(m, b) for m, p, b in client.sent if p.startswith("/Users")]
    assert len(writes) == 40 and {m for m, _b in writes} == {"PATCH" if patch else "PUT"}
    assert not any(resources.ENTERPRISE_USER in json.dumps(b) for _m, b in writes)
    # A named profile asks nothing.
    named = _Recorder()
    _scim_target("aws-identity-center", named).apply_users(users[:1])
    assert [m for m, _p, _b in named.sent] == ["POST"]


def test_a_provider_that_serves_no_groups_gets_none_and_each_says_why():
    client = _Recorder(types={"Resources": [{"name": "User", "schemaExtensions": []}]})
    target = _scim_target("generic", client)
    [user] = target.apply_users([{"external_id": "g0", "login": "ana@corp.example", "department": "TI",
                                  "active": True}])
    assert user.ok
    posted = next(b for m, p, b in client.sent if m == "POST")
    assert resources.ENTERPRISE_USER not in posted  # no extension listed: none sent
    [group] = target.apply_groups([{"external_id": "g1", "name": "TI", "members": ["g0"]}], {"g0": "x1"})
    assert not group.ok and "serves no Groups" in group.error and group.retry is False
    assert not any(p.startswith("/Groups") for _m, p, _b in client.sent)


def test_a_taken_user_at_a_provider_without_filters_is_left_alone_and_says_why():
    from smartsync_tui.targets.scim.client import Answer

    class Taken(_Recorder):
        def request(self, method, path, body=None, *, params=None, retries=None):  # type: ignore[no-untyped-def]
            if method == "POST":
                self.sent.append((method, path, body))
                return Answer(409, {"detail": "userName is already in use", "scimType": "uniqueness"})
            if path == "/ServiceProviderConfig":
                self.sent.append((method, path, body))
                return Answer(200, {"filter": {"supported": False}})
            return super().request(method, path, body, params=params, retries=retries)

    client = Taken()
    [result] = _scim_target("generic", client).apply_users([{"external_id": "g0", "login": "ana@corp.example",
                                                             "active": True}])
    assert not result.ok and result.retry is False
    assert result.error == ("the SCIM provider already has this user and takes no filter, so the agent cannot "
                            "tell whether it made it; it is left alone")
    assert [m for m, _p, _b in client.sent if m != "GET"] == ["POST"]  # nothing changed at the provider
