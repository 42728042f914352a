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
        .args([
            script,
            check,
            &r.dns(),
            &r.field("api_url"),
            &r.field("metrics"),
        ])
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

/// Issue 11, finding 3 and the DNS part of finding 7, against the binary over UDP and TCP:
/// queries without exactly one question (0, 2, 600, and 406 in 2455 bytes) get a header-only
/// FORMERR no longer than the query, never an empty reply; a big answer is truncated within
/// 512 bytes (no EDNS) or 1232 (EDNS 4096) with TC and the question; classes CH, ANY and NONE
/// get REFUSED without AA; and the server answers normally afterwards.
#[test]
fn hostile_queries_get_bounded_replies_and_other_classes_are_refused() {
    conformance("hostile");
}

/// Issue 11, finding 7: the `wavelb_dns_answers_total` series of a deleted set identifier
/// leaves `/metrics`; the other sets keep theirs.
#[test]
fn answer_series_of_a_deleted_set_leave_the_metrics() {
    conformance("metrics");
}

/// A DNS query for `lab.test` SOA with `id`, framed for TCP.
fn tcp_query(id: u16) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend_from_slice(b"\x03lab\x04test\x00\x00\x06\x00\x01");
    let mut framed = u16::try_from(q.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    framed
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: &str, to: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(to.parse().unwrap()).await.unwrap()
}

/// Asks `lab.test` SOA over `stream`; true when a NOERROR answer came back within 5 s.
async fn answers(stream: &mut tokio::net::TcpStream, id: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        stream.write_all(&tcp_query(id)).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), exchange).await {
        Ok(Ok(reply)) => reply[..2] == id.to_be_bytes() && reply[3] & 0x0f == 0 && reply[7] >= 1,
        _ => false,
    }
}

/// Polls the resolver's metrics (up to 15 s) until `series` reaches `at_least`.
fn wait_for_metric(r: &Service, series: &str, at_least: f64) {
    let url = format!("http://{}/metrics", r.field("metrics"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let text = testkit::http_get(&url);
        let value = testkit::metric(&text, series).unwrap_or(0.0);
        if value >= at_least {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series} stayed at {value}, want {at_least}:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_connection_flood_is_capped_and_leaves_the_api_and_other_sources_answered() {
    let r = testkit::process::resolver(
        env!("CARGO_BIN_EXE_wavelb"),
        &[
            "--dns-tcp-max-connections",
            "50",
            "--dns-tcp-max-per-source",
            "40",
        ],
    );
    let dns = r.dns();
    // 60 connections from one address: 40 are served, 20 closed at once.
    let mut held = Vec::new();
    for _ in 0..60 {
        held.push(connect_from("127.0.0.1", &dns).await);
    }
    let refused = "wavelb_connections_refused_total{listener=\"dns-tcp\",reason=\"per_source\"}";
    tokio::task::block_in_place(|| wait_for_metric(&r, refused, 20.0));
    let mut first = held.swap_remove(0);
    assert!(answers(&mut first, 1).await, "a held connection is served");
    let mut more = connect_from("127.0.0.1", &dns).await;
    assert!(
        !answers(&mut more, 2).await,
        "the 41st from one address is closed"
    );
    // Another address still gets answers, up to the total cap.
    let mut other = Vec::new();
    for i in 0..10 {
        let mut s = connect_from("127.0.0.2", &dns).await;
        assert!(
            answers(&mut s, 100 + i).await,
            "connection {i} from 127.0.0.2"
        );
        other.push(s);
    }
    let mut beyond = connect_from("127.0.0.3", &dns).await;
    assert!(
        !answers(&mut beyond, 3).await,
        "the 51st connection is closed"
    );
    let total = "wavelb_connections_refused_total{listener=\"dns-tcp\",reason=\"total\"}";
    tokio::task::block_in_place(|| wait_for_metric(&r, total, 1.0));
    // The API has a pool of its own.
    let api = r.field("api_url");
    let (status, body) = tokio::task::block_in_place(|| {
        testkit::http("GET", &format!("{api}/2013-04-01/hostedzonecount"), "")
    });
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<HostedZoneCount>1</HostedZoneCount>"),
        "{body}"
    );
    // Freed places are served again.
    drop(other);
    drop(held);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut again = connect_from("127.0.0.3", &dns).await;
        if answers(&mut again, 4).await {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no place was freed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelining_client_that_never_reads_is_cut_at_the_write_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let r = testkit::process::resolver(
        env!("CARGO_BIN_EXE_wavelb"),
        &["--dns-tcp-timeout", "1s", "--dns-tcp-max-queries", "100000"],
    );
    // A TXT set of 28 values of 250 characters: every answer is about 7 KB.
    let api = r.field("api_url");
    let zone_id = tokio::task::block_in_place(|| {
        let (_, zones) = testkit::http(
            "GET",
            &format!("{api}/2013-04-01/hostedzonesbyname?dnsname=lab.test"),
            "",
        );
        let id = zones.split("<Id>/hostedzone/").nth(1).unwrap();
        id[..id.find('<').unwrap()].to_owned()
    });
    let values: String = (0..28)
        .map(|i| {
            format!(
                "<ResourceRecord><Value>\"{}\"</Value></ResourceRecord>",
                format!("{i:02}").repeat(125)
            )
        })
        .collect();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>big.lab.test</Name><Type>TXT</Type><TTL>30</TTL><ResourceRecords>{values}</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
    );
    let (status, reply) = tokio::task::block_in_place(|| {
        testkit::http(
            "POST",
            &format!("{api}/2013-04-01/hostedzone/{zone_id}/rrset"),
            &body,
        )
    });
    assert_eq!(status, 200, "{reply}");

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(r.dns().parse().unwrap()).await.unwrap();
    let mut query = Vec::new();
    query.extend_from_slice(&[0, 7, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    query.extend_from_slice(b"\x03big\x03lab\x04test\x00\x00\x10\x00\x01");
    let mut framed = u16::try_from(query.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    // 2 000 queries (60 KB) ask for 14 MB of answers, far more than socket buffers hold.
    let burst = framed.repeat(2000);
    let sent =
        tokio::time::timeout(std::time::Duration::from_secs(10), stream.write_all(&burst)).await;
    assert!(
        matches!(sent, Ok(Ok(()))),
        "the queries were not taken: {sent:?}"
    );
    let cut = "wavelb_connections_ended_total{listener=\"dns-tcp\",reason=\"write_timeout\"}";
    tokio::task::block_in_place(|| wait_for_metric(&r, cut, 1.0));
    // The connection is closed: reading ends (EOF or reset) long before 2 000 answers.
    let mut received = 0usize;
    let mut buf = vec![0u8; 65536];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received += n,
            Err(_) => panic!("the connection is still open after the write timeout"),
        }
        assert!(std::time::Instant::now() < deadline, "reading never ended");
    }
    assert!(received < 2000 * 7000, "received {received} bytes");
    // The resolver still answers on new connections.
    let mut fresh = connect_from("127.0.0.1", &r.dns()).await;
    assert!(answers(&mut fresh, 9).await);
}

/// Runs `tests/py/geoproximity.py` with `args`; returns its output, failing on a non-zero exit.
fn geoproximity(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/geoproximity.py");
    let out = std::process::Command::new(testkit::venv_python())
        .arg(script)
        .args(args)
        .output()
        .expect("cannot run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "geoproximity.py {args:?}: {text}");
    text
}

/// Issue 15: boto3 writes weighted pools `bos` and `nyc` and geoproximity aliases at `edge`
/// (Boston and New York coordinates); dnspython with EDNS Client Subnets the built-in geo table
/// places near each city gets that city's pool, with the ECS option echoed at the table's
/// scope; `dig +subnet` agrees; once Boston's pool has no address records its clients get New
/// York; a malformed or repeated ECS option gets FORMERR.
#[test]
fn geoproximity_aliases_answer_by_client_subnet() {
    let r = resolver();
    let text = geoproximity(&["lab", &r.dns(), &r.field("api_url")]);
    assert!(text.contains("ok lab"), "{text}");
}

/// The same boto3 batch against moto server: what it accepts and stores is printed (and
/// recorded in docs/route53-compatibility.md).
#[test]
fn the_geoproximity_batch_against_moto() {
    let text = geoproximity(&["moto", &testkit::moto_url()]);
    println!("{text}");
    assert!(
        text.contains("ok moto") || text.contains("moto refuses the batch"),
        "{text}"
    );
}

/// `--geo-table FILE` replaces the built-in table: with 127.0.0.0/8 placed in New York, both a
/// Client Subnet in it and the source address 127.0.0.1 get New York's pool, at scope 8.
#[test]
fn a_geo_table_file_places_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("geo.txt");
    std::fs::write(&path, "# test table\n127.0.0.0/8 40.71 -74.01 # New York\n").unwrap();
    let r = testkit::process::resolver(
        env!("CARGO_BIN_EXE_wavelb"),
        &["--geo-table", path.to_str().unwrap()],
    );
    let text = geoproximity(&["table", &r.dns(), &r.field("api_url")]);
    assert!(text.contains("ok table"), "{text}");
}

/// A geo table with bad lines (from `--geo-table` or `[resolver] geo_table`) keeps the resolver
/// from starting, and its error names the file and every bad line; a missing file is refused
/// too.
#[test]
fn a_bad_geo_table_is_refused_with_every_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("geo.txt");
    std::fs::write(
        &path,
        "10.0.0.0/8 1 2\n10.0.0.1/8 1 2\n# fine\n10.0.0.0/8 3 4\nnope\n",
    )
    .unwrap();
    let run = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wavelb"))
            .args(["resolver", "--check-config", "--geo-table"])
            .arg(file)
            .output()
            .unwrap()
    };
    let out = run(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let name = path.display();
    for line in [2, 4, 5] {
        assert!(
            err.contains(&format!("{name}:{line}: ")),
            "line {line}: {err}"
        );
    }
    assert!(!err.contains(&format!("{name}:1: ")), "{err}");
    // The same file through `[resolver] geo_table` in the configuration file.
    let config = dir.path().join("wavelb.toml");
    std::fs::write(
        &config,
        format!("[resolver]\ngeo_table = {:?}\n", path.to_str().unwrap()),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wavelb"))
        .arg("--config")
        .arg(&config)
        .args(["resolver", "--check-config"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{name}:5: ")), "{err}");
    let out = run(&dir.path().join("missing.txt"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.txt"));
    std::fs::write(&path, "10.0.0.0/8 1 2\n").unwrap();
    assert!(
        run(&path).status.success(),
        "a good table passes --check-config"
    );
}
