"""A moto server on loopback for the benches that touch AWS (its own keys: not AWS's)."""

from __future__ import annotations

import logging
from typing import Any

import boto3
from moto.server import ThreadedMotoServer


def moto_client(service: str) -> tuple[ThreadedMotoServer, Any]:
    """A started moto server and a client of ``service`` on it; stop the server when done."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's request lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client(service, region_name="us-east-1", endpoint_url=f"http://{host}:{port}",
                          aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
    return server, client
