"""valkey-glide (sync Python) as a bundle user. argv[1] is the JSON deployment spec written by
tests/it/clients.rs. The password is read from the bundle directory, never passed in argv or env.
Prints one line per check and `ALL OK` at the end; any failure raises.

Glide has no Sentinel support (and its standalone client, given every node's address, keeps
sending to the dead primary after a failover: tried, 30 s of timeouts). On the Sentinel
topology the program does what a Glide application must: it asks a Sentinel (as app, with
Glide) where the primary is, connects there, and asks again when the primary goes away."""
import json
import sys
import time

from glide_sync import (
    AdvancedGlideClientConfiguration,
    AdvancedGlideClusterClientConfiguration,
    GlideClient,
    GlideClientConfiguration,
    GlideClusterClient,
    GlideClusterClientConfiguration,
    InfoSection,
    NodeAddress,
    ReadFrom,
    ServerCredentials,
    TlsAdvancedConfiguration,
)
from glide_shared.exceptions import GlideError

spec = json.load(open(sys.argv[1]))
topology, d, user, host = spec["topology"], spec["dir"], spec["user"], spec["host"]
ports = spec["ports"]
password = open(f"{d}/{user}.password").read().strip()
tls = TlsAdvancedConfiguration(
    root_pem_cacerts=open(f"{d}/ca.crt", "rb").read(),
    client_cert_pem=open(f"{d}/{user}.crt", "rb").read(),
    client_key_pem=open(f"{d}/{user}.key", "rb").read(),
)
creds = ServerCredentials(password=password, username=user)


def standalone(h, ps, timeout=3000, **kw):
    return GlideClient.create(GlideClientConfiguration(
        [NodeAddress(h, p) for p in ps], use_tls=True, credentials=creds, request_timeout=timeout,
        advanced_config=AdvancedGlideClientConfiguration(connection_timeout=timeout,
                                                         tls_config=tls),
        **kw))


def primary_from_sentinels():
    """Asks the Sentinels where the primary is, as app (Glide cannot do it itself)."""
    for p in spec["sentinel_ports"]:
        try:
            s = standalone(host, [p], timeout=1000, read_only=True)
            addr = s.custom_command(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", spec["master_name"]])
            s.close()
            return addr[0].decode(), int(addr[1])
        except GlideError as e:
            print(f"sentinel {p}: {e}")
    raise AssertionError("no Sentinel answered")


def cluster(**kw):
    return GlideClusterClient.create(GlideClusterClientConfiguration(
        [NodeAddress(host, ports[0])], use_tls=True, credentials=creds, request_timeout=3000,
        advanced_config=AdvancedGlideClusterClientConfiguration(connection_timeout=3000,
                                                                tls_config=tls),
        **kw))


def refused(f, needle):
    try:
        f()
    except GlideError as e:
        text = str(e)
        assert "NOPERM" in text or "no permissions" in text, text
        assert needle in text, f"refusal {text!r} lacks {needle!r}"
        print(f"refused as expected: {text}")
        return
    raise AssertionError(f"expected NOPERM mentioning {needle!r}")


def unknown(c):
    for cmd in (["FLUSHDB"], ["FLUSHALL"], ["KEYS", "*"]):
        try:
            c.custom_command(cmd)
        except GlideError as e:
            assert "unknown command" in str(e), e
            print(f"{cmd[0]} unknown as expected")
        else:
            raise AssertionError(f"{cmd} accepted")


def setget(c, n=200):
    for i in range(n):
        assert c.set(f"app:k{i}", f"v{i}") == "OK"
    for i in range(n):
        assert c.get(f"app:k{i}") == f"v{i}".encode(), i
    print(f"set/get {n} keys")


def pubsub(sub, pub):
    sub.subscribe({"app:events"}, timeout_ms=5000)
    deadline = time.time() + 5
    while pub.publish("hello", "app:events") < 1:
        assert time.time() < deadline, "subscriber never registered"
        time.sleep(0.05)
    m = sub.get_pubsub_message()
    assert m.message == b"hello" and m.channel == b"app:events", m
    print("pub/sub")


if user == "monitor":
    for p in ports:
        # Glide's standalone client wants a primary (INFO REPLICATION) unless read_only.
        c = standalone(host, [p], read_only=True)
        info = c.info([InfoSection.ALL])
        assert b"redis_version" in info and b"role:" in info, info[:200]
        assert isinstance(c.custom_command(["SLOWLOG", "LEN"]), int)
        refused(lambda: c.custom_command(["SLOWLOG", "GET"]), "slowlog|get")
        c.custom_command(["LATENCY", "LATEST"])
        refused(lambda: c.get("app:k0"), "get")
        c.close()
    print("monitor reads INFO, SLOWLOG and LATENCY on every node")
elif topology == "standalone":
    c = standalone(host, ports)
    setget(c)
    pubsub(standalone(host, ports), c)
    refused(lambda: c.custom_command(["ACL", "LIST"]), "acl|list")
    refused(lambda: c.custom_command(["CLIENT", "KILL", "TYPE", "normal"]), "client|kill")
    unknown(c)
elif topology == "cluster":
    c = cluster()
    setget(c)
    holding = 0
    for p in ports:
        n = standalone(host, [p], read_only=True)
        if b"role:master" in n.info([InfoSection.REPLICATION]):
            assert n.custom_command(["DBSIZE"]) > 0, p
            holding += 1
        n.close()
    assert holding == 3, holding
    print("keys in slots on 3 primaries (DBSIZE on each)")
    r = cluster(read_from=ReadFrom.PREFER_REPLICA)
    for i in range(50):
        assert r.get(f"app:k{i}") == f"v{i}".encode(), i
    print("reads with PREFER_REPLICA")
    pubsub(cluster(), c)
    refused(lambda: c.custom_command(["ACL", "LIST"]), "acl|list")
    refused(lambda: c.custom_command(["CLUSTER", "FORGET", "x" * 40]), "cluster|forget")
elif topology == "sentinel":
    # The application asks a Sentinel where the primary is, connects, and asks again when
    # the primary goes away.
    h, p = primary_from_sentinels()
    assert h == host, h
    c = standalone(h, [p])
    setget(c)
    pubsub(standalone(h, [p]), c)
    refused(lambda: c.custom_command(["ACL", "LIST"]), "acl|list")
    print("FAILOVER", flush=True)
    old, new = (int(x) for x in sys.stdin.readline().split())
    assert p == old, (p, old)
    c.close()
    deadline = time.time() + 30
    while True:
        try:
            h, p = primary_from_sentinels()
            c = standalone(h, [p], timeout=1000)
            c.set("app:after", "yes")
            break
        except GlideError as e:
            assert time.time() < deadline, f"never reached the new primary: {e!r}"
            time.sleep(0.2)
    assert p == new, (p, new)
    assert c.get("app:after") == b"yes" and c.get("app:k1") == b"v1"
    print(f"followed the failover from {old} to {new} (asked Sentinel again)")

# A name that reaches the same server but is not in its certificate is refused. Glide retries
# the failed handshake until its connection timeout and reports only "timed out"; the same
# node was just reached under the right name, so the name is what differs.
wrong = spec["wrong_host"]
standalone(host, [ports[-1]], read_only=True).ping()
try:
    standalone(wrong, [ports[-1]], timeout=1000, read_only=True).ping()
except GlideError as e:
    print(f"wrong hostname refused: {e}")
else:
    raise AssertionError(f"{wrong} accepted")
print("ALL OK")
