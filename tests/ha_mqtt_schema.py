"""The keys of Home Assistant's MQTT discovery this project uses, from HA's documentation
(home-assistant.io/integrations/sensor.mqtt, binary_sensor.mqtt, light.mqtt default schema,
mqtt#discovery-messages, sensor#device-class): for each platform, every key allowed here, its
type, and which are required. Keys the firmware sends that are not listed here fail the test,
so a typo (`unit_of_measure`) or a key of another platform cannot slip through.
"""
from __future__ import annotations

STR, INT, BOOL, LIST, DICT, NONE = str, int, bool, list, dict, type(None)

# keys every MQTT entity accepts (mqtt#discovery-messages, the entity's "Configuration Variables")
COMMON = {
    # (object_id is left out: HA deprecated it in 2025.10 for default_entity_id)
    "unique_id": (STR,), "name": (STR, NONE), "icon": (STR,),
    "availability_topic": (STR,), "payload_available": (STR,), "payload_not_available": (STR,),
    "availability_mode": (STR,), "device": (DICT,), "origin": (DICT,), "qos": (INT,),
    "enabled_by_default": (BOOL,), "entity_category": (STR,), "encoding": (STR,),
    "json_attributes_topic": (STR,), "json_attributes_template": (STR,),
}

PLATFORMS = {
    "sensor": {
        "required": {"state_topic"},
        "keys": {**COMMON, "state_topic": (STR,), "value_template": (STR,),
                 "unit_of_measurement": (STR, NONE), "device_class": (STR, NONE),
                 "state_class": (STR, NONE), "expire_after": (INT,), "force_update": (BOOL,),
                 "suggested_display_precision": (INT,), "last_reset_value_template": (STR,)},
    },
    "binary_sensor": {
        "required": {"state_topic"},
        "keys": {**COMMON, "state_topic": (STR,), "value_template": (STR,),
                 "payload_on": (STR,), "payload_off": (STR,), "device_class": (STR, NONE),
                 "expire_after": (INT,), "force_update": (BOOL,), "off_delay": (INT,)},
    },
    "light": {  # default schema
        "required": {"command_topic"},
        "keys": {**COMMON, "schema": (STR,), "command_topic": (STR,), "state_topic": (STR,),
                 "state_value_template": (STR,), "payload_on": (STR,), "payload_off": (STR,),
                 "brightness_command_topic": (STR,), "brightness_command_template": (STR,),
                 "brightness_state_topic": (STR,), "brightness_value_template": (STR,),
                 "brightness_scale": (INT,), "on_command_type": (STR,), "optimistic": (BOOL,),
                 "retain": (BOOL,)},
    },
}

ENTITY_CATEGORY = {"config", "diagnostic"}
STATE_CLASS = {"measurement", "total", "total_increasing"}
ON_COMMAND_TYPE = {"last", "first", "brightness"}
# sensor#device-class: the device classes used here and the units HA accepts for each
SENSOR_UNITS = {
    "energy": {"Wh", "kWh", "MWh", "GWh", "MJ", "GJ"},
    "power": {"W", "kW", "MW"},
    "voltage": {"V", "mV", "kV"},
    "current": {"A", "mA"},
    "power_factor": {None, "%"},
    "apparent_power": {"VA"},
    "duration": {"d", "h", "min", "s", "ms"},
    "temperature": {"\u00b0C", "\u00b0F", "K"},
}
# energy may not be "measurement" (sensor#state-class): HA reads a total
SENSOR_STATE_CLASSES = {"energy": {"total", "total_increasing"}}
BINARY_SENSOR_CLASSES = {"problem", "connectivity", "power", "running", "safety", "heat"}
# device block (mqtt#discovery-messages, "device"); origin block ("origin")
DEVICE = {"identifiers": (LIST, STR), "connections": (LIST,), "manufacturer": (STR,),
          "model": (STR,), "model_id": (STR,), "name": (STR,), "serial_number": (STR,),
          "hw_version": (STR,), "sw_version": (STR,), "suggested_area": (STR,),
          "configuration_url": (STR,), "via_device": (STR,)}
ORIGIN = {"name": (STR,), "sw_version": (STR,), "support_url": (STR,)}
