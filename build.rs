//! Build settings that Cargo.toml cannot express.

fn main() {
    // benches/timestamp_error.rs loads a librdkafka plugin (benches/common/ack_stamps.c) into
    // the bench process. The plugin calls librdkafka's interceptor API, which is linked
    // statically into the bench binary, so those symbols must be visible to `dlopen`ed code.
    // Benches only: the aftershock binary exports nothing.
    println!("cargo::rustc-link-arg-benches=-Wl,--export-dynamic-symbol=rd_kafka_*");
    println!("cargo::rerun-if-changed=build.rs");
}
