"""A Unix-socket proxy to the Docker engine that the reliability suite can kill, to
cut kinfra off from Docker in the middle of a command.
usage: sock_proxy.py LISTEN_PATH TARGET_PATH"""
import os
import socket
import sys
import threading

listen, target = sys.argv[1], sys.argv[2]
if os.path.exists(listen):
    os.remove(listen)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(listen)
srv.listen(64)


def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


while True:
    c, _ = srv.accept()
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.connect(target)
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
