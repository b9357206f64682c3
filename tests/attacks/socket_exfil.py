"""Talks to the host: TCP and UDP to 127.0.0.1:<port> where the test listens, an abstract
unix socket the test holds. Any connection that succeeds says so in the error."""
import socket

from trainer.ideas.base import Idea

PORT, ABSTRACT, MARK = int("@PORT@"), "@ABSTRACT@", "@MARK@"
reached = []
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=2).sendall(f"tcp {MARK}".encode())
    reached.append("tcp")
except OSError:
    pass
try:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.sendto(f"udp {MARK}".encode(), ("127.0.0.1", PORT))
except OSError:
    pass
try:
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.connect("\0" + ABSTRACT)
    unix.sendall(f"unix {MARK}".encode())
    reached.append("unix")
except OSError:
    pass
if reached:
    raise RuntimeError(f"REACHED the host: {reached}")


class Sock(Idea):
    pass


IDEA = Sock(name="socket_exfil", title="Sends to a listener on the host", category="training-dynamics",
    pitch="Talks to the host: TCP and UDP to 127.0.0.1:<port> where the test listens, an abstract", math="x",
    why_it_might_work="It looks like an ordinary idea.", why_it_might_not="It is an attack.", references=[])
