//! The bot's domain types, independent of Discord and of SQL: render jobs, persona versions and
//! the interaction graph's records. Every layer speaks them; `store/` maps them to rows and
//! `discord/` builds them from Discord's types.

pub mod edges;
pub mod jobs;
pub mod personas;

pub use edges::{Edge, EdgeDelta, EdgeKind, GraphNode, Neighbourhood};
pub use jobs::{grid_shape, image_seed};
pub use jobs::{
    Acceptance, Aspect, Compare, Derive, FailOutcome, JobLimits, JobStatus, LeasedJob, LimitKind,
    LimitRefusal, NewJob, PersonaMode, QueuedJob, RenderJob, Side, MAX_IMAGES,
};
pub use personas::{
    InferredWrite, NewInferred, Persona, PersonaInputs, SOURCE_EDITED, SOURCE_INFERRED,
    SOURCE_QUESTIONNAIRE,
};

/// A pause point: a future awaited at one named instant of a service's work, so a test can act
/// exactly there (withdraw consent after a batch left memory, before it is written). `None` in
/// production.
pub type Pause = std::sync::Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync,
>;
