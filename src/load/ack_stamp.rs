//! Ack times taken on librdkafka's broker thread: an `on_acknowledgement` interceptor stamps
//! every message the moment its produce response is parsed, before librdkafka hands the
//! report to the application.
//!
//! # Why
//! A delivery callback runs on the thread that polls librdkafka's queue, after a hand-off from
//! the broker thread (a queue, a condition variable, a wake-up). Timed there, every produce
//! latency carries that hand-off: 15 to 40 µs at the median and about 100 µs at p99 on a VM,
//! for any librdkafka application, even with every thread on one CPU (see
//! `benches/timestamp_error.rs`). Stamped in the interceptor, it carries none of it.
//!
//! # How the stamp reaches the delivery callback
//! The interceptor writes the time into the message's opaque pointer (`_private`), which
//! librdkafka hands to the delivery report as the message's opaque. The producer's context
//! therefore declares `DeliveryOpaque = usize` and sends every message with opaque 0: 0 in a
//! report means "not stamped" (a producer built without [`producer_with_ack_stamps`]), and the
//! callback reads its own clock instead.
//!
//! The time is a raw TSC value where the run clock reads the TSC ([`Stamp::Tsc`]: 13 ns on the
//! broker thread, mapped to run-clock ns by the delivery thread's
//! [`HotClock::at_tsc`](crate::measure::HotClock::at_tsc)), else raw `CLOCK_MONOTONIC` ns
//! ([`Stamp::Monotonic`], 25 to 40 ns on a VM).
//!
//! The interceptor keeps no state: which clock it reads travels in its opaque pointer's value,
//! not behind it. librdkafka may still acknowledge purged messages on its broker threads after
//! the client's `on_destroy`, so state it held could not be freed safely.

use std::ffi::{CStr, c_char, c_void};

use rdkafka::ClientContext;
use rdkafka::bindings as rd;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::{BaseProducer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use crate::measure::clock::monotonic_ns;
use crate::measure::hot_clock::read_tsc;

/// The interceptors' name in librdkafka (it lists interceptors by name in its errors).
const NAME: &CStr = c"aftershock-ack-stamp";

/// Which clock the stamps are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// Raw TSC values, for a run clock that reads the TSC ([`RunClock::tsc_usable`](crate::measure::RunClock::tsc_usable)).
    Tsc,
    /// Raw `CLOCK_MONOTONIC` ns (see [`RunClock::from_monotonic_ns`](crate::measure::RunClock::from_monotonic_ns)).
    Monotonic,
}

impl Stamp {
    /// The interceptor's opaque for this clock: a value, never dereferenced.
    fn opaque(self) -> *mut c_void {
        match self {
            Stamp::Tsc => std::ptr::without_provenance_mut(1),
            Stamp::Monotonic => std::ptr::null_mut(),
        }
    }

    /// Now, on this clock.
    #[inline]
    fn now(opaque: *mut c_void) -> u64 {
        if opaque.is_null() { monotonic_ns() } else { read_tsc() }
    }
}

/// A producer with `context` on `config` whose delivery reports carry their ack time, read
/// from `stamp`'s clock, as their opaque (see the [module docs](self)).
///
/// # Errors
/// As `create_with_context`, and when librdkafka refuses the interceptor.
pub fn producer_with_ack_stamps<C>(config: &ClientConfig, stamp: Stamp, context: C) -> KafkaResult<BaseProducer<C>>
where
    C: ProducerContext<DeliveryOpaque = usize> + ClientContext,
{
    let native = config.create_native_config()?;
    #[allow(unsafe_code)]
    // SAFETY: `native.ptr()` is a live configuration that `native` owns; the name is a static
    // C string (librdkafka copies it); the callback matches librdkafka's `on_new` type, and its
    // opaque is a plain value that is never dereferenced.
    let err =
        unsafe { rd::rd_kafka_conf_interceptor_add_on_new(native.ptr(), NAME.as_ptr(), Some(on_new), stamp.opaque()) };
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Err(KafkaError::ClientCreation(format!(
            "adding the ack-stamp interceptor: {:?}",
            RDKafkaErrorCode::from(err)
        )));
    }
    BaseProducer::from_native_config_and_context(config, native, context)
}

/// Called by librdkafka while it creates the client: registers [`on_ack`] on it.
#[allow(unsafe_code)]
unsafe extern "C" fn on_new(
    rk: *mut rd::rd_kafka_t,
    _conf: *const rd::rd_kafka_conf_t,
    opaque: *mut c_void,
    _errstr: *mut c_char,
    _errstr_size: usize,
) -> rd::rd_kafka_resp_err_t {
    // SAFETY: librdkafka calls this with the client being created, the one moment it accepts
    // per-client interceptors; the name is static, and the opaque (which clock) is passed on.
    unsafe { rd::rd_kafka_interceptor_add_on_acknowledgement(rk, NAME.as_ptr(), Some(on_ack), opaque) }
}

/// Called by librdkafka on its broker thread for every message of a produce response (and for
/// a message that failed before it was sent), just before the report is queued for the
/// application: the message's opaque becomes the time now.
#[allow(unsafe_code)]
unsafe extern "C" fn on_ack(
    _rk: *mut rd::rd_kafka_t,
    message: *mut rd::rd_kafka_message_t,
    opaque: *mut c_void,
) -> rd::rd_kafka_resp_err_t {
    // The time first: it is the point of this interceptor.
    let now = Stamp::now(opaque);
    // SAFETY: librdkafka passes a message it owns and that no other thread touches during the
    // call. The opaque is this producer's `usize` (never a pointer to anything: see
    // `producer_with_ack_stamps`), so overwriting it frees and leaks nothing.
    if let Some(m) = unsafe { message.as_mut() } {
        m._private = now as usize as *mut c_void;
    }
    rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use rdkafka::message::DeliveryResult;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseRecord, Producer};

    use super::*;
    use crate::measure::{HotClock, RunClock};

    /// Every report's opaque (its stamp) and the monotonic time its callback ran.
    #[derive(Default)]
    struct Seen(Mutex<Vec<(usize, u64)>>);

    impl ClientContext for Seen {}

    impl ProducerContext for Seen {
        type DeliveryOpaque = usize;
        fn delivery(&self, _: &DeliveryResult<'_>, stamp: usize) {
            let now = monotonic_ns();
            self.0.lock().unwrap().push((stamp, now));
        }
    }

    #[test]
    fn every_report_carries_an_ack_time_taken_before_its_callback() {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("t", 1, 1).unwrap();
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", mock.bootstrap_servers()).set("linger.ms", "0");
        let producer = producer_with_ack_stamps(&config, Stamp::Monotonic, Seen::default()).unwrap();
        let before = monotonic_ns();
        for i in 0..20u32 {
            producer.send(BaseRecord::<(), _, usize>::with_opaque_to("t", 0).payload(&i.to_be_bytes()[..])).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while producer.in_flight_count() > 0 && Instant::now() < deadline {
            producer.poll(Duration::from_millis(10));
        }
        let seen = producer.context().0.lock().unwrap().clone();
        assert_eq!(seen.len(), 20);
        for (stamp, at) in seen {
            let stamp = stamp as u64;
            assert!(before < stamp && stamp <= at, "stamp {stamp} not between {before} and its callback at {at}");
        }
    }

    #[test]
    fn tsc_stamps_map_onto_the_run_clock() {
        let clock = RunClock::new(Instant::now());
        if !clock.tsc_usable() {
            eprintln!("skipped: the kernel does not keep time with the TSC here");
            return;
        }
        // A calibrated hot clock, as the delivery thread has after its first 10 ms.
        let mut hot = HotClock::new(clock);
        hot.now_ns();
        std::thread::sleep(Duration::from_millis(15));
        hot.now_ns();
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("t", 1, 1).unwrap();
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", mock.bootstrap_servers()).set("linger.ms", "0");
        let producer = producer_with_ack_stamps(&config, Stamp::Tsc, Seen::default()).unwrap();
        let before = clock.from_monotonic_ns(monotonic_ns());
        for i in 0..20u32 {
            producer.send(BaseRecord::<(), _, usize>::with_opaque_to("t", 0).payload(&i.to_be_bytes()[..])).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        producer.flush(Duration::from_secs(10)).unwrap();
        let seen = producer.context().0.lock().unwrap().clone();
        assert_eq!(seen.len(), 20);
        // The mapping is good to well under a µs; 2 µs of slack keeps the test off the noise.
        const SLACK_NS: u64 = 2_000;
        for (stamp, at) in seen {
            let run_ns = hot.at_tsc(stamp as u64).expect("calibrated");
            let at = clock.from_monotonic_ns(at);
            assert!(
                before <= run_ns + SLACK_NS && run_ns <= at + SLACK_NS,
                "ack at {run_ns} ns not between the first send at {before} and its callback at {at}"
            );
        }
    }

    #[test]
    fn without_the_interceptor_the_opaque_stays_zero() {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("t", 1, 1).unwrap();
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", mock.bootstrap_servers());
        let producer: BaseProducer<Seen> = config.create_with_context(Seen::default()).unwrap();
        producer.send(BaseRecord::<(), _, usize>::with_opaque_to("t", 0).payload("x")).unwrap();
        producer.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(producer.context().0.lock().unwrap().iter().map(|s| s.0).collect::<Vec<_>>(), [0]);
    }
}
