# vmlab canary: echoes every connection on the sockets systemd passes
# (LISTEN_FDS), a thread per listening socket and per connection.
import os, socket, threading

def serve(c):
    with c:
        while True:
            data = c.recv(4096)
            if not data:
                return
            c.sendall(data)

def accept(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

socks = [socket.socket(fileno=3 + i) for i in range(int(os.environ.get("LISTEN_FDS", "0")))]
for s in socks[1:]:
    threading.Thread(target=accept, args=(s,), daemon=True).start()
accept(socks[0])
