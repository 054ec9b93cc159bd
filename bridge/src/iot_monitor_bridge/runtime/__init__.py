"""The daemon's I/O: spool (SQLite), MQTT link, publisher, HTTP, zeroconf, and the app.

What they carry out is decided by the pure modules beside them (``commands``, ``states``,
``protocol``), which are tested without sockets, threads or files.
"""
