"""The network task on the ESP32 HAL: watchdog health, and name lookups on the backoff schedule.

WiFi is the fake `network` (tests/fakes); the broker is a fake `socket` module put into
hal.sockets, answering CONNECT, PINGREQ, PUBLISH (QoS 1) and SUBSCRIBE like a broker would.
"""
import json
import machine
import network
import board
from lamppost import app

NIGHT = 821822400
CFG = json.dumps({"id": "NL-0001", "lat": 52.03, "lon": 5.56, "sensor": "ideal",
                  "wifi_ssid": "Gemeente", "wifi_pass": "secretpass",
                  "mqtt_host": "mqtt.example.nl"})


class Broker:
    """Stands in for the `socket` module: getaddrinfo and non-blocking client sockets."""

    def __init__(self):
        self.lookups = 0
        self.dns_down = False
        self.refuse = False  # connects fail (host unreachable)
        self.socks = []
        self.clock = None  # hal.esp32's FakeTime: a lookup costs board time, as on lwIP

    def getaddrinfo(self, host, port):
        self.lookups += 1
        if self.clock is not None:
            self.clock.us += 7000000  # lwIP's DNS client blocks up to 1+1+2+3 s per server
        if self.dns_down:
            raise OSError(-202)
        return [(2, 1, 0, "", ("10.0.0.9", port))]

    def socket(self, *a):
        s = Sock(self)
        self.socks.append(s)
        return s


class Sock:
    def __init__(self, broker):
        self.broker = broker
        self.rx = bytearray()
        self.tx = bytearray()  # bytes of a packet not yet whole
        self.dropped = False

    def setsockopt(self, *a):
        pass

    def setblocking(self, flag):
        pass

    def connect(self, addr):
        assert addr == ("10.0.0.9", 1883), addr
        if self.broker.refuse:
            raise OSError(113)  # EHOSTUNREACH
        raise OSError(115)  # EINPROGRESS, as a non-blocking connect on the board

    def write(self, data):
        """TCP is a stream: a packet may come in several writes (the client sends a large
        payload's header first). Buffer, and answer each whole packet as a broker would."""
        took = len(data)
        self.tx.extend(bytes(data))
        data = bytes(self.tx)
        i = 0
        while i < len(data):
            first = data[i]
            n, mul, j = 0, 1, i + 1
            while j < len(data):
                b = data[j]
                n += (b & 127) * mul
                mul *= 128
                j += 1
                if b < 128:
                    break
            else:
                break  # the length bytes are not all here yet
            if j + n > len(data):
                break  # the body is not all here yet
            body = data[j:j + n]
            kind = first >> 4
            if kind == 1:
                self.rx.extend(b"\x20\x02\x00\x00")  # CONNACK, accepted
            elif kind == 12:
                self.rx.extend(b"\xd0\x00")  # PINGRESP
            elif kind == 8:
                self.rx.extend(b"\x90\x03" + body[:2] + b"\x01")  # SUBACK
            elif kind == 3 and (first >> 1) & 3 == 1:
                tl = body[0] << 8 | body[1]
                self.rx.extend(b"\x40\x02" + body[2 + tl:4 + tl])  # PUBACK
            i = j + n
        self.tx = self.tx[i:]
        return took

    def readinto(self, buf):
        if self.dropped:
            return 0  # the broker closed the connection
        if not self.rx:
            return None
        n = min(len(buf), len(self.rx))
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n

    def close(self):
        pass


def _board(seconds):
    """A booted fake board with WiFi in range and the fake broker; (app, hal, broker)."""
    import hal.sockets
    board.fresh(files={"config.json": CFG})
    board.boot()
    network.AP.clear()
    network.AP["Gemeente"] = "secretpass"
    br = Broker()
    hal.sockets.socket = br
    hal.sockets._cache.clear()
    h = board.hal(NIGHT, until=NIGHT + seconds)
    import hal.esp32
    br.clock = hal.esp32.time
    return app.App(h), h, br


def _run(a, until=None):
    import hal.esp32
    if until is not None:
        hal.esp32.time.until = until
    try:
        a.run()
    except board.Stop:
        pass


def test_the_network_task_must_keep_polling_for_the_watchdog_to_be_fed():
    a, h, br = _board(120)
    _run(a)
    assert a.net.cli.connects == 1 and "net" in a.health.tasks
    wdt = machine.WDTS[0]
    fed = wdt.feeds
    assert fed >= 110 and a.health.stale is None  # link and session up: fed every tick
    a.net.poll = lambda now: None  # the network task stops making progress
    _run(a, NIGHT + 300)
    assert a.health.stale == "net"
    assert 55 <= wdt.feeds - fed <= 62, wdt.feeds - fed  # ~60 s more, then the board is left to reset


def test_a_broker_that_is_down_never_starves_the_watchdog():
    a, h, br = _board(900)
    br.refuse = True  # nothing the broker does may reboot the board
    _run(a)
    assert a.net.cli.connects == 0 and a.net.cli.attempts >= 5
    assert a.health.stale is None


def test_a_failing_lookup_is_retried_on_the_backoff_schedule_not_every_poll():
    a, h, br = _board(600)
    br.dns_down = True
    _run(a)
    cli = a.net.cli
    # one lookup (blocking 7 s of board time each) per backoff attempt: 2 s doubling to 300 s
    assert br.lookups == cli.attempts and 6 <= cli.attempts <= 12, (br.lookups, cli.attempts)
    assert "DNS lookup of mqtt.example.nl failed" in cli.last_error, cli.last_error
    assert a.health.stale is None and machine.WDTS[0].feeds >= 500  # the loop went on


def test_the_address_is_cached_and_looked_up_again_only_after_a_failed_connect():
    import hal.esp32
    a, h, br = _board(30)
    _run(a)
    cli = a.net.cli
    assert cli.connects == 1 and br.lookups == 1
    br.socks[-1].dropped = True  # the broker restarts: the next attempt succeeds with the cached address
    _run(a, hal.esp32.time.time() - 946684800 + 30)
    assert cli.connects == 2 and br.lookups == 1, (cli.connects, br.lookups)
    br.refuse = True
    br.socks[-1].dropped = True
    before = cli.attempts
    _run(a, hal.esp32.time.time() - 946684800 + 120)
    failed = cli.attempts - before
    assert failed >= 3 and br.lookups == 1 + failed - 1, (failed, br.lookups)  # all but the first
    br.refuse = False
    br.dns_down = True  # DNS still down when the broker comes back: the last address is tried
    _run(a, hal.esp32.time.time() - 946684800 + 400)
    assert cli.connects == 3, (cli.connects, cli.last_error)
