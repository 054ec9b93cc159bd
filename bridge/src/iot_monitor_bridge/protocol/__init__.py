"""Home Assistant's MQTT discovery and the bridge description, built from the specs; pure."""
