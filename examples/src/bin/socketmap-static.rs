//! A socketmap server for a fixed table, built on `postfix_socketmap::ServerCodec`.
//!
//! ```text
//! cargo run -p mta-sts-examples --bin socketmap-static -- 127.0.0.1:8461 'example.com=secure match=mx.example.com'
//! postmap -q example.com socketmap:inet:127.0.0.1:8461:any
//! ```
//! Keys are matched case-insensitively; unknown keys get `NOTFOUND`, malformed requests `PERM`,
//! and a malformed netstring closes the connection.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use postfix_socketmap::{Reply, ServerCodec};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8461".to_owned());
    let table: HashMap<String, String> = args
        .filter_map(|entry| {
            let (key, value) = entry.split_once('=')?;
            Some((key.to_ascii_lowercase(), value.to_owned()))
        })
        .collect();
    let table = Arc::new(table);
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        let table = Arc::clone(&table);
        tokio::spawn(async move {
            let mut framed = Framed::new(stream, ServerCodec::new());
            while let Some(item) = framed.next().await {
                let reply = match item {
                    Ok(Ok(request)) => match table.get(&request.key().to_ascii_lowercase()) {
                        Some(value) => Reply::Ok(value.clone()),
                        None => Reply::NotFound,
                    },
                    Ok(Err(e)) => Reply::Perm(e.to_string()),
                    Err(e) => {
                        eprintln!("{peer}: closing: {e}");
                        return;
                    }
                };
                if framed.send(reply).await.is_err() {
                    return;
                }
            }
        });
    }
}
