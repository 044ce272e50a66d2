//! Marks which test services this build was configured with, so the integration tests that
//! need a missing one show as ignored (not as passed) in `cargo test`.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ferrobase_postgres, ferrobase_amqp, ferrobase_smtp)");
    for (var, cfg) in [
        ("FERROBASE_TEST_POSTGRES_URL", "ferrobase_postgres"),
        ("FERROBASE_TEST_AMQP_URL", "ferrobase_amqp"),
        ("FERROBASE_TEST_SMTP_URL", "ferrobase_smtp"),
    ] {
        println!("cargo::rerun-if-env-changed={var}");
        if std::env::var(var).is_ok_and(|v| !v.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
