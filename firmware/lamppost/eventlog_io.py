"""The event log's flash side (scan at boot, append, read back), imported only when used."""
import json


def read(path):
    """The valid entries of one file; a torn last line (power cut) is skipped."""
    try:
        f = open(path)
    except OSError:
        return
    with f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if isinstance(e, list) and len(e) == 4 and isinstance(e[0], int):
                yield e


def scan(log):
    """Find the current file, its length, the next sequence number and the newest entry's time."""
    last = [-1, -1]
    counts = [0, 0]
    for i in (0, 1):
        for e in read(log.paths[i]):
            counts[i] += 1
            last[i] = e[0]
            if e[0] >= max(last):
                log.last_t = e[1]
    log.cur = 0 if last[0] >= last[1] else 1
    log.n = counts[log.cur]
    log.seq = max(last) + 1


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
