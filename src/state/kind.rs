//! The two kinds of instance. Everything that differs between a sandbox and
//! local-prod is data of the stack's description, looked up by this value (never
//! by a `local_prod: bool`); it sits this low because the registry keeps them
//! apart (slot 0 is local-prod's) and the secret field tables name them.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Sandbox,
    LocalProd,
}

impl Kind {
    /// Both kinds, sandbox first.
    pub const ALL: [Kind; 2] = [Kind::Sandbox, Kind::LocalProd];

    /// How people call it (`kinfra sandbox …`, `kinfra local-prod …`).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Sandbox => "sandbox",
            Kind::LocalProd => "local-prod",
        }
    }

    /// The name it goes by in `kinfra.toml` (`[local_prod.env]`, a field's `kinds`).
    pub fn key(self) -> &'static str {
        match self {
            Kind::Sandbox => "sandbox",
            Kind::LocalProd => "local_prod",
        }
    }

    /// Slot 0 is local-prod's; every other slot a sandbox's.
    pub fn of_slot(slot: u8) -> Kind {
        if slot == 0 {
            Kind::LocalProd
        } else {
            Kind::Sandbox
        }
    }
}
