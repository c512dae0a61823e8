"""The input rules shared by the CLI, the console and the settings file."""

import pytest
from hypothesis import given, settings, strategies as st
from ldap3.utils.dn import escape_rdn, parse_dn

from smartsync_tui.config import validation
from smartsync_tui.core.dn import is_dn


@pytest.mark.parametrize("server", ["10.0.0.5", "dc1", "dc1.corp.example.com", "DC1.CORP.EXAMPLE", "fe80::1"])
def test_server_accepts_ip_or_name(server):
    assert validation.check_server(f"  {server} ") == server


@pytest.mark.parametrize(
    "server, says",
    [
        ("LDAP://dc1.corp.example", "without 'LDAP://'"),
        ("ldaps://10.0.0.5:636", "without 'ldaps://'"),
        ("ldaps://dc1", "without 'ldaps://'"),
        ("https://host", "without 'https://'"),
        ("ldap:dc1", "without 'ldap:'"),
        ("dc1.corp.example:389", "without the port"),
        ("", "give the IP address or name"),
        ("dc 1", "no path, no spaces"),
        ("dc1/corp", "no path"),
        ("-bad-.example", "not an IP address or a host name"),
    ],
)
def test_server_refusals_say_what_to_fix(server, says):
    with pytest.raises(ValueError, match=says):
        validation.check_server(server)


def test_ldap_url_refusal_suggests_the_bare_name():
    with pytest.raises(ValueError, match=r"for example dc1\.corp\.example\)"):
        validation.check_server("LDAP://dc1.corp.example:389")


@pytest.mark.parametrize("dn", ["DC=corp,DC=example", "OU=Staff,DC=corp,DC=example", "CN=Users, DC=a"])
def test_base_dn_accepts_dns(dn):
    assert validation.check_base_dn(dn) == dn


@pytest.mark.parametrize("dn", ["corp.example", "ldap://dc1/DC=corp", "", "DC=corp,,"])
def test_base_dn_refuses_non_dns(dn):
    with pytest.raises(ValueError):
        validation.check_base_dn(dn)


def test_a_domain_typed_as_base_dn_gets_its_dn():
    with pytest.raises(ValueError) as refused:
        validation.check_base_dn("corp.example.test")
    assert str(refused.value) == "'corp.example.test' is a domain name, not a DN: write it as DC=corp,DC=example,DC=test"
    with pytest.raises(ValueError, match=r"not an address \('ldaps://\.\.\.'\)"):
        validation.check_base_dn("ldaps://dc1/DC=corp")


@pytest.mark.parametrize("check, typed, scheme", [
    (validation.check_environment_host, "http://identity.example.com", "http://"),
    (validation.check_environment_host, "HTTPS://identity.example.com", "HTTPS://"),
    (validation.check_proxy_host, "socks5://proxy.example.com", "socks5://"),
])
def test_a_scheme_refusal_names_the_scheme_typed(check, typed, scheme):
    with pytest.raises(ValueError, match=f"without '{scheme}'"):
        check(typed)


def test_environment_host_without_scheme():
    assert validation.check_environment_host("app.fluigidentity.com") == "app.fluigidentity.com"
    assert validation.check_environment_host("127.0.0.1:8765") == "127.0.0.1:8765"
    with pytest.raises(ValueError, match="without 'https://'.*for example app.fluigidentity.com"):
        validation.check_environment_host("https://app.fluigidentity.com/")
    with pytest.raises(ValueError, match="without a path"):
        validation.check_environment_host("app.fluigidentity.com/rest")
    with pytest.raises(ValueError, match="1 to 65535"):
        validation.check_environment_host("localhost:99999")


def test_token_shape():
    token = "Zx8_kq-3vB1mN0pQrS7tUwY2aC4dE6fG"
    assert validation.check_token(f"{token}\n") == token
    with pytest.raises(ValueError, match="copy it again"):
        validation.check_token("abc def ghi jkl mno pqr")
    with pytest.raises(ValueError, match="too short"):
        validation.check_token("abc")
    with pytest.raises(ValueError, match="paste"):
        validation.check_token("")


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_port_range(port):
    with pytest.raises(ValueError, match="1 to 65535"):
        validation.check_port(port)


def test_ldap_filter_override():
    assert validation.check_ldap_filter("(&(objectClass=user)(department=IT))") == "(&(objectClass=user)(department=IT))"
    assert validation.check_ldap_filter("  ") is None
    with pytest.raises(ValueError, match="balance"):
        validation.check_ldap_filter("(&(objectClass=user)")


# -- the DN syntax check (core/dn.py): RFC 4514, checked against ldap3's own parser and escaper



def _ldap3_parses(text: str) -> bool:
    try:
        return bool(parse_dn(text, strip=True))
    except Exception:
        return False


@pytest.mark.parametrize("dn, ok", [
    ("CN=Souza\\, Paulo,OU=Staff,DC=corp", True), ("CN=a+OU=b,DC=c", True), (" CN = a , DC = b ", True),
    ("CN=\\23hash,DC=c", True), ("1.3.6.1.4.1.1466.0=#04024869,DC=c", True), ("CN=é,DC=b", True),
    ("CN=", False), ("=a", False), ("CN=a,,DC=b", False), ("CN=a;DC=b", False), ("CN=a\\", False),
    ("CN=a\"b", False), ("CN=<a>", False), ("a b=c", False), ("CN= ,DC=a", False), ("CN=a\x00", False),
    # AD wants "=" and a leading "#" escaped: a missing comma is caught, a BER value is hex.
    ("OU=Staff DC=corp", False), ("OU=a,DC=c DC=d", False), ("OU==a", False), ("OU=#1 Team", False),
    ("OU=#", False), ("OU=\\#1 Team,DC=c", True), ("OU=a\\=b,DC=c", True), ("OU=R&D #1,DC=c", True),
    ("CN=a\\ ,DC=c", True), ("CN=a\\zz,DC=c", False), ("CN=a\\2,DC=c", False),
    # A long run of spaces is read in one pass (a backtracking pattern took minutes on it).
    ("OU=" + " " * 20_000 + "x" + " " * 20_000 + "<", False), ("OU=" + " " * 20_000 + "x,DC=c", True),
])
def test_is_dn_follows_rfc_4514(dn, ok):
    assert is_dn(dn) is ok


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("CNOUD=,+\\ #\"<>;a1é")), max_size=14))
def test_every_dn_ldap3_parses_is_accepted(text):
    # The check refuses nothing the directory library would send (NUL is refused on purpose).
    if _ldap3_parses(text):
        assert is_dn(text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12).filter(lambda v: v.strip() and "\x00" not in v), min_size=1, max_size=4))
def test_any_value_escaped_makes_a_dn(values):
    dn = ",".join("OU=" + escape_rdn(value) for value in values) + ",DC=corp"
    assert is_dn(dn) and validation.check_base_dn(dn) == dn
