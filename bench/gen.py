#!/usr/bin/env python3
"""Generates benchmark input: N JSON log lines of about 215 bytes (ts, level, msg with an
email and an IPv4, client_ip, path, status, req_id, seq), deterministic for a seed.

usage: gen.py N OUT [SEED]
"""
import json
import random
import sys

def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    domains = ["example.com", "mail.example.org", "corp.example.net"]
    paths = ["/api/orders", "/api/users", "/checkout", "/login", "/api/search"]
    levels = ["info", "info", "info", "warn", "error"]
    with open(out, "w") as f:
        for i in range(n):
            ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            email = f"{rng.choice(names)}.{rng.randint(1, 999)}@{rng.choice(domains)}"
            rec = {
                "ts": f"2025-11-24T12:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
                "level": rng.choice(levels),
                "msg": f"request by {email} from {ip} done",
                "client_ip": ip,
                "path": rng.choice(paths),
                "status": rng.choice([200, 200, 201, 404, 500]),
                "req_id": "%016x" % rng.getrandbits(64),
                "seq": i,
            }
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")

if __name__ == "__main__":
    main()
