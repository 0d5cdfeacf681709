"""The network part of the ESP32 HAL: WiFi station that reconnects by itself, and sockets.

The ESP32 HAL mixes this in (`class Hal(Esp32Net)`); lamppost/uplink.py calls
wifi_start(cfg) once when the config names a broker.
network.WLAN keeps reconnecting on its own (reconnects=-1); net_up() only asks
whether it is associated, so a lost access point never blocks or reboots the board.
"""
import network
from hal import sockets


class Esp32Net:
    wlan = None

    def wifi_start(self, cfg):
        if not cfg.get("wifi_ssid"):
            return
        w = network.WLAN(network.STA_IF)
        w.active(True)
        try:
            w.config(reconnects=-1, dhcp_hostname="lamppost-" + cfg["id"])
        except (ValueError, OSError):
            pass
        w.connect(cfg["wifi_ssid"], cfg["wifi_pass"])
        self.wlan = w

    def net_up(self):
        return self.wlan is not None and self.wlan.isconnected()

    def wifi_info(self):
        w = self.wlan
        if w is None or not w.isconnected():
            return None
        try:
            return {"rssi": w.status("rssi"), "channel": w.config("channel"),
                    "ssid": w.config("essid")}
        except (ValueError, OSError):
            return None

    def net_open(self, host, port, tls=False, ca=None, fresh=False):
        return sockets.open_socket(host, port, tls, ca, fresh)
