"""The local servers (the API of `make run`, the Kommo sandbox, the n8n stand-in) share one loopback server:
a burst of 100 callers at once is served, none reset (the stdlib's listen backlog of 5 reset them)."""

from __future__ import annotations

import socket
import threading

from local.loopback import LoopbackServer

CALLERS = 100


def test_a_hundred_callers_at_once_are_all_served() -> None:
    server = LoopbackServer(lambda method, target, headers, body: (200, {}, b"ok")).start()
    answers: list[bytes] = []
    lock = threading.Lock()
    go = threading.Barrier(CALLERS)

    def call() -> None:
        go.wait()  # every caller connects at the same moment
        try:
            # the kernel completes a connection at once while the listen backlog has room; past it, it drops
            # the caller's SYN, retried only after a second
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5) as connection:
                connection.settimeout(30)  # the answer may take a busy machine's while
                connection.sendall(b"GET / HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n")
                answer = connection.recv(1024)
        except OSError as error:  # reset, refused, or not accepted in time
            answer = repr(error).encode()
        with lock:
            answers.append(answer)

    try:
        callers = [threading.Thread(target=call) for _ in range(CALLERS)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
    finally:
        server.stop()
    assert len(answers) == CALLERS
    assert [answer for answer in answers if not answer.startswith(b"HTTP/1.1 200")] == []
