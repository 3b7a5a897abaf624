#!/usr/bin/env python3
"""fakedns.py - a name server for tests, on 127.0.0.1 (UDP).

    fakedns.py MODE_FILE LOG_FILE name=ipv4 ...

MODE_FILE holds "drop" (queries are read and never answered: a name server
that is away) or "answer" (A records for the names given, no AAAA, NXDOMAIN
for any other name). It is read for every query. Every query is appended
to LOG_FILE as "qname qtype mode"; "ready PORT" is written first (the
port is one the kernel chose).
"""
import socket
import struct
import sys


def qname(msg, off):
    labels = []
    while off < len(msg):
        n = msg[off]
        off += 1
        if n == 0:
            return ".".join(labels).lower(), off
        if n & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n
    raise ValueError("truncated name")


def main():
    mode_file, log_file = sys.argv[1], sys.argv[2]
    names = dict(a.split("=", 1) for a in sys.argv[3:])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    log = open(log_file, "a", buffering=1)
    log.write("ready %d\n" % s.getsockname()[1])
    while True:
        msg, peer = s.recvfrom(4096)
        if len(msg) < 12:
            continue
        qid, _flags, qd = struct.unpack(">HHH", msg[:6])
        if qd != 1:
            continue
        try:
            name, off = qname(msg, 12)
        except ValueError:
            continue
        qtype, _qclass = struct.unpack(">HH", msg[off:off + 4])
        question = msg[12:off + 4]
        try:
            with open(mode_file) as f:
                mode = f.read().strip()
        except OSError:
            mode = "drop"
        log.write("%s %d %s\n" % (name, qtype, mode))
        if mode != "answer":
            continue
        answers = b""
        rcode = 0
        if name not in names:
            rcode = 3  # NXDOMAIN
        elif qtype == 1:
            answers = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + \
                socket.inet_aton(names[name])
        header = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1,
                             1 if answers else 0, 0, 0)
        s.sendto(header + question + answers, peer)


if __name__ == "__main__":
    main()
