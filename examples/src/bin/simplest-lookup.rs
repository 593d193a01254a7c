//! The simplest embedding: the system's DNS, the HTTPS fetcher and an in-memory cache, in three
//! lines. `docs/embedding.md` quotes them from here.
//!
//! ```text
//! cargo run -p mta-sts-examples --bin simplest-lookup -- gmail.com
//! ```
//!
//! It prints what the lookup found, e.g. `gmail.com: policy fetched (id …, mode
//! enforce)`. It always uses the real Internet; the other examples take flags to use a test kit.
#![forbid(unsafe_code)]

use mta_sts_cache::MemoryCache;
use mta_sts_policy::Domain;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(name) = std::env::args().nth(1) else {
        anyhow::bail!("usage: simplest-lookup DOMAIN");
    };
    let domain: Domain = name.parse()?;

    let resolver = mta_sts_fetch::resolver(MemoryCache::new(10_000))?;
    let lookup = resolver.lookup(&domain).await;
    println!("{domain}: {}", lookup.outcome());

    Ok(())
}
