//! `safety`: the error rate that aborts a run, and whether faults wait for a healthy cluster.

use std::time::Duration;

use crate::scenario::checker::Checker;
use crate::scenario::fault::{ErrorRateAbort, Safety};
use crate::scenario::file::{RawSafety, Scalar};
use crate::scenario::position::JsonPath;

impl Checker<'_> {
    pub(super) fn safety(&mut self, s: &RawSafety, at: &JsonPath) -> Option<Safety> {
        let abort_on_errors = match &s.abort_if {
            None => Some(None),
            Some(a) => {
                let rate = match &a.error_rate_above {
                    None => {
                        self.missing(
                            at.key("abort_if").key("error_rate_above"),
                            "the share of failed deliveries that aborts the run, like \"50%\" or 0.5",
                        );
                        None
                    }
                    Some(Scalar(t)) => {
                        let t = t.trim();
                        let parsed = match t.strip_suffix('%') {
                            Some(p) => p.trim().parse::<f64>().ok().map(|v| v / 100.0),
                            None => t.parse::<f64>().ok(),
                        };
                        match parsed {
                            Some(r) if (0.0..=1.0).contains(&r) => Some(r),
                            _ => {
                                self.err(at.key("abort_if").key("error_rate_above"), format!("`{t}` is not a share: expected a percentage like \"50%\" or a fraction from 0 to 1"));
                                None
                            }
                        }
                    }
                };
                let for_ = match &a.for_ {
                    None => Some(Duration::from_secs(10)),
                    Some(d) => self.positive_duration(d, at.key("abort_if").key("for"), "an abort window"),
                };
                Some(Some(ErrorRateAbort { error_rate: rate?, for_: for_? }))
            }
        };
        Some(Safety { abort_on_errors: abort_on_errors?, require_healthy: s.require_healthy.unwrap_or(true) })
    }
}
