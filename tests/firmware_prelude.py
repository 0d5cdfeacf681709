"""Boot the real firmware with a few lines run before its main.py (a patched HAL, a forced
safe mode): the board of every Simulation started after this starts that entry instead."""
from __future__ import annotations

from pathlib import Path

from simulator import board
from simulator.firmware_proc import FIRMWARE_DIR, FirmwareProcess
from simulator.mpy_cache import compiled_dir


def boot_with(monkeypatch, tmp_path: Path, prelude: str) -> None:
    """Every board (monkeypatched for the test) boots `prelude`, then the firmware's main.py,
    from the compiled firmware as a board runs it."""
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / "main.py").write_text(prelude + f"exec(open({str(FIRMWARE_DIR / 'main.py')!r}).read())\n")
    firmware = str(compiled_dir(FIRMWARE_DIR) or FIRMWARE_DIR)

    class Prelude(FirmwareProcess):
        def __init__(self, flash_dir, uart_path, *a, **kw):
            kw.pop("firmware_dir", None)
            super().__init__(flash_dir, uart_path, *a, firmware_dir=entry, extra_path=[firmware], **kw)
    monkeypatch.setattr(board, "FirmwareProcess", Prelude)
