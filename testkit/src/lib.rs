//! Test harness pieces shared by wavelb's integration tests.
//!
//! - [`moto_url`] and [`venv_python`]: the moto server and Python venv that `scripts/test.sh`
//!   provides.
//! - [`faulty::FaultyRoute53`]: a small Route 53 REST endpoint that answers with scripted
//!   faults (the real Route 53 XML errors), so retry and conflict paths run through the real SDK.
//! - [`repo_root`]: the checkout's scripts and fixtures, found at run time.
//! - [`wait`]: polling a condition with a deadline instead of sleeping.

#![forbid(unsafe_code)]

pub mod echo;
pub mod faulty;
pub mod imds;
pub mod process;
pub mod servers;
pub mod wait;

use std::time::Duration;

/// The URL of the moto server started by `scripts/test.sh` (`WAVELB_MOTO_URL`).
///
/// Panics with instructions when it is not set: these tests need the emulator and must not be
/// silently skipped.
pub fn moto_url() -> String {
    std::env::var("WAVELB_MOTO_URL").unwrap_or_else(|_| {
        panic!(
            "WAVELB_MOTO_URL is not set: run the suite with scripts/test.sh, which installs \
             moto into a venv and starts it on a loopback port"
        )
    })
}

/// The workspace root of the checkout whose tests are running: the nearest ancestor of the
/// package directory that holds `Cargo.lock`.
///
/// Read when the test runs (cargo sets `CARGO_MANIFEST_DIR` for the test process), not with
/// `env!`: a test binary that a shared target directory kept from a checkout at another path
/// would otherwise run that checkout's scripts and fixtures.
pub fn repo_root() -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| panic!("CARGO_MANIFEST_DIR is not set: run the tests through cargo"));
    let dir = std::path::PathBuf::from(dir);
    dir.ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or_else(|| panic!("no Cargo.lock above {}", dir.display()))
        .to_path_buf()
}

/// The Python interpreter of the test venv (`WAVELB_VENV`/bin/python).
pub fn venv_python() -> String {
    let venv = std::env::var("WAVELB_VENV")
        .unwrap_or_else(|_| panic!("WAVELB_VENV is not set: run the suite with scripts/test.sh"));
    format!("{venv}/bin/python")
}

/// A zone name no other test uses, so tests can share one moto server.
pub fn unique_zone(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}-{}.test",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

/// `cmd` with dummy AWS credentials, region us-east-1 and no instance metadata lookups: what
/// boto3 and the aws CLI need to talk to moto or the lab resolver.
pub fn with_test_credentials(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// Runs a Python script in the test venv with dummy AWS credentials, returning its stdout.
/// Panics with the script's stderr when it fails.
pub fn python(script: &str, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(venv_python());
    cmd.arg("-c").arg(script).args(args);
    let out = with_test_credentials(&mut cmd)
        .output()
        .expect("cannot run the venv's python");
    assert!(
        out.status.success(),
        "python script failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A plain HTTP/1.0 GET on loopback, returning the body (panics on failure).
pub fn http_get(url: &str) -> String {
    http("GET", url, "").1
}

/// A plain HTTP/1.0 request on loopback, returning the status and the body (panics when the
/// server cannot be reached or answers no status line within 10 s).
pub fn http(method: &str, url: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host)
        .unwrap_or_else(|e| panic!("cannot connect to {host}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {url}: no status line in {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of one un-labelled or exactly-labelled series in a Prometheus text exposition.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// Starts an EC2 instance in moto and returns its id; with `elastic_ip`, also associates an
/// Elastic IP and returns it (moto has no Carrier IPs: this is the `PublicIp` path).
pub fn moto_instance(elastic_ip: bool) -> (String, Option<String>) {
    moto_instance_in("us-east-1", elastic_ip)
}

/// [`moto_instance`] in `region` (moto keeps each Region's instances apart, as EC2 does: another
/// Region answers `InvalidInstanceID.NotFound` for it).
pub fn moto_instance_in(region: &str, elastic_ip: bool) -> (String, Option<String>) {
    let out = python(
        r#"
import sys, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name=sys.argv[3])
img = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
iid = ec2.run_instances(ImageId=img, MinCount=1, MaxCount=1, InstanceType="t3.medium")["Instances"][0]["InstanceId"]
if sys.argv[2] == "eip":
    alloc = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(InstanceId=iid, AllocationId=alloc["AllocationId"])
    print(iid, alloc["PublicIp"])
else:
    print(iid)
"#,
        &[&moto_url(), if elastic_ip { "eip" } else { "none" }, region],
    );
    let mut words = out.split_whitespace().map(str::to_owned);
    let id = words.next().expect("moto returned an instance id");
    (id, words.next())
}

/// The primary interface of moto instance `instance_id`: its ENI id and MAC address, as IMDS
/// would report them.
pub fn moto_primary_interface(instance_id: &str) -> (String, String) {
    let out = python(
        r#"
import sys, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1")
inst = ec2.describe_instances(InstanceIds=[sys.argv[2]])["Reservations"][0]["Instances"][0]
eni = next(n for n in inst["NetworkInterfaces"] if n["Attachment"]["DeviceIndex"] == 0)
print(eni["NetworkInterfaceId"], eni["MacAddress"])
"#,
        &[&moto_url(), instance_id],
    );
    let mut words = out.split_whitespace().map(str::to_owned);
    let eni = words.next().expect("moto returned an interface id");
    let mac = words.next().expect("moto returned a MAC address");
    (eni, mac)
}
