"""Signed OTA bundles: a `make firmware` bundle (or the simulator's compiled firmware), a text
MANIFEST (format, version, chip, rollback flag, one `file PATH BYTES SHA256` line per file)
and MANIFEST.sig, the operator's Ed25519 signature of the manifest's SHA-256 (hex).

The operator's private key signs (`cryptography`, never hand-written crypto on the host);
posts hold only the public key (config ota_key), so a key read out of one post signs
nothing. Layout on disk: DIR/MANIFEST, DIR/MANIFEST.sig, DIR/files/<path>. The loader
(boot.py, main.py, otaboot.*) is never part of a bundle: it selects the slot and is
replaced only by cable. The post's side is firmware/lamppost/ota.py; docs/ota.md.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = "1"
LOADER = {"boot.py", "main.py", "otaboot.mpy", "otaboot.py"}
SKIP = {"MANIFEST.json"}  # lampctl build's own listing
VERSION_RE = re.compile(r"\d+\.\d+\.\d+")
PATH_RE = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")
CHIPS = ("host", "esp32", "esp32s2", "esp32s3", "esp32c3", "esp32c6")


class BundleError(Exception):
    """The bundle cannot be built, signed or read; the message says why."""


@dataclass
class Bundle:
    dir: Path
    manifest: bytes
    sig: bytes
    version: str
    chip: str
    rollback: bool
    files: list[tuple[str, int, str]]  # (path, bytes, sha256 hex) in manifest order

    def data(self, index: int) -> bytes:
        """The bytes of file index (-1: the manifest)."""
        if index == -1:
            return self.manifest
        return (self.dir / "files" / self.files[index][0]).read_bytes()

    def total_bytes(self) -> int:
        return len(self.manifest) + sum(f[1] for f in self.files)

    def offer(self) -> dict:
        return {"v": self.version, "size": len(self.manifest), "sig": self.sig.hex(),
                "rollback": self.rollback}


def keygen(path: Path) -> str:
    """Write a new private key (PEM, mode 0600) to path; returns the public key as hex."""
    if path.exists():
        raise BundleError(f"{path} exists: a signing key is never overwritten")
    k = Ed25519PrivateKey.generate()
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return public_hex(k)


def load_key(path: Path) -> Ed25519PrivateKey:
    try:
        k = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise BundleError(f"cannot read the signing key {path}: {e}") from None
    if not isinstance(k, Ed25519PrivateKey):
        raise BundleError(f"{path} is not an Ed25519 private key")
    return k


def public_hex(k: Ed25519PrivateKey) -> str:
    return k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def manifest_text(version: str, chip: str, rollback: bool, files: list[tuple[str, int, str]]) -> bytes:
    lines = [f"lamppost-ota {FORMAT}", f"version {version}", f"chip {chip}",
             f"rollback {1 if rollback else 0}"]
    lines += [f"file {p} {n} {h}" for p, n, h in files]
    return ("\n".join(lines) + "\n").encode()


def build(src: Path, out: Path, version: str, chip: str, key: Ed25519PrivateKey,
          rollback: bool = False) -> Bundle:
    """Sign the files of src (a bundle directory, loader files left out) into out."""
    if not VERSION_RE.fullmatch(version):
        raise BundleError(f"version {version!r} is not MAJOR.MINOR.PATCH")
    if chip not in CHIPS:
        raise BundleError(f"unknown chip {chip!r}: one of {', '.join(CHIPS)}")
    src = Path(src)
    if not src.is_dir():
        raise BundleError(f"{src} is not a directory (run `make firmware` first)")
    files = []
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src).as_posix()
        if not p.is_file() or rel in LOADER or rel in SKIP or "__pycache__" in rel:
            continue
        if not PATH_RE.fullmatch(rel) or len(rel) > 64:
            raise BundleError(f"{rel}: a path the post would refuse (letters, digits, _.-/ only, 64 at most)")
        data = p.read_bytes()
        files.append((rel, len(data), hashlib.sha256(data).hexdigest()))
    if not any(f[0].startswith("lamppost/") for f in files):
        raise BundleError(f"{src} holds no lamppost/ modules: not a firmware bundle")
    man = manifest_text(version, chip, rollback, files)
    sig = key.sign(hashlib.sha256(man).digest())
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    (out / "files").mkdir(parents=True)
    for rel, _, _ in files:
        dest = out / "files" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dest)
    (out / "MANIFEST").write_bytes(man)
    (out / "MANIFEST.sig").write_text(sig.hex() + "\n")
    return load(out)


def load(d: Path, public: str | None = None) -> Bundle:
    """Read a bundle directory; with public (hex) also verify its signature and files."""
    d = Path(d)
    try:
        man = (d / "MANIFEST").read_bytes()
        sig = bytes.fromhex((d / "MANIFEST.sig").read_text().strip())
    except (OSError, ValueError) as e:
        raise BundleError(f"{d}: not a signed bundle ({e})") from None
    head: dict[str, str] = {}
    files = []
    for line in man.decode(errors="replace").splitlines():
        w = line.split()
        if len(w) == 4 and w[0] == "file":
            files.append((w[1], int(w[2]), w[3]))
        elif len(w) == 2:
            head[w[0]] = w[1]
    if head.get("lamppost-ota") != FORMAT or "version" not in head or "chip" not in head:
        raise BundleError(f"{d}/MANIFEST: not a lamppost-ota {FORMAT} manifest")
    b = Bundle(d, man, sig, head["version"], head["chip"], head.get("rollback") == "1", files)
    if public is not None:
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(public)).verify(sig, hashlib.sha256(man).digest())
        except (InvalidSignature, ValueError):
            raise BundleError(f"{d}: the signature does not verify with that public key") from None
        for i, (p, n, h) in enumerate(files):
            data = b.data(i)
            if len(data) != n or hashlib.sha256(data).hexdigest() != h:
                raise BundleError(f"{d}/files/{p}: differs from the signed manifest")
    return b
