//! `phases`: the run's timeline, each phase's name, duration and whether it is measured.

use crate::scenario::checker::{Checker, entries};
use crate::scenario::file::RawPhase;
use crate::scenario::model::Phase;
use crate::scenario::position::JsonPath;

impl Checker<'_> {
    /// The `phases` list: required unless the file is a capacity search only, which sets its
    /// own steps.
    pub(super) fn phases(
        &mut self,
        raw: Option<&Vec<Option<RawPhase>>>,
        at: &JsonPath,
        capacity_only: bool,
    ) -> Vec<Option<Phase>> {
        match raw {
            None if capacity_only => Vec::new(),
            None => {
                self.missing(at.clone(), "the phases of the run, like [{\"name\": \"warmup\", \"duration\": \"10s\"}, {\"name\": \"steady\", \"duration\": \"1m\"}]");
                Vec::new()
            }
            Some(list) => {
                if list.is_empty() {
                    self.err(
                        at.clone(),
                        "at least one phase is needed, like {\"name\": \"steady\", \"duration\": \"1m\"}",
                    );
                }
                entries(self, list, at, |c, p, at| c.phase(p, at))
            }
        }
    }

    fn phase(&mut self, p: &RawPhase, at: &JsonPath) -> Option<Phase> {
        let name = self.name("phase", p.name.as_deref(), at.key("name"));
        let duration = match &p.duration {
            None => {
                self.missing(at.key("duration"), "how long the phase lasts, like \"30s\" or \"2m\"");
                None
            }
            Some(d) => self.positive_duration(d, at.key("duration"), "a phase"),
        };
        let name = name?;
        let warmup = ["warmup", "warm-up", "warm_up"].iter().any(|w| name.eq_ignore_ascii_case(w));
        let measured = match p.measured {
            Some(m) => m,
            None => self.or_default(&at.key("measured"), !warmup)?,
        };
        Some(Phase { measured, name, duration: duration? })
    }
}
