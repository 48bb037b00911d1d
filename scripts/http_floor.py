"""The floor under any HTTP answer on this machine: a bare aiohttp server (no Faust, no
routing, no state) answering every GET with the same JSON body. `scripts/bench` loads it
exactly as it loads the worker, in the same run, so the worker's latency can be read
against what the machine and the HTTP stack give by themselves.

usage: http_floor.py PORT BODY_BYTES"""

from __future__ import annotations

import sys

from aiohttp import web

PORT, SIZE = int(sys.argv[1]), int(sys.argv[2])
BODY = b'{"padding": "' + b"x" * max(0, SIZE - 15) + b'"}'


async def answer(request: web.Request) -> web.Response:
    request.query.get("customer_id")  # as a real handler reads its query
    return web.Response(body=BODY, content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=PORT, print=None, access_log=None)


if __name__ == "__main__":
    main()
