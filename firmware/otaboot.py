"""A/B slot selection at boot, the part of over-the-air updates that is never updated over the air.

Runs before anything imports lamppost (boot.py on a board, main.py in the simulator) and
puts the selected slot's directory (ota/a or ota/b on flash) first on sys.path, so
`import lamppost` and `import hal` load that slot's modules; no slot ("") runs the
firmware installed by cable. ota.json (written atomically, as lamppost/store.py) says
which slot is confirmed ("slot") and which is on trial ("try"). Every boot of a trial
that does not follow a power-on counts; past _TRIES such boots (a crash loop, a failing
import, a hang the watchdog ends) the trial is abandoned here and the confirmed slot
boots again with "rb" (version, why) for the firmware to report as `ev: ota`
`state: rolledBack`. Imports only json and os: nothing of a slot can break this.
See docs/ota.md.
"""
import json
import os
import sys
from micropython import const

PATH = "ota.json"
_TRIES = const(2)  # trial boots after a reset (not a power-on); the next one rolls back

ROOT = ""  # the flash directory ("" on a board: the filesystem root)
ACTIVE = ""  # the slot running: "", "a" or "b"
TRIAL = False  # True while ACTIVE is on trial
ROLLED = False  # this boot abandoned a trial (boot.py then starts the crash count afresh)
DONE = False


def restore():
    """After main.py dropped this module (its heap is the App's): the choice, from lamppost.SLOT."""
    global ROOT, ACTIVE, TRIAL, DONE
    if not DONE:
        import lamppost
        ROOT, ACTIVE, TRIAL = lamppost.SLOT
        DONE = True


def path(name):
    return ROOT + "/" + name if ROOT else name


def load():
    """ota.json as a dict ({} when missing or unreadable)."""
    try:
        with open(path(PATH)) as f:
            v = json.load(f)
        return v if isinstance(v, dict) else {}
    except Exception:
        return {}


def save(st):
    """Write ota.json atomically (temporary file, rename); False if the flash refused."""
    tmp = path(PATH + ".tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(st, f)
        os.rename(tmp, path(PATH))
        return True
    except OSError:
        return False


def slot_dir(slot):
    return path("ota/" + slot) if ROOT else "/ota/" + slot


def select(root="", cause="power-on"):
    """Choose the slot for this boot (once); cause is the reset cause in the HAL's words."""
    global ROOT, ACTIVE, TRIAL, ROLLED, DONE
    if DONE:
        return ACTIVE
    DONE = True
    ROOT = root
    st = load()
    slot = st.get("slot", "")
    if slot not in ("", "a", "b"):
        slot = ""
    use = slot
    tr = st.get("try")
    if tr in ("a", "b") and tr != slot:
        n = st.get("n", 0)
        if type(n) is not int:
            n = 0
        if cause != "power-on":
            n += 1
        if n > _TRIES:
            st = {"slot": slot, "rb": {"v": st.get("tv", "?"), "why": "trial failed to run: %d resets "
                                       "in a row, the last by %s" % (n, cause)}}
            ROLLED = True
        else:
            st["n"] = n
            st["c"] = cause
            use = tr
            TRIAL = True
        save(st)
    ACTIVE = use
    if use:
        sys.path.insert(0, slot_dir(use))
    return use
