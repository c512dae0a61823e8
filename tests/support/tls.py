"""Test helper: a throw-away CA, a server certificate it signs, and a TLS front
that puts a plain-HTTP server (the emulator) behind HTTPS.

``make_ca(folder)`` writes ``ca.pem`` (what the agent is given as its
``ca_file``), ``server.pem`` and ``server.key`` (for 127.0.0.1 and localhost).

``TlsFront(target_port, ca)`` listens on a free 127.0.0.1 port, does the TLS
handshake with the server certificate and relays the decrypted bytes to
``127.0.0.1:target_port``: what a TLS-offloading load balancer does in front
of Identity. The emulator stays the real subprocess every other test talks
to; nothing of its internals is reached into, so it can change freely.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ThrowAwayCA:
    """The files of a throw-away CA and of the one server certificate it signed."""


    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(folder: Path, *, days: int = 2) -> ThrowAwayCA:
    """A CA and a server certificate for 127.0.0.1 and localhost, as PEM files in ``folder``.

    EC P-256 keys: generating them takes milliseconds, RSA-2048 takes up to a second.
    The extensions are those a strict verifier (Python 3.13's VERIFY_X509_STRICT) asks for.
    """
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("smartsync-tui test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(HOST))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca = ThrowAwayCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    ca.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ca.key_file.chmod(0o600)
    return ca


class TlsFront:
    """HTTPS on ``127.0.0.1:port`` in front of a plain-TCP server on ``127.0.0.1:target_port``.

    One asyncio loop in a daemon thread serves every connection: a socket read
    and written from two threads at once is not safe with Python's ssl, and a
    thread per direction would need that.
    """

    def __init__(self, target_port: int, ca: ThrowAwayCA) -> None:
        self.target_port = target_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tls-front", daemon=True)
        self._thread.start()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, HOST, 0, ssl=ca.server_context(), ssl_handshake_timeout=10),
            self._loop,
        ).result(timeout=10)
        self.port: int = self._server.sockets[0].getsockname()[1]
        self.url = f"https://{HOST}:{self.port}"

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            client_writer.close()  # the server behind is down: the client sees its connection closed
            return
        writers = {client_writer, target_writer}
        self._writers |= writers
        try:
            await asyncio.gather(_pump(client_reader, target_writer), _pump(target_reader, client_writer))
        finally:
            self._writers -= writers

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            # Connections still open (a client that kept its socket) end with the front: aborted
            # rather than their tasks cancelled, which asyncio's streams report as an error.
            for writer in list(self._writers):
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            await asyncio.wait(tasks, timeout=5) if tasks else None

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until either side ends, then close the sink (HTTP clients never half-close)."""
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        sink.close()
