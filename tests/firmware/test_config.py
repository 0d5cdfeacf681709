"""Config schema and loading on MicroPython: bad input falls back, never crashes."""
import os

from lamppost import config, store

PATH = "config-test.json"  # relative: the runner starts each test in its own directory


def write(text):
    with open(PATH, "w") as f:
        f.write(text)


def test_valid_config_loads_with_types():
    write('{"id": "NL-9", "lamp": "hps", "rated_w": 150, "lat": 51.5, "lon": -0.1}')
    cfg, problems = config.load(PATH)
    assert problems == []
    assert cfg["id"] == "NL-9" and cfg["lamp"] == "hps"
    assert cfg["rated_w"] == 150.0 and isinstance(cfg["rated_w"], float)
    assert cfg["tele_period"] == 300  # default for a key not given


def test_corrupt_config_gives_defaults_and_says_so():
    write('{"id": "NL-9", "lamp": ')
    cfg, problems = config.load(PATH)
    assert cfg == config.defaults()
    assert len(problems) == 1 and "corrupt" in problems[0]
    os.remove(PATH)
    cfg, problems = config.load(PATH)
    assert cfg == config.defaults() and "missing" in problems[0]


def test_bad_values_fall_back_one_by_one():
    write('{"id": "", "lamp": "neon", "rated_w": 1e9, "lat": "north", "lon": 4.9, "bogus": 1}')
    cfg, problems = config.load(PATH)
    assert cfg["lon"] == 4.9
    for k in ("id", "lamp", "rated_w", "lat"):
        assert cfg[k] == config.defaults()[k]
    assert sorted(p.split(":")[0] for p in problems) == ["bogus", "id", "lamp", "lat", "rated_w"]


def test_check_names_the_problem():
    for key, value, why in (("rated_w", -1, "within"), ("lamp", "x", "one of"),
                            ("tele_period", 1.5, "whole"), ("id", 7, "text"), ("nope", 1, "unknown")):
        try:
            config.check(key, value)
        except ValueError as e:
            assert why in str(e), str(e)
        else:
            raise AssertionError("accepted %s=%r" % (key, value))


def test_secrets_never_in_public_view():
    cfg = config.defaults()
    cfg["pin"] = "4711"
    pub = config.public(cfg)
    assert "pin" not in pub and "4711" not in repr(pub)


def test_atomic_save_leaves_no_temp_file():
    assert store.save(PATH, {"a": 1})
    assert store.load(PATH) == {"a": 1}
    try:
        os.stat(PATH + ".tmp")
        raise AssertionError("temp file left behind")
    except OSError:
        pass
    # saving into a directory that does not exist fails cleanly and reports it
    assert store.save("/nonexistent-dir/x.json", {"a": 1}) is False


def test_network_keys_without_a_broker_load_and_are_known():
    # a technician set WiFi on the console before the broker: the keys survive the reboot
    assert "wifi_ssid" not in config.SCHEMA  # nothing of uplinkcfg until a post has network keys
    assert config.spec("mqtt_host")[3] == "" and config.spec("wifi_pass")[4] is True
    assert config.spec("nope") is None
    write('{"id": "NL-9", "wifi_ssid": "Gemeente", "wifi_pass": "s3cretpass"}')
    cfg, problems = config.load(PATH)
    assert problems == [] and cfg["wifi_ssid"] == "Gemeente" and cfg["mqtt_host"] == ""
    pub = config.public(cfg)
    assert pub["wifi_ssid"] == "Gemeente" and "wifi_pass" not in pub


def test_public_hides_a_network_secret_set_before_the_schema_was_merged():
    cfg = config.defaults()
    cfg["mqtt_host"] = "broker.example.nl"
    cfg["mqtt_pass"] = "hunter22"
    pub = config.public(cfg)
    assert pub["mqtt_host"] == "broker.example.nl" and "hunter22" not in repr(pub)
