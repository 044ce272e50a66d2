//! Marks which test services this build was configured with, so the integration tests that
//! need a missing one show as ignored (not as passed) in `cargo test`; and lays out the release
//! binary's code with start-up first.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ferrobase_postgres, ferrobase_amqp, ferrobase_smtp, ferrobase_s3)");
    for (var, cfg) in [
        ("FERROBASE_TEST_POSTGRES_URL", "ferrobase_postgres"),
        ("FERROBASE_TEST_AMQP_URL", "ferrobase_amqp"),
        ("FERROBASE_TEST_SMTP_URL", "ferrobase_smtp"),
        ("FERROBASE_TEST_MOTO_SERVER", "ferrobase_s3"),
    ] {
        println!("cargo::rerun-if-env-changed={var}");
        if std::env::var(var).is_ok_and(|v| !v.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    order_startup_code();
}

/// The kernel maps a program's code 64 KiB at a time around each page it first runs, so start-up
/// code scattered through 27 MB of code made 18.7 MiB of it resident in an idle server, although
/// start-up runs 4 MB. The release linker (rust-lld, Rust's default on this target) places the
/// functions of `startup.order` (written by `startup-order.sh`) first and together; names it does
/// not find are ignored, so a stale list only costs memory. Debug builds name their functions
/// differently and are left alone, and so is a build that chose another linker (GNU ld, gold and
/// mold do not take the option) or sets `FERROBASE_NO_CODE_ORDER`.
fn order_startup_code() {
    println!("cargo::rerun-if-changed=startup.order");
    println!("cargo::rerun-if-env-changed=FERROBASE_NO_CODE_ORDER");
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let release = env("PROFILE") == "release";
    let default_linker = env("RUSTC_LINKER").is_empty()
        && !["fuse-ld", "linker", "link-self-contained"]
            .iter()
            .any(|flag| env("CARGO_ENCODED_RUSTFLAGS").contains(flag));
    if !release
        || env("TARGET") != "x86_64-unknown-linux-gnu"
        || !default_linker
        || std::env::var_os("FERROBASE_NO_CODE_ORDER").is_some()
    {
        return;
    }
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("startup.order");
    println!("cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}", order.display());
    println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}
