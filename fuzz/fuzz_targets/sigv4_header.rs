//! The SigV4 `Authorization` header parser and verifier (`aws_auth::sigv4::verify`).
//!
//! Input: lines separated by `\n`: method, path, query, then headers as `name:value` (the
//! `Authorization` header among them, or not), then, after an empty line, the body. The keys
//! are the AWS SigV4 test suite's (`AKIDEXAMPLE`), the clock is the suite's date, the service
//! `service`, so the suite's signed requests verify and the corpus starts from them.
//!
//! Asserts:
//! - `verify` never panics, and every refusal has an AWS error code;
//! - a request that verifies stops verifying under another secret for the same key id, or with
//!   another method: the signature, not the parser, let it in.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_auth::sigv4::{AuthError, Credentials, Payload, SignedRequest, verify};
use libfuzzer_sys::fuzz_target;

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z, the suite's `x-amz-date`.
const NOW_SECONDS: u64 = 1_440_938_160;
const SERVICE: &str = "service";

fn keys(secret: &str) -> [Credentials; 1] {
    [Credentials {
        access_key_id: KEY_ID.to_owned(),
        secret_access_key: secret.to_owned(),
    }]
}

fn check(req: &SignedRequest<'_>, secret: &str) -> Result<String, AuthError> {
    let now: SystemTime = UNIX_EPOCH + Duration::from_secs(NOW_SECONDS);
    let result = verify(req, &keys(secret), now, SERVICE, Payload::MayBeUnsigned);
    if let Err(e) = &result {
        assert!(!e.code().is_empty() && !e.to_string().is_empty());
    }
    result
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.split('\n');
    let (method, path, query) = (
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
    );
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (name, value) = l.split_once(':').unwrap_or((l, ""));
            (name.to_owned(), value.to_owned())
        })
        .collect();
    let req = SignedRequest {
        method,
        path,
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    if check(&req, SECRET).is_err() {
        return;
    }
    assert_eq!(
        check(&req, "another secret"),
        Err(AuthError::SignatureMismatch),
        "a request verified under two secrets"
    );
    let other_method = format!("{method}X");
    let altered = SignedRequest {
        method: &other_method,
        ..req
    };
    assert!(
        check(&altered, SECRET).is_err(),
        "a request verified with two methods"
    );
});
