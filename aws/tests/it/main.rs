//! The AWS adapters' integration tests, in one test binary (one link of the AWS SDK): run one
//! module with `cargo test -p wavelb-aws --test it moto::`.

mod cidr;
mod moto;
mod writer_faults;
