//! Command-line interface (clap derive). One struct per subcommand; the work is in `commands/`.

use crate::core::duration::Dur;
use crate::core::pki::KeyType;
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXIT_CODES: &str = "\
Exit codes:
  init, renew, rotate, user, push, apply, rollback, env, schedule, backup, restore, seal,
  unseal, alerts, compose:
    0 success
    1 failure: the bundle is unchanged or fully updated (also a bundle that fails its
      integrity audit, or a node that is down: the bundle and the other nodes have the change)
    2 bad input or usage error, nothing changed
    3 apply --plan only: changes are pending
  reload:
    runs until stopped; with --once 0 when the node serves the mounted certificate, 1 when
    not, 2 bad input
  check:
    0 OK · 1 WARNING · 2 CRITICAL · 3 UNKNOWN (bundle missing or unreadable, or a usage
    error: the monitoring-plugin convention)";

/// The bundle a command works on: `--dir`, shared by every command that opens one.
#[derive(Args, Debug, Clone, Default)]
pub struct DirArgs {
    /// Bundle directory. [default: ./secrets]
    #[arg(long, env = "PROVISION_DIR")]
    pub dir: Option<PathBuf>,
}

impl DirArgs {
    /// The directory given, or `./secrets`.
    pub fn path(&self) -> &std::path::Path {
        self.dir.as_deref().unwrap_or("secrets".as_ref())
    }
}

/// `--lock-timeout`, shared by every command that changes a bundle.
#[derive(Args, Debug, Clone)]
pub struct LockArgs {
    /// How long to wait for another provision run on the same bundle.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub lock_timeout: Dur,
}

impl LockArgs {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lock_timeout.secs())
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "provision",
    version,
    about = "Lock a Redis deployment down and keep it locked down: private CA, TLS certificates, ACL users with random passwords, hardened TLS-only redis.conf.",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print the result as JSON on stdout (no progress, no human text).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short, global = true, conflicts_with = "json")]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a complete bundle: CA, server and client certificates, passwords, users.acl, redis.conf.
    #[command(
        after_help = INIT_EXAMPLES,
        mut_arg("dir", |a| a.help("Bundle directory (created 0700; its parent must exist). [default: ./secrets]")),
        mut_arg("lock_timeout", |a| a.default_value("10s"))
    )]
    Init(Box<InitArgs>),
    /// Check expiry and consistency of a bundle (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Re-issue certificates that are due (cron/systemd friendly), optionally hot-reloading Redis.
    #[command(after_help = RENEW_HELP)]
    Renew(RenewArgs),
    /// Rotate passwords in two phases with no failed login (start, then --finish).
    #[command(after_help = ROTATE_HELP)]
    Rotate(RotateArgs),
    /// Add, change, disable, enable, remove or list users, on disk and live on every node.
    #[command(after_help = USER_HELP)]
    User(UserArgs),
    /// Bring live nodes back in line with the bundle on disk: users, and certificates where the server can reload.
    #[command(after_help = PUSH_HELP)]
    Push(PushArgs),
    /// Sidecar: watch a mounted certificate Secret and hot-reload Redis, verified, when it changes.
    #[command(after_help = RELOAD_HELP)]
    Reload(ReloadArgs),
    /// Make the bundle's users what a config file says (`--plan`: only show the difference).
    #[command(after_help = APPLY_HELP)]
    Apply(ApplyArgs),
    /// Make the previous generation of the bundle current again.
    Rollback(RollbackArgs),
    /// Print the environment a client or CI job needs (paths, user, topology and addresses; no secret by default).
    #[command(after_help = ENV_HELP)]
    Env(EnvArgs),
    /// Write a systemd service and timer that run `provision renew --reload` daily.
    #[command(
        after_help = SCHEDULE_HELP,
        mut_arg("out", |a| a
            .value_name("DIR")
            .help("Where to write the unit files. [default: the current directory]")),
        mut_arg("force", |a| a.help("Replace unit files that already exist"))
    )]
    Schedule(ScheduleArgs),
    /// Export the current generation: an age-encrypted archive, or Kubernetes Secrets (--format k8s).
    #[command(after_help = BACKUP_HELP, visible_alias = "export")]
    Backup(BackupArgs),
    /// Decrypt a backup, verify it as `check` would, and install it all or nothing.
    #[command(
        after_help = RESTORE_HELP,
        visible_alias = "import",
        mut_arg("dir", |a| a.help("Bundle directory to restore into. [default: ./secrets]"))
    )]
    Restore(RestoreArgs),
    /// Encrypt any file (dump.rdb, an AOF) to the bundle's backup recipients, streaming.
    #[command(
        after_help = SEAL_HELP,
        mut_arg("dir", |a| a.help("Bundle directory whose `backup-recipients` to encrypt to. [default: ./secrets]"))
    )]
    Seal(SealArgs),
    /// Decrypt a sealed file (or any age file) with an identity file, streaming.
    Unseal(UnsealArgs),
    /// Write Prometheus alerting rules for the bundle's metrics and redis_exporter's ACL counters.
    #[command(
        after_help = ALERTS_HELP,
        mut_arg("out", |a| a.help("Where to write the rules file. [default: ./provision-alerts.yml]"))
    )]
    Alerts(AlertsArgs),
    /// Write a docker-compose.yml for redis:7 running the bundle (secrets, internal network, TLS health check).
    #[command(
        after_help = COMPOSE_HELP,
        mut_arg("out", |a| a.help("Where to write the Compose file. [default: ./docker-compose.yml]"))
    )]
    Compose(ComposeArgs),
}

const BACKUP_HELP: &str = "\
`export` is the same command. Formats:

--format age (default): the archive is a tar of the current generation (top-level directory `provision-bundle/`,
regular files with their modes), encrypted with age: `age -d -i key.txt FILE | tar -t` lists
it. Output goes to -o FILE (created 0600, never overwritten) or, with `-o -`, to stdout when
stdout is not a terminal. Passphrases are read from --passphrase-file or the terminal, never
from the command line.

--remember stores the recipients in the bundle (`backup-recipients`, a new generation); later
backups without recipient flags, and `provision seal`, use them.

--format k8s: Kubernetes Secret manifests (a YAML stream of JSON documents, for `kubectl
apply -f`): PREFIX-tls (kubernetes.io/tls: the server's tls.crt, tls.key and ca.crt),
PREFIX-ca (ca.crt only; the CA key is never exported), PREFIX-config (redis.conf, users.acl,
renamed-commands) and PREFIX-user-NAME per ACL user (tls.crt, tls.key, ca.crt, password), all
labelled app.kubernetes.io/managed-by=provision. They hold private keys and passwords: -o FILE
is created 0600 (replaced only with --force), `-o -` writes to stdout only when it is not a
terminal. redis.conf names its files under the bundle's --mount-dir, so make the bundle with
the directory the StatefulSet mounts the secrets at (`init --mount-dir /etc/redis/tls --bind
0.0.0.0`); the README's Kubernetes section has a StatefulSet that does. Re-export and apply
after every `renew` or `rotate`.

--format cert-manager: for clusters where cert-manager issues the leaf certificates and
provision keeps the CA, the users, their passwords and the configs. Writes PREFIX-ca-key
(kubernetes.io/tls: the issuing CA and its key) with the Issuer PREFIX-ca over it
(--cluster-issuer: a ClusterIssuer, its Secret in --cluster-resource-namespace), a Certificate
per Redis and Sentinel process (secret PREFIX-tls for a standalone server, PREFIX-NODE-tls in
a topology: the node's hosts plus the Pod and Service DNS names of StatefulSet PREFIX, or
PREFIX-sentinel, in --namespace; server and client auth; the bundle's key type, validity and
renew-before of a third) and per ACL user (PREFIX-user-NAME-tls, client auth), a trust-manager
Bundle PREFIX-ca publishing the whole ca.crt to --namespace and each --client-namespace, and
the Secrets PREFIX-config and PREFIX-user-NAME (password). --namespace is required. The CA key
leaves the bundle: a bundle made with --protect-ca-key is exported only with --include-ca-key
and --identity KEYFILE (or --passphrase-file). Redis does not watch its files: run `provision
reload --watch` as a sidecar (Valkey 9.1 reloads by itself).

Examples:
  provision backup --dir /etc/redis/tls --recipient age1... -o redis-tls.tar.age
  provision backup --dir /etc/redis/tls --recipients-file ops.txt --remember
  provision backup --dir /etc/redis/tls -o - --armor | ssh backup 'cat > tls.age'
  provision export --dir ./secrets --format k8s --namespace cache -o redis-secrets.yaml
  provision export --dir ./secrets --format k8s -o - | kubectl apply -f -
  provision export --dir ./secrets --format cert-manager --namespace cache -o redis-cert-manager.yaml";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// age-encrypted tar of the bundle (restore with `provision restore`).
    Age,
    /// Kubernetes Secret manifests.
    K8s,
    /// cert-manager Issuer and Certificates, a trust-manager Bundle, and provision's Secrets.
    CertManager,
}

const RESTORE_HELP: &str = "\
Decrypts in memory, refuses any archive entry that is not a plain regular file under
`provision-bundle/` (no `..`, absolute paths, links or devices), verifies the bundle as
`provision check` does (refusing one with CRITICAL consistency findings), then writes it as one
new generation. Nothing decrypted is written anywhere else. An existing bundle is replaced only
with --force (it stays as the previous generation, for `provision rollback`).

Examples:
  provision restore redis-tls.tar.age --dir /etc/redis/tls --identity backup-key.txt
  provision restore redis-tls.tar.age --dir /etc/redis/tls --passphrase --force";

const SEAL_HELP: &str = "\
Encrypts FILE to the recipients stored in the bundle's `backup-recipients` (set them with
`provision backup --recipient ... --remember`), in constant memory. The output (default
FILE.age) is created 0600 and never overwritten. `age -d -i KEY` or `provision unseal` opens it.

Examples:
  provision seal /var/lib/redis/dump.rdb --dir /etc/redis/tls -o /backup/dump.rdb.age
  provision unseal /backup/dump.rdb.age --identity backup-key.txt -o dump.rdb";

#[derive(Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    pub bundle: DirArgs,
    /// What to write: an age-encrypted archive, Kubernetes Secret manifests, or cert-manager objects.
    #[arg(long, value_enum, default_value = "age")]
    pub format: ExportFormat,
    #[command(flatten)]
    pub cert_manager: CertManagerArgs,
    /// k8s, cert-manager: prefix of the objects' names (a DNS label: lowercase letters, digits, `-`). [default: redis]
    #[arg(long, value_name = "PREFIX")]
    pub name: Option<String>,
    /// k8s, cert-manager: namespace of the objects (required for cert-manager). [default: none, kubectl's current namespace]
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// k8s, cert-manager: replace an existing -o FILE (age archives are never replaced).
    #[arg(long)]
    pub force: bool,
    /// Encrypt to this age recipient (age1..., repeatable).
    #[arg(long = "recipient", short = 'r', value_name = "AGE1...")]
    pub recipients: Vec<String>,
    /// Encrypt to the recipients in this file (one per line, `#` comments, as `age -R`).
    #[arg(long, short = 'R', value_name = "FILE")]
    pub recipients_file: Option<PathBuf>,
    /// Encrypt with the passphrase in this file (first line); cert-manager: open a
    /// passphrase-protected ca.key.age with it.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["recipients", "recipients_file", "passphrase", "remember"])]
    pub passphrase_file: Option<PathBuf>,
    /// Encrypt with a passphrase read from the terminal (asked twice); cert-manager: open a
    /// passphrase-protected ca.key.age with a passphrase typed once.
    #[arg(long, conflicts_with_all = ["recipients", "recipients_file", "remember"])]
    pub passphrase: bool,
    /// ASCII-armored output (PEM-like), for mail or pasting.
    #[arg(long, short)]
    pub armor: bool,
    /// Output file (created 0600, never replaced), or `-` for stdout (not a terminal).
    #[arg(long, short, value_name = "FILE|-")]
    pub output: Option<String>,
    /// Store the recipients in the bundle for later backups and `provision seal`.
    #[arg(long)]
    pub remember: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// `--format cert-manager` only.
#[derive(Args, Debug, Default)]
pub struct CertManagerArgs {
    /// cert-manager: a ClusterIssuer instead of an Issuer in --namespace (its CA Secret goes to
    /// --cluster-resource-namespace).
    #[arg(long)]
    pub cluster_issuer: bool,
    /// cert-manager: the namespace a ClusterIssuer reads its CA Secret from (cert-manager's
    /// --cluster-resource-namespace). [default: cert-manager]
    #[arg(long, value_name = "NS", requires = "cluster_issuer")]
    pub cluster_resource_namespace: Option<String>,
    /// cert-manager: the cluster's DNS domain, for the Pods' DNS names. [default: cluster.local]
    #[arg(long, value_name = "DOMAIN")]
    pub cluster_domain: Option<String>,
    /// cert-manager: another namespace whose clients get the CA bundle (repeatable; the
    /// --namespace always gets it).
    #[arg(long = "client-namespace", value_name = "NS")]
    pub client_namespaces: Vec<String>,
    /// cert-manager: put the decrypted CA key of a --protect-ca-key bundle into the CA Secret
    /// (it then leaves the bundle's protection). Needs --identity or --passphrase-file.
    #[arg(long)]
    pub include_ca_key: bool,
    /// cert-manager: age identity file that opens ca.key.age (repeatable).
    #[arg(long, short, value_name = "KEYFILE")]
    pub identity: Vec<PathBuf>,
}

impl CertManagerArgs {
    /// The first cert-manager-only flag given, to refuse it with another format.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            (self.cluster_issuer, "--cluster-issuer"),
            (
                self.cluster_resource_namespace.is_some(),
                "--cluster-resource-namespace",
            ),
            (self.cluster_domain.is_some(), "--cluster-domain"),
            (!self.client_namespaces.is_empty(), "--client-namespace"),
            (self.include_ca_key, "--include-ca-key"),
            (!self.identity.is_empty(), "--identity"),
        ]
        .into_iter()
        .find(|(set, _)| *set)
        .map(|(_, f)| f)
    }
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The encrypted backup (binary or armored).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub bundle: DirArgs,
    /// age identity file (as made by age-keygen; repeatable).
    #[arg(long, short, value_name = "KEYFILE")]
    pub identity: Vec<PathBuf>,
    /// Decrypt with the passphrase in this file (first line).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["identity", "passphrase"])]
    pub passphrase_file: Option<PathBuf>,
    /// Decrypt with a passphrase read from the terminal.
    #[arg(long, conflicts_with = "identity")]
    pub passphrase: bool,
    /// Replace an existing bundle (kept as the previous generation).
    #[arg(long)]
    pub force: bool,
    /// Restore even a backup holding a client certificate the current bundle revoked
    /// (`provision user remove`): the removed user could log in again.
    #[arg(long)]
    pub allow_revoked: bool,
    /// Trust the archive only if its signer was issued by the CA with this SHA-256
    /// fingerprint (as `openssl x509 -noout -fingerprint -sha256`, `provision backup` and
    /// `provision check` print it; colons and case optional). Required when restoring into
    /// an empty directory; otherwise the existing bundle's CA is the anchor.
    #[arg(long, value_name = "FINGERPRINT")]
    pub expect_ca: Option<String>,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Args, Debug)]
pub struct SealArgs {
    /// The file to encrypt (e.g. dump.rdb).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub bundle: DirArgs,
    /// Output file (created 0600, never replaced), or `-` for stdout. [default: FILE.age]
    #[arg(long, short, value_name = "FILE|-")]
    pub output: Option<String>,
    /// ASCII-armored output.
    #[arg(long, short)]
    pub armor: bool,
}

#[derive(Args, Debug)]
pub struct UnsealArgs {
    /// The sealed file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// age identity file (repeatable).
    #[arg(long, short, value_name = "KEYFILE", required = true)]
    pub identity: Vec<PathBuf>,
    /// Output file (created 0600, never replaced), or `-` for stdout. [default: FILE without .age]
    #[arg(long, short, value_name = "FILE|-")]
    pub output: Option<String>,
}

const COMPOSE_HELP: &str = "\
The bundle must have been made for a container (`init --mount-dir /etc/redis/tls --bind 0.0.0.0`).
Writes docker-compose.yml (0644, no secret in it): redis:7 with the bundle mounted read-only at
the mount dir and running as the bundle's owner, every password as a Compose secret, only on an
`internal: true` network with no published port, a health check that logs in as the monitor
user over TLS with REDISCLI_AUTH read from /run/secrets, and an example client (profile
`example`) reading REDIS_PASSWORD_FILE.

Examples:
  provision init --dir ./secrets --mount-dir /etc/redis/tls --bind 0.0.0.0
  provision compose --dir ./secrets --out docker-compose.yml
  docker-compose config -q && docker compose up -d";

/// `--templates DIR`, on every command that renders a file from a template.
#[derive(Args, Debug, Default, Clone)]
pub struct TemplatesOpt {
    /// Override built-in templates with the files of the same name in DIR (users.acl,
    /// redis.conf, provision-renew.service, provision-renew.timer, provision-alerts.yml,
    /// docker-compose.yml). `init` records DIR in the bundle; later commands on the bundle use
    /// it unless given another.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ComposeArgs {
    #[command(flatten)]
    pub bundle: DirArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where a command that writes generated files puts them, and from which templates. Each
/// command names its own default with `mut_arg("out", ...)`.
#[derive(Args, Debug)]
pub struct OutputArgs {
    #[command(flatten)]
    pub templates: TemplatesOpt,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Where to write the file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

const ALERTS_HELP: &str = "\
Writes a Prometheus rules file (0644): ProvisionCertificateExpiringSoon (warning),
ProvisionCertificateExpired (critical), ProvisionBundleCheckFailing (status CRITICAL or
UNKNOWN for 10m), ProvisionCheckStale (no check for 2 days), ProvisionPasswordRotationUnfinished
(7 days), and, from redis_exporter, RedisAuthenticationFailures and RedisACLDenials.
The provision_* metrics come from `provision check --format prometheus`.

Examples:
  provision alerts --out /etc/prometheus/rules/provision-alerts.yml
  promtool check rules /etc/prometheus/rules/provision-alerts.yml";

#[derive(Args, Debug)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    /// Warn when a certificate has less than this left.
    #[arg(long, value_name = "DURATION", default_value = "14d")]
    pub expiring: Dur,
}

const ENV_HELP: &str = "\
Prints REDIS_TLS_CA, REDIS_TLS_CERT, REDIS_TLS_KEY, REDIS_USERNAME, REDIS_PASSWORD_FILE
(absolute paths into the bundle) and where Redis is:
  REDIS_TOPOLOGY     standalone, replication (primary + replicas), sentinel (replication
                     found through Sentinels) or cluster: how a client library connects
  REDIS_HOST         host of the first node: its first IP address, else its first host name
                     (standalone: of the server certificate's hosts)
  REDIS_PORT         port of the first node (standalone: the server; replication and
                     sentinel: the initial primary; cluster: the first node)
  REDIS_NODES        every data node, comma-separated host:port (IPv6 as [addr]:port)
  REDIS_SENTINELS    sentinel bundles only: every Sentinel, comma-separated host:port
  REDIS_MASTER_NAME  sentinel bundles only: the name Sentinels know the primary by
With Sentinels, ask them for the primary (SENTINEL GET-MASTER-ADDR-BY-NAME) rather than
using REDIS_HOST:REDIS_PORT, which is the primary only until a failover.
The password itself is printed only with --show-secrets (as REDIS_PASSWORD); prefer
REDIS_PASSWORD_FILE. With --json: {\"action\": \"env\", \"user\": NAME, \"vars\": {NAME: value}}.

Formats: shell (`export NAME='value'`, for eval), github (`NAME=value`, append to
$GITHUB_ENV), dotenv (`NAME='value'`, for docker compose --env-file and dotenv libraries).

Examples:
  env_sh=\"$(provision env --dir \"$secrets\")\" && eval \"$env_sh\"
  provision env --dir \"$secrets\" --format github >> \"$GITHUB_ENV\"
  provision env --dir ./secrets --format dotenv --user monitor > redis.env";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EnvFormat {
    Shell,
    Github,
    Dotenv,
}

#[derive(Args, Debug)]
pub struct EnvArgs {
    #[command(flatten)]
    pub bundle: DirArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "shell")]
    pub format: EnvFormat,
    /// The ACL user whose credentials to point at. [default: the first user with role `app`]
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Also print the password itself as REDIS_PASSWORD (it then ends up wherever stdout goes).
    #[arg(long)]
    pub show_secrets: bool,
}

const SCHEDULE_HELP: &str = "\
Writes provision-renew.service (Type=oneshot: `provision renew --dir DIR --reload --quiet`,
sandboxed: ProtectSystem=strict with only DIR writable, NoNewPrivileges, PrivateTmp, ...)
and provision-renew.timer (daily, RandomizedDelaySec=1h, Persistent=true). Prints the
equivalent cron line.

Examples:
  provision schedule --dir /etc/redis/tls --out /etc/systemd/system
  systemctl daemon-reload && systemctl enable --now provision-renew.timer";

#[derive(Args, Debug)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub bundle: DirArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

const RENEW_HELP: &str = "\
A certificate is due when less than --within is left (default: a third of its lifetime, the
cert-manager and step rule). Due leaves get a fresh key (--reuse-key keeps it) from the same
CA.

CA rollover, in two steps so that no client is cut off:
  1. When the CA is due (or with --rollover-ca), a new CA is made and published in ca.crt
     after the old one. Every certificate stays on the old CA, so clients that hold only the
     old ca.crt keep working. Ship the new ca.crt to every client during the overlap
     (--overlap, default 30d, at most half the old CA's remaining life).
  2. Once the overlap has passed, `renew --rollover-ca --finish` (or the next renew from a
     timer) makes the new CA the issuing CA and re-issues every certificate from it. The old
     CA stays in ca.crt, so client certificates it issued keep authenticating, until all of
     them have expired; --retire-old-ca drops it sooner. `provision check` shows the step
     and how long the overlap has left.

All or nothing: the new files replace the old as one generation; the old one is kept for
`provision rollback`. Exit 0 whether or not something was renewed; non-zero only on error.

--reload / --redis HOST:PORT log in over TLS as the admin user (credentials from the bundle)
and run the renamed CONFIG command: SET tls-cert-file tls-key-file tls-ca-cert-file; then a
fresh handshake must show the new certificate. Open connections stay up. With nothing due,
--reload still brings any node that serves an older certificate up to date.

Protected CA key (`init --protect-ca-key`): signing needs ca.key.age opened with --identity
KEYFILE (or --passphrase-file / --passphrase). With nothing due, renew needs neither, so the
unattended timer keeps running; once something is due it fails (exit 2, nothing changed) with a
message naming ca.key.age, until someone runs renew with the identity.

Examples:
  provision renew --dir /etc/redis/tls --reload
  provision renew --dir ./secrets --dry-run
  provision renew --dir ./secrets --force --redis 10.0.0.5:6379 --redis 10.0.0.6:6379
  provision renew --dir /etc/redis/tls --rollover-ca --overlap 14d --reload
  provision renew --dir /etc/redis/tls --rollover-ca --finish --reload
  provision renew --dir /etc/redis/tls --identity ca-admin-key.txt --reload";

#[derive(Args, Debug)]
pub struct RenewArgs {
    #[command(flatten)]
    pub bundle: DirArgs,
    /// Renew certificates with less than this left. [default: 1/3 of each certificate's lifetime]
    #[arg(long, value_name = "DURATION")]
    pub within: Option<Dur>,
    /// Renew every leaf certificate now.
    #[arg(long)]
    pub force: bool,
    /// Start a CA rollover now: publish a new CA in ca.crt beside the old one (see below).
    #[arg(long, conflicts_with = "retire_old_ca")]
    pub rollover_ca: bool,
    /// With --rollover-ca: finish the rollover in progress, re-issuing every certificate from
    /// the new CA. Refused before the overlap has passed.
    #[arg(long, requires = "rollover_ca")]
    pub finish: bool,
    /// How long a new CA is published before certificates move to it. [default: 30d]
    #[arg(long, value_name = "DURATION", conflicts_with = "finish")]
    pub overlap: Option<Dur>,
    /// Drop old CAs from ca.crt now: certificates they issued stop authenticating.
    #[arg(long)]
    pub retire_old_ca: bool,
    /// Keep each leaf's private key instead of generating a fresh one.
    #[arg(long)]
    pub reuse_key: bool,
    /// Say what would be renewed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Hot-reload the bundle's own Redis (127.0.0.1 on the bundle's port).
    #[arg(long)]
    pub reload: bool,
    /// Hot-reload this Redis node (repeatable).
    #[arg(long = "redis", value_name = "HOST:PORT")]
    pub redis: Vec<String>,
    #[command(flatten)]
    pub unlock: UnlockArgs,
    /// Build on a bundle whose files differ from its signed manifest: the edit was made on
    /// purpose. The new generation records the edited files, and audit.log names them.
    #[arg(long)]
    pub accept_local_changes: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Args, Debug)]
pub struct ReloadArgs {
    /// The mounted directory the node's tls-cert-file, tls-key-file and tls-ca-cert-file are in.
    #[arg(long, value_name = "DIR")]
    pub watch: PathBuf,
    /// The node to reload, as HOST:PORT (a name or IP its certificate holds: hostname
    /// verification is on).
    #[arg(long, value_name = "HOST:PORT")]
    pub redis: String,
    /// Directory with the login's `password`, `tls.crt`, `tls.key` (and optionally `ca.crt`).
    #[arg(long, value_name = "DIR")]
    pub credentials: PathBuf,
    /// The ACL user to log in as (it needs the renamed CONFIG command).
    #[arg(long, value_name = "NAME", default_value = "admin")]
    pub user: String,
    /// How often to look at the files.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub interval: Dur,
    /// Check and reload once, then exit.
    #[arg(long)]
    pub once: bool,
}

/// What opens a protected CA key (`ca.key.age`). Read only when the key is needed.
#[derive(Args, Debug, Default)]
pub struct UnlockArgs {
    /// age identity file that opens ca.key.age (repeatable; as made by age-keygen). Only for a
    /// bundle made with `init --protect-ca-key`.
    #[arg(long, short, value_name = "KEYFILE")]
    pub identity: Vec<PathBuf>,
    /// Open ca.key.age with the passphrase in this file (first line); for a bundle made with
    /// `init --protect-ca-key-passphrase`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["identity", "passphrase"])]
    pub passphrase_file: Option<PathBuf>,
    /// Open ca.key.age with a passphrase read from the terminal.
    #[arg(long, conflicts_with = "identity")]
    pub passphrase: bool,
}

impl UnlockArgs {
    pub fn given(&self) -> bool {
        !self.identity.is_empty() || self.passphrase_file.is_some() || self.passphrase
    }
}

const RELOAD_HELP: &str = "\
For Kubernetes with cert-manager (`provision export --format cert-manager`): cert-manager
renews the certificate Secrets and the kubelet swaps the mounted files, but Redis does not
watch its files. Run this in a sidecar container of each Redis or Sentinel pod, with the same
volume mounted at the same path as in the server container.

Every --interval it reads the files the node serves from (asked with `CONFIG GET
tls-cert-file tls-key-file tls-ca-cert-file` through the renamed CONFIG command, which must
name files in --watch DIR) as one version: through the kubelet's `..data` link, so a
certificate is never paired with the previous key. When that version changes (and once at
start) and the files form a valid pair that the CA bundle trusts, it runs the same reload as
`renew --reload` (`CONFIG SET tls-cert-file ... tls-key-file ... tls-ca-cert-file ...`) and a
fresh TLS handshake, hostname verified, must present the new certificate. A failed reload is
retried at the next interval; a half-updated volume is waited out. It logs in as --user with
the files in --credentials DIR: `password` (absent for a certificate-login user), `tls.crt`,
`tls.key` and optionally `ca.crt` (mount the user's password Secret and its cert-manager
Secret there). Nothing secret is printed. Valkey 9.1 and newer re-read their files by
themselves (`tls-auto-reload-interval`, set in bundles made with --server valkey-9.1) and need
no sidecar.

Exit codes: runs until stopped (SIGTERM); with --once, 0 when the node serves the mounted
certificate, 1 when it does not, 2 on bad input.

Examples:
  provision reload --watch /etc/redis/tls --redis localhost:6379 --credentials /etc/redis/admin
  provision reload --watch /etc/redis/tls --redis localhost:6379 --credentials /etc/redis/admin --once";

const ROTATE_HELP: &str = "\
Runbook:
  1. provision rotate --dir DIR --user app --reload     # nodes accept old and new; app.password is new
  2. roll clients to the new password file (both passwords work meanwhile)
  3. provision rotate --dir DIR --user app --finish --reload   # old password refused; open connections stay

Live changes use ACL SETUSER on every node (ACL changes are not replicated), never ACL LOAD
(which disconnects every client on Redis 7.0). A node failure undoes the nodes already changed
and leaves the bundle on disk as it was; run the same command again to retry.
`provision check` lists rotations in progress.";

#[derive(Args, Debug)]
pub struct RotateArgs {
    #[command(flatten)]
    pub bundle: DirArgs,
    #[command(flatten)]
    pub templates: TemplatesOpt,
    /// User whose password to rotate (repeatable).
    #[arg(long = "user", value_name = "NAME", required_unless_present = "all")]
    pub users: Vec<String>,
    /// Rotate every user's password.
    #[arg(long, conflicts_with = "users")]
    pub all: bool,
    /// Finish a rotation: remove the old password.
    #[arg(long)]
    pub finish: bool,
    /// Apply live on the bundle's own Redis (127.0.0.1 on the bundle's port).
    #[arg(long)]
    pub reload: bool,
    /// Apply live on this Redis node (repeatable; ACL changes are not replicated).
    #[arg(long = "redis", value_name = "HOST:PORT")]
    pub redis: Vec<String>,
    /// Build on a bundle whose files differ from its signed manifest: the edit was made on
    /// purpose. The new generation records the edited files, and audit.log names them.
    #[arg(long)]
    pub accept_local_changes: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

const USER_HELP: &str = "\
Each change is one new generation (all or nothing) and one audit line. With --reload (every node
of the bundle's topology) or --redis HOST:PORT it is applied live with ACL SETUSER / ACL DELUSER,
never ACL LOAD, and verified with ACL GETUSER; no other user's connection is touched. A node
that cannot be reached is named, the others are still changed, the bundle is committed, and the
command exits 1: once the node is back, `provision push --reload` brings it in line (a node
restarted from the bundle reads the same users from users.acl).

Examples:
  provision user add orders --keys 'orders:*' --channels 'orders:*' --reload
  provision user add exporter --role monitor --reload
  provision user add reporting --rules '+@read +info' --keys 'report:*' --reload
  provision user set orders --keys 'orders:*' --keys 'carts:*' --reload
  provision user disable orders --reload     # refused at once, its connections closed
  provision user enable orders --reload
  provision user remove orders --reload      # files gone, certificate recorded as revoked
  provision user list --json

Exit codes: 0 done, 1 a node did not take the change (the bundle on disk has it), 2 bad input
(nothing written).";

const PUSH_HELP: &str = "\
For every node named: each users.acl line is set with ACL SETUSER where the node differs (and
verified with ACL GETUSER), every user the file does not name is deleted, and the node's TLS
certificate is hot-reloaded (CONFIG SET, verified by a fresh handshake) if it serves an older one.
With --reload the Sentinels' own ACL (the `user` lines of their configs) is converged too.
Reports per node `in sync`, `updated` or `unreachable` (--json too). Use it after a node was
down during `user`, `rotate` or `renew`, or to undo a hand edit on a node.

Examples:
  provision push --dir /etc/redis/tls --reload
  provision push --redis 10.0.0.7:6379 --json

Exit codes: 0 every node in line with the bundle, 1 a node unreachable or refusing, 2 bad input.";

const APPLY_HELP: &str = "\
The config file's [[users]] are the desired state (names, roles, patterns, rules, `disabled`);
users the file does not list are removed, except the replication and Sentinel users a topology
needs. All changes go into one new generation (all or nothing), one audit line; with --reload or
--redis every node is then brought in line as `provision push` does (and a newly disabled user's
connections closed). A user whose role or way of logging in changes must be removed and added.

Examples:
  provision apply --config provision.toml --plan      # what would change; nothing written
  provision apply --config provision.toml --reload

Exit codes: 0 done (or, with --plan, nothing to change), 1 a node did not take the change (the
bundle has it), 2 bad input (nothing written), 3 with --plan: changes are pending.";

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The provision.toml whose [[users]] the bundle should have.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Print the changes (users to add, change, disable, enable, remove) and change nothing.
    #[arg(long)]
    pub plan: bool,
    #[command(flatten)]
    pub unlock: UnlockArgs,
    #[command(flatten)]
    pub target: UserTarget,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    #[command(flatten)]
    pub bundle: DirArgs,
    /// Every Redis node of the bundle's topology.
    #[arg(long, required_unless_present = "redis")]
    pub reload: bool,
    /// This Redis node (repeatable).
    #[arg(long = "redis", value_name = "HOST:PORT")]
    pub redis: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    pub action: UserAction,
}

#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// A new user: its certificate from the bundle's CA, its password, its users.acl line.
    Add(UserAddArgs),
    /// Change an app or custom user's key patterns, channel patterns or command rules.
    Set(UserSetArgs),
    /// Refuse the user's logins (users.acl `off`) and close its open connections; files stay.
    Disable(UserNameArgs),
    /// Let a disabled user log in again.
    Enable(UserNameArgs),
    /// Delete the user everywhere: files gone, its certificate recorded in the manifest as revoked.
    Remove(UserNameArgs),
    /// The bundle's users, their roles, patterns and state.
    List(UserListArgs),
}

/// Where a user change goes: the bundle, and which live nodes.
#[derive(Args, Debug)]
pub struct UserTarget {
    #[command(flatten)]
    pub bundle: DirArgs,
    #[command(flatten)]
    pub templates: TemplatesOpt,
    /// Apply live on every Redis node of the bundle's topology.
    #[arg(long)]
    pub reload: bool,
    /// Apply live on this Redis node (repeatable; ACL changes are not replicated).
    #[arg(long = "redis", value_name = "HOST:PORT")]
    pub redis: Vec<String>,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// Key patterns, channel patterns and command rules of a user.
#[derive(Args, Debug)]
pub struct UserRules {
    /// Key pattern the user may touch (repeatable), for example `orders:*`.
    #[arg(long = "keys", value_name = "PATTERN")]
    pub keys: Vec<String>,
    /// Channel pattern the user may use (repeatable).
    #[arg(long = "channels", value_name = "PATTERN")]
    pub channels: Vec<String>,
    /// No channels at all.
    #[arg(long, conflicts_with = "channels")]
    pub no_channels: bool,
    /// ACL command rules, space-separated (`'+@read +info'`): makes a custom user.
    #[arg(long, value_name = "'ACL RULES'")]
    pub rules: Option<String>,
}

#[derive(Args, Debug)]
pub struct UserAddArgs {
    /// The user's name (its files are NAME.crt, NAME.key, NAME.password).
    pub name: String,
    /// The user's role: app (data on its patterns), monitor (what redis_exporter reads) or admin.
    #[arg(long, value_parser = ["app", "monitor", "admin"], conflicts_with = "rules")]
    pub role: Option<String>,
    #[command(flatten)]
    pub rules: UserRules,
    /// How the user logs in: password (default), cert (its certificate alone; Valkey 9.0+/Redis
    /// 8.6+ bundles made with certificate users) or both.
    #[arg(long, value_parser = ["password", "cert", "both"])]
    pub auth: Option<String>,
    #[command(flatten)]
    pub unlock: UnlockArgs,
    #[command(flatten)]
    pub target: UserTarget,
}

#[derive(Args, Debug)]
pub struct UserSetArgs {
    pub name: String,
    #[command(flatten)]
    pub rules: UserRules,
    #[command(flatten)]
    pub target: UserTarget,
}

#[derive(Args, Debug)]
pub struct UserNameArgs {
    pub name: String,
    #[command(flatten)]
    pub target: UserTarget,
}

#[derive(Args, Debug)]
pub struct UserListArgs {
    #[command(flatten)]
    pub bundle: DirArgs,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub bundle: DirArgs,
    /// Roll back even to a generation holding a client certificate revoked since
    /// (`provision user remove`): the removed user could log in again.
    #[arg(long)]
    pub allow_revoked: bool,
    /// Hot-reload the bundle's own Redis afterwards.
    #[arg(long)]
    pub reload: bool,
    /// Hot-reload this Redis node afterwards (repeatable).
    #[arg(long = "redis", value_name = "HOST:PORT")]
    pub redis: Vec<String>,
    #[command(flatten)]
    pub lock: LockArgs,
}

const CHECK_HELP: &str = "\
Checks every certificate (parse, validity, time left, chain to ca.crt, EKUs, SANs), that each
private key matches its certificate, file modes, users.acl against the password files
(`user default off`, no plaintext passwords), and that redis.conf points at existing files and
matches renamed-commands. Reports every problem, not just the first.

Default thresholds: WARNING when less than 1/3 of the lifetime is left (exactly when `renew`
re-issues it); CRITICAL when less than min(7d, 1/10 of the lifetime) is left, or expired.

A protected CA key (ca.key.age) is checked for mode 0600 and a valid age header; whether it
matches ca.crt is checked only with --identity KEYFILE (or --passphrase-file).

Exit codes: 0 OK · 1 WARNING · 2 CRITICAL · 3 UNKNOWN (bundle missing or unreadable)

Examples:
  provision check --dir ./secrets
  provision check --dir /etc/redis/tls --format prometheus > /var/lib/node_exporter/textfile/provision.prom
  provision check --dir ./secrets --warn 60d --crit 14d --json";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Prometheus,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub bundle: DirArgs,
    /// WARNING when a certificate has less than this left. [default: 1/3 of the lifetime, the renew rule]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub warn: Option<Dur>,
    /// CRITICAL when a certificate has less than this left. [default: min(7d, 1/10 of lifetime)]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub crit: Option<Dur>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
    /// With a protected CA key: also open ca.key.age and check it matches ca.crt.
    #[command(flatten)]
    pub unlock: UnlockArgs,
}

const INIT_EXAMPLES: &str = "\
Examples:
  provision init --dir ./secrets
  provision init --dir /etc/redis/tls --host redis.internal --host 10.0.0.5 --app-keys 'app:*'
  provision init --dir ./secrets --key-type rsa-4096 --cert-validity 90d
  provision init --config provision.toml --force
  provision init --dir ./secrets --topology replication --nodes 3 --sentinels 3 --host 127.0.0.1
  provision init --dir ./secrets --topology cluster --nodes 6 --port 7000
  provision init --dir ./secrets --mount-dir /etc/redis/tls --bind 0.0.0.0 --compose
  provision init --dir ./secrets --templates ./my-templates    # e.g. my-templates/redis.conf
  provision init --dir /etc/redis/tls --protect-ca-key age1... --protect-ca-key age1...

Files (modes): ca.crt 0644, ca.key 0600, redis.crt 0644, redis.key 0600, <user>.crt 0644,
<user>.key 0600, <user>.password 0600, users.acl 0600, redis.conf 0600, renamed-commands 0600,
manifest.json 0644; the directory is 0700. With --protect-ca-key*, ca.key.age 0600 replaces ca.key.";

#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub bundle: DirArgs,
    /// Read options and users from a TOML file; flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A DNS name or IP address for the server certificate's SANs (repeatable; replaces the defaults). [default: redis, localhost, 127.0.0.1, ::1]
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// SPIFFE trust domain of the client certificates: each names its user in a URI SAN,
    /// spiffe://DOMAIN/redis/user/<name>. Kept in the manifest for renew. [default: redis.internal]
    #[arg(long, value_name = "DOMAIN")]
    pub trust_domain: Option<String>,
    /// The server the bundle is for: `auto` asks `redis-server --version`, then
    /// `valkey-server --version`, on PATH (neither found: redis-7.0, the baseline). On Valkey
    /// 9, whose Lua engine asks CONFIG by name, CONFIG keeps its name (ACLs keep it from
    /// every user but admin). [default: auto]
    #[arg(long, value_name = "TARGET", value_parser = server_parser())]
    pub server: Option<String>,
    /// How users log in (users with their own `auth` in the config file keep it): `password`
    /// (AUTH with the password file), `cert` (the client certificate alone logs in as the user
    /// its CN names, `tls-auth-clients-user CN`; no password exists: nothing to rotate or
    /// leak), `both` (certificate, and a password as break-glass). cert and both need a
    /// server with `tls-auth-clients-user`: valkey-9.0 and newer, redis-8.6 and newer.
    /// Replication and Sentinel users always use passwords. [default: password]
    #[arg(long, value_name = "AUTH", value_parser = user_auth_parser())]
    pub user_auth: Option<crate::core::spec::UserAuth>,
    /// What a certificate-login user's certificate is mapped by: `cn` (its CN is the user
    /// name, `tls-auth-clients-user CN`) or `uri` (its SPIFFE ID,
    /// `spiffe://<trust domain>/redis/user/<name>`, already in every client certificate's SAN,
    /// names the ACL user, `tls-auth-clients-user URI`; valkey-9.1 and newer). A user's own
    /// `uri = "spiffe://..."` in the config file gives it another URI. [default: cn; uri when
    /// a user has its own `uri`]
    #[arg(long, value_name = "FIELD", value_parser = ["cn", "uri"])]
    pub cert_identity: Option<String>,
    /// TLS port Redis listens on (the plaintext port is disabled). [default: 6379]
    #[arg(long)]
    pub port: Option<u16>,
    /// Address for redis.conf's `bind` (repeatable). [default: 127.0.0.1 -::1]
    #[arg(long = "bind", value_name = "ADDR", allow_hyphen_values = true)]
    pub bind: Vec<String>,
    /// Key type for the CA and every certificate. [default: ecdsa-p256]
    #[arg(long, value_parser = key_type_parser())]
    pub key_type: Option<KeyType>,
    /// CA validity (s, m, h, d, w). [default: 3650d]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub ca_validity: Option<Dur>,
    /// Server and client certificate validity; never longer than the CA's. [default: 365d]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub cert_validity: Option<Dur>,
    /// Key pattern the app user may use (repeatable; replaces `*`).
    #[arg(long = "app-keys", value_name = "PATTERN")]
    pub app_keys: Vec<String>,
    /// Pub/Sub channel pattern the app user may use (repeatable; replaces `*`).
    #[arg(long = "app-channels", value_name = "PATTERN")]
    pub app_channels: Vec<String>,
    /// Disable the dangerous commands (rename to "") instead of renaming them to secret names.
    /// Note: without CONFIG, `renew --reload` cannot hot-reload certificates.
    #[arg(long)]
    pub disable_commands: bool,
    /// Transient data: no RDB snapshots, no AOF, no RDB left behind after a replica sync.
    #[arg(long)]
    pub no_persistence: bool,
    /// Redis data directory (`dir` in redis.conf; absolute). [default: redis-server's working directory]
    #[arg(long, value_name = "PATH")]
    pub data_dir: Option<String>,
    /// Replace an existing bundle (all or nothing; the old one is kept for `provision rollback`).
    #[arg(long)]
    pub force: bool,
    /// Short-lived secrets for CI: validity 1d (unless given), no persistence, a fresh
    /// temporary directory (kept; its path is printed) when --dir is not given, and no flush
    /// to the disk (still all or nothing for readers and across a crash of the process).
    #[arg(long)]
    pub ephemeral: bool,
    /// Write paths in redis.conf as seen inside a container with the bundle mounted at PATH
    /// (absolute). Files are still written to --dir. [default: the bundle directory]
    #[arg(long, value_name = "PATH")]
    pub mount_dir: Option<String>,
    /// Topology: one server, a primary with replicas (and optional Sentinels), or Redis
    /// Cluster. Each node gets its own certificate and config. [default: standalone]
    #[arg(long, value_parser = topology_parser(), value_name = "KIND")]
    pub topology: Option<crate::core::topology::Kind>,
    /// Number of Redis nodes for --topology replication (primary + replicas) or cluster: named
    /// redis-1..N on --port, --port+1, ... [default: 3]
    #[arg(long, value_name = "N")]
    pub nodes: Option<usize>,
    /// Number of Sentinels for --topology replication: sentinel-1..N on 26379, 26380, ...
    #[arg(long, value_name = "N")]
    pub sentinels: Option<usize>,
    /// Also write docker-compose.yml (as `provision compose`; needs --mount-dir) to
    /// ./docker-compose.yml or --compose-out. Outside the bundle; --force replaces it too.
    #[arg(long)]
    pub compose: bool,
    /// Where --compose writes the Compose file. [default: ./docker-compose.yml]
    #[arg(long, value_name = "FILE", requires = "compose")]
    pub compose_out: Option<PathBuf>,
    #[command(flatten)]
    pub templates: TemplatesOpt,
    /// Store the CA key only encrypted, as ca.key.age, to this age recipient (age1...,
    /// repeatable). renew then needs --identity to sign. Leaf keys stay plaintext.
    #[arg(long = "protect-ca-key", value_name = "AGE1...")]
    pub protect_ca_key: Vec<String>,
    /// Like --protect-ca-key, with the recipients in FILE (one per line, `#` comments, as `age -R`).
    #[arg(long, value_name = "FILE")]
    pub protect_ca_key_file: Option<PathBuf>,
    /// Store the CA key only as ca.key.age encrypted with a passphrase (asked twice on the
    /// terminal, or --passphrase-file). renew then needs the passphrase to sign.
    #[arg(long, conflicts_with_all = ["protect_ca_key", "protect_ca_key_file"])]
    pub protect_ca_key_passphrase: bool,
    /// With --protect-ca-key-passphrase: read the passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE", requires = "protect_ca_key_passphrase")]
    pub passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// `--key-type`: the names the core spells (core types know nothing of clap).
fn key_type_parser() -> impl clap::builder::TypedValueParser<Value = KeyType> {
    clap::builder::PossibleValuesParser::new(KeyType::ALL.map(KeyType::name))
        .map(|s: String| KeyType::from_name(&s).expect("clap only passes a possible value"))
}

/// `--user-auth`: password, cert or both.
fn user_auth_parser() -> impl clap::builder::TypedValueParser<Value = crate::core::spec::UserAuth> {
    use crate::core::spec::UserAuth;
    clap::builder::PossibleValuesParser::new(UserAuth::ALL.map(UserAuth::name))
        .map(|s: String| UserAuth::from_name(&s).expect("clap only passes a possible value"))
}

/// `--server`: auto or a known target.
fn server_parser() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        std::iter::once("auto").chain(crate::core::server::KNOWN.iter().copied()),
    )
}

/// `--topology`: each kind with its description.
fn topology_parser() -> impl clap::builder::TypedValueParser<Value = crate::core::topology::Kind> {
    use crate::core::topology::Kind;
    clap::builder::PossibleValuesParser::new(
        Kind::ALL.map(|(_, name, about)| clap::builder::PossibleValue::new(name).help(about)),
    )
    .map(|s: String| Kind::from_name(&s).expect("clap only passes a possible value"))
}
