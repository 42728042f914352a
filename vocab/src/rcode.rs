//! DNS response codes by their RFC mnemonics (RFC 1035 section 4.1.1, RFC 2136, RFC 6891), the
//! one table the resolver's metrics, the DNS probe's errors and the load generator share.

use std::borrow::Cow;

/// The mnemonic of a response code: `NOERROR`, `NXDOMAIN`, `REFUSED`, …; `RCODE<n>` for a code
/// without one here.
pub fn rcode_name(code: u16) -> Cow<'static, str> {
    let name = match code {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADVERS",
        _ => return Cow::Owned(format!("RCODE{code}")),
    };
    Cow::Borrowed(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_have_their_mnemonic_and_others_their_number() {
        assert_eq!(rcode_name(0), "NOERROR");
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(5), "REFUSED");
        assert_eq!(rcode_name(16), "BADVERS");
        assert_eq!(rcode_name(11), "RCODE11");
        assert_eq!(rcode_name(4095), "RCODE4095");
    }
}
