//! What kinfra left behind, reconciled with the registry: `release` and `prune`
//! ([`prune`]).

pub(super) mod prune;
