"""Fake `network` for the MicroPython unix port, following the ESP32 port's WLAN API. Tests only."""
STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_WRONG_PASSWORD = 202
STAT_NO_AP_FOUND = 201

AP = {}  # ssid -> password of the networks in range


class WLAN:
    def __init__(self, interface_id=STA_IF):
        self.iface = interface_id
        self._active = False
        self._status = STAT_IDLE
        self._ssid = None

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)

    def connect(self, ssid=None, key=None, **kw):
        if not self._active:
            raise OSError("Wifi Not Started")
        if ssid not in AP:
            self._status = STAT_NO_AP_FOUND
        elif AP[ssid] != key:
            self._status = STAT_WRONG_PASSWORD
        else:
            self._status = STAT_GOT_IP
            self._ssid = ssid

    def disconnect(self):
        self._status = STAT_IDLE

    def isconnected(self):
        return self._status == STAT_GOT_IP

    def status(self, param=None):
        if param == "rssi":
            return -60
        return self._status

    def ifconfig(self, cfg=None):
        return ("10.0.0.2", "255.255.255.0", "10.0.0.1", "10.0.0.1")

    def config(self, *a, **kw):
        if a and a[0] == "mac":
            return b"\x24\x0a\xc4\x00\x00\x01"
        return None
