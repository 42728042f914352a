//! The store's health checks: CreateHealthCheck's idempotency, UpdateHealthCheck's version
//! check, the account's bound, and what the probes found ([`CheckState`], runtime only).

use std::collections::BTreeMap;

use crate::health_checks::{
    self as healthcheck, CheckState, CheckType, ConfigInput, HealthCheck, HealthCheckConfig,
    MAX_CALLER_REFERENCE_CHARS, MAX_HEALTH_CHECKS, Observation,
};
use crate::store::{Store, StoreError, input_error, random_uuid};
use crate::tags::{self, ResourceKind};

/// The caller references of deleted health checks the store remembers (Route 53 forgets them
/// "after a number of days"; the lab after this many deletions).
pub const MAX_DELETED_REFERENCES: usize = 1000;

impl Store {
    /// Creates a health check, or returns the existing one when `caller_reference` was used
    /// with the same settings (the flag is false then).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad configuration or a child that does not exist or is itself
    /// CALCULATED; `HealthCheckAlreadyExists` for a reference used with other settings or by a
    /// deleted check; `TooManyHealthChecks` past [`MAX_HEALTH_CHECKS`].
    pub fn create_health_check(
        &mut self,
        caller_reference: &str,
        input: ConfigInput,
    ) -> Result<(HealthCheck, bool), StoreError> {
        let chars = caller_reference.chars().count();
        if !(1..=MAX_CALLER_REFERENCE_CHARS).contains(&chars) {
            return Err(input_error(format!(
                "1 validation error detected: Value at 'callerReference' failed to satisfy \
                 constraint: Member must have length between 1 and {MAX_CALLER_REFERENCE_CHARS} \
                 (it has {chars} characters)"
            )));
        }
        let config = input.create().map_err(|e| input_error(e.to_string()))?;
        if let Some(existing) = self
            .health_checks
            .values()
            .find(|c| c.caller_reference == caller_reference)
        {
            return if existing.config == config {
                Ok((existing.clone(), false))
            } else {
                Err(StoreError::HealthCheckAlreadyExists(
                    caller_reference.to_owned(),
                ))
            };
        }
        if self
            .deleted_check_references
            .iter()
            .any(|r| r == caller_reference)
        {
            return Err(StoreError::HealthCheckAlreadyExists(
                caller_reference.to_owned(),
            ));
        }
        if self.health_checks.len() >= MAX_HEALTH_CHECKS {
            return Err(StoreError::TooManyHealthChecks);
        }
        self.check_children(&config)?;
        let id = loop {
            let id = random_uuid();
            if !self.health_checks.contains_key(&id) {
                break id;
            }
        };
        let check = HealthCheck {
            id: id.clone(),
            caller_reference: caller_reference.to_owned(),
            config,
            version: 1,
        };
        self.touched.checks.insert(id.clone());
        self.health_checks.insert(id, check.clone());
        Ok((check, true))
    }

    /// Children of a CALCULATED check must exist and probe an endpoint (so statuses never
    /// depend on each other in a cycle; a lab rule).
    fn check_children(&self, config: &HealthCheckConfig) -> Result<(), StoreError> {
        for child in &config.children {
            match self.health_checks.get(child) {
                None => return Err(StoreError::NoSuchHealthCheck(child.clone())),
                Some(c) if c.config.check_type == CheckType::Calculated => {
                    return Err(input_error(format!(
                        "The child health check {child} is CALCULATED; the lab resolver accepts \
                         only endpoint health checks (HTTP, HTTPS, TCP, …) as children"
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// A health check by id.
    pub fn health_check(&self, id: &str) -> Result<&HealthCheck, StoreError> {
        self.health_checks
            .get(id)
            .ok_or_else(|| StoreError::NoSuchHealthCheck(id.to_owned()))
    }

    /// All health checks, in id order.
    pub fn health_checks(&self) -> impl Iterator<Item = &HealthCheck> {
        self.health_checks.values()
    }

    /// Applies an UpdateHealthCheck; with `version`, only if it is the check's version.
    ///
    /// # Errors
    ///
    /// `NoSuchHealthCheck`, `HealthCheckVersionMismatch`, or `InvalidInput` for a bad field.
    pub fn update_health_check(
        &mut self,
        id: &str,
        version: Option<u64>,
        input: ConfigInput,
    ) -> Result<HealthCheck, StoreError> {
        let current = self.health_check(id)?;
        if let Some(given) = version
            && given != current.version
        {
            return Err(StoreError::HealthCheckVersionMismatch {
                given,
                current: current.version,
            });
        }
        let config = input
            .update(&current.config)
            .map_err(|e| input_error(e.to_string()))?;
        if config.children.iter().any(|c| c == id) {
            return Err(input_error(format!(
                "The health check {id} cannot be its own child"
            )));
        }
        self.check_children(&config)?;
        let changed = config != current.config;
        let check = self
            .health_checks
            .get_mut(id)
            .ok_or_else(|| StoreError::NoSuchHealthCheck(id.to_owned()))?;
        if changed {
            check.config = config;
            check.version = check.version.saturating_add(1);
            self.touched.checks.insert(id.to_owned());
        }
        Ok(check.clone())
    }

    /// Deletes a health check. As Route 53 now documents, a check that record sets still
    /// reference can be deleted; those sets then count as healthy. Its caller reference stays
    /// taken.
    ///
    /// # Errors
    ///
    /// `NoSuchHealthCheck`.
    pub fn delete_health_check(&mut self, id: &str) -> Result<(), StoreError> {
        let check = self
            .health_checks
            .remove(id)
            .ok_or_else(|| StoreError::NoSuchHealthCheck(id.to_owned()))?;
        self.deleted_check_references
            .push_back(check.caller_reference);
        self.touched.references_kept += 1;
        while self.deleted_check_references.len() > MAX_DELETED_REFERENCES {
            self.deleted_check_references.pop_front();
        }
        self.check_states.remove(id);
        self.touched.checks.insert(id.to_owned());
        let tags_key = tags::resource_key(ResourceKind::HealthCheck, id);
        if self.tags.remove(&tags_key).is_some() {
            self.touched.tags.insert(tags_key);
        }
        Ok(())
    }

    /// What the probes of health check `id` found so far.
    pub fn check_state(&self, id: &str) -> Option<&CheckState> {
        self.check_states.get(id)
    }

    /// The status of every health check (see [`healthcheck::statuses`]).
    pub fn health_statuses(&self) -> BTreeMap<String, bool> {
        let configs: BTreeMap<String, HealthCheckConfig> = self
            .health_checks
            .iter()
            .map(|(id, c)| (id.clone(), c.config.clone()))
            .collect();
        healthcheck::statuses(&configs, &self.check_states)
    }

    /// The endpoint checks whose probe is due at `now_ms` (enabled ones only), each marked as
    /// probed so that the next call leaves it out until its interval has passed, and named after
    /// the next of its checker Regions.
    pub fn take_due_probes(&mut self, now_ms: u64) -> Vec<DueProbe> {
        let mut due = Vec::new();
        for (id, check) in &self.health_checks {
            let config = &check.config;
            if !config.check_type.probes() || config.disabled {
                continue;
            }
            let state = self.check_states.entry(id.clone()).or_default();
            if state.take_due(now_ms, config.request_interval) {
                due.push(DueProbe {
                    id: id.clone(),
                    config: config.clone(),
                    region: state.next_region(&config.checker_regions()),
                });
            }
        }
        due
    }

    /// Records a probe of health check `id`; true when its endpoint's status changed (then the
    /// statuses DNS answers use, CALCULATED parents included, may have changed). A check deleted
    /// meanwhile is ignored.
    pub fn record_probe(&mut self, id: &str, observation: Observation) -> bool {
        let Some(config) = self.health_checks.get(id).map(|c| &c.config) else {
            return false;
        };
        let state = self.check_states.entry(id.to_owned()).or_default();
        let changed = state.observe(observation, config.failure_threshold);
        state.keep_regions(&config.checker_regions());
        changed
    }
}

/// A probe [`Store::take_due_probes`] found due: the check, its settings, and the checker Region
/// its observation is named after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueProbe {
    /// The health check's id.
    pub id: String,
    /// Its settings when the probe was due.
    pub config: HealthCheckConfig,
    /// The checker Region of this probe (GetHealthCheckStatus's `Region`).
    pub region: &'static str,
}

#[cfg(test)]
impl Store {
    /// A TCP health check (`reference`) whose one probe so far failed: unhealthy. For tests.
    pub(crate) fn failed_test_check(&mut self, reference: &str) -> String {
        let input = ConfigInput {
            check_type: Some("TCP".into()),
            ip_address: Some("127.0.0.1".into()),
            port: Some("9".into()),
            failure_threshold: Some("1".into()),
            ..ConfigInput::default()
        };
        let (check, _) = self.create_health_check(reference, input).unwrap();
        let failure = Observation {
            region: crate::health_checks::CHECKER_REGIONS[0],
            success: false,
            report: "Failure: test".into(),
            at_ms: 1,
        };
        assert!(self.record_probe(&check.id, failure));
        check.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::model::{Change, RecordSet, RrType};
    use registry::name::Fqdn;

    fn http(port: &str) -> ConfigInput {
        ConfigInput {
            check_type: Some("HTTP".into()),
            ip_address: Some("127.0.0.1".into()),
            port: Some(port.into()),
            failure_threshold: Some("1".into()),
            ..ConfigInput::default()
        }
    }

    fn failure(at_ms: u64) -> Observation {
        Observation {
            region: crate::health_checks::CHECKER_REGIONS[0],
            success: false,
            report: "Failure: test".into(),
            at_ms,
        }
    }

    #[test]
    fn caller_references_are_idempotent_and_never_reused() {
        let mut s = Store::default();
        let (a, created) = s.create_health_check("r1", http("80")).unwrap();
        assert!(created);
        assert_eq!(a.id.len(), 36);
        let (again, created) = s.create_health_check("r1", http("80")).unwrap();
        assert_eq!((again.id.as_str(), created), (a.id.as_str(), false));
        assert_eq!(
            s.create_health_check("r1", http("81")),
            Err(StoreError::HealthCheckAlreadyExists("r1".into()))
        );
        s.delete_health_check(&a.id).unwrap();
        assert!(matches!(
            s.create_health_check("r1", http("80")),
            Err(StoreError::HealthCheckAlreadyExists(_))
        ));
        assert!(matches!(
            s.delete_health_check(&a.id),
            Err(StoreError::NoSuchHealthCheck(_))
        ));
    }

    #[test]
    fn the_account_holds_at_most_200_checks() {
        let mut s = Store::default();
        for i in 0..MAX_HEALTH_CHECKS {
            s.create_health_check(&format!("r{i}"), http("80")).unwrap();
        }
        assert_eq!(
            s.create_health_check("more", http("80")),
            Err(StoreError::TooManyHealthChecks)
        );
    }

    #[test]
    fn updates_check_the_version_and_bump_it() {
        let mut s = Store::default();
        let (c, _) = s.create_health_check("r", http("80")).unwrap();
        let port = |p: &str| ConfigInput {
            port: Some(p.into()),
            ..ConfigInput::default()
        };
        let u = s.update_health_check(&c.id, Some(1), port("8080")).unwrap();
        assert_eq!((u.version, u.config.port), (2, Some(8080)));
        assert_eq!(
            s.update_health_check(&c.id, Some(1), port("81")),
            Err(StoreError::HealthCheckVersionMismatch {
                given: 1,
                current: 2
            })
        );
        assert_eq!(
            s.update_health_check(&c.id, None, port("8080"))
                .unwrap()
                .version,
            2
        );
    }

    #[test]
    fn records_name_existing_checks_and_unhealthy_status_reaches_the_store() {
        let mut s = Store::default();
        let (zone, _) = s.create_zone("lab.test", "z", None, 0).unwrap();
        let set = |check: &str| RecordSet {
            name: Fqdn::parse("www.lab.test").unwrap(),
            rtype: RrType::A,
            set_identifier: Some("a".into()),
            weight: Some(1),
            ttl: Some(30),
            values: vec!["192.0.2.1".into()],
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: Some(check.into()),
        };
        assert_eq!(
            s.change(&zone.id, &[Change::create(set("nope"))], None, 1),
            Err(StoreError::NoSuchHealthCheck("nope".into()))
        );
        let (c, _) = s.create_health_check("r", http("80")).unwrap();
        s.change(&zone.id, &[Change::create(set(&c.id))], None, 1)
            .unwrap();
        let due = s.take_due_probes(1_000);
        assert_eq!(due.len(), 1);
        assert!(s.take_due_probes(2_000).is_empty(), "not due again yet");
        assert!(s.record_probe(&c.id, failure(2_000)));
        assert_eq!(s.health_statuses().get(&c.id), Some(&false));
        // Deleting a check in use is allowed (Route 53's DeleteHealthCheck).
        s.delete_health_check(&c.id).unwrap();
        assert!(s.health_statuses().is_empty());
        assert!(!s.record_probe(&c.id, failure(3_000)));
    }

    #[test]
    fn calculated_children_must_exist_and_probe_endpoints() {
        let mut s = Store::default();
        let calc = |children: Vec<String>| ConfigInput {
            check_type: Some("CALCULATED".into()),
            health_threshold: Some("1".into()),
            children: Some(children),
            ..ConfigInput::default()
        };
        assert!(matches!(
            s.create_health_check("c0", calc(vec!["missing".into()])),
            Err(StoreError::NoSuchHealthCheck(_))
        ));
        let (child, _) = s.create_health_check("e", http("80")).unwrap();
        let (parent, _) = s
            .create_health_check("c1", calc(vec![child.id.clone()]))
            .unwrap();
        assert!(matches!(
            s.create_health_check("c2", calc(vec![parent.id.clone()])),
            Err(StoreError::Change(_))
        ));
    }
}
