"""The floor of `make bench`: the least a web request can cost on the stages' web server.

A bare WSGI callable, no framework, served by gunicorn with the same flags as the stages'
`web` process. Whatever a stage's endpoint costs above this is Django, DRF, the database and
the shop's own code.
"""

BODY = b'{"status": "ok"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
