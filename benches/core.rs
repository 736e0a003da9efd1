//! `cargo bench`: the hot pieces of `provision init` and `check`, one function each, so that a
//! regression shows up in the piece that slowed down and not only in the end-to-end time
//! (`scripts/bench.sh`). Everything here is in memory: no disk, no process start-up.
//!
//! Run one group with e.g. `cargo bench --bench core -- keygen`. RSA-4096 key generation
//! takes about a second per key (and varies a lot by nature), so its group has a small sample.

use criterion::{criterion_group, criterion_main, Criterion};
use provision::core::bundle::{self, conf_paths, new_renames};
use provision::core::checkup::{self, Thresholds};
use provision::core::password;
use provision::core::pki::{self, KeyType, Leaf};
use provision::core::render::{self, AclEntry};
use provision::core::spec::{Role, Spec, UserSpec};
use std::hint::black_box;
use std::time::Duration;
use time::OffsetDateTime;

fn keygen(c: &mut Criterion) {
    let mut g = c.benchmark_group("keygen");
    for kt in [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Ed25519,
        KeyType::Rsa2048,
    ] {
        g.bench_function(kt.name(), |b| {
            b.iter(|| pki::generate_key(black_box(kt)).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("keygen-slow");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function(KeyType::Rsa4096.name(), |b| {
        b.iter(|| pki::generate_key(KeyType::Rsa4096).unwrap())
    });
    g.finish();
}

fn sign(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let (nb, na) = (now - pki::BACKDATE, now + time::Duration::days(365));
    let mut g = c.benchmark_group("sign");
    for kt in [KeyType::EcdsaP256, KeyType::Rsa2048] {
        let ca_key = pki::generate_key(kt).unwrap();
        let ca_params = pki::ca_params("bench CA", &ca_key, nb, na);
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let leaf_key = pki::generate_key(kt).unwrap();
        let server = Leaf::Server {
            common_name: "redis".into(),
            hosts: Spec::default().hosts,
        };
        let client = Leaf::Client {
            common_name: "app".into(),
            uri: pki::client_uri(pki::DEFAULT_TRUST_DOMAIN, "app"),
        };
        g.bench_function(format!("ca/{kt}"), |b| {
            b.iter(|| {
                pki::self_sign(&pki::ca_params("bench CA", &ca_key, nb, na), &ca_key).unwrap()
            })
        });
        for (name, leaf) in [("server", &server), ("client", &client)] {
            g.bench_function(format!("{name}/{kt}"), |b| {
                b.iter(|| {
                    let p = pki::leaf_params(leaf, kt, &leaf_key, nb, na).unwrap();
                    pki::sign_leaf(&p, &leaf_key, &issuer).unwrap()
                })
            });
        }
        g.bench_function(format!("key_pem/{kt}"), |b| {
            b.iter(|| pki::key_pem(black_box(&leaf_key)))
        });
    }
    g.finish();
}

fn render(c: &mut Criterion) {
    let spec = Spec::default();
    let hashes: Vec<String> = spec
        .users
        .iter()
        .map(|u| password::sha256_hex(u.name.as_bytes()))
        .collect();
    let entries: Vec<AclEntry<'_>> = spec
        .users
        .iter()
        .zip(&hashes)
        .map(|(user, h)| AclEntry {
            user,
            hashes: vec![h.clone()],
        })
        .collect();
    let paths = conf_paths("/etc/redis/secrets");
    let renames = new_renames(&Spec::default());
    let mut g = c.benchmark_group("render");
    g.bench_function("users.acl", |b| {
        b.iter(|| render::users_acl(black_box(&entries)).unwrap())
    });
    g.bench_function("redis.conf", |b| {
        b.iter(|| {
            render::redis_conf_with(
                &render::Templates::builtin(),
                &spec,
                &paths,
                &render::NodeConf::standalone(&spec),
                &renames,
                "2026-01-01T00:00:00Z",
            )
            .unwrap()
        })
    });
    g.bench_function("renames", |b| b.iter(|| new_renames(&Spec::default())));
    g.finish();
}

fn passwords(c: &mut Criterion) {
    let mut g = c.benchmark_group("password");
    g.bench_function("generate", |b| b.iter(password::generate));
    g.bench_function("random_token/26", |b| {
        b.iter(|| password::random_token(black_box(26)))
    });
    let pw = password::generate();
    g.bench_function("sha256_hex", |b| {
        b.iter(|| password::sha256_hex(black_box(pw.expose())))
    });
    g.finish();
}

/// `spec` with `n` client users (admin + u1..u(n-1)), like the scale rows of scripts/bench.sh.
fn spec_with_users(n: usize) -> Spec {
    let mut users = vec![UserSpec::new("admin", Role::Admin)];
    users.extend((1..n).map(|i| UserSpec::new(&format!("u{i}"), Role::App)));
    Spec {
        users,
        ..Spec::default()
    }
}

fn generate(c: &mut Criterion) {
    let tick = |_: &str| {};
    let now = OffsetDateTime::now_utc();
    let mut g = c.benchmark_group("bundle");
    let default = Spec::default();
    g.bench_function("generate/default", |b| {
        b.iter(|| {
            bundle::generate(
                &default,
                &bundle::Gen {
                    tick: &tick,
                    ..bundle::Gen::new("/etc/redis/secrets", "gen", now)
                },
            )
            .unwrap()
        })
    });
    let files = bundle::generate(
        &default,
        &bundle::Gen {
            tick: &tick,
            ..bundle::Gen::new("/etc/redis/secrets", "gen", now)
        },
    )
    .unwrap();
    g.bench_function("check/default", |b| {
        b.iter(|| checkup::check(&files, now, Thresholds::default(), &|_| true))
    });
    g.sample_size(10);
    let hundred = spec_with_users(100);
    g.bench_function("generate/100-users", |b| {
        b.iter(|| {
            bundle::generate(
                &hundred,
                &bundle::Gen {
                    tick: &tick,
                    ..bundle::Gen::new("/etc/redis/secrets", "gen", now)
                },
            )
            .unwrap()
        })
    });
    let files = bundle::generate(
        &hundred,
        &bundle::Gen {
            tick: &tick,
            ..bundle::Gen::new("/etc/redis/secrets", "gen", now)
        },
    )
    .unwrap();
    g.bench_function("check/100-users", |b| {
        b.iter(|| checkup::check(&files, now, Thresholds::default(), &|_| true))
    });
    g.finish();
}

criterion_group!(benches, keygen, sign, render, passwords, generate);
criterion_main!(benches);
