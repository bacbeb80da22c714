//! `consumers`: each consumer's topic, group, start offset and librdkafka settings, and that
//! no two entries share a group.

use std::collections::HashMap;

use super::settings::CONSUMER_FIELDS;
use crate::scenario::checker::{Checker, Context};
use crate::scenario::defaults;
use crate::scenario::file::{RawConsumer, RawStart};
use crate::scenario::model::{ConsumerSpec, StartFrom};
use crate::scenario::position::JsonPath;

impl Checker<'_> {
    pub(super) fn consumer(&mut self, k: &RawConsumer, at: &JsonPath, cx: &Context) -> Option<ConsumerSpec> {
        let name = self.name("consumer", k.name.as_deref(), at.key("name"));
        let topic = self.topic_ref(k.topic.as_deref(), at.key("topic"), "consumer");
        let instances = self.count(k.instances, at.key("instances"), "instances", defaults::MAX_INSTANCES, 1);
        let group = match k.group.as_deref() {
            None if self.is_broken(&at.key("group")) => None,
            None => name.as_ref().map(|n| format!("aftershock-{}-{n}", cx.scenario)),
            Some(g) if g.trim().is_empty() => {
                self.err(at.key("group"), "empty group id; leave `group` out for aftershock-<scenario>-<consumer>");
                None
            }
            Some(g) => Some(g.to_string()),
        };
        let start = match k.start {
            None => self.or_default(&at.key("start"), StartFrom::Earliest),
            Some(RawStart::Earliest) => Some(StartFrom::Earliest),
            Some(RawStart::Latest) => Some(StartFrom::Latest),
        };
        let config = self.client_settings(k.config.as_ref(), &at.key("config"), CONSUMER_FIELDS, "consumer");
        if let (Some(cfg), Some(n)) = (&config, instances)
            && n > 1
            && cfg.contains_key("group.instance.id")
        {
            self.err_key(
                at.key("config").key("group.instance.id"),
                "one group.instance.id shared by several instances would fence them off each other; leave it out or use one instance",
            );
        }
        Some(ConsumerSpec {
            name: name?,
            topic: topic?,
            group: group?,
            instances: u32::try_from(instances?).ok()?,
            start: start?,
            config: config?,
        })
    }

    pub(super) fn unique_groups(&mut self, at: &JsonPath, consumers: &[Option<ConsumerSpec>]) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, k) in consumers.iter().enumerate() {
            let Some(k) = k else { continue };
            if let Some(first) = seen.get(k.group.as_str()) {
                self.err(
                    at.index(i).key("group"),
                    format!(
                        "group {:?} is also used by {}: two entries in one group would split its partitions; use `instances` for several members of one group",
                        k.group,
                        at.index(*first)
                    ),
                );
            } else {
                seen.insert(&k.group, i);
            }
        }
    }
}
