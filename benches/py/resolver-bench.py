"""Harness for measuring postfix-mta-sts-resolver (the Python daemon) with the same keys as ours.

It only prepares state and then runs the Python daemon's own code unchanged:

  python resolver-bench.py prefill CONFIG N
      write N policies (d0.example .. d{N-1}.example, id "bench1", fetched now, MX mx{i}.example.net
      and *.example.org) into the persistent
      cache CONFIG names, through the resolver's own cache classes (SQLite rows are bulk-inserted
      into the table the resolver's own setup() created, which is much faster than one commit each)
  python resolver-bench.py run CONFIG N [DAEMON ARGS...]
      run the daemon with CONFIG; with an `internal` cache, fill it with the same N policies first
      (an in-memory cache cannot be filled from outside the process)

With BENCH_DNS=IP:PORT in the environment, every DNS resolver of the daemon (aiodns, for the TXT
lookups and, through aiohttp's resolver, for the policy host's address) asks that server: the
daemon itself has no name server setting. Used by benches/cold-bench.sh, with SSL_CERT_FILE
naming the test CA.

Used by benches/daemon-bench.sh; needs `pip install postfix-mta-sts-resolver[sqlite,redis,postgres,uvloop]`.
"""

import asyncio
import json
import os
import sqlite3
import sys
import time

from postfix_mta_sts_resolver import daemon, utils
from postfix_mta_sts_resolver.base_cache import CacheEntry

def policy(i):
    # One policy object per domain, each with its own MX host, as a real cache holds: sharing one
    # object would understate the Python daemon's memory, and identical policies could flatter ours.
    return {
        "version": "STSv1",
        "mode": "enforce",
        "mx": [f"mx{i}.example.net", "*.example.org"],
        "max_age": 604800,
    }


def entries(count):
    now = int(time.time())
    for i in range(count):
        yield f"d{i}.example", CacheEntry(now, "bench1", policy(i))


async def fill(cache, count):
    batch = []
    for domain, entry in entries(count):
        batch.append(cache.set(domain, entry))
        if len(batch) == 10:
            await asyncio.gather(*batch)
            batch = []
    await asyncio.gather(*batch)


async def prefill(cfg, count):
    cache = utils.create_cache(cfg["cache"]["type"], cfg["cache"]["options"])
    await cache.setup()
    if cfg["cache"]["type"] == "sqlite":
        await cache.teardown()
        conn = sqlite3.connect(cfg["cache"]["options"]["filename"])
        conn.executemany(
            "insert or replace into sts_policy_cache (domain, ts, pol_id, pol_body) values (?, ?, ?, ?)",
            ((d, e.ts, e.pol_id, json.dumps(e.pol_body)) for d, e in entries(count)),
        )
        conn.commit()
        conn.close()
        return
    await fill(cache, count)
    await cache.teardown()


def point_dns_at(server):
    import aiodns

    original = aiodns.DNSResolver.__init__

    def init(self, nameservers=None, *args, **kwargs):
        original(self, nameservers or [server], *args, **kwargs)

    aiodns.DNSResolver.__init__ = init


def main():
    command, config, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if os.environ.get("BENCH_DNS"):
        point_dns_at(os.environ["BENCH_DNS"])
    cfg = utils.load_config(config)
    if command == "prefill":
        asyncio.run(prefill(cfg, count))
        return 0
    original = utils.create_cache

    def create_cache(kind, options):
        cache = original(kind, options)
        if kind == "internal":
            setup = cache.setup

            async def setup_and_fill():
                await setup()
                await fill(cache, count)

            cache.setup = setup_and_fill
        return cache

    utils.create_cache = create_cache
    sys.argv = ["mta-sts-daemon", "-c", config] + sys.argv[4:]
    return daemon.main()


if __name__ == "__main__":
    sys.exit(main())
