// What the Node client programs (ioredis.js, node_redis.js) share: the deployment spec and the
// user's files, and the checks whose wording tests/it/clients.rs looks for.
"use strict";
const assert = require("assert");
const fs = require("fs");
const readline = require("readline");

// argv[2] is the JSON deployment spec; the password is read from the bundle, never argv/env.
function load() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const d = spec.dir;
  return {
    spec,
    password: fs.readFileSync(`${d}/${spec.user}.password`, "utf8").trim(),
    ca: fs.readFileSync(`${d}/ca.crt`),
    cert: fs.readFileSync(`${d}/${spec.user}.crt`),
    key: fs.readFileSync(`${d}/${spec.user}.key`),
  };
}

async function refused(f, needle) {
  try {
    await f();
  } catch (e) {
    const t = String(e.message);
    assert(t.includes("NOPERM") && t.includes(needle), `refusal ${t} lacks NOPERM ${needle}`);
    console.log(`refused as expected: ${t}`);
    return;
  }
  throw new Error(`expected NOPERM mentioning ${needle}`);
}

// FLUSHDB, FLUSHALL and KEYS are renamed by the bundle on every target: the plain names do not exist at all.
// `send(args)` runs one command.
async function unknown(send) {
  for (const cmd of [["FLUSHDB"], ["FLUSHALL"], ["KEYS", "*"]]) {
    try {
      await send(cmd);
    } catch (e) {
      assert(String(e.message).includes("unknown command"), e.message);
      console.log(`${cmd[0]} unknown as expected`);
      continue;
    }
    throw new Error(`${cmd} accepted`);
  }
}

async function setget(c, n = 200) {
  for (let i = 0; i < n; i++) await c.set(`app:k${i}`, `v${i}`);
  for (let i = 0; i < n; i++) assert.strictEqual(await c.get(`app:k${i}`), `v${i}`);
  console.log(`set/get ${n} keys`);
}

// One line from the harness on stdin (`OLD NEW` after a failover).
function line() {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.once("line", (l) => {
      rl.close();
      resolve(l);
    });
  });
}

module.exports = { load, refused, unknown, setget, line };
