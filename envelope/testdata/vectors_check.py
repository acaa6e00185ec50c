#!/usr/bin/env python3
"""Check testdata/vectors.txt against an implementation written from
docs/envelope.md alone, using the pyca/cryptography package.

    python3 envelope/testdata/vectors_check.py

It is an independent cross-check for module implementers, not part of
`go test`; vectors_test.go holds the Go code to the same file.
"""
import base64, hashlib, hmac, os, struct, sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

UPLINK, DOWNLINK = 1, 2


def load(path):
    v = {}
    for line in open(path, encoding="ascii"):
        line = line.strip()
        if line and not line.startswith("#"):
            name, value = line.split(None, 1)
            v[name] = value if name.startswith("text_") else bytes.fromhex(value)
    return v


def extract(ikm):
    return hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()  # empty salt = 32 zero octets


def hkdf_sha256(ikm, info, n=32):
    prk = extract(ikm)
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out, i = out + t, i + 1
    return out[:n]


def derive(master, label, key_version, device_id):
    info = ("paygate/envelope/v1 " + label).encode() + b"\x00" + bytes([key_version]) + device_id
    return hkdf_sha256(master, info)


def seal(key, direction, key_version, device_id, counter, plaintext):
    header = bytes([1, key_version]) + device_id + struct.pack(">Q", counter)
    nonce = bytes([direction, 0, 0, 0]) + struct.pack(">Q", counter)
    return header + AESGCM(key).encrypt(nonce, plaintext, header)


def to_text(envelope):
    return "#" + base64.b64encode(envelope).decode("ascii").rstrip("=")


def measure(components):
    h = hashlib.sha256(b"paygate/envelope/v1 measurement\x00" + struct.pack(">I", len(components)))
    for name, data in sorted(components):
        h.update(bytes([len(name)]) + name + struct.pack(">Q", len(data)) + data)
    return h.digest()


def main():
    v = load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.txt"))
    master, dev, kv = v["master_key"], v["device_id"], v["key_version"][0]
    up, down = derive(master, "uplink", kv, dev), derive(master, "downlink", kv, dev)
    att = derive(master, "attest", kv, dev)
    priv = Ed25519PrivateKey.from_private_bytes(v["platform_seed"])
    pub = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sig = priv.sign(b"paygate/envelope/v1 platform proof\x00" + dev + v["challenge"])
    meas = measure([(b"app", b"paygate-module 1.0"), (b"config", b"short_code=3030")])
    mac = hmac.new(att, b"paygate/envelope/v1 report\x00" + bytes([kv]) + dev +
                   bytes([len(v["nonce"])]) + v["nonce"] + b"\x01" + meas, hashlib.sha256).digest()
    report = b"\x01" + meas + mac
    env_up1 = seal(up, UPLINK, kv, dev, 1, b"\x01BAL")
    got = {
        "prk": extract(master),
        "uplink_key": up,
        "downlink_key": down,
        "attest_key": att,
        "uplink_key_v2": derive(master, "uplink", 2, dev),
        "env_up1": env_up1,
        "text_up1": to_text(env_up1),
        "env_down1": seal(down, DOWNLINK, kv, dev, 1, b"\x01" + "Balance: CNY 1,234.56".encode()),
        "env_hello": seal(up, UPLINK, kv, dev, 2, b"\x02" + v["challenge"]),
        "platform_pub": pub,
        "signature": sig,
        "env_proof": seal(down, DOWNLINK, kv, dev, 2, b"\x03" + sig + v["nonce"]),
        "measurement": meas,
        "report": report,
        "env_report": seal(up, UPLINK, kv, dev, 3, b"\x05" + report),
    }
    bad = [name for name, value in got.items() if v[name] != value]
    for name in bad:
        print("MISMATCH", name, file=sys.stderr)
    print(f"{len(got) - len(bad)}/{len(got)} vectors match")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
