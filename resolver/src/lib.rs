//! The wavelb lab resolver: an authoritative weighted DNS server with Route 53's semantics and a
//! Route 53-compatible control API. Its behaviour arrives with the resolver issue; the crate
//! exists so the workspace layout is stable.
