"""Sensor wire formats (serial frames, text lines, 1-Wire sysfs files) as values; no I/O."""
