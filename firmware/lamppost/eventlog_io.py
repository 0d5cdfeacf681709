"""The event log's flash side (scan at boot, append, read back), imported only when used."""
import json
import os
from micropython import const

_MAX_BYTES = const(16384)  # a full file of 64 entries is ~10 KB: anything larger is not ours


def _entry(line):
    """The entry [seq, t, kind, text] a line holds, else None (torn, not UTF-8, wrong types)."""
    try:
        e = json.loads(line.decode())
    except Exception:  # ValueError (UnicodeError), MemoryError
        return None
    if type(e) is list and len(e) == 4 and type(e[0]) is int and e[0] >= 0 \
            and type(e[1]) is int and type(e[2]) is str and type(e[3]) is str:
        return e
    return None


def read(path, bad=None):
    """The valid entries of one file. A torn last line (power cut) is skipped silently;
    bad (a list) gets one more item per other unusable line."""
    try:
        if os.stat(path)[6] > _MAX_BYTES:
            raise OSError(27)  # EFBIG
        f = open(path, "rb")
    except OSError:
        return
    with f:
        for line in f:
            e = _entry(line)
            if e is None:
                if bad is not None and line[-1:] == b"\n":
                    bad.append(1)
                continue
            yield e


def _usable(path, top):
    """False (and the file set aside) for a file that is a directory, oversized, unreadable
    or holds lines that are not entries: a corrupt log must not stop the boot. top[0]
    becomes the largest sequence number readable in it (never handed out again)."""
    try:
        st = os.stat(path)
    except OSError:
        return True  # missing: a new log
    n = []
    try:
        if st[0] & 0x4000 or st[6] > _MAX_BYTES:
            raise OSError(21)
        for e in read(path, n):
            if e[0] > top[0]:
                top[0] = e[0]
    except Exception:
        n.append(1)
    if n:
        from lamppost.bootfiles import report  # loaded while the App boots
        report(path)
        return False
    return True


def scan(log):
    """Find the current file, its length, the next sequence number and the newest entry's time."""
    last = [-1, -1]
    counts = [0, 0]
    top = [-1]
    for i in (0, 1):
        if not _usable(log.paths[i], top):
            continue
        for e in read(log.paths[i]):
            counts[i] += 1
            if e[0] > last[i]:
                last[i] = e[0]
            if e[0] >= max(last):
                log.last_t = e[1]
    log.cur = 0 if last[0] >= last[1] else 1
    log.n = counts[log.cur]
    log.seq = max(max(last), top[0]) + 1


def append(log, per_file):
    """Append the pending entries; switch files when the current one is full."""
    try:
        with open(log.paths[log.cur], "a") as f:
            for e in log.pending:
                f.write(json.dumps(e))
                f.write("\n")
        log.n += len(log.pending)
        log.pending = []
        log.writes += 1
    except OSError:
        pass  # flash full or failing: keep the entries in RAM, try again later
    if log.n >= per_file:
        log.cur ^= 1
        log.n = 0
        try:
            open(log.paths[log.cur], "w").close()
        except OSError:
            pass


def tail(log, n):
    out = []
    for i in (log.cur ^ 1, log.cur):
        for e in read(log.paths[i]):
            out.append(e)
            if len(out) > n:
                out.pop(0)
    for e in log.pending:
        out.append(list(e))  # copies: the caller may reformat them
    return out[-n:] if n > 0 else []
