//! Building the `aws-sdk-route53` client, and mapping between its types and the model.

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_route53::config::{Region, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_route53::types::{
    AliasTarget as SdkAliasTarget, Change as SdkChange, ChangeAction, CidrBlockSummary,
    CidrCollectionChange, CidrCollectionChangeAction, CidrRoutingConfig, Coordinates,
    GeoProximityLocation, ResourceRecord, ResourceRecordSet, RrType,
};
use ipnet::IpNet;

use registry::cidr::LocationChange;
use registry::config::Route53Config;
use registry::model::{Action, AliasTarget, Change, CidrRouting, GeoProximity, RecordSet};
use registry::name::Fqdn;

/// Access key id of the fixed credentials used against a lab endpoint when no others exist.
pub const LAB_ACCESS_KEY_ID: &str = "wavelb-lab";
const LAB_SECRET: &str = "wavelb-lab-secret";

/// Builds a Route 53 client for `cfg`. The SDK's own retries are off: the writer owns retries.
///
/// Credentials come from the standard AWS chain. With an `endpoint_url`, only the environment
/// and the shared profile files are consulted, and when neither has credentials fixed lab
/// credentials are used (with a warning), so labs need no AWS setup and never touch IMDS.
pub async fn client(cfg: &Route53Config) -> aws_sdk_route53::Client {
    let region = Region::new(cfg.region.clone());
    let credentials = credentials(cfg.endpoint_url.as_deref(), &cfg.region).await;
    let mut builder = aws_sdk_route53::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(credentials)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(cfg.request_timeout.min(std::time::Duration::from_secs(3)))
                .operation_attempt_timeout(cfg.request_timeout)
                .build(),
        );
    if let Some(url) = &cfg.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_route53::Client::from_conf(builder.build())
}

/// Shared settings for other AWS clients (EC2): region, credentials as [`credentials`] picks
/// them, and the endpoint override.
pub async fn shared_config(endpoint_url: Option<&str>, region: &str) -> aws_config::SdkConfig {
    let mut builder = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials(endpoint_url, region).await);
    if let Some(url) = endpoint_url {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

/// The credentials for an AWS client: the standard chain, or, with an endpoint override, the
/// environment and profile only, falling back to fixed lab credentials (never IMDS).
pub async fn credentials(endpoint_url: Option<&str>, region: &str) -> SharedCredentialsProvider {
    match endpoint_url {
        Some(url) => lab_credentials(url).await,
        None => SharedCredentialsProvider::new(
            aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                .region(Region::new(region.to_owned()))
                .build()
                .await,
        ),
    }
}

async fn lab_credentials(url: &str) -> SharedCredentialsProvider {
    let env = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    if env.provide_credentials().await.is_ok() {
        return SharedCredentialsProvider::new(env);
    }
    let profile = aws_config::profile::ProfileFileCredentialsProvider::builder().build();
    if profile.provide_credentials().await.is_ok() {
        return SharedCredentialsProvider::new(profile);
    }
    tracing::warn!(
        endpoint_url = url,
        access_key_id = LAB_ACCESS_KEY_ID,
        "no AWS credentials in the environment or profile; using fixed lab credentials for the endpoint override"
    );
    SharedCredentialsProvider::new(Credentials::new(
        LAB_ACCESS_KEY_ID,
        LAB_SECRET,
        None,
        None,
        "wavelb-lab",
    ))
}

/// Converts a listed record set into the model: alias targets and geoproximity locations as they
/// are; features wavelb does not model are noted in `opaque`, which makes the set foreign.
/// `None` for a type this wavelb does not know (one Route 53 added since): wavelb writes no
/// such set, and one at a name it manages changes nothing it decides (a CNAME would, and is
/// known), so the listing skips it. Said at debug level: the listing runs every round, and a
/// warning per set per round would let anyone who can write the zone flood the log.
pub fn from_sdk(rrs: &ResourceRecordSet) -> Option<RecordSet> {
    let Ok(rtype) = rrs.r#type().as_str().parse() else {
        tracing::debug!(
            name = rrs.name(),
            rtype = rrs.r#type().as_str(),
            "skipping a listed record set of a type this wavelb does not know"
        );
        return None;
    };
    let mut notes = Vec::new();
    if rrs.region().is_some() {
        notes.push("latency routing");
    }
    if rrs.failover().is_some() {
        notes.push("failover routing");
    }
    if rrs.geo_location().is_some() {
        notes.push("geolocation routing");
    }
    if rrs.multi_value_answer() == Some(false) {
        notes.push("MultiValueAnswer false");
    }
    if rrs.health_check_id().is_some() {
        notes.push("a Route 53 health check");
    }
    if rrs.traffic_policy_instance_id().is_some() {
        notes.push("a traffic policy");
    }
    Some(RecordSet {
        name: Fqdn::from_api(rrs.name()),
        rtype,
        set_identifier: rrs.set_identifier().map(str::to_owned),
        weight: rrs.weight(),
        ttl: rrs.ttl().and_then(|t| u32::try_from(t).ok()),
        values: rrs
            .resource_records()
            .iter()
            .map(|r| r.value().to_owned())
            .collect(),
        alias: rrs.alias_target().map(|a| AliasTarget {
            hosted_zone_id: a.hosted_zone_id().to_owned(),
            dns_name: Fqdn::from_api(a.dns_name()),
            evaluate_target_health: a.evaluate_target_health(),
        }),
        geo: rrs.geo_proximity_location().map(|g| GeoProximity {
            aws_region: g.aws_region().map(str::to_owned),
            local_zone_group: g.local_zone_group().map(str::to_owned),
            coordinates: g
                .coordinates()
                .map(|c| (c.latitude().to_owned(), c.longitude().to_owned())),
            bias: g.bias().map(i64::from),
        }),
        cidr: rrs.cidr_routing_config().map(|c| CidrRouting {
            collection_id: c.collection_id().to_owned(),
            location_name: c.location_name().to_owned(),
        }),
        multivalue: rrs.multi_value_answer() == Some(true),
        opaque: (!notes.is_empty()).then(|| notes.join(", ")),
        health_check_id: None,
    })
}

/// Why a planned change cannot be put in the SDK's type.
#[derive(Debug, thiserror::Error)]
pub enum ToSdkError {
    /// The record set uses a Route 53 feature wavelb does not model (it never writes one).
    #[error("refusing to write {key} because it uses {note}")]
    Opaque {
        /// The record set.
        key: registry::model::RecordKey,
        /// The features it uses.
        note: String,
    },
    /// A bias outside Route 53's range.
    #[error("Bias {0} is outside -99..99")]
    Bias(i64),
    /// The SDK's builder refused a field.
    #[error(transparent)]
    Build(#[from] aws_smithy_types::error::operation::BuildError),
}

/// Converts a planned change into the SDK's type.
pub fn to_sdk(change: &Change) -> Result<SdkChange, ToSdkError> {
    let set = &change.record_set;
    if let Some(note) = &set.opaque {
        return Err(ToSdkError::Opaque {
            key: set.key(),
            note: note.clone(),
        });
    }
    let records = set
        .values
        .iter()
        .map(|v| ResourceRecord::builder().value(v).build())
        .collect::<Result<Vec<_>, _>>()?;
    let alias = set
        .alias
        .as_ref()
        .map(|a| {
            SdkAliasTarget::builder()
                .hosted_zone_id(&a.hosted_zone_id)
                .dns_name(a.dns_name.as_str())
                .evaluate_target_health(a.evaluate_target_health)
                .build()
        })
        .transpose()?;
    let geo = set
        .geo
        .as_ref()
        .map(|g| {
            let coordinates = g
                .coordinates
                .as_ref()
                .map(|(lat, lon)| Coordinates::builder().latitude(lat).longitude(lon).build())
                .transpose()?;
            let bias = g
                .bias
                .map(|b| i32::try_from(b).map_err(|_| ToSdkError::Bias(b)))
                .transpose()?;
            Ok::<_, ToSdkError>(
                GeoProximityLocation::builder()
                    .set_aws_region(g.aws_region.clone())
                    .set_local_zone_group(g.local_zone_group.clone())
                    .set_coordinates(coordinates)
                    .set_bias(bias)
                    .build(),
            )
        })
        .transpose()?;
    let cidr = set
        .cidr
        .as_ref()
        .map(|c| {
            CidrRoutingConfig::builder()
                .collection_id(&c.collection_id)
                .location_name(&c.location_name)
                .build()
        })
        .transpose()?;
    let rrs = ResourceRecordSet::builder()
        .name(set.name.as_str())
        .r#type(RrType::from(set.rtype.as_str()))
        .set_set_identifier(set.set_identifier.clone())
        .set_weight(set.weight)
        .set_ttl(set.ttl.map(i64::from))
        .set_resource_records((!records.is_empty() || alias.is_none()).then_some(records))
        .set_alias_target(alias)
        .set_geo_proximity_location(geo)
        .set_cidr_routing_config(cidr)
        .set_multi_value_answer(set.multivalue.then_some(true))
        .build()?;
    let action = match change.action {
        Action::Create => ChangeAction::Create,
        Action::Delete => ChangeAction::Delete,
        Action::Upsert => ChangeAction::Upsert,
    };
    SdkChange::builder()
        .action(action)
        .resource_record_set(rrs)
        .build()
        .map_err(ToSdkError::from)
}

/// Converts one change of a ChangeCidrCollection request into the SDK's type.
pub fn cidr_change_to_sdk(change: &LocationChange) -> Result<CidrCollectionChange, ToSdkError> {
    let action = match change.action {
        registry::cidr::Action::Put => CidrCollectionChangeAction::Put,
        registry::cidr::Action::DeleteIfExists => CidrCollectionChangeAction::DeleteIfExists,
    };
    CidrCollectionChange::builder()
        .location_name(&change.location)
        .action(action)
        .set_cidr_list(Some(
            change.blocks.iter().map(ToString::to_string).collect(),
        ))
        .build()
        .map_err(ToSdkError::from)
}

/// Why a listed CIDR block cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum CidrBlockError {
    /// The listing left out the block or its location.
    #[error("a listed CIDR block lacks its {0}")]
    Missing(&'static str),
    /// The block is not one Route 53 takes (`registry::cidr::parse_block`).
    #[error("the listed CIDR block {text:?} is not valid: {why}")]
    Block {
        /// The block as listed, escaped.
        text: String,
        /// What is wrong with it.
        why: registry::cidr::BlockError,
    },
}

/// A listed block and its location (ListCidrBlocks).
pub fn cidr_block_from_sdk(summary: &CidrBlockSummary) -> Result<(IpNet, String), CidrBlockError> {
    let text = summary
        .cidr_block()
        .ok_or(CidrBlockError::Missing("block"))?;
    let location = summary
        .location_name()
        .ok_or(CidrBlockError::Missing("location"))?;
    let block = registry::cidr::parse_block(text).map_err(|why| CidrBlockError::Block {
        text: registry::escape::escape(text).into_owned(),
        why,
    })?;
    Ok((block, location.to_owned()))
}
