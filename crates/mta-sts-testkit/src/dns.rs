use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::iter::empty;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, TXT};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::{TcpListener, UdpSocket};

use crate::pattern::NamePattern;
use crate::{lock, name_key};

/// TTL of every record served.
const TTL: u32 = 60;
/// CNAMEs followed within one answer; more than any real chain, and it stops loops.
const MAX_CHAIN: usize = 8;
/// How long an idle TCP client may keep its connection.
const TCP_IDLE: Duration = Duration::from_secs(5);

/// How [`TestDns`] reacts to queries for one name, whatever the query type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DnsBehavior {
    /// Answer from the records: the data, NODATA, or NXDOMAIN.
    #[default]
    Answer,
    /// Reply with RCODE SERVFAIL and no records.
    ServFail,
    /// Reply with RCODE REFUSED and no records.
    Refused,
    /// Drop the query silently, so the client times out.
    NoResponse,
}

/// An in-process DNS server on `127.0.0.1`, authoritative for every name.
///
/// It listens on UDP and TCP on the same random port ([`TestDns::addr`]). There are no zones:
/// whatever names hold records exist, and every other name is NXDOMAIN, except the ancestors of
/// names with records (empty non-terminals such as `example.com` when only `_mta-sts.example.com`
/// has records), which answer NODATA as a real authoritative server would. A query for a type the
/// name does not hold also answers NODATA (NOERROR, no records), unless the name holds a CNAME:
/// then the answer is the CNAME followed by what its target holds for that type, if the target is
/// known here. Answers carry the AA flag and a TTL of 60 seconds; negative answers carry no SOA.
///
/// Names are case-insensitive and may be given with or without the trailing dot. Every method
/// takes `&self`, so records can change while clients are querying. Dropping the server stops it.
pub struct TestDns {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    _server: Server<Handler>,
}

impl fmt::Debug for TestDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDns")
            .field("addr", &self.addr)
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

impl TestDns {
    /// Binds UDP and TCP on `127.0.0.1` with one random port and starts serving.
    ///
    /// Must be called inside a tokio runtime.
    pub async fn start() -> io::Result<Self> {
        let (udp, tcp) = bind_udp_and_tcp().await?;
        let addr = udp.local_addr()?;
        let zone = Arc::new(Mutex::new(Zone::default()));
        let mut server = Server::new(Handler {
            zone: Arc::clone(&zone),
        });
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE, 64);
        Ok(Self {
            addr,
            zone,
            _server: server,
        })
    }

    /// The address to query, the same for UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds one TXT record made of these character-strings (each at most 255 bytes).
    ///
    /// Call again to add a second record to the name's TXT RRset.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid DNS name or a string is longer than 255 bytes.
    pub fn add_txt(&self, name: &str, strings: &[&[u8]]) {
        if let Some(long) = strings.iter().find(|s| s.len() > 255) {
            panic!("TXT character-string of {} bytes (255 at most)", long.len());
        }
        self.add(name, RData::TXT(TXT::from_bytes(strings.to_vec())));
    }

    /// Adds an A record.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid DNS name.
    pub fn add_a(&self, name: &str, ip: Ipv4Addr) {
        self.add(name, RData::A(A(ip)));
    }

    /// Adds an AAAA record.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid DNS name.
    pub fn add_aaaa(&self, name: &str, ip: Ipv6Addr) {
        self.add(name, RData::AAAA(AAAA(ip)));
    }

    /// Adds a CNAME record pointing at `target`.
    ///
    /// Queries for other types at `name` are then answered with the CNAME, followed by the
    /// target's records of the queried type when the target has records here (up to 8 links).
    ///
    /// # Panics
    ///
    /// If `name` or `target` is not a valid DNS name.
    pub fn add_cname(&self, name: &str, target: &str) {
        self.add(name, RData::CNAME(CNAME(fqdn(target))));
    }

    /// Adds an MX record.
    ///
    /// # Panics
    ///
    /// If `name` or `exchange` is not a valid DNS name.
    pub fn add_mx(&self, name: &str, preference: u16, exchange: &str) {
        self.add(name, RData::MX(MX::new(preference, fqdn(exchange))));
    }

    /// Adds a TXT record to every name matching `pattern`, where a `*` label stands for any one
    /// label: `_mta-sts.*.cold.example` serves `_mta-sts.d1.cold.example`,
    /// `_mta-sts.d2.cold.example` and so on, for generated names in any number.
    ///
    /// Records added for an exact name take precedence over patterns; a name with no exact records
    /// gets the records of every pattern it matches. The ancestors of names a pattern matches
    /// exist (NODATA, not NXDOMAIN), as for exact records.
    ///
    /// # Panics
    ///
    /// If a label of `pattern` is empty or longer than 63 bytes, or a string is longer than 255
    /// bytes.
    pub fn add_txt_pattern(&self, pattern: &str, strings: &[&[u8]]) {
        if let Some(long) = strings.iter().find(|s| s.len() > 255) {
            panic!("TXT character-string of {} bytes (255 at most)", long.len());
        }
        self.add_pattern(pattern, RData::TXT(TXT::from_bytes(strings.to_vec())));
    }

    /// Adds an A record to every name matching `pattern` (see [`TestDns::add_txt_pattern`]).
    ///
    /// # Panics
    ///
    /// If a label of `pattern` is empty or longer than 63 bytes.
    pub fn add_a_pattern(&self, pattern: &str, ip: Ipv4Addr) {
        self.add_pattern(pattern, RData::A(A(ip)));
    }

    /// Removes every record at `name`. Its behaviour and query count are kept.
    pub fn clear(&self, name: &str) {
        lock(&self.zone).records.remove(&name_key(name));
    }

    /// Sets how queries for `name` (any type) are handled from now on.
    ///
    /// The behaviour applies when `name` is the query name, not when it is reached through a CNAME.
    /// [`DnsBehavior::Answer`] restores normal answers.
    pub fn set_behavior(&self, name: &str, behavior: DnsBehavior) {
        lock(&self.zone).behaviors.insert(name_key(name), behavior);
    }

    /// How many queries have arrived for `name`, of any type and over either transport.
    ///
    /// Names reached only through a CNAME are not counted. Dropped queries
    /// ([`DnsBehavior::NoResponse`]) are.
    pub fn query_count(&self, name: &str) -> usize {
        lock(&self.zone)
            .queries
            .get(&name_key(name))
            .copied()
            .unwrap_or(0)
    }

    fn add_pattern(&self, pattern: &str, rdata: RData) {
        lock(&self.zone)
            .patterns
            .push((NamePattern::new(pattern), rdata));
    }

    fn add(&self, name: &str, rdata: RData) {
        // Parsed only to reject invalid names here, in the test, rather than in the server task.
        fqdn(name);
        lock(&self.zone)
            .records
            .entry(name_key(name))
            .or_default()
            .push(rdata);
    }
}

/// UDP and TCP on one port: the TCP bind can lose a race for a port UDP got, so retry.
pub(crate) async fn bind_udp_and_tcp() -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    for _ in 0..16 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Parses `name` as an absolute DNS name.
pub(crate) fn fqdn(name: &str) -> Name {
    let mut parsed =
        Name::from_ascii(name).unwrap_or_else(|e| panic!("invalid DNS name {name:?}: {e}"));
    parsed.set_fqdn(true);
    parsed
}

/// Everything the server knows, keyed by [`name_key`].
#[derive(Debug, Default)]
struct Zone {
    records: HashMap<String, Vec<RData>>,
    /// Records of every name matching a pattern that has no exact records.
    patterns: Vec<(NamePattern, RData)>,
    behaviors: HashMap<String, DnsBehavior>,
    queries: HashMap<String, usize>,
}

/// What to do with one query.
enum Outcome {
    Drop,
    Reply(ResponseCode, Vec<Record>),
}

impl Zone {
    fn resolve(&mut self, qname: &Name, qtype: RecordType) -> Outcome {
        let key = name_key(&qname.to_ascii());
        *self.queries.entry(key.clone()).or_default() += 1;
        match self.behaviors.get(&key).copied().unwrap_or_default() {
            DnsBehavior::Answer => {}
            DnsBehavior::ServFail => return Outcome::Reply(ResponseCode::ServFail, Vec::new()),
            DnsBehavior::Refused => return Outcome::Reply(ResponseCode::Refused, Vec::new()),
            DnsBehavior::NoResponse => return Outcome::Drop,
        }

        let mut answers = Vec::new();
        let mut owner = qname.clone();
        for _ in 0..MAX_CHAIN {
            let rdatas = self.records_at(&name_key(&owner.to_ascii()));
            if rdatas.is_empty() {
                break;
            }
            let before = answers.len();
            answers.extend(
                rdatas
                    .iter()
                    .filter(|r| qtype == RecordType::ANY || r.record_type() == qtype)
                    .map(|r| Record::from_rdata(owner.clone(), TTL, r.clone())),
            );
            if answers.len() > before {
                break;
            }
            let Some(target) = rdatas.iter().find_map(|r| match r {
                RData::CNAME(CNAME(target)) => Some(target.clone()),
                _ => None,
            }) else {
                break;
            };
            answers.push(Record::from_rdata(
                owner,
                TTL,
                RData::CNAME(CNAME(target.clone())),
            ));
            owner = target;
        }

        let code = if answers.is_empty() && !self.exists(&key) {
            ResponseCode::NXDomain
        } else {
            ResponseCode::NoError
        };
        Outcome::Reply(code, answers)
    }

    /// The records at `key`: its own, or else those of the patterns it matches.
    fn records_at(&self, key: &str) -> Vec<RData> {
        match self.records.get(key) {
            Some(rdatas) if !rdatas.is_empty() => rdatas.clone(),
            _ => self
                .patterns
                .iter()
                .filter(|(pattern, _)| pattern.matches(key))
                .map(|(_, rdata)| rdata.clone())
                .collect(),
        }
    }

    /// Whether `key` owns records or is an ancestor of a name that does.
    fn exists(&self, key: &str) -> bool {
        let suffix = format!(".{key}");
        self.patterns.iter().any(|(pattern, _)| pattern.covers(key))
            || self.records.iter().any(|(name, rdatas)| {
                !rdatas.is_empty() && (name == key || name.ends_with(&suffix))
            })
    }
}

/// hickory-server's view of the [`Zone`].
struct Handler {
    zone: Arc<Mutex<Zone>>,
}

impl Handler {
    async fn respond<R: ResponseHandler>(&self, request: &Request, mut handle: R) -> ResponseInfo {
        let mut builder = MessageResponseBuilder::from_message_request(request);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;

        let (code, answers) = match request.request_info() {
            Err(_) => (ResponseCode::FormErr, Vec::new()),
            Ok(_) if request.metadata.op_code != OpCode::Query => {
                (ResponseCode::NotImp, Vec::new())
            }
            Ok(info) => {
                let query = info.query.original();
                match lock(&self.zone).resolve(query.name(), query.query_type()) {
                    Outcome::Drop => return ResponseInfo::from(header(metadata)),
                    Outcome::Reply(code, answers) => (code, answers),
                }
            }
        };
        metadata.response_code = code;

        // RFC 6891 §7: answer EDNS with EDNS. 1232 is the DNS flag day 2020 payload size.
        let edns = request.edns.as_ref().map(|_| {
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            edns
        });
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let response = builder.build(metadata, answers.iter(), empty(), empty(), empty());
        match handle.send_response(response).await {
            Ok(info) => info,
            Err(_) => ResponseInfo::from(header(metadata)),
        }
    }
}

pub(crate) fn header(metadata: Metadata) -> Header {
    Header {
        metadata,
        counts: HeaderCounts::default(),
    }
}

// The trait is declared with `#[async_trait]`; this is the signature that macro expands to, written
// out so the crate does not need the macro.
impl RequestHandler for Handler {
    fn handle_request<'life0, 'life1, 'async_trait, R, T>(
        &'life0 self,
        request: &'life1 Request,
        response_handle: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'async_trait>>
    where
        R: 'async_trait + ResponseHandler,
        T: 'async_trait + Time,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.respond(request, response_handle))
    }
}
