//! Limits: the bound on the whole state the store keeps to ([`bounds`]: record sets and bytes,
//! `--max-record-sets`, `--max-state-mib`) and the account and hosted zone limits the API
//! reports ([`api`]: GetAccountLimit, GetHostedZoneLimit).

pub mod api;
pub mod bounds;
