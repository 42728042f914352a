"""A minimal QUIC server (aioquic) for the probe tests.

Usage: quic_server.py DIR [--host 127.0.0.1] [--alpn h3 ...]

Generates a self-signed certificate for "localhost" (and 127.0.0.1) with a fresh P-256 key in
DIR (cert.pem, key.pem), listens on HOST with a port the OS picks, and prints one JSON line:
{"port": N, "cert": "DIR/cert.pem", "spki_sha256": "<hex SHA-256 of the SubjectPublicKeyInfo>"}.
It completes handshakes for the given ALPN protocols (default h3) and nothing else; aioquic
answers unknown QUIC versions with Version Negotiation. It runs until killed.
"""

import argparse
import asyncio
import datetime
import hashlib
import ipaddress
import json
import logging
import os
import sys

from aioquic.asyncio import serve
from aioquic.quic.configuration import QuicConfiguration
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def make_certificate(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert_path, key_path, hashlib.sha256(spki).hexdigest()


async def main():
    # aioquic logs every refused handshake (e.g. no common ALPN) to stderr; the tests expect those.
    logging.disable(logging.CRITICAL)
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--alpn", action="append")
    args = parser.parse_args()
    cert_path, key_path, pin = make_certificate(args.dir)
    config = QuicConfiguration(is_client=False, alpn_protocols=args.alpn or ["h3"])
    config.load_cert_chain(cert_path, key_path)
    server = await serve(args.host, 0, configuration=config)
    port = server._transport.get_extra_info("sockname")[1]
    print(json.dumps({"port": port, "cert": cert_path, "spki_sha256": pin}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
