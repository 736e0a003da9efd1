// ioredis as a bundle user. argv[2] is the JSON deployment spec written by tests/it/clients.rs.
// The password is read from the bundle directory, never passed in argv or env.
// Prints one line per check and `ALL OK` at the end; any failure exits non-zero.
"use strict";
const assert = require("assert");
const Redis = require("ioredis");
const keySlot = require("cluster-key-slot");
const { load, refused, unknown, setget, line } = require("./common");

const { spec, password, ca, cert, key } = load();
const { topology, user, host, ports } = spec;
const tls = { ca, cert, key, rejectUnauthorized: true };
// `family: 4`: `localhost` may resolve to ::1 first, where nothing listens.
const base = { username: user, password, tls, family: 4, maxRetriesPerRequest: 2 };

// ioredis warns (and skips its ready check) when INFO is refused: that must not happen.
const warnings = [];
const warn = console.warn;
console.warn = (...a) => {
  warnings.push(a.join(" "));
  warn(...a);
};

const open = [];
function client(opts) {
  const c = new Redis({ ...base, ...opts });
  c.on("error", () => {});
  open.push(c);
  return c;
}
function cluster(opts) {
  const c = new Redis.Cluster([{ host, port: ports[0] }], {
    redisOptions: base,
    slotsRefreshTimeout: 3000,
    ...opts,
  });
  c.on("error", () => {});
  open.push(c);
  return c;
}

async function pubsub(sub, pub) {
  const got = new Promise((resolve, reject) => {
    sub.on("message", (ch, m) => resolve([ch, m]));
    setTimeout(() => reject(new Error("no pub/sub message in 5 s")), 5000);
  });
  await sub.subscribe("app:events");
  await pub.publish("app:events", "hello");
  assert.deepStrictEqual(await got, ["app:events", "hello"]);
  console.log("pub/sub");
}

async function sentinelPrimary(name) {
  const s = client({ host, port: spec.sentinel_ports[0] });
  const [, port] = await s.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name);
  s.disconnect();
  return Number(port);
}

async function main() {
  if (user === "monitor") {
    // monitor reads each node as redis_exporter does; it has no business with the slot map.
    for (const port of ports) {
      const r = client({ host, port });
      const info = await r.info("all");
      assert(info.includes("redis_version:") && info.includes("role:"), info);
      assert(Number.isInteger(await r.slowlog("LEN")));
      await refused(() => r.slowlog("GET"), "slowlog|get");
      await r.call("LATENCY", "LATEST");
      if (topology === "cluster") {
        assert((await r.call("CLUSTER", "INFO")).includes("cluster_state:ok"));
        await refused(() => r.call("CLUSTER", "NODES"), "cluster|nodes");
      }
      await refused(() => r.get("app:k0"), "get");
      await refused(() => r.set("app:k0", "x"), "set");
      r.disconnect();
    }
    console.log("monitor reads INFO, SLOWLOG and LATENCY on every node");
    if (topology === "sentinel") {
      const s = client({ host, port: spec.sentinel_ports[0] });
      const masters = await s.call("SENTINEL", "MASTERS");
      assert(JSON.stringify(masters).includes(spec.master_name), masters);
      await refused(() => s.call("SENTINEL", "RESET", "*"), "sentinel|reset");
      console.log("monitor reads SENTINEL MASTERS");
    }
  } else if (topology === "standalone") {
    const c = client({ host, port: ports[0] });
    await setget(c);
    await pubsub(c.duplicate(), c);
    await refused(() => c.call("ACL", "LIST"), "acl|list");
    await refused(() => c.call("CLIENT", "KILL", "TYPE", "normal"), "client|kill");
    await unknown((cmd) => c.call(...cmd));
  } else if (topology === "cluster") {
    const c = cluster({});
    await setget(c);
    const primaries = new Set();
    for (let i = 0; i < 200; i++) primaries.add(c.slots[keySlot(`app:k${i}`)][0]);
    assert.strictEqual(primaries.size, 3, [...primaries].join(" "));
    console.log(`keys in slots on 3 primaries: ${[...primaries].join(" ")}`);
    // Reads from replicas (READONLY) as the app user.
    const r = cluster({ scaleReads: "slave" });
    for (let i = 0; i < 50; i++) assert.strictEqual(await r.get(`app:k${i}`), `v${i}`);
    console.log("reads with scaleReads slave");
    await pubsub(cluster({}), c);
    await refused(() => c.call("ACL", "LIST"), "acl|list");
    await refused(() => c.call("CLUSTER", "FORGET", "x".repeat(40)), "cluster|forget");
  } else if (topology === "sentinel") {
    const name = spec.master_name;
    const opts = {
      sentinels: spec.sentinel_ports.map((port) => ({ host, port })),
      name,
      sentinelUsername: user,
      sentinelPassword: password,
      sentinelTLS: tls,
      enableTLSForSentinelMode: true,
    };
    const m = client(opts);
    await setget(m);
    await pubsub(client(opts), m);
    await refused(() => m.call("ACL", "LIST"), "acl|list");
    const replica = client({ ...opts, role: "slave" });
    assert([null, "v1"].includes(await replica.get("app:k1")));
    console.log("read from a replica found by Sentinel");
    const before = await sentinelPrimary(name);
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
    assert.strictEqual(m.stream.remotePort, now, "ioredis is not connected to the new primary");
    assert.strictEqual(await m.get("app:after"), "yes");
    assert.strictEqual(await m.get("app:k1"), "v1");
    console.log(`followed the failover from ${old} to ${now}`);
  }

  // A name that reaches the same server but is not in its certificate is refused.
  const target =
    topology === "sentinel" && user === "app" ? spec.sentinel_ports[0] : ports[ports.length - 1];
  const w = client({ host: spec.wrong_host, port: target, lazyConnect: true, retryStrategy: () => null });
  // connect() only says "Connection is closed"; the cause comes as an error event.
  let cause = null;
  w.on("error", (e) => (cause = e));
  try {
    await w.connect();
    await w.ping();
  } catch (e) {
    const t = cause ? `${cause.code} ${cause.message}` : `${e.code} ${e.message}`;
    assert(/ALTNAME|altnames|certificate/.test(t), t);
    console.log(`wrong hostname refused: ${t}`);
    assert.deepStrictEqual(warnings, [], "ioredis warned");
    return;
  }
  throw new Error(`${spec.wrong_host} accepted`);
}

main().then(
  () => {
    for (const c of open) c.disconnect();
    console.log("ALL OK");
    process.exit(0);
  },
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
