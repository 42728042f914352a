//! The wavelb health controller: UDP- and QUIC-aware probes, hysteresis, and quarantine that
//! cannot cause an outage. Its behaviour arrives with the health issue; the crate exists so the
//! workspace layout is stable.
