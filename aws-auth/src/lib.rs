//! Authenticating and authorising AWS API requests, pure (no I/O, no clock reads): the Route 53
//! emulator's API runs every request through both.
//!
//! - [`sigv4`]: AWS Signature Version 4 verification of a request's `Authorization` header
//!   (vectors in `aws-auth/tests/data/sigv4/`).
//! - [`iam`]: an access key's IAM identity-based policy, parsed, checked and bounded at load, and
//!   evaluated per request as IAM documents it.
//!
//! The two modules do not depend on each other (`scripts/check-cycles.py aws-auth/src`).

#![warn(missing_docs)]

pub mod iam;
pub mod sigv4;
