//! The bot's domain types, independent of Discord and of SQL: render jobs, persona versions and
//! the interaction graph's records. Every layer speaks them; `store/` maps them to rows and
//! `discord/` builds them from Discord's types.

pub mod edges;
pub mod jobs;
pub mod personas;

pub use edges::{Edge, EdgeDelta, EdgeKind, GraphNode};
pub use jobs::{Compare, FailOutcome, JobStatus, LeasedJob, NewJob, QueuedJob, RenderJob, Side};
pub use personas::Persona;
