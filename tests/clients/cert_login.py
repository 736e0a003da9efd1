"""One redis-py connection that presents a client certificate and maybe logs in.

argv: DIR HOST PORT CERT_USER LOGIN COMMAND...
Trusts DIR/ca.crt and presents DIR/CERT_USER.crt (key DIR/CERT_USER.key) with hostname
verification on. LOGIN is `-` (send no AUTH: the certificate alone decides who the
connection is), `USER:file` (AUTH with DIR/USER.password, never argv or env; `ACL|USER:file`
logs in as ACL name ACL, a URI identity, with USER's password) or `USER=WORD` (AUTH with WORD,
a wrong password a test makes up). Runs COMMAND and prints its
reply, or `ERROR <class>: <message>`; exit 0 both ways, so the test reads the reply."""
import sys

import redis

d, host, port, cert_user, login = sys.argv[1:6]
command = sys.argv[6:]
kw = {}
if login.endswith(":file"):
    # `ACL_NAME|USER:file`: a user whose ACL name is its URI identity, password from USER's file.
    head = login[: -len(":file")]
    acl_name, user = head.split("|", 1) if "|" in head else (head, head)
    kw = {"username": acl_name, "password": open(f"{d}/{user}.password").read().strip()}
elif "=" in login:
    user, word = login.rsplit("=", 1)
    kw = {"username": user, "password": word}
try:
    c = redis.Redis(
        host=host,
        port=int(port),
        ssl=True,
        ssl_ca_certs=f"{d}/ca.crt",
        ssl_certfile=f"{d}/{cert_user}.crt",
        ssl_keyfile=f"{d}/{cert_user}.key",
        ssl_cert_reqs="required",
        ssl_check_hostname=True,
        socket_timeout=5,
        retry_on_timeout=False,
        decode_responses=True,
        **kw,
    )
    print(c.execute_command(*command))
except Exception as e:  # the verdict is the output
    print(f"ERROR {type(e).__name__}: {e}")
