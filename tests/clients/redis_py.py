"""redis-py as a bundle user. argv[1] is the JSON deployment spec written by tests/it/clients.rs.
The password is read from the bundle directory, never passed in argv or env.
Prints one line per check and `ALL OK` at the end; any failure raises."""
import json
import ssl
import sys
import time

import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

spec = json.load(open(sys.argv[1]))
topology, d, user, host = spec["topology"], spec["dir"], spec["user"], spec["host"]
ports, sentinel_ports = spec["ports"], spec["sentinel_ports"]
password = open(f"{d}/{user}.password").read().strip()
tls = dict(
    ssl=True,
    ssl_ca_certs=f"{d}/ca.crt",
    ssl_certfile=f"{d}/{user}.crt",
    ssl_keyfile=f"{d}/{user}.key",
    ssl_cert_reqs="required",
    ssl_check_hostname=True,
)
auth = dict(username=user, password=password)


def no_renamed_name(c, commands, what):
    """Runs `commands` on one raw connection of `c` and asserts that no reply names a renamed
    command (the admin has used one before: tests/it/clients.rs)."""
    names = [l.split()[1].lower() for l in open(f"{d}/renamed-commands") if len(l.split()) == 2]
    assert names, "no renamed commands in the bundle"
    raw = c.connection_pool.get_connection("COMMAND")
    seen = ""
    for args in commands:
        raw.send_command(*args)
        seen += repr(raw.read_response())
    c.connection_pool.release(raw)
    assert "config|get" in seen.lower(), "commandstats should show the original name"
    leaked = [n for n in names if n in seen.lower()]
    assert not leaked, f"renamed names visible to {user}: {leaked}"
    print(f"no renamed name in {what} ({len(names)} checked)")


def refused(f, needle):
    try:
        f()
    except redis.exceptions.NoPermissionError as e:
        assert needle in str(e), f"refusal {e!r} lacks {needle!r}"
        print(f"refused as expected: {e}")
        return
    raise AssertionError(f"expected NOPERM mentioning {needle!r}")


def unknown(c):
    # FLUSHDB, FLUSHALL and KEYS are renamed by the bundle on every target: the plain names do not exist at all.
    for cmd in (("FLUSHDB",), ("FLUSHALL",), ("KEYS", "*")):
        try:
            c.execute_command(*cmd)
        except redis.exceptions.ResponseError as e:
            assert "unknown command" in str(e), e
            print(f"{cmd[0]} unknown as expected")
        else:
            raise AssertionError(f"{cmd} accepted")


def pubsub(ps, pub):
    ps.subscribe("app:events")
    assert ps.get_message(timeout=5)["type"] == "subscribe"
    pub.publish("app:events", "hello")
    m = ps.get_message(timeout=5)
    assert m and m["data"] == b"hello", m
    print("pub/sub")
    ps.close()


def setget(c, n=200):
    for i in range(n):
        c.set(f"app:k{i}", f"v{i}")
    for i in range(n):
        assert c.get(f"app:k{i}") == f"v{i}".encode(), i
    print(f"set/get {n} keys")


if user == "monitor":
    # monitor reads each node as redis_exporter does; it has no business with the slot map.
    for p in ports:
        r = redis.Redis(host=host, port=p, **auth, **tls)
        info = r.info("all")
        assert "redis_version" in info and "role" in info, info.keys()
        assert isinstance(r.slowlog_len(), int)
        refused(lambda: r.slowlog_get(), "slowlog|get")
        r.execute_command("LATENCY", "LATEST")
        if topology == "cluster":
            # redis_exporter reads CLUSTER INFO when INFO says cluster_enabled:1
            assert b"cluster_state:ok" in r.execute_command("CLUSTER", "INFO")
            refused(lambda: r.execute_command("CLUSTER", "NODES"), "cluster|nodes")
        refused(lambda: r.get("app:k0"), "get")
        refused(lambda: r.set("app:k0", "x"), "set")
        if topology == "standalone":
            no_renamed_name(r, (("INFO", "everything"), ("CLIENT", "LIST"), ("SLOWLOG", "LEN"),
                                ("LATENCY", "LATEST")), "INFO everything, CLIENT LIST")
        r.close()
    print("monitor reads INFO, SLOWLOG and LATENCY on every node")
    if topology == "sentinel":
        s = redis.Redis(host=host, port=sentinel_ports[0], **auth, **tls)
        masters = s.sentinel_masters()
        assert spec["master_name"] in masters, masters
        refused(lambda: s.execute_command("SENTINEL", "RESET", "*"), "sentinel|reset")
        print("monitor reads SENTINEL MASTERS")
elif topology == "standalone":
    c = redis.Redis(host=host, port=ports[0], **auth, **tls)
    setget(c)
    pubsub(c.pubsub(), c)
    refused(lambda: c.execute_command("ACL", "LIST"), "acl|list")
    refused(lambda: c.execute_command("CLIENT", "KILL", "TYPE", "normal"), "client|kill")
    unknown(c)
    # After the admin ran a renamed CONFIG: nothing app can read names a renamed command.
    no_renamed_name(c, (("INFO", "everything"), ("COMMAND",), ("COMMAND", "LIST"),
                        ("COMMAND", "DOCS")), "INFO everything, COMMAND, COMMAND LIST/DOCS")
elif topology == "cluster":
    c = RedisCluster(host=host, port=ports[0], **auth, **tls)
    setget(c)
    primaries = {c.get_node_from_key(f"app:k{i}").name for i in range(200)}
    assert len(primaries) == 3, primaries
    print(f"keys in {len({c.keyslot(f'app:k{i}') for i in range(200)})} slots on 3 primaries")
    # Reads from replicas (READONLY) as the app user.
    r = RedisCluster(host=host, port=ports[0], read_from_replicas=True, **auth, **tls)
    for i in range(50):
        assert r.get(f"app:k{i}") == f"v{i}".encode(), i
    print("reads with read_from_replicas")
    ps = c.get_redis_connection(c.get_node_from_key("app:events")).pubsub()
    pubsub(ps, c)
    refused(lambda: c.execute_command("ACL", "LIST", target_nodes=RedisCluster.RANDOM), "acl|list")
    refused(lambda: c.execute_command("CLUSTER", "FORGET", "x" * 40, target_nodes=RedisCluster.RANDOM),
            "cluster|forget")
elif topology == "sentinel":
    s = Sentinel([(host, p) for p in sentinel_ports], sentinel_kwargs=dict(**auth, **tls),
                 **auth, **tls)
    name = spec["master_name"]
    m = s.master_for(name, socket_timeout=2)
    setget(m)
    pubsub(m.pubsub(), m)
    refused(lambda: m.execute_command("ACL", "LIST"), "acl|list")
    replica = s.slave_for(name, socket_timeout=2)
    assert replica.get("app:k1") in (b"v1", None)
    print("read from a replica found by Sentinel")
    before = s.discover_master(name)
    print("FAILOVER", flush=True)
    old, new = (int(x) for x in sys.stdin.readline().split())
    assert before[1] == old, (before, old)
    deadline = time.time() + 30
    while True:
        try:
            m.set("app:after", "yes")
            break
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                redis.exceptions.ReadOnlyError) as e:
            assert time.time() < deadline, f"never reached the new primary: {e!r}"
            time.sleep(0.2)
    assert s.discover_master(name)[1] == new, s.discover_master(name)
    assert m.get("app:after") == b"yes" and m.get("app:k1") == b"v1"
    print(f"followed the failover from {old} to {new}")

# A name that reaches the same server but is not in its certificate is refused.
wrong = spec["wrong_host"]
target = sentinel_ports[0] if topology == "sentinel" and user == "app" else ports[-1]
try:
    redis.Redis(host=wrong, port=target, **auth, **tls).ping()
except (redis.exceptions.ConnectionError, ssl.SSLError) as e:
    text = repr(e).lower()
    assert "certificate" in text or "hostname" in text or "match" in text, text
    print(f"wrong hostname refused: {e}")
else:
    raise AssertionError(f"{wrong} accepted")
print("ALL OK")
