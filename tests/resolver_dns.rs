//! `wavelb resolver` answers like Route 53 would, checked with real clients: dnspython, dig and
//! kdig (tests/py/dns_conformance.py holds the checks).

use testkit::process::Service;

fn resolver() -> Service {
    testkit::process::resolver(env!("CARGO_BIN_EXE_wavelb"), &[])
}

fn conformance(check: &str) {
    let r = resolver();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/dns_conformance.py");
    let out = std::process::Command::new(testkit::venv_python())
        .args([script, check, &r.dns(), &r.field("api_url")])
        .output()
        .expect("cannot run python");
    assert!(
        out.status.success(),
        "{check}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn aa_soa_ns_serial_ttl_and_simple_sets() {
    conformance("authority");
}

#[test]
fn nxdomain_nodata_empty_non_terminals_and_refused() {
    conformance("negative");
}

#[test]
fn tcp_case_any_edns_truncation_and_opcodes() {
    conformance("protocol");
}

#[test]
fn malformed_packets_get_formerr_or_silence_and_the_server_survives() {
    conformance("malformed");
}

#[test]
fn dig_and_kdig_agree() {
    conformance("clients");
}

#[test]
fn answers_follow_route53_weighting() {
    conformance("weights");
}
