"""redis-py as a bundle user: argv is TOPOLOGY HOST PORT BUNDLE_DIR USER [WRONG_HOST].
The password is read from BUNDLE_DIR/USER.password, never passed in argv or env.
Prints one line per check and `ALL OK` at the end; any failure raises."""
import ssl
import sys

import redis
from redis.cluster import RedisCluster

topology, host, port, d, user = sys.argv[1:6]
wrong = sys.argv[6] if len(sys.argv) > 6 else None
password = open(f"{d}/{user}.password").read().strip()
tls = dict(
    ssl=True,
    ssl_ca_certs=f"{d}/ca.crt",
    ssl_certfile=f"{d}/{user}.crt",
    ssl_keyfile=f"{d}/{user}.key",
    ssl_cert_reqs="required",
    ssl_check_hostname=True,
)


def connect(h):
    # monitor reads one node (as redis_exporter does), it has no business with the slot map
    if topology == "cluster" and user == "app":
        return RedisCluster(host=h, port=int(port), username=user, password=password, **tls)
    return redis.Redis(host=h, port=int(port), username=user, password=password, **tls)


def refused(f, needle):
    try:
        f()
    except redis.exceptions.NoPermissionError as e:
        assert needle in str(e), f"refusal {e!r} lacks {needle!r}"
        print(f"refused as expected: {e}")
        return
    raise AssertionError(f"expected NOPERM mentioning {needle!r}")


c = connect(host)
if user == "app":
    for i in range(200):
        c.set(f"app:k{i}", f"v{i}")
    for i in range(200):
        assert c.get(f"app:k{i}") == f"v{i}".encode(), i
    print("set/get 200 keys")
    if topology == "cluster":
        slots = {c.keyslot(f"app:k{i}") for i in range(200)}
        nodes = {c.get_node_from_key(f"app:k{i}").name for i in range(200)}
        assert len(nodes) > 1, nodes
        print(f"{len(slots)} slots on {len(nodes)} nodes")
        ps = c.get_redis_connection(c.get_node_from_key("app:events")).pubsub()
        pub = c
    else:
        ps = c.pubsub()
        pub = c
    ps.subscribe("app:events")
    assert ps.get_message(timeout=5)["type"] == "subscribe"
    pub.publish("app:events", "hello")
    m = ps.get_message(timeout=5)
    assert m and m["data"] == b"hello", m
    print("pub/sub")
    ps.close()
    refused(lambda: c.execute_command("ACL", "LIST"), "acl|list")
    refused(lambda: c.execute_command("CLIENT", "KILL", "TYPE", "normal"), "client|kill")
    # CONFIG, FLUSHALL and KEYS are renamed by the bundle: the plain names do not exist at all.
    for cmd in (("CONFIG", "GET", "maxmemory"), ("FLUSHALL",), ("KEYS", "*")):
        try:
            c.execute_command(*cmd)
        except redis.exceptions.ResponseError as e:
            assert "unknown command" in str(e), e
            print(f"{cmd[0]} unknown as expected")
        else:
            raise AssertionError(f"{cmd} accepted")
    c.info()
    print("info")
elif user == "monitor":
    assert "redis_version" in c.info("server")
    print("info")
    refused(lambda: c.get("app:k0"), "get")
if wrong:
    # redis-py's ClusterNode rewrites "localhost" to 127.0.0.1 before it connects (and checks
    # the hostname against that IP), so the wrong name is tried on one node directly.
    try:
        redis.Redis(host=wrong, port=int(port), username=user, password=password, **tls).ping()
    except (redis.exceptions.ConnectionError, ssl.SSLError,
            redis.exceptions.RedisClusterException) as e:
        text = repr(e)
        assert "certificate" in text.lower() or "hostname" in text.lower() or topology == "cluster", text
        print(f"wrong hostname refused: {e}")
    else:
        raise AssertionError("wrong hostname accepted")
print("ALL OK")
