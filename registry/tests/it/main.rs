//! The registry's integration tests, in one test binary (one link of the AWS SDK): run one module
//! with `cargo test --workspace --test it moto::`.

mod moto;
mod plan_props;
mod writer_faults;
