"""lamppost-collector: the receiving end of the posts' MQTT reports (SQLite register)."""
