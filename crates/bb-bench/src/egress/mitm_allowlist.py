"""mitmproxy addon for `scripts/bench egress`: the allowlist equivalent to the sidecar's route.

Only BB_BENCH_HOST is allowed (CONNECT target, and the Host of every request); anything else
is answered 403. The host resolves to the fixture at BB_BENCH_UPSTREAM (ip:port), like the
sidecar's --resolve-override; SNI and upstream verification stay on the host name.
"""

import os

from mitmproxy import http

HOST = os.environ["BB_BENCH_HOST"]
UPSTREAM_IP, UPSTREAM_PORT = os.environ["BB_BENCH_UPSTREAM"].rsplit(":", 1)


def _norm(host):
    return (host or "").lower().rstrip(".")


def _block(flow, host):
    flow.response = http.Response.make(
        403, f"blocked: {host} is not allowed\n".encode(), {"content-type": "text/plain"}
    )


def http_connect(flow: http.HTTPFlow):
    if _norm(flow.request.host) != HOST:
        _block(flow, flow.request.host)


def request(flow: http.HTTPFlow):
    # Inside a tunnel the request's host is the connected address; the Host header names it.
    if _norm(flow.request.pretty_host) != HOST:
        _block(flow, flow.request.pretty_host)


def server_connect(data):
    host, port = data.server.address
    if _norm(host) == HOST:
        data.server.address = (UPSTREAM_IP, int(UPSTREAM_PORT))
        if data.server.sni is None:
            data.server.sni = HOST
