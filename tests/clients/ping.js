// One ioredis connection: argv is DIR HOST PORT USER. Trusts DIR/ca.crt (which may hold
// several CAs) and presents DIR/USER.crt, hostname verification on; the password is read
// from DIR/USER.password. Prints `PONG` or `REFUSED <code>: <message>`; exit 0 both ways.
"use strict";
const fs = require("fs");
const Redis = require("ioredis");

const [d, host, port, user] = process.argv.slice(2);
const c = new Redis({
  host,
  port: Number(port),
  username: user,
  password: fs.readFileSync(`${d}/${user}.password`, "utf8").trim(),
  tls: {
    servername: host,
    ca: fs.readFileSync(`${d}/ca.crt`),
    cert: fs.readFileSync(`${d}/${user}.crt`),
    key: fs.readFileSync(`${d}/${user}.key`),
    rejectUnauthorized: true,
  },
  lazyConnect: true,
  maxRetriesPerRequest: 0,
  retryStrategy: () => null,
  enableOfflineQueue: false,
});
// The TLS failure arrives as an `error` event; the rejected promise only says the
// connection closed.
let first = null;
c.on("error", (e) => {
  first = first || e;
});
c.connect()
  .then(() => c.ping())
  .then((r) => console.log(r === "PONG" ? "PONG" : `REFUSED ping answered ${r}`))
  .catch((e) => {
    const x = first || e;
    console.log(`REFUSED ${x.code || x.name}: ${x.message}`);
  })
  .finally(() => c.disconnect());
