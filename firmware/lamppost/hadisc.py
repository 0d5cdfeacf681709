"""Home Assistant MQTT discovery for one post: entity configs under homeassistant/, retained.

Net publishes them one per poll from an index (entry(net, i) builds only entry i, just
before it is sent), once per boot, and removes them (an empty retained config each) after
Decommission. Imported while discovery runs, dropped when it is done. The topics are
homeassistant/<component>/<id>/<object>/config, which the broker ACL of `lampctl provision`
lets post <id> write; unique_ids are lp_<site>_<id>_<object>, so two sites' NL-0001 differ.
"""
import json

# sensors from tele/<id>/SENSOR: (ENERGY key, name, unit, device_class, state_class)
SENSORS = (
    ("Total", "Energy", "kWh", "energy", "total_increasing"),
    ("Power", "Power", "W", "power", "measurement"),
    ("Voltage", "Voltage", "V", "voltage", "measurement"),
    ("Current", "Current", "A", "current", "measurement"),
    ("Factor", "Power factor", None, "power_factor", "measurement"),
    ("ApparentPower", "Apparent power", "VA", "apparent_power", "measurement"),
    ("operatingHours", "Burning hours", "h", "duration", "total_increasing"),
    ("switchOnCounter", "Switch-ons", None, None, "total_increasing"),
    ("Temperature", "Temperature", "\u00b0C", "temperature", "measurement"),
)


def count():
    """Entries: the sensors, one binary_sensor per alarm, the light."""
    from lamppost.detect import NAMES
    return len(SENSORS) + len(NAMES) + 1


def entry(net, i):
    """(topic, payload) of entry i; the payload is "" when the entry is to be removed
    (net.removing, or the light while ha_control is off)."""
    from lamppost.detect import NAMES
    cfg = net.cfg
    pid = net.id
    nsen = len(SENSORS)
    if i < nsen:
        comp, obj = "sensor", SENSORS[i][0].lower()
    elif i < nsen + len(NAMES):
        comp, obj = "binary_sensor", NAMES[i - nsen].lower()
    else:
        comp, obj = "light", "lamp"
    topic = "homeassistant/%s/%s/%s/config" % (comp, pid, obj)
    if net.removing or (comp == "light" and not cfg.get("ha_control")):
        return topic, ""
    site = cfg.get("site") or "-"
    uid = "lp_%s_%s" % (site, pid)
    tele = "tele/%s/" % pid
    d = {"unique_id": "%s_%s" % (uid, obj), "availability_topic": net.t_lwt, "payload_available": "Online",
         "payload_not_available": "Offline"}
    if comp == "sensor":
        key, name, unit, dc, sc = SENSORS[i]
        d["name"] = name
        d["state_topic"] = tele + "SENSOR"
        # totals from Stored (as on flash: never down after a power cut), the rest live
        d["value_template"] = ("{{ value_json.%s }}" if key == "Temperature" else
                               "{{ value_json.Stored.%s }}" if sc == "total_increasing" else
                               "{{ value_json.ENERGY.%s }}") % key
        d["state_class"] = sc
        if unit:
            d["unit_of_measurement"] = unit
        if dc:
            d["device_class"] = dc
        d["expire_after"] = 2 * net.period + 60  # a post gone silent reads as unknown
        if key in ("operatingHours", "switchOnCounter", "Temperature"):
            d["entity_category"] = "diagnostic"
    elif comp == "binary_sensor":
        name = NAMES[i - nsen]
        d["name"] = name
        d["device_class"] = "problem"
        d["state_topic"] = tele + "STATE"
        d["value_template"] = "{{ 'ON' if '%s' in value_json.Alarms else 'OFF' }}" % name
        d["expire_after"] = 2 * net.period + 60
    else:
        cm = "cmnd/%s/" % pid
        d["name"] = None  # the device's main entity: named as the device
        d["command_topic"] = cm + "Power"
        d["payload_on"] = "ON"
        d["payload_off"] = "OFF"
        d["state_topic"] = tele + "STATE"
        d["state_value_template"] = "{{ value_json.POWER }}"
        d["brightness_command_topic"] = cm + "Dimmer"
        d["brightness_scale"] = 100
        d["brightness_state_topic"] = tele + "STATE"
        d["brightness_value_template"] = "{{ value_json.Dimmer }}"
    fw = net.fw
    dev = {"identifiers": [uid], "name": "lamppost %s" % pid, "manufacturer": "lamppost project",
           "model": "lamppost %s %s W" % (cfg.get("lamp"), cfg.get("rated_w")),
           "sw_version": fw}
    if site != "-":
        dev["suggested_area"] = site
    if cfg.get("ha_url"):
        dev["configuration_url"] = cfg["ha_url"]
    d["device"] = dev
    d["origin"] = {"name": "lamppost", "sw_version": fw}
    return topic, json.dumps(d)
