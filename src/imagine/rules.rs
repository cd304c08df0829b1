//! The server's prompt rules as `/imagine` and `/config blocklist` use them: the blocklist,
//! cached per server (one read per burst), and its changes.

use std::sync::Arc;

use super::{blocklist, ImagineError, ImagineService, BLOCKLIST_CACHE};
use crate::error::UserError;
use crate::ids::{GuildId, MemberId};
use crate::store::{RefusalReason, StoreError};

/// Servers whose blocklist is cached at most (the cache is emptied past it).
const MAX_CACHED: usize = 100_000;

impl ImagineService {
    /// The server's blocklist (cached for [`BLOCKLIST_CACHE`]). Requests arriving together
    /// while it is read wait for that one read (a burst on a cold cache reads it once).
    pub async fn blocklist(&self, guild: GuildId) -> Result<Arc<Vec<String>>, StoreError> {
        let cell = {
            let fresh = self
                .blocklists
                .get(&guild)
                .filter(|entry| entry.0.elapsed() < BLOCKLIST_CACHE)
                .map(|entry| Arc::clone(&entry.1));
            match fresh {
                Some(cell) => cell,
                None => {
                    if self.blocklists.len() >= MAX_CACHED {
                        self.blocklists.clear();
                    }
                    let mut entry = self
                        .blocklists
                        .entry(guild)
                        .or_insert_with(|| (std::time::Instant::now(), Default::default()));
                    if entry.0.elapsed() >= BLOCKLIST_CACHE {
                        *entry = (std::time::Instant::now(), Default::default());
                    }
                    Arc::clone(&entry.1)
                }
            }
        };
        let list = cell
            .get_or_try_init(|| async { self.store.blocklist(guild).await.map(Arc::new) })
            .await?;
        Ok(Arc::clone(list))
    }

    /// Which list, if any, refuses `prompt` in `guild` (DMs: the built-in list only).
    pub async fn blocked(
        &self,
        guild: Option<GuildId>,
        prompt: &str,
    ) -> Result<Option<RefusalReason>, StoreError> {
        let list = match guild {
            Some(guild) => self.blocklist(guild).await?,
            None => Arc::new(Vec::new()),
        };
        Ok(
            blocklist::check(prompt, &list).map(|blocked| match blocked {
                blocklist::Blocked::Server => RefusalReason::Blocklist,
                blocklist::Blocked::BuiltIn => RefusalReason::BuiltInBlocklist,
            }),
        )
    }

    /// Adds a phrase to the server's blocklist (`/config blocklist add`): whether it was added
    /// (false: already there), or a refusal (empty, too long, list full).
    pub async fn block(
        &self,
        guild: GuildId,
        phrase: &str,
        by: MemberId,
    ) -> Result<bool, ImagineError> {
        let phrase = blocklist::normalize_phrase(phrase).map_err(UserError::new)?;
        let (added, count) = self
            .store
            .add_blocked(guild, &phrase, by, blocklist::MAX_PHRASES)
            .await?;
        self.blocklists.remove(&guild);
        if !added && count >= blocklist::MAX_PHRASES {
            let already = self.store.blocklist(guild).await?.contains(&phrase);
            if !already {
                return Err(UserError::new("error-blocklist-full")
                    .with_number("max", blocklist::MAX_PHRASES as i64)
                    .into());
            }
        }
        Ok(added)
    }

    /// Removes a phrase from the server's blocklist: false when it was not there.
    pub async fn unblock(
        &self,
        guild: GuildId,
        phrase: &str,
        by: MemberId,
    ) -> Result<bool, ImagineError> {
        let phrase = blocklist::normalize_phrase(phrase).map_err(UserError::new)?;
        let removed = self.store.remove_blocked(guild, &phrase, by).await?;
        self.blocklists.remove(&guild);
        Ok(removed)
    }
}
