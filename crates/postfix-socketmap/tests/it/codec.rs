//! A tiny socketmap server on loopback, built from `ServerCodec`, driven by raw bytes and by `ClientCodec`.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use postfix_socketmap::{ClientCodec, CodecError, NetstringError, Reply, Request, ServerCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

/// Serves one map: `example.com` → OK, anything else NOTFOUND; malformed requests get PERM.
async fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut framed = Framed::new(stream, ServerCodec::with_limits(64, 1000));
                while let Some(item) = framed.next().await {
                    let reply = match item {
                        Ok(Ok(req)) if req.key().eq_ignore_ascii_case("example.com") => {
                            Reply::Ok(format!("secure map={}", req.name()))
                        }
                        Ok(Ok(_)) => Reply::NotFound,
                        Ok(Err(e)) => Reply::Perm(e.to_string()),
                        // Framing lost: close the connection without answering (SOCK-9).
                        Err(_) => return,
                    };
                    if framed.send(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn exchange(addr: SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(input).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .expect("server answered in time")
        .unwrap();
    out
}

#[tokio::test]
async fn sock_6_sequential_and_pipelined_requests_answered_in_order() {
    let addr = serve().await;
    let out = exchange(
        addr,
        b"19:postfix example.com,15:postfix other.x,19:postfix EXAMPLE.COM,",
    )
    .await;
    assert_eq!(
        out,
        b"21:OK secure map=postfix,9:NOTFOUND ,21:OK secure map=postfix,"
    );
}

#[tokio::test]
async fn one_request_split_into_single_bytes() {
    let addr = serve().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for &b in b"19:postfix example.com," {
        stream.write_all(&[b]).await.unwrap();
        stream.flush().await.unwrap();
    }
    let mut buf = [0u8; 25];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"21:OK secure map=postfix,");
}

#[tokio::test]
async fn malformed_request_gets_perm_and_the_connection_goes_on() {
    let addr = serve().await;
    let out = exchange(addr, b"7:postfix,19:postfix example.com,").await;
    assert_eq!(
        out,
        b"50:PERM request has no space between map name and key,21:OK secure map=postfix,"
    );
}

#[tokio::test]
async fn sock_9_malformed_netstring_closes_without_reply() {
    let addr = serve().await;
    assert_eq!(exchange(addr, b"x:abc,").await, b"");
    assert_eq!(exchange(addr, b"012:hello world!,").await, b"");
    // Requests before the bad frame are still answered.
    assert_eq!(
        exchange(addr, b"19:postfix example.com,3:abc;").await,
        b"21:OK secure map=postfix,"
    );
}

#[tokio::test]
async fn sock_5_oversized_request_refused_from_its_length_alone() {
    let addr = serve().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The limit is 64: "65" is refused at once, while our side of the connection stays open.
    stream.write_all(b"65").await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "server kept waiting for a payload it should have refused"
    );
    assert_eq!(out, b"");
}

#[tokio::test]
async fn client_codec_talks_to_the_server() {
    let addr = serve().await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut client = Framed::new(stream, ClientCodec::new());
    let request = Request::new("postfix", "example.com").unwrap();
    client.send(&request).await.unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Reply::Ok("secure map=postfix".into())
    );
    client
        .send(&Request::new("postfix", "nope.example").unwrap())
        .await
        .unwrap();
    assert_eq!(client.next().await.unwrap().unwrap(), Reply::NotFound);
}

#[test]
fn truncated_stream_is_an_error_not_silence() {
    use bytes::BytesMut;
    use tokio_util::codec::Decoder;
    let mut codec = ServerCodec::new();
    let mut buf = BytesMut::from(&b"19:postfix exam"[..]);
    assert!(matches!(
        codec.decode_eof(&mut buf),
        Err(CodecError::Truncated { buffered: 15 })
    ));
    let mut empty = BytesMut::new();
    assert!(codec.decode_eof(&mut empty).unwrap().is_none());
    let mut bad = BytesMut::from(&b"1x"[..]);
    assert!(matches!(
        codec.decode(&mut bad),
        Err(CodecError::Netstring(NetstringError::InvalidLength(b'x')))
    ));
}

#[test]
fn server_codec_refuses_a_reply_over_its_limit() {
    use bytes::BytesMut;
    use tokio_util::codec::Encoder;
    let mut codec = ServerCodec::with_limits(64, 10);
    let mut out = BytesMut::new();
    assert!(matches!(
        codec.encode(Reply::Ok("0123456789".into()), &mut out),
        Err(CodecError::Reply(postfix_socketmap::ReplyError::TooLong {
            len: 13,
            max: 10
        }))
    ));
    assert!(out.is_empty());
}
