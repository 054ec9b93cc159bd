"""Test certificates made with the ``openssl`` CLI, and Mosquitto listeners that demand them.

Everything is generated into the test's own directory (EC P-256 keys: fast, no network), so
a Raspberry Pi can run these tests too. ``secure_listener`` gives the Mosquitto config of a
listener with a password file and TLS; ``observer_listener`` an anonymous plain listener on
another port of the same broker, from which a test watches what the bridge published.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


@dataclass(frozen=True)
class Pki:
    """A CA, a server certificate and a client certificate, all signed by that CA."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run([OPENSSL, *args], cwd=directory, check=True, capture_output=True)


def _key(directory: Path, name: str) -> Path:
    path = directory / f"{name}.key"
    _openssl(directory, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", path.name)  # fmt: skip
    return path


def _signed(directory: Path, name: str, subject: str, extensions: str) -> tuple[Path, Path]:
    """A key and a certificate for ``subject`` signed by ``ca.crt`` with ``extensions``."""
    key = _key(directory, name)
    (directory / f"{name}.ext").write_text(extensions)
    _openssl(directory, "req", "-new", "-key", key.name, "-subj", subject, "-out", f"{name}.csr")
    _openssl(directory, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-sha256", "-extfile", f"{name}.ext",
             "-out", f"{name}.crt")  # fmt: skip
    return directory / f"{name}.crt", key


def make_pki(directory: Path, server_names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> Pki:
    """Certificates in ``directory``; the server's name ``server_names`` (DNS names or IPs)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key(directory, "ca")
    _openssl(directory, "req", "-x509", "-new", "-key", ca_key.name,
             "-subj", "/CN=iot-monitor test CA", "-days", "2", "-sha256",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.crt")  # fmt: skip
    names = ",".join(f"{'IP' if _is_ip(name) else 'DNS'}:{name}" for name in server_names)
    server_cert, server_key = _signed(
        directory,
        "server",
        f"/CN={server_names[0]}",
        f"subjectAltName={names}\nextendedKeyUsage=serverAuth\n",
    )
    client_cert, client_key = _signed(
        directory, "client", "/CN=iot-monitor bridge", "extendedKeyUsage=clientAuth\n"
    )
    return Pki(directory / "ca.crt", server_cert, server_key, client_cert, client_key)


def _is_ip(name: str) -> bool:
    try:
        ip_address(name)
    except ValueError:
        return False
    return True


def password_file(directory: Path, users: dict[str, str]) -> Path:
    """A Mosquitto password file (hashed by ``mosquitto_passwd``) holding ``users``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "passwd"
    path.touch(mode=0o600)
    for user, password in users.items():
        subprocess.run([MOSQUITTO_PASSWD, "-b", str(path), user, password], check=True)
    return path


def secure_listener(
    port: int,
    *,
    passwords: Path | None = None,
    pki: Pki | None = None,
    require_certificate: bool = False,
    host: str = "127.0.0.1",
) -> str:
    """A listener that wants a password (if ``passwords``) and TLS (if ``pki``).

    Starts with ``per_listener_settings true`` so that an ``observer_listener`` added after
    it keeps its own (anonymous) rules.
    """
    lines = ["per_listener_settings true", f"listener {port} {host}"]
    if passwords is not None:
        lines += ["allow_anonymous false", f"password_file {passwords}"]
    else:
        lines.append("allow_anonymous true")
    if pki is not None:
        lines += [
            f"cafile {pki.ca_cert}",
            f"certfile {pki.server_cert}",
            f"keyfile {pki.server_key}",
            f"require_certificate {'true' if require_certificate else 'false'}",
        ]
    return "\n".join(lines) + "\n"


def observer_listener(port: int, host: str = "127.0.0.1") -> str:
    """An anonymous plain listener, for a test's ``Recorder`` (after ``secure_listener``)."""
    return f"listener {port} {host}\nallow_anonymous true\n"
