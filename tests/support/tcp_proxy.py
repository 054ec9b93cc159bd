"""A TCP proxy in front of a broker: cutting it is a network outage between bridge and broker.

The broker keeps running, so a client connected to it directly (not through the proxy)
sees exactly when the bridge's messages arrive, including its will and its ``online``.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

from tests.support.mosquitto import free_port


class TcpProxy:
    """Forwards ``host:port`` to ``target_host:target_port``, one thread per direction.

    ``cut`` drops every connection and stops listening (connections are refused, as by a
    host whose broker is gone); ``start`` listens again on the same port.
    """

    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port()
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    def start(self) -> TcpProxy:
        """Listen (again); returns once connections are accepted."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(16)
        with self._lock:
            self._listener = listener
        self._spawn(self._accept, listener)
        return self

    def cut(self) -> None:
        """Stop listening and drop every connection: both ends see them closed."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        for sock in [*([listener] if listener else []), *connections]:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept or recv
            sock.close()
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(5)

    def close(self) -> None:
        self.cut()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._connections |= {client, upstream}
                self._spawn(self._pump, client, upstream)
                self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):  # one side closed: close the pair
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
