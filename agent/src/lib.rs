//! The wavelb agent: discovers this instance, keeps its weighted record in Route 53, and drains
//! it on the way out. Its behaviour arrives with the agent issue; the crate exists so the
//! workspace layout is stable.
