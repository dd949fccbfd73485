"""A FHIR gateway in miniature over fhir_access, with psycopg 3 and its pool.

Each request takes a pooled connection and one transaction, acts as the
login's membership for that transaction only, and answers with an HTTP status
and a FHIR body. The program sends the same requests for each login, prints
one JSON line per request and exits 1 unless they are ../expected.jsonl.
The connection comes from the libpq environment (PGHOST, PGPORT, PGDATABASE,
PGUSER): a pgbouncer in transaction mode, or PostgreSQL itself.
"""
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

# The HTTP status of each SQLSTATE fhir_access raises (its API, "Errors").
STATUS = {"42501": 403, "P0002": 404, "22023": 400, "40001": 412}

HEART_RATE = {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]}
ANA = {"resourceType": "Patient", "active": True, "gender": "female", "birthDate": "1984-02-03",
       "name": [{"family": "Ortiz", "given": ["Ana"]}], "telecom": [{"system": "phone", "value": "555-0101"}]}
REQUESTS = [
    ("GET", "Patient/p1", None),
    ("GET", "Patient/p2", None),
    ("GET", "Patient?birthdate=lt1980-01-01", None),
    ("GET", "Observation?code=8867-4", None),
    ("GET", "Observation/o5", None),
    ("GET", "Patient/p9", None),
    ("GET", "Patient?eye-colour=green", None),
    ("POST", "Observation", {"resourceType": "Observation", "status": "final", "code": HEART_RATE,
                             "subject": {"reference": "Patient/p1"}, "valueQuantity": {"value": 70, "unit": "/min"}}),
    ("PUT", "Patient/p1", ANA),
]
LOGINS = ["doctor", "nurse", "ana"]


def handle(pool, membership, method, path, body):
    """One request: a pooled connection, one transaction, one membership."""
    try:
        with pool.connection() as conn:  # commits at the end, rolls back on an error
            # local => true: the membership ends with the transaction, so the
            # pooler's next client on this server connection starts with none.
            conn.execute("SELECT fhir.set_membership(%s, local => true)", [membership])
            return route(conn, method, path, body)
    except psycopg.Error as e:
        outcome = e.diag.message_detail or ""
        if e.sqlstate not in STATUS or not outcome.startswith("{"):
            raise  # not a refusal of fhir_access: the server's 500
        gone = e.sqlstate == "P0002" and e.diag.message_primary.startswith("Gone")
        return (410 if gone else STATUS[e.sqlstate]), json.loads(outcome)


def route(conn, method, path, body):
    """FHIR REST to fhir_access: each interaction is one function call."""
    if method == "GET" and "?" in path:
        rows = conn.execute("SELECT fhir.search(%s, %s)", path.split("?", 1)).fetchall()
        return 200, {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for (r,) in rows]}
    if method == "GET":
        return 200, conn.execute("SELECT fhir.read(%s, %s)", path.split("/")).fetchone()[0]
    if method == "POST":
        return 201, conn.execute("SELECT fhir.create(%s)", [Jsonb(body)]).fetchone()[0]
    if method == "PUT":
        resource = {**body, "id": path.split("/")[1]}
        return 200, conn.execute("SELECT fhir.update(%s)", [Jsonb(resource)]).fetchone()[0]
    raise ValueError(f"no route for {method} {path}")


def summary(body):
    """What the output shows of a body: a refusal's issue code, a searchset's
    ids, a resource's elements (so that a hidden field shows as missing)."""
    if body["resourceType"] == "OperationOutcome":
        return {"issue": body["issue"][0]["code"]}
    if body["resourceType"] == "Bundle":
        return {"ids": [entry["resource"]["id"] for entry in body["entry"]]}
    return {"elements": sorted(body.keys() - {"resourceType", "id", "meta"})}


def main():
    # prepare_threshold=None: no server-side prepared statements, which
    # pgbouncer in transaction mode loses between transactions (unless it is
    # 1.21 or later with max_prepared_statements set).
    with ConnectionPool("", min_size=1, max_size=4, kwargs={"prepare_threshold": None}) as pool:
        with pool.connection() as conn:  # the app's own table of logins
            memberships = dict(conn.execute("SELECT login, membership FROM gateway_login").fetchall())
        lines = []
        with ThreadPoolExecutor(len(LOGINS)) as clients:
            for method, path, body in REQUESTS:
                # The logins send each request at once, as concurrent clients would.
                answers = clients.map(lambda login: handle(pool, memberships[login], method, path, body), LOGINS)
                for login, (status, answer) in zip(LOGINS, answers):
                    line = {"login": login, "request": f"{method} {path}", "status": status, **summary(answer)}
                    lines.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
                    print(lines[-1])
    expected = (Path(__file__).parent.parent / "expected.jsonl").read_text().splitlines()
    for n, (got, want) in enumerate(zip(lines, expected), 1):
        if got != want:
            sys.exit(f"line {n}: got {got}, want {want}")
    if len(lines) != len(expected):
        sys.exit(f"{len(lines)} lines, want {len(expected)}")


if __name__ == "__main__":
    main()
