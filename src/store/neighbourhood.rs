//! A member's sampled neighbourhood (issue 17): what a `/persona refresh` embeds instead of the
//! whole server. The persona encoder has two message-passing layers, so a member's embedding
//! and attention depend on their direct neighbours (channels, roles, reply partners) and on
//! those neighbours' own neighbours. The first hop is read complete; the second is sampled,
//! GraphSAGE-style: at most `fanout` edges into each first-hop node, chosen by a hash of the
//! other end salted with the member's id — deterministic (the same data gives the same
//! sample, so an unchanged member stays unchanged), different for each member. With a fan-out
//! of at least every node's degree, the neighbourhood holds every edge the member's embedding
//! depends on, and the refresh equals the full pass (tested).

use std::collections::{BTreeSet, HashSet};

use sqlx::Row;

use super::edges::{edge_from_row, node_from_row};
use super::persona_pass::{rows_in, Binds};
use super::{db_err, Store, StoreError};
use crate::domain::{Edge, Neighbourhood};
use crate::ids::{GuildId, MemberId};

/// The edges read. Only consenting members' edges are ever stored (`store/consent.rs`), and
/// the members of the neighbourhood are filtered by consent once at the end (edges of anyone
/// else are then dropped by the snapshot), so no per-row consent join is needed here: on a
/// channel with thousands of members it doubled the read.
const CONSENTING_EDGES: &str = "member_edges e";

/// The sampling order of rows whose other end is `column`: a hash salted with `$3`.
fn sample_order(column: &str) -> String {
    format!("(({column} % 1000003) * 7919 + $3) % 1000003, {column}, e.edge_type")
}

/// The edges, at most `$4` per `partition` value, of the rows matching `filter`
/// (`$1` the server, `$3` the salt; `{ids}` the list).
fn sampled_sql(partition: &str, other_end: &str, filter: &str) -> String {
    format!(
        "SELECT member_id, edge_type, target_id, count, last_at FROM (SELECT e.member_id, \
         e.edge_type, e.target_id, e.count, e.last_at, ROW_NUMBER() OVER (PARTITION BY \
         {partition} ORDER BY {order}) AS rn FROM {CONSENTING_EDGES} WHERE e.guild_id = $1 \
         AND {filter}) t WHERE t.rn <= $4",
        order = sample_order(other_end)
    )
}

impl Store {
    /// `member`'s neighbourhood in `guild` (see the module docs): every edge from or to them;
    /// at most `fanout` edges into each of their channels and roles (from other members) and
    /// at most `fanout` edges from and `fanout` replies to each reply partner; the members all
    /// these reach (consenting ones only), the channels and roles they name, and the members'
    /// images.
    pub async fn member_neighbourhood(
        &self,
        guild: GuildId,
        member: MemberId,
        fanout: usize,
    ) -> Result<Neighbourhood, StoreError> {
        let op = "read a member's neighbourhood";
        let salt = member.to_db().rem_euclid(1_000_003);
        let fanout = fanout.min(i64::MAX as usize) as i64;
        let read = |rows: Vec<sqlx::any::AnyRow>| -> Result<Vec<Edge>, StoreError> {
            rows.iter()
                .map(edge_from_row)
                .collect::<Result<_, _>>()
                .map_err(db_err(op))
        };
        // Hop 1, complete: the member's edges and the replies and mentions they received.
        let own = read(
            sqlx::query(&format!(
                "SELECT e.member_id, e.edge_type, e.target_id, e.count, e.last_at \
                 FROM {CONSENTING_EDGES} WHERE e.guild_id = $1 AND e.member_id = $2 \
                 UNION ALL SELECT e.member_id, e.edge_type, e.target_id, e.count, e.last_at \
                 FROM {CONSENTING_EDGES} WHERE e.guild_id = $1 AND e.target_id = $2 \
                 AND e.edge_type IN ('replied', 'mentioned')"
            ))
            .bind(guild.to_db())
            .bind(member.to_db())
            .fetch_all(self.pool())
            .await
            .map_err(db_err(op))?,
        )?;
        let mut places = BTreeSet::new();
        let mut partners = BTreeSet::new();
        for e in &own {
            if e.kind.targets_member() {
                partners.insert(if e.member_id == member {
                    e.target_id as i64
                } else {
                    e.member_id.to_db()
                });
            } else {
                places.insert(e.target_id as i64);
            }
        }
        partners.remove(&member.to_db());
        let places: Vec<i64> = places.into_iter().collect();
        let partners: Vec<i64> = partners.into_iter().collect();
        let binds: Binds<'_> = &|q| {
            q.bind(guild.to_db())
                .bind(member.to_db())
                .bind(salt)
                .bind(fanout)
        };
        // Hop 2, sampled: who else is in the member's channels and roles…
        let mut edges = own;
        edges.extend(read(
            rows_in(
                self,
                op,
                &sampled_sql(
                    "e.target_id",
                    "e.member_id",
                    "e.member_id <> $2 AND e.edge_type IN ('posted', 'reacted', 'has_role') \
                     AND e.target_id IN ({ids})",
                ),
                &places,
                binds,
                5,
            )
            .await?,
        )?);
        // …and what the reply partners do, and who replies to them.
        edges.extend(read(
            rows_in(
                self,
                op,
                &format!(
                    "{} UNION ALL {}",
                    sampled_sql("e.member_id", "e.target_id", "e.member_id IN ({ids})"),
                    sampled_sql(
                        "e.target_id",
                        "e.member_id",
                        "e.target_id IN ({ids}) AND e.edge_type IN ('replied', 'mentioned')"
                    )
                ),
                &partners,
                binds,
                5,
            )
            .await?,
        )?);
        // An edge read twice (a partner's post in the member's channel) counts once.
        let mut seen = HashSet::new();
        edges.retain(|e| seen.insert((e.member_id, e.kind, e.target_id)));
        // Every member the edges reach, kept only while they consent.
        let mut candidates: BTreeSet<i64> = BTreeSet::new();
        candidates.insert(member.to_db());
        let mut node_ids = BTreeSet::new();
        for e in &edges {
            candidates.insert(e.member_id.to_db());
            if e.kind.targets_member() {
                candidates.insert(e.target_id as i64);
            } else {
                node_ids.insert(e.target_id as i64);
            }
        }
        let candidates: Vec<i64> = candidates.into_iter().collect();
        let members: Vec<MemberId> = rows_in(
            self,
            op,
            "SELECT member_id FROM consents WHERE guild_id = $1 AND granted = 1 \
             AND member_id IN ({ids}) ORDER BY member_id",
            &candidates,
            &|q| q.bind(guild.to_db()),
            2,
        )
        .await?
        .iter()
        .map(|row| row.try_get("member_id").map(MemberId::from_db))
        .collect::<Result<_, _>>()
        .map_err(db_err(op))?;
        let node_ids: Vec<i64> = node_ids.into_iter().collect();
        let nodes = rows_in(
            self,
            op,
            "SELECT kind, node_id, name, topic FROM graph_nodes WHERE guild_id = $1 \
             AND node_id IN ({ids}) ORDER BY kind, node_id",
            &node_ids,
            &|q| q.bind(guild.to_db()),
            2,
        )
        .await?
        .iter()
        .map(node_from_row)
        .collect::<Result<_, _>>()
        .map_err(db_err(op))?;
        let images = self.engaged_images_of(guild, &members).await?;
        // The order a whole-server read gives, so both build the same graph.
        edges.sort_by_key(|e| (e.member_id, e.kind.as_str(), e.target_id));
        Ok(Neighbourhood {
            members,
            edges,
            nodes,
            images,
        })
    }
}
