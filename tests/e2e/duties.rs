//! One process of each duty: two bot processes on one PostgreSQL database share the scheduled
//! persona passes and the retention sweep out — exactly one leads each — and when the leader
//! stops, the other takes its duties over. On SQLite (one machine's database) every process
//! leads.

use std::time::Duration;

use zipp::app::App;

use crate::harness::*;

const DUTIES: [&str; 2] = ["personas", "retention"];

/// Who leads each duty once both processes have tried: waits until every duty has a leader.
async fn leaders(apps: &[&App]) -> Vec<Vec<&'static str>> {
    for _ in 0..polls(50) {
        let leading: Vec<Vec<&'static str>> = apps.iter().map(|a| a.store.leading()).collect();
        if DUTIES.iter().all(|d| leading.iter().any(|l| l.contains(d))) {
            return leading;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "not every duty found a leader: {:?}",
        apps.iter().map(|a| a.store.leading()).collect::<Vec<_>>()
    );
}

async fn each_duty_runs_in_one_process(kind: Db) {
    let setup = Setup::new(kind, 1).await;
    let mut config = setup.config();
    config.retention.sweep_every_s = 1;
    config.persona.infer_every_s = 1;
    let first = setup.start(config.clone(), true, 0).await;
    wait_registered(&setup.fake).await;
    let second = setup.start(config.clone(), true, 0).await;
    // Both have tried every duty at least twice (a tick a second).
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let leading = leaders(&[&first, &second]).await;
    match kind {
        Db::Postgres => {
            for duty in DUTIES {
                let holders = leading.iter().filter(|l| l.contains(&duty)).count();
                assert_eq!(holders, 1, "{duty}: {leading:?}");
            }
        }
        Db::Sqlite => assert_eq!(leading, [DUTIES.to_vec(), DUTIES.to_vec()]),
    }
    if kind == Db::Postgres {
        // The first process stops: its locks go with its connections; the second takes over.
        let before = first.store.leading();
        first.shutdown().await;
        let mut now = Vec::new();
        for _ in 0..polls(50) {
            now = second.store.leading();
            if now == DUTIES {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(now, DUTIES, "the first led {before:?}");
    } else {
        first.shutdown().await;
    }
    setup.finish(second).await;
}

on_both_databases!(each_duty_runs_in_one_process);
