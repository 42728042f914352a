//! How a DNS query arrived ([`Transport`]) and what that bounds: the largest reply a client may
//! get ([`reply_limit`]), shared by the general answer path ([`crate::answer`]) and the fast one
//! ([`crate::fast`]).

/// The largest UDP payload this server advertises and sends (RFC 9715's 1232-byte advice).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// The OPT record this server adds to a reply (root owner, type, class, TTL, empty RDATA).
pub(crate) const OPT_LEN: usize = 11;
/// The largest reply without EDNS (RFC 1035 §4.2.1).
const PLAIN_UDP_PAYLOAD: u16 = 512;

/// How the query arrived, which bounds the response size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: 512 bytes, or the client's EDNS buffer size up to [`MAX_UDP_PAYLOAD`].
    Udp,
    /// TCP: 65535 bytes.
    Tcp,
}

/// The largest reply a client may get: 65535 bytes on TCP (the frame's length field); on UDP
/// its EDNS buffer size (`edns_payload`, from the query's OPT record) between 512 and
/// [`MAX_UDP_PAYLOAD`], or 512 without EDNS.
pub fn reply_limit(transport: Transport, edns_payload: Option<u16>) -> usize {
    usize::from(match (transport, edns_payload) {
        (Transport::Tcp, _) => u16::MAX,
        (Transport::Udp, Some(p)) => p.clamp(PLAIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD),
        (Transport::Udp, None) => PLAIN_UDP_PAYLOAD,
    })
}
