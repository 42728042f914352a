//! The registry's integration tests: the planner's properties.

mod plan_props;
