"""lampctl: the field technician's tool for a lamppost controller (serial console, build, flash)."""
