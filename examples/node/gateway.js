// A FHIR gateway in miniature over fhir_access, with node-postgres and its Pool.
//
// Each request takes a pooled connection and one transaction, acts as the
// login's membership for that transaction only, and answers with an HTTP
// status and a FHIR body. The program sends the same requests for each login,
// prints one JSON line per request and exits 1 unless they are
// ../expected.jsonl. The connection comes from the libpq environment (PGHOST,
// PGPORT, PGDATABASE, PGUSER): a pgbouncer in transaction mode, or PostgreSQL
// itself. CommonJS rather than an ES module, so that NODE_PATH may name where
// the dependencies are installed (tests/ops/examples.sh keeps them in a cache).
const fs = require("node:fs");
const { join } = require("node:path");
const { Pool } = require("pg");

// The HTTP status of each SQLSTATE fhir_access raises (its API, "Errors").
const STATUS = { "42501": 403, "P0002": 404, "22023": 400, "40001": 412 };

const HEART_RATE = { coding: [{ system: "http://loinc.org", code: "8867-4", display: "Heart rate" }] };
const ANA = {
  resourceType: "Patient", active: true, gender: "female", birthDate: "1984-02-03",
  name: [{ family: "Ortiz", given: ["Ana"] }], telecom: [{ system: "phone", value: "555-0101" }],
};
const REQUESTS = [
  ["GET", "Patient/p1"],
  ["GET", "Patient/p2"],
  ["GET", "Patient?birthdate=lt1980-01-01"],
  ["GET", "Observation?code=8867-4"],
  ["GET", "Observation/o5"],
  ["GET", "Patient/p9"],
  ["GET", "Patient?eye-colour=green"],
  ["POST", "Observation", { resourceType: "Observation", status: "final", code: HEART_RATE,
                            subject: { reference: "Patient/p1" }, valueQuantity: { value: 70, unit: "/min" } }],
  ["PUT", "Patient/p1", ANA],
];
const LOGINS = ["doctor", "nurse", "ana"];

// One request: a pooled connection, one transaction, one membership.
async function handle(pool, membership, method, path, body) {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    // local => true: the membership ends with the transaction, so the
    // pooler's next client on this server connection starts with none.
    await client.query("SELECT fhir.set_membership($1, local => true)", [membership]);
    const answer = await route(client, method, path, body);
    await client.query("COMMIT");
    return answer;
  } catch (e) {
    await client.query("ROLLBACK");
    if (!(e.code in STATUS) || !(e.detail ?? "").startsWith("{")) {
      throw e; // not a refusal of fhir_access: the server's 500
    }
    const gone = e.code === "P0002" && e.message.startsWith("Gone");
    return [gone ? 410 : STATUS[e.code], JSON.parse(e.detail)];
  } finally {
    client.release();
  }
}

// FHIR REST to fhir_access: each interaction is one function call.
async function route(client, method, path, body) {
  const one = async (sql, params) => (await client.query(sql, params)).rows[0].r;
  if (method === "GET" && path.includes("?")) {
    const q = path.indexOf("?");
    const { rows } = await client.query("SELECT fhir.search($1, $2) AS r", [path.slice(0, q), path.slice(q + 1)]);
    return [200, { resourceType: "Bundle", type: "searchset", entry: rows.map((row) => ({ resource: row.r })) }];
  }
  if (method === "GET") return [200, await one("SELECT fhir.read($1, $2) AS r", path.split("/"))];
  if (method === "POST") return [201, await one("SELECT fhir.create($1) AS r", [body])];
  if (method === "PUT") return [200, await one("SELECT fhir.update($1) AS r", [{ ...body, id: path.split("/")[1] }])];
  throw new Error(`no route for ${method} ${path}`);
}

// What the output shows of a body: a refusal's issue code, a searchset's
// ids, a resource's elements (so that a hidden field shows as missing).
function summary(body) {
  if (body.resourceType === "OperationOutcome") return { issue: body.issue[0].code };
  if (body.resourceType === "Bundle") return { ids: body.entry.map((entry) => entry.resource.id) };
  return { elements: Object.keys(body).filter((k) => !["resourceType", "id", "meta"].includes(k)).sort() };
}

async function main() {
  // node-postgres names no prepared statement unless asked to, so it needs
  // no setting behind a transaction pooler.
  const pool = new Pool({ max: 4 });
  const lines = [];
  try {
    const { rows } = await pool.query("SELECT login, membership FROM gateway_login"); // the app's own table of logins
    const memberships = Object.fromEntries(rows.map((row) => [row.login, row.membership]));
    for (const [method, path, body] of REQUESTS) {
      // The logins send each request at once, as concurrent clients would.
      const answers = await Promise.all(LOGINS.map((login) => handle(pool, memberships[login], method, path, body)));
      LOGINS.forEach((login, i) => {
        const [status, answer] = answers[i];
        lines.push(JSON.stringify({ login, request: `${method} ${path}`, status, ...summary(answer) }));
        console.log(lines.at(-1));
      });
    }
  } finally {
    await pool.end();
  }
  const expected = fs.readFileSync(join(__dirname, "..", "expected.jsonl"), "utf8").trimEnd().split("\n");
  const n = lines.findIndex((line, i) => line !== expected[i]);
  if (n >= 0) throw new Error(`line ${n + 1}: got ${lines[n]}, want ${expected[n]}`);
  if (lines.length !== expected.length) throw new Error(`${lines.length} lines, want ${expected.length}`);
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 1;
});
