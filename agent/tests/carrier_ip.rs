//! The `CarrierIp` branch of EC2 discovery, through the real SDK, against a recorded
//! DescribeNetworkInterfaces response (moto has no Carrier IPs).
#![cfg(feature = "ec2")]

use agent::discovery::Ec2Source;
use registry::config::Ec2Config;
use std::sync::{Arc, Mutex};

use agent::discovery::ImdsInterface;
use axum::Router;
use axum::body::Bytes;
use registry::ec2::Ec2Interface;

/// A DescribeNetworkInterfaces response for a Wavelength instance: the primary interface has a
/// Carrier IP (EC2 also reports it as the public IP); a secondary one has none.
const RECORDED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</requestId>
    <networkInterfaceSet>
        <item>
            <networkInterfaceId>eni-0f7db4e4e4EXAMPLE</networkInterfaceId>
            <subnetId>subnet-0a1b2c3dEXAMPLE</subnetId>
            <vpcId>vpc-0a1b2c3dEXAMPLE</vpcId>
            <availabilityZone>us-east-1-wl1-bos-wlz-1</availabilityZone>
            <status>in-use</status>
            <macAddress>0e:11:22:33:44:55</macAddress>
            <privateIpAddress>10.0.0.5</privateIpAddress>
            <attachment>
                <attachmentId>eni-attach-0a1b2c3dEXAMPLE</attachmentId>
                <instanceId>i-0123456789abcdef0</instanceId>
                <deviceIndex>0</deviceIndex>
                <status>attached</status>
            </attachment>
            <association>
                <carrierIp>155.146.10.20</carrierIp>
                <ipOwnerId>amazon</ipOwnerId>
                <publicIp>155.146.10.20</publicIp>
            </association>
        </item>
        <item>
            <networkInterfaceId>eni-0a9b8c7dEXAMPLE</networkInterfaceId>
            <status>in-use</status>
            <privateIpAddress>10.0.1.7</privateIpAddress>
            <attachment>
                <attachmentId>eni-attach-0b2c3d4eEXAMPLE</attachmentId>
                <instanceId>i-0123456789abcdef0</instanceId>
                <deviceIndex>1</deviceIndex>
                <status>attached</status>
            </attachment>
        </item>
    </networkInterfaceSet>
</DescribeNetworkInterfacesResponse>"#;

#[tokio::test]
async fn reads_the_carrier_ip_of_each_interface() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let record = seen.clone();
    let app = Router::new().fallback(move |body: Bytes| {
        let record = record.clone();
        async move {
            *record.lock().unwrap() = String::from_utf8_lossy(&body).into_owned();
            ([("content-type", "text/xml")], RECORDED)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let cfg = Ec2Config {
        endpoint_url: Some(url),
        region: None,
    };
    let got = Ec2Source::new(cfg)
        .describe("us-east-1", "i-0123456789abcdef0", &imds(true))
        .await
        .expect("built with ec2")
        .unwrap();
    assert_eq!(
        got,
        [
            Ec2Interface {
                device: 0,
                carrier_ip: Some("155.146.10.20".parse().unwrap()),
                public_ip: Some("155.146.10.20".parse().unwrap()),
            },
            Ec2Interface {
                device: 1,
                carrier_ip: None,
                public_ip: None,
            },
        ]
    );
    let request = seen.lock().unwrap().clone();
    assert!(
        request.contains("Action=DescribeNetworkInterfaces"),
        "{request}"
    );
    assert!(
        request.contains("attachment.instance-id") && request.contains("i-0123456789abcdef0"),
        "{request}"
    );
    assert!(
        request.contains("NetworkInterfaceId.1=eni-0f7db4e4e4EXAMPLE")
            && request.contains("NetworkInterfaceId.2=eni-0a9b8c7dEXAMPLE"),
        "asks for the interfaces IMDS named: {request}"
    );
}

/// The two interfaces as IMDS reports them, with or without their `interface-id`.
fn imds(with_ids: bool) -> Vec<ImdsInterface> {
    [
        ("0e:11:22:33:44:55", "eni-0f7db4e4e4EXAMPLE", 0),
        ("0e:11:22:33:44:66", "eni-0a9b8c7dEXAMPLE", 1),
    ]
    .into_iter()
    .map(|(mac, id, device)| ImdsInterface {
        mac: mac.into(),
        interface_id: with_ids.then(|| id.into()),
        device,
        private: Vec::new(),
        public: Vec::new(),
    })
    .collect()
}

/// A DescribeNetworkInterfaces endpoint answering from `pages` in turn: each page is one item of
/// the recorded response, with a NextToken while more follow (`endless`: always one).
async fn paged_endpoint(endless: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = Router::new().fallback(move |body: Bytes| {
        let record = record.clone();
        async move {
            let body = String::from_utf8_lossy(&body).into_owned();
            let n = {
                let mut seen = record.lock().unwrap();
                seen.push(body);
                seen.len()
            };
            let (item, more) = match (n, endless) {
                (_, true) => (FIRST_ITEM, true),
                (1, false) => (FIRST_ITEM, true),
                _ => (SECOND_ITEM, false),
            };
            let token = if more {
                format!("<nextToken>page{}</nextToken>", n + 1)
            } else {
                String::new()
            };
            (
                [("content-type", "text/xml")],
                format!(
                    r#"<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><networkInterfaceSet>{item}</networkInterfaceSet>{token}</DescribeNetworkInterfacesResponse>"#
                ),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

const FIRST_ITEM: &str = "<item><networkInterfaceId>eni-0f7db4e4e4EXAMPLE</networkInterfaceId><attachment><deviceIndex>0</deviceIndex></attachment><association><carrierIp>155.146.10.20</carrierIp><publicIp>155.146.10.20</publicIp></association></item>";
const SECOND_ITEM: &str = "<item><networkInterfaceId>eni-0a9b8c7dEXAMPLE</networkInterfaceId><attachment><deviceIndex>1</deviceIndex></attachment><association><carrierIp>155.146.10.21</carrierIp></association></item>";

#[tokio::test]
async fn reads_every_page_and_asks_by_mac_without_interface_ids() {
    let (url, seen) = paged_endpoint(false).await;
    let cfg = Ec2Config {
        endpoint_url: Some(url),
        region: None,
    };
    let got = Ec2Source::new(cfg)
        .describe("us-east-1", "i-0123456789abcdef0", &imds(false))
        .await
        .expect("built with ec2")
        .unwrap();
    let carrier: Vec<_> = got
        .iter()
        .map(|i| i.carrier_ip.unwrap().to_string())
        .collect();
    assert_eq!(carrier, ["155.146.10.20", "155.146.10.21"]);
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[1].contains("NextToken=page2"), "{requests:?}");
    for r in &requests {
        assert!(r.contains("mac-address"), "{r}");
        assert!(r.contains("0e%3A11%3A22%3A33%3A44%3A55"), "{r}");
        assert!(!r.contains("NetworkInterfaceId."), "{r}");
    }
}

#[tokio::test]
async fn an_endless_next_token_is_not_followed_forever() {
    let (url, seen) = paged_endpoint(true).await;
    let cfg = Ec2Config {
        endpoint_url: Some(url),
        region: None,
    };
    let err = Ec2Source::new(cfg)
        .describe("us-east-1", "i-0123456789abcdef0", &imds(true))
        .await
        .expect("built with ec2")
        .unwrap_err();
    assert!(
        matches!(err, aws::ec2::InterfacesError::TooManyPages { max, .. } if max == registry::ec2::MAX_PAGES),
        "{err}"
    );
    assert!(err.to_string().contains("more pages after"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), registry::ec2::MAX_PAGES);
}
