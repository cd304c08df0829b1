//! Shutdown ends a persona pass between members: a real `zipp bot` process, in the middle of a
//! scheduled pass whose LLM never answers, exits within 10 s of SIGTERM, asks the LLM about no
//! further member, and stores no half-written persona.

use std::time::{Duration, Instant};

use zipp::ids::{GuildId, MemberId};
use zipp::lifecycle::seed::seed_from_graph;
use zipp::store::Store;

use super::*;

async fn shutdown_stops_a_persona_pass(kind: Db) {
    use fake_discord::llm::{start, Mode};
    let setup = Setup::new(kind, 2).await;
    let fake = &setup.fake;
    let ckpt = setup.dir.path().join("encoder");
    let (graph, _) = trained_checkpoint(&ckpt);
    let hang = start(Mode::Hang).await;
    add_llm(&setup.catalog, "hangs", &hang.url);
    let guild = GuildId(fake.config().guild_id);
    let members = {
        let store = Store::connect(&setup.db.url, 1).await.expect("store");
        let members = seed_from_graph(&store, guild, &graph, zipp::store::now_ms())
            .await
            .expect("seeded");
        store
            .change_guild_setting(
                guild,
                zipp::store::GuildSetting::Llm,
                Some("hangs"),
                MemberId(1),
            )
            .await
            .expect("setting");
        store.close().await;
        members
    };
    let mut child = spawn_zipp(
        std::path::Path::new(env!("CARGO_BIN_EXE_zipp")),
        &["bot"],
        &setup.db,
        fake,
        setup.dir.path(),
        &setup.catalog,
        &[
            ("ZIPP_PERSONA__CHECKPOINT", ckpt.display().to_string()),
            ("ZIPP_PERSONA__INFER_EVERY_S", "1".to_owned()),
            // Without the stop, the pass would wait this long for each member.
            ("ZIPP_PERSONA__VERBALIZE_TIMEOUT_MS", "600000".to_owned()),
        ],
    );
    wait_registered(fake).await;
    // The scheduled pass is waiting for the LLM on its first member.
    let mut asked = false;
    for _ in 0..polls(10) * 3 {
        if hang.hits.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            asked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(asked, "the scheduled pass asked the LLM");

    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if sent.elapsed() > Duration::from_secs(20) {
            child.kill().expect("kill");
            child.wait().expect("reap");
            panic!("the bot did not exit within 20 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = sent.elapsed();
    assert!(status.success(), "a clean exit: {status}");
    println!("exited {took:?} after SIGTERM");
    assert!(took <= Duration::from_secs(10), "exited after {took:?}");
    // Gracefully: the pass stopped, it was not cut off by the shutdown's time limit.
    assert!(took < zipp::app::SHUTDOWN_LIMIT, "exited after {took:?}");
    assert_eq!(
        hang.hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "no further member was verbalized"
    );
    let store = Store::connect(&setup.db.url, 1).await.expect("store");
    for member in &members {
        assert!(
            store
                .active_persona(guild, *member)
                .await
                .expect("read")
                .is_none(),
            "nothing written for {member}"
        );
    }
    store.close().await;
    setup.db.cleanup().await;
}

on_both_databases!(shutdown_stops_a_persona_pass);
