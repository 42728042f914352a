//! `dns`: one query over UDP; healthy on NOERROR (and a matching answer when `expect` or
//! `expect_regex` is set).
//!
//! The query asks for recursion (RD) and advertises EDNS with a 1232-byte payload. A response
//! that is not for our query (id, question) is a `bad_reply`, as is any response code other
//! than NOERROR (NXDOMAIN, REFUSED, SERVFAIL, …). Without `expect*` an empty NOERROR answer
//! (NODATA) is healthy: the server is up and authoritative or recursive for the name. With
//! `expect`, some answer record of type `qtype` must have exactly that text form (presentation
//! format, e.g. `192.0.2.1` or `ns1.example.com.`; a trailing dot on either side is ignored);
//! with `expect_regex`, the regular expression must match some answer's text form. A truncated
//! response is judged on what it carries (no retry over TCP).

use std::net::SocketAddr;
use std::str::FromStr;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use vocab::rcode::rcode_name;

use super::key::Message as KeyMessage;
use super::udp::exchange;
use super::{Failure, Key, Outcome, ProbeConfig, ProbeConfigError, Resend};

/// What a DNS answer must look like.
#[derive(Debug)]
enum TextExpect {
    NoError,
    Exact(String),
    Regex(regex::Regex),
}

/// A validated `dns` probe.
#[derive(Debug)]
pub struct DnsProbe {
    name: Name,
    qtype: RecordType,
    expect: TextExpect,
}

impl DnsProbe {
    /// Validates the `dns` keys of `cfg` (`name`, `qtype`, `expect` or `expect_regex`).
    ///
    /// # Errors
    ///
    /// The key that is missing or invalid, and why.
    pub fn new(cfg: &ProbeConfig) -> Result<Self, ProbeConfigError> {
        let text = cfg.name.as_deref().ok_or_else(|| {
            ProbeConfigError::new(
                Key::Name,
                KeyMessage::text("kind dns needs the name to query, e.g. ")
                    .example(Key::Name, "example.com"),
            )
        })?;
        let mut name = Name::from_utf8(text).map_err(|e| {
            ProbeConfigError::new(Key::Name, format!("{text:?} is not a domain name: {e}"))
        })?;
        if name.is_root() && text != "." {
            return Err(ProbeConfigError::new(Key::Name, "is empty"));
        }
        name.set_fqdn(true);
        let qtype = match cfg.qtype.as_deref() {
            None => RecordType::A,
            Some(t) => parse_qtype(t)?,
        };
        super::at_most_one(&[
            (Key::Expect, cfg.expect.is_some()),
            (Key::ExpectRegex, cfg.expect_regex.is_some()),
        ])?;
        let expect = if let Some(text) = &cfg.expect {
            TextExpect::Exact(text.trim_end_matches('.').to_owned())
        } else if let Some(text) = &cfg.expect_regex {
            TextExpect::Regex(regex::Regex::new(text).map_err(|e| {
                ProbeConfigError::new(
                    Key::ExpectRegex,
                    format!("is not a valid regular expression: {e}"),
                )
            })?)
        } else {
            TextExpect::NoError
        };
        Ok(Self {
            name,
            qtype,
            expect,
        })
    }

    fn query(&self) -> Message {
        let mut msg = Message::query();
        msg.metadata.recursion_desired = true;
        msg.add_query(Query::query(self.name.clone(), self.qtype));
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        msg.set_edns(edns);
        msg
    }

    pub(crate) async fn run(&self, target: SocketAddr, resend: Resend) -> Outcome {
        let query = self.query();
        let bytes = query.to_vec().map_err(|e| {
            Failure::new(super::Reason::Io, format!("cannot encode the query: {e}"))
        })?;
        let reply = exchange(target, &bytes, resend).await?;
        let detail = self
            .judge(query.metadata.id, &reply.bytes)
            .map_err(|e| Failure::bad_reply(e.to_string()))?;
        Ok(reply.success(detail))
    }

    /// Checks a response to the query with id `id`; returns a detail or why it is wrong.
    ///
    /// # Errors
    ///
    /// Why `reply` is not a healthy answer to the query.
    pub fn judge(&self, id: u16, reply: &[u8]) -> Result<String, DnsReplyError> {
        let msg = Message::from_vec(reply).map_err(|source| DnsReplyError::NotDns {
            len: reply.len(),
            source,
        })?;
        if msg.metadata.message_type != MessageType::Response {
            return Err(DnsReplyError::Query);
        }
        if msg.metadata.id != id {
            return Err(DnsReplyError::Id {
                theirs: msg.metadata.id,
                ours: id,
            });
        }
        let rcode = msg.metadata.response_code;
        // A server without EDNS may answer FORMERR without a question section; check the
        // response code first so that the detail names it.
        if rcode != ResponseCode::NoError {
            return Err(DnsReplyError::Rcode {
                rcode: u16::from(rcode),
                name: self.name.clone(),
                qtype: self.qtype,
            });
        }
        match msg.queries.first() {
            // Name equality is case-insensitive.
            Some(q) if q.name() == &self.name && q.query_type() == self.qtype => {}
            Some(q) => {
                return Err(DnsReplyError::Question {
                    name: q.name().clone(),
                    qtype: q.query_type(),
                });
            }
            None => return Err(DnsReplyError::NoQuestion),
        }
        let answers: Vec<String> = msg
            .answers
            .iter()
            .filter(|r| r.record_type() == self.qtype)
            .map(|r| r.data.to_string())
            .collect();
        let truncated = if msg.metadata.truncation {
            " (truncated)"
        } else {
            ""
        };
        let found = match &self.expect {
            TextExpect::NoError => {
                return Ok(match answers.first() {
                    None => format!("NOERROR, no {} answer{truncated}", self.qtype),
                    Some(first) => format!(
                        "NOERROR, {} {} answer(s), first {first}{truncated}",
                        answers.len(),
                        self.qtype
                    ),
                });
            }
            TextExpect::Exact(want) => answers
                .iter()
                .find(|a| a.trim_end_matches('.') == want.as_str()),
            TextExpect::Regex(re) => answers.iter().find(|a| re.is_match(a)),
        };
        match found {
            Some(answer) => Ok(format!("NOERROR, {} {answer}", self.qtype)),
            None => {
                let want = match &self.expect {
                    TextExpect::Exact(w) => format!("{w:?}"),
                    TextExpect::Regex(re) => format!("/{}/", re.as_str()),
                    TextExpect::NoError => String::new(),
                };
                let mut got: Vec<String> = answers.iter().take(4).cloned().collect();
                if answers.len() > 4 {
                    got.push("…".to_owned());
                }
                Err(DnsReplyError::NoMatch {
                    qtype: self.qtype,
                    want,
                    got,
                    truncated,
                })
            }
        }
    }
}

/// Why a DNS reply is not a healthy answer to the probe's query.
#[derive(Debug, thiserror::Error)]
pub enum DnsReplyError {
    /// Not a DNS message.
    #[error("not a DNS message ({len} bytes): {source}")]
    NotDns {
        /// The reply's length.
        len: usize,
        /// Why it does not decode.
        source: hickory_proto::serialize::binary::DecodeError,
    },
    /// A query, not a response.
    #[error("a DNS query, not a response")]
    Query,
    /// The response to another query.
    #[error("response id {theirs} does not match the query id {ours}")]
    Id {
        /// The response's id.
        theirs: u16,
        /// Our query's.
        ours: u16,
    },
    /// A response code other than NOERROR.
    #[error("{} for {name} {qtype}", rcode_name(*.rcode))]
    Rcode {
        /// The response code.
        rcode: u16,
        /// Our question's name.
        name: Name,
        /// Our question's type.
        qtype: RecordType,
    },
    /// The response to another question.
    #[error("response for {name} {qtype}, not for our question")]
    Question {
        /// Its question's name.
        name: Name,
        /// Its question's type.
        qtype: RecordType,
    },
    /// No question section.
    #[error("response without a question section")]
    NoQuestion,
    /// No answer matches `expect` or `expect_regex`.
    #[error("no {qtype} answer matches {want}; got [{}]{truncated}", got.join(", "))]
    NoMatch {
        /// The question's type.
        qtype: RecordType,
        /// What was expected (`"text"` or `/regex/`).
        want: String,
        /// The first answers (at most 4, then `…`).
        got: Vec<String>,
        /// ` (truncated)` when the response was.
        truncated: &'static str,
    },
}

fn parse_qtype(text: &str) -> Result<RecordType, ProbeConfigError> {
    let upper = text.to_ascii_uppercase();
    match RecordType::from_str(&upper) {
        Ok(RecordType::Unknown(_)) | Err(_) => Err(ProbeConfigError::new(
            Key::Qtype,
            format!(
                "{text:?} is not a known DNS record type; use e.g. A, AAAA, CNAME, MX, NS, SOA, SRV, TXT"
            ),
        )),
        Ok(RecordType::OPT | RecordType::AXFR | RecordType::IXFR) => Err(ProbeConfigError::new(
            Key::Qtype,
            format!("{text} cannot be probed over UDP; use e.g. A, AAAA, SOA or TXT"),
        )),
        Ok(t) => Ok(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};

    fn probe(name: &str, qtype: Option<&str>, expect: Option<&str>, re: Option<&str>) -> DnsProbe {
        let mut cfg = ProbeConfig::new(super::super::ProbeKind::Dns);
        cfg.name = Some(name.to_owned());
        cfg.qtype = qtype.map(str::to_owned);
        cfg.expect = expect.map(str::to_owned);
        cfg.expect_regex = re.map(str::to_owned);
        DnsProbe::new(&cfg).unwrap()
    }

    fn answer(p: &DnsProbe, rcode: ResponseCode, ips: &[[u8; 4]]) -> (u16, Vec<u8>) {
        let q = p.query();
        let id = q.metadata.id;
        let mut r = Message::response(id, q.metadata.op_code);
        r.metadata.response_code = rcode;
        r.add_query(q.queries[0].clone());
        for ip in ips {
            r.add_answer(Record::from_rdata(
                p.name.clone(),
                60,
                RData::A(A::new(ip[0], ip[1], ip[2], ip[3])),
            ));
        }
        (id, r.to_vec().unwrap())
    }

    #[test]
    fn noerror_with_or_without_answers() {
        let p = probe("svc.example", None, None, None);
        let (id, r) = answer(&p, ResponseCode::NoError, &[]);
        assert!(p.judge(id, &r).unwrap().contains("no A answer"));
        let (id, r) = answer(&p, ResponseCode::NoError, &[[192, 0, 2, 1]]);
        assert!(p.judge(id, &r).unwrap().contains("192.0.2.1"));
        assert!(p.judge(id.wrapping_add(1), &r).is_err(), "other id");
    }

    #[test]
    fn error_rcodes_are_bad_replies() {
        let p = probe("svc.example", None, None, None);
        let (id, r) = answer(&p, ResponseCode::Refused, &[]);
        assert!(p.judge(id, &r).unwrap_err().to_string().contains("REFUSED"));
        let (id, r) = answer(&p, ResponseCode::NXDomain, &[]);
        assert!(
            p.judge(id, &r)
                .unwrap_err()
                .to_string()
                .contains("NXDOMAIN")
        );
        assert!(p.judge(id, b"garbage").is_err());
    }

    #[test]
    fn expect_exact_and_regex() {
        let p = probe("svc.example", Some("a"), Some("192.0.2.7"), None);
        let (id, r) = answer(&p, ResponseCode::NoError, &[[192, 0, 2, 1], [192, 0, 2, 7]]);
        assert!(p.judge(id, &r).is_ok());
        let (id, r) = answer(&p, ResponseCode::NoError, &[[192, 0, 2, 1]]);
        assert!(
            p.judge(id, &r)
                .unwrap_err()
                .to_string()
                .contains("192.0.2.1")
        );
        let (id, r) = answer(&p, ResponseCode::NoError, &[]);
        assert!(p.judge(id, &r).is_err(), "expect needs an answer");
        let p = probe("svc.example", None, None, Some(r"^192\.0\.2\."));
        let (id, r) = answer(&p, ResponseCode::NoError, &[[192, 0, 2, 9]]);
        assert!(p.judge(id, &r).is_ok());
    }

    #[test]
    fn validation() {
        let mut cfg = ProbeConfig::new(super::super::ProbeKind::Dns);
        assert_eq!(DnsProbe::new(&cfg).unwrap_err().key, Key::Name);
        cfg.name = Some("ok.example".into());
        cfg.qtype = Some("BOGUS".into());
        assert_eq!(DnsProbe::new(&cfg).unwrap_err().key, Key::Qtype);
        cfg.qtype = Some("soa".into());
        assert_eq!(DnsProbe::new(&cfg).unwrap().qtype, RecordType::SOA);
        cfg.expect = Some("x".into());
        cfg.expect_regex = Some("y".into());
        assert_eq!(DnsProbe::new(&cfg).unwrap_err().key, Key::ExpectRegex);
        cfg.expect = None;
        cfg.expect_regex = Some("(".into());
        assert_eq!(DnsProbe::new(&cfg).unwrap_err().key, Key::ExpectRegex);
    }
}
