// node-redis (npm `redis`) as a bundle user. argv[2] is the JSON deployment spec written by
// tests/it/clients.rs. The password is read from the bundle directory, never passed in argv or env.
// Prints one line per check and `ALL OK` at the end; any failure exits non-zero.
"use strict";
const assert = require("assert");
const { createClient, createCluster, createSentinel } = require("redis");
const keySlot = require("cluster-key-slot");
const { load, refused, unknown, setget, line } = require("./common");

const { spec, password, ca, cert, key } = load();
const { topology, user, host, ports } = spec;
// `family: 4`: `localhost` may resolve to ::1 first, where nothing listens.
const socket = {
  tls: true,
  ca,
  cert,
  key,
  rejectUnauthorized: true,
  family: 4,
  connectTimeout: 3000,
};
const auth = { username: user, password };

const open = [];
const errors = [];
async function connect(c) {
  c.on("error", (e) => errors.push(e));
  open.push(c);
  await c.connect();
  return c;
}
const client = (port, more = {}) =>
  connect(createClient({ ...auth, socket: { ...socket, host, port, ...more } }));
const cluster = (opts) =>
  connect(
    createCluster({
      rootNodes: [{ socket: { host, port: ports[0] } }],
      defaults: { ...auth, socket },
      ...opts,
    }),
  );

async function pubsub(sub, pub) {
  const got = new Promise((resolve, reject) => {
    sub.subscribe("app:events", (m, ch) => resolve([ch, m])).catch(reject);
    setTimeout(() => reject(new Error("no pub/sub message in 5 s")), 5000);
  });
  // The subscription is in place once SUBSCRIBE has been answered; publish until it arrives.
  let received = null;
  got.then((v) => (received = v), () => {});
  for (let i = 0; i < 25 && !received; i++) {
    await pub.publish("app:events", "hello");
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepStrictEqual(await got, ["app:events", "hello"]);
  console.log("pub/sub");
}

async function sentinelPrimary(name) {
  const s = await client(spec.sentinel_ports[0]);
  const [, port] = await s.sendCommand(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name]);
  s.destroy();
  return Number(port);
}

async function main() {
  if (user === "monitor") {
    // monitor reads each node as redis_exporter does; it has no business with the slot map.
    for (const port of ports) {
      const r = await client(port);
      const info = await r.info("all");
      assert(info.includes("redis_version:") && info.includes("role:"), info);
      assert(Number.isInteger(await r.sendCommand(["SLOWLOG", "LEN"])));
      await refused(() => r.sendCommand(["SLOWLOG", "GET"]), "slowlog|get");
      await r.sendCommand(["LATENCY", "LATEST"]);
      if (topology === "cluster") {
        assert((await r.sendCommand(["CLUSTER", "INFO"])).includes("cluster_state:ok"));
        await refused(() => r.sendCommand(["CLUSTER", "NODES"]), "cluster|nodes");
      }
      await refused(() => r.get("app:k0"), "get");
      await refused(() => r.set("app:k0", "x"), "set");
      r.destroy();
    }
    console.log("monitor reads INFO, SLOWLOG and LATENCY on every node");
    if (topology === "sentinel") {
      const s = await client(spec.sentinel_ports[0]);
      const masters = await s.sendCommand(["SENTINEL", "MASTERS"]);
      assert(JSON.stringify(masters).includes(spec.master_name), masters);
      await refused(() => s.sendCommand(["SENTINEL", "RESET", "*"]), "sentinel|reset");
      console.log("monitor reads SENTINEL MASTERS");
    }
  } else if (topology === "standalone") {
    const c = await client(ports[0]);
    await setget(c);
    const sub = c.duplicate();
    await connect(sub);
    await pubsub(sub, c);
    await refused(() => c.sendCommand(["ACL", "LIST"]), "acl|list");
    await refused(() => c.sendCommand(["CLIENT", "KILL", "TYPE", "normal"]), "client|kill");
    await unknown((cmd) => c.sendCommand(cmd));
  } else if (topology === "cluster") {
    const c = await cluster({});
    await setget(c);
    const primaries = new Set();
    for (let i = 0; i < 200; i++) {
      const m = c.getSlotMaster(keySlot(`app:k${i}`));
      primaries.add(`${m.host}:${m.port}`);
    }
    assert.strictEqual(primaries.size, 3, [...primaries].join(" "));
    console.log(`keys in slots on 3 primaries: ${[...primaries].join(" ")}`);
    // Reads from replicas (READONLY) as the app user.
    const r = await cluster({ useReplicas: true });
    for (let i = 0; i < 50; i++) assert.strictEqual(await r.get(`app:k${i}`), `v${i}`);
    console.log("reads with useReplicas");
    await pubsub(await cluster({}), c);
    // sendCommand(firstKey, isReadonly, args) routes by key: a node picked by the slot map.
    await refused(() => c.sendCommand("app:x", true, ["ACL", "LIST"]), "acl|list");
    await refused(
      () => c.sendCommand("app:x", false, ["CLUSTER", "FORGET", "x".repeat(40)]),
      "cluster|forget",
    );
  } else if (topology === "sentinel") {
    const name = spec.master_name;
    const opts = {
      name,
      sentinelRootNodes: spec.sentinel_ports.map((port) => ({ host, port })),
      nodeClientOptions: { ...auth, socket },
      sentinelClientOptions: { ...auth, socket },
      scanInterval: 1000,
    };
    const m = await connect(createSentinel(opts));
    await setget(m);
    const sub = await connect(createSentinel(opts));
    await pubsub(sub, m);
    // sendCommand(isReadonly, args) on a Sentinel-managed client.
    await refused(() => m.sendCommand(false, ["ACL", "LIST"]), "acl|list");
    const replicas = await connect(createSentinel({ ...opts, replicaPoolSize: 1 }));
    assert.strictEqual(replicas.getReplicaNodes().size, 2, "Sentinel should name 2 replicas");
    assert([null, "v1"].includes(await replicas.get("app:k1")));
    console.log("read from a replica found by Sentinel");
    const before = await sentinelPrimary(name);
    assert.strictEqual(m.getMasterNode().port, before);
    console.log("FAILOVER");
    const [old, now] = (await line()).split(" ").map(Number);
    assert.strictEqual(before, old);
    const deadline = Date.now() + 30000;
    for (;;) {
      try {
        await m.set("app:after", "yes");
        break;
      } catch (e) {
        assert(Date.now() < deadline, `never reached the new primary: ${e.message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    // Sentinel may still move the primary once more (a promotion that times out is retried
    // with another replica): the client must end up where Sentinel says, never on `old`.
    let where = null;
    for (let i = 0; i < 50; i++) {
      where = await sentinelPrimary(name);
      if (where !== old && m.getMasterNode().port === where) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.strictEqual(m.getMasterNode().port, where, `node-redis is not on ${where}`);
    assert.notStrictEqual(where, old);
    if (where !== now) console.log(`(Sentinel moved the primary again: ${now} then ${where})`);
    assert.strictEqual(await m.get("app:after"), "yes");
    assert.strictEqual(await m.get("app:k1"), "v1");
    console.log(`followed the failover from ${old} to ${now}`);
  }

  // A name that reaches the same server but is not in its certificate is refused.
  const target =
    topology === "sentinel" && user === "app" ? spec.sentinel_ports[0] : ports[ports.length - 1];
  try {
    await client(target, { host: spec.wrong_host, reconnectStrategy: false });
  } catch (e) {
    const t = `${e.code} ${e.message}`;
    assert(/ALTNAME|altnames|certificate/.test(t), t);
    console.log(`wrong hostname refused: ${t}`);
    return;
  }
  throw new Error(`${spec.wrong_host} accepted`);
}

main().then(
  () => {
    for (const c of open) {
      try {
        c.destroy();
      } catch (_) {}
    }
    console.log("ALL OK");
    process.exit(0);
  },
  (e) => {
    console.error(e);
    for (const x of errors) console.error("client error:", x.message);
    process.exit(1);
  },
);
