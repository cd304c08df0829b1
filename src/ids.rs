//! Newtype ids for the core. Discord snowflakes are converted to these in `discord/` only, so
//! nothing outside that module depends on serenity.
//!
//! Snowflakes are u64 on the wire; databases store them as signed 64-bit integers (PostgreSQL
//! has no unsigned type). The conversion is a bit-for-bit reinterpretation, so ordering of real
//! snowflakes (< 2^63) is preserved.

use std::fmt;

macro_rules! snowflake_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub struct $name(pub u64);

        impl $name {
            /// The value as stored in the database.
            pub fn to_db(self) -> i64 {
                self.0 as i64
            }
            /// The value read back from the database.
            pub fn from_db(value: i64) -> Self {
                Self(value as u64)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

snowflake_id!(
    /// A Discord server.
    GuildId
);
snowflake_id!(
    /// A Discord user, as a member of some server.
    MemberId
);
snowflake_id!(
    /// A Discord channel or thread.
    ChannelId
);
snowflake_id!(
    /// A Discord interaction (one slash-command invocation).
    InteractionId
);
snowflake_id!(
    /// A Discord application (the bot).
    ApplicationId
);

/// A render job in the queue.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Milliseconds since the Unix epoch of a Discord snowflake (its creation time).
pub fn snowflake_unix_ms(snowflake: u64) -> i64 {
    const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
    ((snowflake >> 22) + DISCORD_EPOCH_MS) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_round_trip_keeps_every_bit() {
        for raw in [0u64, 1, 1_234_567_890_123_456_789, u64::MAX] {
            assert_eq!(GuildId::from_db(GuildId(raw).to_db()), GuildId(raw));
        }
    }

    #[test]
    fn snowflake_time() {
        // Example from Discord's documentation: 175928847299117063 → 2016-04-30T11:18:25.796Z.
        assert_eq!(
            snowflake_unix_ms(175_928_847_299_117_063),
            1_462_015_105_796
        );
    }
}
