"""One redis-py connection: argv is DIR HOST PORT USER. Trusts DIR/ca.crt and presents
DIR/USER.crt (key DIR/USER.key, password from DIR/USER.password, never argv or env), with
hostname verification on. Prints `PONG`, or `REFUSED <error class>: <message>`; exit 0 both
ways, so tests/it/clients.rs reads the verdict rather than an exit status."""
import sys

import redis

d, host, port, user = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
try:
    c = redis.Redis(
        host=host,
        port=port,
        username=user,
        password=open(f"{d}/{user}.password").read().strip(),
        ssl=True,
        ssl_ca_certs=f"{d}/ca.crt",
        ssl_certfile=f"{d}/{user}.crt",
        ssl_keyfile=f"{d}/{user}.key",
        ssl_cert_reqs="required",
        ssl_check_hostname=True,
        socket_timeout=5,
        retry_on_timeout=False,
    )
    print("PONG" if c.ping() is True else "REFUSED ping did not answer True")
except Exception as e:  # the verdict is the output
    print(f"REFUSED {type(e).__name__}: {e}")
