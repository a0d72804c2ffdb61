"""Schemathesis hooks for tests/schemathesis/run: the credentials of the
API's four security schemes, from a site provisioned through the admin API.

- `/admin/...` gets the admin token, `/ingest` the site's ingest token,
  every user route the site user's API key (`Authorization: Bearer`).
- The site is provisioned on first use (`POST /admin/projects`, then
  `PUT /session` with the password and `GET /key` with the cookie: the
  README's first hour), and given a day of readings of three meters so
  that `/data`, `/point`, `/file` and the charts have something to answer.
- The fuzzer rotates keys (`POST /key`) and deletes users (`DELETE /user`):
  a rotated key is taken from the answer, and a deleted user's site is
  replaced by a new one, so later requests still authenticate.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request

import schemathesis

BASE = os.environ["INTELLIMETER_URL"]
ADMIN_TOKEN = os.environ["INTELLIMETER_ADMIN_TOKEN"]
# The first site's user is the document's example login.
FIRST_USER = ("test", "a long passphrase")
PUBLIC = {"/health", "/openapi.json", "/", "/dashboard/{file}"}


def call(method: str, path: str, body: dict | None = None, headers: dict | None = None, *, ok=(200, 201)):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        if error.code in ok:
            return error.code, error.headers, json.loads(error.read() or b"null")
        raise SystemExit(f"setup: {method} {path} answered {error.code}: {error.read()[:300]!r}") from None


class Site:
    """A provisioned site: its ingest token and its user's API key."""

    count = 0

    def __init__(self) -> None:
        Site.count += 1
        # The document's example login first; a later run (another process)
        # finds it taken and names its own.
        candidates = [FIRST_USER] if Site.count == 1 else []
        candidates.append((f"schemathesis-{os.getpid()}-{Site.count}", "a long passphrase"))
        for username, password in candidates:
            status, _, provisioned = call(
                "POST",
                "/admin/projects",
                {"name": f"site {Site.count}", "timezone": "America/Toronto", "username": username,
                 "password": password, "email": f"{username}@example.com"},
                {"Authorization": f"Bearer {ADMIN_TOKEN}"},
                ok=(201, 409),
            )
            if status == 201:
                break
        assert status == 201, provisioned
        self.ingest_token = provisioned["ingest_token"]
        self.project = provisioned["project"]
        _, headers, _ = call("PUT", "/session", {"username": username, "password": password})
        cookie = headers.get("Set-Cookie").split(";")[0]
        self.key = call("GET", "/key", headers={"Cookie": cookie})[2]["key"]
        start = 1572408000  # 2019-10-30 00:00 America/Toronto
        readings = [
            {"MeterId": f"meter{m}", "TimeStamping": _utc(start + step * 300), "value": 1000 + step * (m + 1) * 0.1}
            for m in range(3)
            for step in range(289)
        ]
        points = [{"MeterId": "meter0", "ModbusId": 1, "Port": "USB0", "NoPhases": "3", "MeterType": "I-45/MFX/636",
                   "ModbusMap": "Priority.ici", "SaveEvery": 5, "startAddress": 1100}]
        call("POST", "/ingest", {"points": points, "readings": readings},
             {"Authorization": f"Bearer {self.ingest_token}"})


def _utc(seconds: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


SITE: Site | None = None


def site() -> Site:
    global SITE
    if SITE is None:
        SITE = Site()
    return SITE


@schemathesis.auth()
class Credentials:
    """Each operation gets the credential of its security scheme."""

    def get(self, case, context):
        return site()

    def set(self, case, data, context):
        path = case.operation.path
        if path in PUBLIC or case.operation.definition.raw.get("security") == []:
            return
        if path.startswith("/admin/"):
            token = ADMIN_TOKEN
        elif path == "/ingest":
            token = site().ingest_token
        else:
            token = site().key
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


@schemathesis.hook
def after_call(context, case, response):
    """Keeps the credentials alive: a rotated key is the new one; a deleted
    user's site is replaced."""
    global SITE
    if SITE is None or not 200 <= response.status_code < 300:
        return
    if case.operation.path == "/admin/ingest-token":
        answer = _answer(response)
        if answer.get("project") == SITE.project:
            SITE.ingest_token = answer["ingest_token"]
        return
    sent = (case.headers or {}).get("Authorization")
    if sent != f"Bearer {SITE.key}":
        return
    if case.method == "POST" and case.operation.path == "/key":
        SITE.key = _answer(response)["key"]
    elif case.method == "DELETE" and case.operation.path == "/user":
        SITE = None


def _answer(response) -> dict:
    """The scalar fields of a JSON or dicttoxml answer."""
    if "xml" in response.headers.get("content-type", [""])[0]:
        fields = re.findall(r'<(\w+) type="(str|int)">([^<]*)</\1>', response.text)
        return {name: int(value) if kind == "int" else value for name, kind, value in fields}
    return response.json()
