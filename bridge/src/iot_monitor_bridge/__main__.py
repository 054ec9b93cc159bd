"""Allow ``python -m iot_monitor_bridge``."""

from iot_monitor_bridge.cli import main

raise SystemExit(main())
