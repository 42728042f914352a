//! The store's tags on hosted zones and health checks (ChangeTagsForResource and the two
//! listings), bounded as Route 53 bounds them.

use std::collections::BTreeMap;

use super::{
    MAX_TAG_CHANGES, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS, MAX_TAGS, ResourceKind, resource_key,
};
use crate::store::{Store, StoreError, input_error};

impl Store {
    /// `Ok` when the resource exists (its id as the store keeps it).
    fn tagged_resource(&self, kind: ResourceKind, id: &str) -> Result<String, StoreError> {
        match kind {
            ResourceKind::HostedZone => self.zone(id).map(|z| z.id.clone()),
            ResourceKind::HealthCheck => self.health_check(id).map(|c| c.id.clone()),
        }
    }

    /// The tags of a resource, by key.
    ///
    /// # Errors
    ///
    /// `NoSuchHostedZone` or `NoSuchHealthCheck`.
    pub fn tags(
        &self,
        kind: ResourceKind,
        id: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let id = self.tagged_resource(kind, id)?;
        Ok(self
            .tags
            .get(&resource_key(kind, &id))
            .cloned()
            .unwrap_or_default())
    }

    /// Adds (or overwrites) `add` and removes `remove` on a resource, atomically.
    ///
    /// # Errors
    ///
    /// `NoSuchHostedZone` or `NoSuchHealthCheck`; `InvalidInput` for more than
    /// [`MAX_TAG_CHANGES`] entries of either list, an empty or too long key or value, or a
    /// resource that would carry more than [`MAX_TAGS`] tags.
    pub fn change_tags(
        &mut self,
        kind: ResourceKind,
        id: &str,
        add: &[(String, String)],
        remove: &[String],
    ) -> Result<(), StoreError> {
        let id = self.tagged_resource(kind, id)?;
        for (list, n) in [("addTags", add.len()), ("removeTagKeys", remove.len())] {
            if n > MAX_TAG_CHANGES {
                return Err(input_error(format!(
                    "1 validation error detected: Value at '{list}' failed to satisfy \
                     constraint: Member must have length less than or equal to \
                     {MAX_TAG_CHANGES} (it has {n})"
                )));
            }
        }
        if add.is_empty() && remove.is_empty() {
            return Err(input_error(
                "ChangeTagsForResource needs AddTags or RemoveTagKeys",
            ));
        }
        let long = |what: &str, value: &str, max: usize| {
            let chars = value.chars().count();
            (chars == 0 || chars > max).then(|| {
                input_error(format!(
                    "1 validation error detected: Value at '{what}' failed to satisfy \
                     constraint: Member must have length between 1 and {max} (it has {chars})"
                ))
            })
        };
        for (key, value) in add {
            if let Some(e) = long("addTags.member.key", key, MAX_TAG_KEY_CHARS) {
                return Err(e);
            }
            let chars = value.chars().count();
            if chars > MAX_TAG_VALUE_CHARS {
                return Err(input_error(format!(
                    "1 validation error detected: Value at 'addTags.member.value' failed to \
                     satisfy constraint: Member must have length less than or equal to \
                     {MAX_TAG_VALUE_CHARS} (it has {chars})"
                )));
            }
        }
        for key in remove {
            if let Some(e) = long("removeTagKeys.member", key, MAX_TAG_KEY_CHARS) {
                return Err(e);
            }
        }
        let mut tags = self.tags(kind, &id)?;
        for key in remove {
            tags.remove(key);
        }
        for (key, value) in add {
            tags.insert(key.clone(), value.clone());
        }
        if tags.len() > MAX_TAGS {
            return Err(input_error(format!(
                "The resource {} would carry {} tags; a resource carries at most {MAX_TAGS}. \
                 Remove tags first",
                id,
                tags.len()
            )));
        }
        let key = resource_key(kind, &id);
        self.touched.tags.insert(key.clone());
        if tags.is_empty() {
            self.tags.remove(&key);
        } else {
            self.tags.insert(key, tags);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize, prefix: &str) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("{prefix}{i}"), format!("v{i}")))
            .collect()
    }

    #[test]
    fn tags_are_added_replaced_removed_and_bounded() {
        let mut s = Store::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let kind = ResourceKind::HostedZone;
        s.change_tags(kind, &zone.id, &pairs(2, "k"), &[]).unwrap();
        s.change_tags(
            kind,
            &format!("/hostedzone/{}", zone.id),
            &[("k0".into(), "new".into())],
            &["k1".into()],
        )
        .unwrap();
        let tags = s.tags(kind, &zone.id).unwrap();
        assert_eq!(
            tags.into_iter().collect::<Vec<_>>(),
            [("k0".to_owned(), "new".to_owned())]
        );
        assert!(matches!(
            s.change_tags(kind, &zone.id, &pairs(11, "x"), &[]),
            Err(StoreError::Change(_))
        ));
        for batch in 0..4 {
            s.change_tags(kind, &zone.id, &pairs(10, &format!("b{batch}-")), &[])
                .unwrap();
        }
        s.change_tags(kind, &zone.id, &pairs(9, "b4-"), &[])
            .unwrap();
        assert_eq!(s.tags(kind, &zone.id).unwrap().len(), MAX_TAGS);
        let e = s.change_tags(kind, &zone.id, &pairs(10, "b0-"), &[]);
        assert!(e.is_ok(), "overwriting keeps the count: {e:?}");
        let e = s.change_tags(kind, &zone.id, &pairs(1, "more"), &[]);
        assert!(matches!(e, Err(StoreError::Change(_))), "{e:?}");
        // Removing one in the same request makes room.
        s.change_tags(kind, &zone.id, &pairs(1, "more"), &["k0".into()])
            .unwrap();
        let long_key = [("k".repeat(MAX_TAG_KEY_CHARS + 1), String::new())];
        assert!(s.change_tags(kind, &zone.id, &long_key, &[]).is_err());
        let long_value = [("k".into(), "v".repeat(MAX_TAG_VALUE_CHARS + 1))];
        assert!(s.change_tags(kind, &zone.id, &long_value, &[]).is_err());
        assert!(matches!(
            s.tags(ResourceKind::HealthCheck, &zone.id),
            Err(StoreError::NoSuchHealthCheck(_))
        ));
    }
}
