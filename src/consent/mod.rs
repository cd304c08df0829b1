//! The one consent service: `/persona consent`, the consent prompt's buttons and `/persona
//! forget` all go through it, so the order of the steps is decided once.
//!
//! The rule itself — nothing about a member is stored unless they consent *now* and the server's
//! inference is on — is the store's (`store/consent.rs`): every insert of member data checks it
//! in its own statement. This service keeps the in-memory caches in step with it:
//!
//! - **grant:** the store first, then the cache (so nothing is recorded under a consent the
//!   store does not hold yet);
//! - **withdraw:** the cache first (recording stops and pending counts are dropped at once), then
//!   the store, which deletes what was recorded under the consent in the same transaction;
//! - **forget:** the caches first, then the store's erasure.
//!
//! Work already in flight (an ingest batch taken from memory, an inference waiting on its LLM, a
//! render finishing) reaches the store after the withdrawal and stores nothing.

use std::sync::Arc;

use crate::ids::{GuildId, MemberId};
use crate::ingest::Ingestor;
use crate::lifecycle::PersonaService;
use crate::store::{Erased, Store, StoreError};

/// Consent and erasure for members, over the store and the caches that depend on them.
pub struct ConsentService {
    store: Store,
    ingestor: Arc<Ingestor>,
    personas: Arc<PersonaService>,
}

impl ConsentService {
    /// The service over the bot's store, ingestor and persona lifecycle.
    pub fn new(store: Store, ingestor: Arc<Ingestor>, personas: Arc<PersonaService>) -> Self {
        Self {
            store,
            ingestor,
            personas,
        }
    }

    /// The member allows zipp to learn from their activity in this server. Returns false when
    /// they already did: nothing changes then (what consenting starts — the one backfill, the
    /// inference at most once per cooldown — guards itself).
    pub async fn grant(&self, guild: GuildId, member: MemberId) -> Result<bool, StoreError> {
        let changed = self
            .store
            .change_consent(guild, member, true)
            .await?
            .changed;
        self.ingestor.consent_changed(guild, member, true);
        if changed {
            tracing::info!(%guild, %member, "consent granted");
        } else {
            tracing::debug!(%guild, %member, "consent granted again: nothing new");
        }
        Ok(changed)
    }

    /// The member declines or withdraws: recording stops at once and everything recorded under
    /// their consent is deleted (personas they wrote stay). Returns what was deleted.
    pub async fn withdraw(&self, guild: GuildId, member: MemberId) -> Result<Erased, StoreError> {
        self.ingestor.consent_changed(guild, member, false);
        let erased = self.store.set_consent(guild, member, false).await?;
        if erased.rows.iter().any(|(_, n)| *n > 0) {
            self.personas.consent_withdrawn(guild, member);
        }
        tracing::info!(%guild, %member, rows = ?erased.rows, "consent withdrawn");
        Ok(erased)
    }

    /// Erases everything about the member in this server (and their DM renders).
    pub async fn forget(&self, guild: GuildId, member: MemberId) -> Result<Erased, StoreError> {
        self.ingestor.forget(guild, member);
        self.personas.forget(guild, member);
        let erased = self.store.forget_member(guild, member).await?;
        tracing::info!(%guild, %member, rows = ?erased.rows, "member forgotten");
        Ok(erased)
    }
}
