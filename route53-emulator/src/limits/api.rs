//! GetHostedZoneLimit and GetAccountLimit: Route 53's default quotas, which are also the bounds
//! the lab enforces, with the real counts.

use axum::http::StatusCode;

use crate::api::reply::{ApiError, ApiResult, ok};
use crate::health_checks::MAX_HEALTH_CHECKS;
use crate::shared::Shared;
use crate::zones::MAX_HOSTED_ZONES;

/// Route 53's default quota on reusable delegation sets (the lab has none).
const MAX_REUSABLE_DELEGATION_SETS: usize = 100;
/// Route 53's default quota on traffic policies (the lab has none).
const MAX_TRAFFIC_POLICIES: usize = 50;
/// Route 53's default quota on traffic policy instances (the lab has none).
const MAX_TRAFFIC_POLICY_INSTANCES: usize = 5;

fn limit(root: &str, kind: &str, value: usize, count: usize) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        root,
        &format!("<Limit><Type>{kind}</Type><Value>{value}</Value></Limit><Count>{count}</Count>"),
    ))
}

/// `GET /2013-04-01/hostedzonelimit/{zone}/{kind}`.
pub(crate) async fn hosted_zone(shared: &Shared, zone: &str, kind: &str) -> ApiResult {
    let store = shared.store.lock().await;
    let zone = store.zone(zone)?;
    match kind {
        "MAX_RRSETS_BY_ZONE" => limit(
            "GetHostedZoneLimitResponse",
            kind,
            store.record_sets_per_zone(),
            zone.records.len(),
        ),
        "MAX_VPCS_ASSOCIATED_BY_ZONE" => Err(ApiError::new(
            400,
            "HostedZoneNotPrivate",
            format!(
                "The hosted zone {} is a public hosted zone; MAX_VPCS_ASSOCIATED_BY_ZONE applies \
                 to private hosted zones only",
                zone.id
            ),
        )),
        other => Err(ApiError::input(format!(
            "1 validation error detected: Value '{other}' at 'type' failed to satisfy \
             constraint: Member must satisfy enum value set: [MAX_RRSETS_BY_ZONE, \
             MAX_VPCS_ASSOCIATED_BY_ZONE]"
        ))),
    }
}

/// `GET /2013-04-01/accountlimit/{kind}`.
pub(crate) async fn account(shared: &Shared, kind: &str) -> ApiResult {
    let store = shared.store.lock().await;
    let (value, count) = match kind {
        "MAX_HEALTH_CHECKS_BY_OWNER" => (MAX_HEALTH_CHECKS, store.health_checks().count()),
        "MAX_HOSTED_ZONES_BY_OWNER" => (MAX_HOSTED_ZONES, store.zones().count()),
        "MAX_REUSABLE_DELEGATION_SETS_BY_OWNER" => (MAX_REUSABLE_DELEGATION_SETS, 0),
        "MAX_TRAFFIC_POLICIES_BY_OWNER" => (MAX_TRAFFIC_POLICIES, 0),
        "MAX_TRAFFIC_POLICY_INSTANCES_BY_OWNER" => (MAX_TRAFFIC_POLICY_INSTANCES, 0),
        other => {
            return Err(ApiError::input(format!(
                "1 validation error detected: Value '{other}' at 'type' failed to satisfy \
                 constraint: Member must satisfy enum value set: [MAX_HEALTH_CHECKS_BY_OWNER, \
                 MAX_HOSTED_ZONES_BY_OWNER, MAX_TRAFFIC_POLICY_INSTANCES_BY_OWNER, \
                 MAX_REUSABLE_DELEGATION_SETS_BY_OWNER, MAX_TRAFFIC_POLICIES_BY_OWNER]"
            )));
        }
    };
    limit("GetAccountLimitResponse", kind, value, count)
}
