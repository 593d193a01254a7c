//! Private Redis and PostgreSQL servers for load tests (the test kit's, on free loopback ports, in
//! scratch directories). Prints `redis=URL` and `postgres=DSN`, serves until SIGTERM or Ctrl-C, then
//! stops both servers and removes their files.
//!
//! ```text
//! cargo run --release -p mta-sts-benches --bin bench-services
//! ```

use mta_sts_testkit::{TestPostgres, TestRedis};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Handlers first: a SIGTERM while the servers start must still stop them (Drop below).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    let redis = TestRedis::start().expect("redis-server (Debian package redis-server)");
    let postgres = TestPostgres::start().expect("PostgreSQL (Debian package postgresql)");
    postgres.database("bench").expect("create database bench");
    // The URL form: both tokio-postgres and asyncpg (the Python daemon's driver) accept it.
    let dsn = format!("postgres://postgres@127.0.0.1:{}/bench", postgres.port());
    println!("redis={}", redis.url());
    println!("postgres={dsn}");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    // Dropping the handles stops the servers; an exit without them would leave both running.
    drop(redis);
    drop(postgres);
}
