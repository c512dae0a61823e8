"""The AD source (ad/connect.py, ad/directory_test.py, ad/errors.py): unit tests, then the real Samba AD DC."""

from __future__ import annotations

import socket
import threading
import traceback
import uuid

import pytest
from pydantic import SecretStr

from smartsync_tui.ad import connect as ad_connect

from smartsync_tui.ad import directory_test
from smartsync_tui.ad.errors import (
    AdBindReason,
    bind_data_code,
    describe_bind_failure,
    parse_bind_reason,
)
from smartsync_tui.ad.errors import DirectoryError, SearchCancelled
from smartsync_tui.ad.search import escape_filter_value, guid_filter_value, guid_to_str, paged_search
from tests.support.samba import samba_dc_script

SAMBA_MESSAGE = "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data {}, v1db1"
USER_ATTRIBUTES = ["objectGUID", "givenName", "sn", "mail", "displayName", "title", "department",
                   "userAccountControl", "sAMAccountName", "memberOf", "uSNChanged"]


# ---------------------------------------------------------------------------
# ad_errors


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("525", AdBindReason.INVALID_CREDENTIALS),  # unknown user reads like a bad password
        ("52e", AdBindReason.INVALID_CREDENTIALS),
        ("530", AdBindReason.LOGON_HOURS),
        ("531", AdBindReason.WORKSTATION),
        ("532", AdBindReason.PASSWORD_EXPIRED),
        ("533", AdBindReason.ACCOUNT_DISABLED),
        ("701", AdBindReason.ACCOUNT_EXPIRED),
        ("773", AdBindReason.MUST_CHANGE_PASSWORD),
        ("775", AdBindReason.LOCKED_OUT),
        ("52E", AdBindReason.INVALID_CREDENTIALS),
    ],
)
def test_bind_reason_from_the_data_code(code, reason):
    assert parse_bind_reason(SAMBA_MESSAGE.format(code)) is reason
    windows = f"80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data {code}, v893"
    assert parse_bind_reason(windows) is reason
    assert describe_bind_failure(windows) == reason.text


def test_bind_reason_unknown_or_missing():
    assert parse_bind_reason(SAMBA_MESSAGE.format("0")) is None
    assert parse_bind_reason("") is None and parse_bind_reason(None) is None
    assert parse_bind_reason("invalid credentials") is None
    # the DSID and version parts are not codes
    assert parse_bind_reason("LdapErr: DSID-0C090533, v533") is None
    assert bind_data_code(SAMBA_MESSAGE.format("1f4")) == "1f4"
    assert "1f4" in describe_bind_failure(SAMBA_MESSAGE.format("1f4"))


def test_every_reason_has_words_and_advice():
    for reason in AdBindReason:
        assert reason.text and reason.advice.endswith(".")
    assert not AdBindReason.INVALID_CREDENTIALS.password_was_right
    assert AdBindReason.ACCOUNT_DISABLED.password_was_right


# ---------------------------------------------------------------------------
# small helpers


def test_guid_to_str_is_little_endian_mixed():
    raw = b"\x1d\xb6\x8c\xa4\xb3\xed\x7fH\x9c\\\x9aZ\xc2K\xa6,"
    assert guid_to_str(raw) == "a48cb61d-edb3-487f-9c5c-9a5ac24ba62c"
    value = uuid.uuid4()
    assert guid_to_str(value.bytes_le) == str(value)
    assert guid_filter_value(str(value)) == "".join(f"\\{b:02x}" for b in value.bytes_le)
    with pytest.raises(ValueError):
        guid_to_str(b"short")


def test_escape_filter_value():
    assert escape_filter_value("a*b(c)\\d\x00") == "a\\2ab\\28c\\29\\5cd\\00"
    assert escape_filter_value("João") == "João"
    assert escape_filter_value(b"\x01\xff") == "\\01\\ff"


def test_empty_password_is_refused_before_any_network(monkeypatch):
    from smartsync_tui.config.settings import DirectorySettings

    directory = DirectorySettings(id="x", server="no-such-host.invalid", bind_user="a@b.c", base_dn="DC=b,DC=c")
    with pytest.raises(DirectoryError) as caught:
        ad_connect.connect(directory, SecretStr(""))
    assert caught.value.stage == "bind" and "anonymous" in str(caught.value)


def test_test_directory_is_not_collected_by_pytest():
    assert directory_test.test_directory.__test__ is False


# ---------------------------------------------------------------------------
# against the real DC


def assert_secret_absent(error: BaseException, secret: str) -> None:
    text = "".join(traceback.format_exception(error))
    for shown in (str(error), repr(error), text, repr(error.args)):
        assert secret not in shown
    assert error.__cause__ is None


def connect(samba_dc, password: str | None = None, **overrides):
    directory = samba_dc.directory_settings(**overrides)
    return ad_connect.connect(directory, SecretStr(password or samba_dc.admin_password), timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("tls", ["ldaps", "starttls", "plain"])
def test_connect_each_tls_mode(samba_dc, tls):
    conn = connect(samba_dc, tls=tls)
    try:
        assert conn.bound
        assert conn.server.port == (636 if tls == "ldaps" else 389)
        assert bool(conn.tls_started or conn.server.ssl) == (tls != "plain")
        # ldap3 prints the password in repr(conn) and keeps it in conn.request: wiped.
        assert samba_dc.admin_password not in repr(conn) + str(conn.request)
        dse = ad_connect.read_root_dse(conn)
        assert dse["defaultNamingContext"] == [samba_dc.base_dn]
        assert dse["dnsHostName"] == [samba_dc.tls_server_name]
    finally:
        ad_connect.close(conn)


def test_ldaps_without_the_ca_file_is_untrusted(samba_dc):
    with pytest.raises(DirectoryError) as caught:
        connect(samba_dc, ca_file=None)
    error = caught.value
    assert error.stage == "tls"
    assert "not trusted" in str(error) and "CA" in str(error) and "--ca-file" in str(error)


@pytest.mark.parametrize("tls", ["ldaps", "starttls"])
def test_ip_without_tls_server_name_explains_the_name_mismatch(samba_dc, tls):
    with pytest.raises(DirectoryError) as caught:
        connect(samba_dc, tls=tls, tls_server_name=None)
    message = str(caught.value)
    assert caught.value.stage == "tls"
    assert "127.0.0.1" in message and "never its IP address" in message
    assert f"--tls-server-name {samba_dc.tls_server_name}" in message


def test_wrong_tls_server_name_is_a_mismatch(samba_dc):
    with pytest.raises(DirectoryError) as caught:
        connect(samba_dc, tls_server_name="dc9.example.com")
    assert caught.value.stage == "tls" and "dc9.example.com" in str(caught.value)


def test_der_ca_file_works_too(samba_dc, tmp_path):
    import ssl

    der = tmp_path / "ca.cer"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(open(samba_dc.ca_file).read()))
    ad_connect.close(connect(samba_dc, ca_file=str(der)))


def test_wrong_password_says_why_and_never_shows_it(samba_dc):
    wrong = "Wr0ng-Çhave-Secreta!"
    with pytest.raises(DirectoryError) as caught:
        connect(samba_dc, password=wrong)
    error = caught.value
    assert error.stage == "bind"
    assert error.reason is AdBindReason.INVALID_CREDENTIALS
    assert "password is wrong" in str(error) and samba_dc.admin_user in str(error)
    assert_secret_absent(error, wrong)


def test_unknown_user_reads_like_a_wrong_password(samba_dc):
    with pytest.raises(DirectoryError) as caught:
        connect(samba_dc, bind_user="nobody@smartsync.test")
    assert caught.value.reason is AdBindReason.INVALID_CREDENTIALS


@pytest.mark.parametrize(
    ("sam", "reason"),
    [("roberto.bastos", AdBindReason.ACCOUNT_DISABLED), ("carla.mendes", AdBindReason.MUST_CHANGE_PASSWORD)],
)
def test_account_state_reasons_with_the_right_password(samba_dc, sam, reason):
    password = samba_dc.passwords[sam]
    with pytest.raises(DirectoryError) as caught:
        connect(samba_dc, password=password, bind_user=samba_dc.upn(sam))
    assert caught.value.stage == "bind" and caught.value.reason is reason
    assert reason.text in str(caught.value)
    assert_secret_absent(caught.value, password)


@pytest.mark.parametrize("sam", ["alice.andrade", "joao.conceicao", "ivan.petrov", "maria.silva"])
def test_non_ascii_passwords_log_in(samba_dc, sam):
    # maria.silva's "Senha²-Forte!" fails if the password goes through SASLprep ("²" -> "2").
    conn = connect(samba_dc, password=samba_dc.passwords[sam], bind_user=samba_dc.upn(sam))
    ad_connect.close(conn)


def test_plain_bind_refused_by_a_dc_that_requires_signing(samba_dc):
    with samba_dc.restarted_with(ldap_server_require_strong_auth="yes"):
        with pytest.raises(DirectoryError) as caught:
            connect(samba_dc, tls="plain")
        assert caught.value.stage == "bind" and caught.value.result_code == 8
        assert "LDAPS" in str(caught.value) and "StartTLS" in str(caught.value)
        ad_connect.close(connect(samba_dc, tls="starttls"))  # TLS satisfies the policy


def test_wrong_base_dn(samba_dc):
    with pytest.raises(DirectoryError) as caught:
        connect(samba_dc, base_dn="OU=Nowhere," + samba_dc.base_dn)
    message = str(caught.value)
    assert caught.value.stage == "base_dn"
    assert "OU=Nowhere" in message and "does not exist" in message and samba_dc.base_dn in message


def test_closed_port(samba_dc):
    port = free_port()
    with pytest.raises(DirectoryError) as caught:
        connect(samba_dc, port=port)
    assert caught.value.stage == "tcp"
    assert f"127.0.0.1:{port}" in str(caught.value) and "refused" in str(caught.value)


def test_ldaps_on_the_plain_port_says_so(samba_dc):
    with pytest.raises(DirectoryError) as caught:
        connect(samba_dc, port=389)
    assert caught.value.stage == "tls" and "use port 636" in str(caught.value)


def test_unknown_host_name(samba_dc):
    with pytest.raises(DirectoryError) as caught:
        connect(samba_dc, server="no-such-host.invalid")
    assert caught.value.stage == "dns" and "no-such-host.invalid" in str(caught.value)


# ---------------------------------------------------------------------------
# paged_search


class CountingSearches:
    """Counts the search operations a connection sends."""

    def __init__(self, conn):
        self.count = 0
        original = conn.search

        def search(*args, **kwargs):
            self.count += 1
            return original(*args, **kwargs)

        conn.search = search


@pytest.fixture
def conn(samba_dc):
    connection = connect(samba_dc)
    yield connection
    ad_connect.close(connection)


def test_paged_search_reads_every_user_exactly(samba_dc, conn):
    counter = CountingSearches(conn)
    entries = list(paged_search(conn, samba_dc.staff_ou, "(&(objectClass=user)(objectCategory=person))",
                                USER_ATTRIBUTES, page_size=6))
    fixed = samba_dc_script.FIXED_USERS
    assert counter.count == 4  # 20 users in pages of 6
    assert len(entries) == len(fixed) == 20
    by_sam = {e["sAMAccountName"][0].decode(): e for e in entries}
    for person in fixed:
        entry = by_sam[person["sam"]]
        assert entry["displayName"][0].decode("utf-8") == person["name"]
        assert entry["givenName"][0].decode("utf-8") == person["given"]
        if person["sn"]:
            assert entry["sn"][0].decode("utf-8") == person["sn"]
        else:
            assert "sn" not in entry
        assert ("mail" in entry) == ("nomail" not in person.get("flags", []))
        disabled = int(entry["userAccountControl"][0]) & 2
        assert bool(disabled) == ("disabled" in person.get("flags", []))
        uuid.UUID(guid_to_str(entry["objectGUID"][0]))
    assert by_sam["ivan.petrov"]["displayName"] == ["Иван Петров".encode()]
    assert by_sam["li.wei"]["sn"] == ["李".encode()]
    assert by_sam["paulo.souza"]["dn"] == f"CN=Souza\\, Paulo,{samba_dc.staff_ou}"
    assert f"CN=Grupo Grande,{samba_dc.groups_ou}".encode() in by_sam["joao.conceicao"]["memberOf"]


def test_paged_search_streams_one_page_at_a_time(samba_dc, conn):
    counter = CountingSearches(conn)
    stream = paged_search(conn, samba_dc.staff_ou, "(objectClass=user)", ["cn"], page_size=5)
    first = next(stream)
    assert counter.count == 1 and first["cn"]
    rest = list(stream)
    # 4 pages of 5; a server may answer one more (empty) page when the count divides evenly
    assert len(rest) == 19 and counter.count in (4, 5)


def test_paged_search_names_attributes_as_requested(samba_dc, conn):
    entries = list(paged_search(conn, samba_dc.staff_ou, "(sAMAccountName=li.wei)", ["objectguid", "DISPLAYNAME"]))
    assert set(entries[0]) == {"dn", "objectguid", "DISPLAYNAME"}


def test_paged_search_groups_and_nesting(samba_dc, conn):
    groups = {
        e["cn"][0].decode(): e
        for e in paged_search(conn, samba_dc.groups_ou, "(objectCategory=group)", ["cn", "member"], page_size=3)
    }
    assert set(groups) == set(samba_dc_script.GROUPS) | {samba_dc_script.BIG_GROUP}
    assert len(groups["Grupo Grande"]["member"]) == 20
    assert "member" not in groups["Vazio"]
    assert f"CN=Financeiro,{samba_dc.groups_ou}".encode() in groups["Gestores"]["member"]
    assert "Administração" in groups


def test_paged_search_cancel(samba_dc, conn):
    cancel = threading.Event()
    seen = []
    with pytest.raises(SearchCancelled) as caught:
        for entry in paged_search(conn, samba_dc.staff_ou, "(objectClass=user)", ["cn"], page_size=6, cancel=cancel):
            seen.append(entry)
            cancel.set()
    assert len(seen) == 6 and caught.value.entries_read == 6
    # the connection is still usable after the server dropped the search
    assert len(list(paged_search(conn, samba_dc.staff_ou, "(objectClass=user)", ["cn"]))) == 20


def test_paged_search_already_cancelled_reads_nothing(samba_dc, conn):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(SearchCancelled):
        next(paged_search(conn, samba_dc.staff_ou, "(objectClass=user)", ["cn"], cancel=cancel))


def test_paged_search_lost_connection_mid_read_raises(samba_dc, conn):
    stream = paged_search(conn, samba_dc.staff_ou, "(objectClass=user)", ["cn"], page_size=6)
    for _ in range(6):
        next(stream)
    conn.socket.shutdown(socket.SHUT_RDWR)  # the DC goes away between pages
    with pytest.raises(DirectoryError) as caught:
        list(stream)
    assert caught.value.stage == "search"
    assert "after 6 entries" in str(caught.value) and "incomplete" in str(caught.value)


def test_paged_search_missing_base_is_an_error_not_empty(samba_dc, conn):
    with pytest.raises(DirectoryError) as caught:
        list(paged_search(conn, "OU=Gone," + samba_dc.base_dn, "(objectClass=user)", ["cn"]))
    assert caught.value.stage == "base_dn"


def test_paged_search_bad_filter(samba_dc, conn):
    with pytest.raises(DirectoryError) as caught:
        list(paged_search(conn, samba_dc.staff_ou, "(objectClass=user", ["cn"]))
    assert caught.value.stage == "search" and "filter" in str(caught.value)


def test_paged_search_escaped_values(samba_dc, conn):
    name = escape_filter_value("Souza, Paulo")
    found = list(paged_search(conn, samba_dc.staff_ou, f"(cn={name})", ["cn"]))
    assert [e["cn"] for e in found] == [["Souza, Paulo".encode()]]
    star = list(paged_search(conn, samba_dc.staff_ou, f"(cn={escape_filter_value('*')})", ["cn"]))
    assert star == []


def test_paged_search_by_guid(samba_dc, conn):
    [entry] = paged_search(conn, samba_dc.staff_ou, "(sAMAccountName=joao.conceicao)", ["objectGUID"])
    guid = guid_to_str(entry["objectGUID"][0])
    [again] = paged_search(conn, samba_dc.base_dn, f"(objectGUID={guid_filter_value(guid)})", ["sAMAccountName"])
    assert again["sAMAccountName"] == [b"joao.conceicao"]


# ---------------------------------------------------------------------------
# test_directory


def test_directory_report_for_a_good_directory(samba_dc):
    report = directory_test.test_directory(samba_dc.directory_settings(), samba_dc.admin_secret())
    assert report.ok and report.failed_stage is None
    assert report.dns_host_name == samba_dc.tls_server_name
    assert report.default_naming_context == samba_dc.base_dn
    assert report.base_dn_exists is True
    # Other tests add users to the shared DC: only a lower bound holds here.
    assert report.can_read_users and report.users_sampled >= 20
    assert report.can_read_groups and report.groups_sampled >= 9
    assert report.missing_user_attributes == []
    assert report.can_read_deleted_objects is True
    assert [s.name for s in report.steps] == [
        "dns", "tcp", "tls", "bind", "base_dn", "rootdse", "users", "groups", "deleted_objects"
    ]
    assert all(s.ok for s in report.steps)
    assert samba_dc.admin_password not in "\n".join(report.lines()) + repr(report)


def test_directory_report_samples_do_not_read_everything(samba_dc):
    report = directory_test.test_directory(samba_dc.directory_settings(), samba_dc.admin_secret(), sample_size=5)
    assert report.users_sampled == 5 and report.users_more
    assert "5+ users" in report.message


def test_directory_report_least_privilege_account_in_an_ou(samba_dc):
    directory = samba_dc.directory_settings(bind_user=samba_dc.upn("alice.andrade"), base_dn=samba_dc.staff_ou)
    report = directory_test.test_directory(directory, SecretStr(samba_dc.passwords["alice.andrade"]))
    assert report.ok and report.users_sampled == 20
    assert report.can_read_groups is False and any("group" in w for w in report.warnings)


def test_directory_report_stops_at_the_failed_stage(samba_dc):
    report = directory_test.test_directory(samba_dc.directory_settings(), SecretStr("Not-The-Password-1"))
    assert not report.ok and report.failed_stage == "bind"
    assert [(s.name, s.ok) for s in report.steps] == [
        ("dns", True), ("tcp", True), ("tls", True), ("bind", False)
    ]
    assert "Not-The-Password-1" not in report.message + repr(report)

    report = directory_test.test_directory(samba_dc.directory_settings(tls_server_name=None), samba_dc.admin_secret())
    assert report.failed_stage == "tls" and "tls-server-name" in report.message

    report = directory_test.test_directory(
        samba_dc.directory_settings(base_dn="OU=Nowhere," + samba_dc.base_dn), samba_dc.admin_secret()
    )
    assert report.failed_stage == "base_dn" and report.base_dn_exists is False
