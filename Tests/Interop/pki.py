"""A throwaway certificate authority for the TLS tests, made with the openssl command-line tool.

``TestPKI(directory)`` writes, in `directory`:
- ``ca.crt`` / ``ca.key``: the test CA; ``other-ca.crt``: an unrelated CA (the "wrong CA");
- ``server.crt`` / ``server.key``: for ``localhost`` and ``127.0.0.1``, signed by the test CA;
- ``other-server.crt`` / ``.key``: the same names, signed by the other CA (a renewed certificate);
- ``server-encrypted.key``: the same key encrypted with the passphrase ``secret``;
- ``client.crt`` / ``client.key``: subject ``/C=GB/O=Tern Test/CN=sensor-1``, signed by the test CA;
- ``other-client.crt`` / ``.key``: signed by the other CA; ``expired-client.crt`` / ``.key``: by the test CA,
  valid only in January 2020.
Elliptic-curve keys keep it fast (well under a second in all).
"""
import subprocess
from pathlib import Path

CLIENT_SUBJECT = "/C=GB/O=Tern Test/CN=sensor-1"
# As Mosquitto's use_subject_as_username writes it (RFC 2253: most specific first).
CLIENT_SUBJECT_RFC2253 = "CN=sensor-1,O=Tern Test,C=GB"


def openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


class TestPKI:
    __test__ = False  # not a pytest class

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        d = self.directory
        self._authority("ca", "/CN=Tern Test CA")
        self._authority("other-ca", "/CN=Some Other CA")
        (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                      "extendedKeyUsage=serverAuth\n")
        (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
        self._leaf("server", "/CN=localhost", "ca", "server.ext")
        self._leaf("other-server", "/CN=localhost", "other-ca", "server.ext")
        self._leaf("client", CLIENT_SUBJECT, "ca", "client.ext")
        self._leaf("other-client", CLIENT_SUBJECT, "other-ca", "client.ext")
        self._expired_leaf("expired-client", CLIENT_SUBJECT)
        openssl("pkey", "-in", "server.key", "-out", "server-encrypted.key", "-aes256", "-passout", "pass:secret",
                cwd=d)

    def path(self, name: str) -> str:
        return str(self.directory / name)

    def server_settings(self) -> str:
        """The listener lines for the test CA and the server certificate."""
        return (f"cafile {self.path('ca.crt')}\ncertfile {self.path('server.crt')}\n"
                f"keyfile {self.path('server.key')}\n")

    def _key(self, name: str) -> None:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key",
                cwd=self.directory)

    def _authority(self, name: str, subject: str) -> None:
        self._key(name)
        openssl("req", "-x509", "-new", "-key", f"{name}.key", "-subj", subject, "-days", "2", "-out", f"{name}.crt",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                cwd=self.directory)

    def _leaf(self, name: str, subject: str, authority: str, extensions: str) -> None:
        self._key(name)
        openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=self.directory)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{authority}.crt", "-CAkey", f"{authority}.key",
                "-CAcreateserial", "-days", "2", "-extfile", extensions, "-out", f"{name}.crt", cwd=self.directory)

    def _expired_leaf(self, name: str, subject: str) -> None:
        # `openssl ca` is the one command of OpenSSL 3.0 that takes explicit validity dates.
        d = self.directory
        self._key(name)
        openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=d)
        (d / "ca-db").mkdir(exist_ok=True)
        (d / "ca-db" / "index.txt").write_text("")
        (d / "ca-db" / "serial").write_text("1000\n")
        (d / "ca.cnf").write_text(
            "[ca]\ndefault_ca = test\n"
            "[test]\ndir = ca-db\ndatabase = ca-db/index.txt\nserial = ca-db/serial\nnew_certs_dir = ca-db\n"
            "certificate = ca.crt\nprivate_key = ca.key\ndefault_md = sha256\npolicy = anything\n"
            "unique_subject = no\n"
            "[anything]\ncommonName = supplied\n")
        openssl("ca", "-batch", "-config", "ca.cnf", "-in", f"{name}.csr", "-out", f"{name}.crt", "-notext",
                "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", cwd=d)
