//! Tests of the configuration: defaults, errors naming the key, file then environment, the
//! Discord API address rule.

use super::*;

fn load_str(toml: &str) -> Result<Config, ConfigError> {
    let config: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(toml))
        .extract()
        .map_err(|e| ConfigError(describe_figment_error(&e)))?;
    config.validate()?;
    Ok(config)
}

#[test]
fn defaults_are_valid() {
    Config::default().validate().expect("defaults validate");
}

#[test]
fn unusable_config_names_the_key() {
    let err = load_str("[render]\nlease_secs = \"soon\"\n").unwrap_err();
    assert!(err.to_string().contains("render.lease_secs"), "{err}");
    let err = load_str("[database]\nurl = \"mysql://x\"\n").unwrap_err();
    assert!(err.to_string().contains("database.url"), "{err}");
    let err = load_str("[render]\nlease_secs = 0\n").unwrap_err();
    assert!(err.to_string().contains("render.lease_secs"), "{err}");
    let err = load_str("[rewrite]\nlocal_device = \"gpu\"\n").unwrap_err();
    assert!(err.to_string().contains("rewrite.local_device"), "{err}");
    let cuda = load_str("[rewrite]\nlocal_device = \"cuda\"\n");
    if cfg!(feature = "cuda") {
        assert!(cuda.is_ok());
    } else {
        let err = cuda.unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
    assert!(load_str("[rewrite]\nlocal_device = \"cpu\"\n").is_ok());
    let err = load_str("[render]\nno_such_key = 1\n").unwrap_err();
    assert!(err.to_string().contains("no_such_key"), "{err}");
}

#[test]
fn only_a_local_or_rate_limiting_proxy_may_go_unthrottled() {
    let api = |url: &str, proxy_rate_limits: bool| {
        DiscordConfig {
            api_url: url.to_owned(),
            proxy_rate_limits,
            ..DiscordConfig::default()
        }
        .check_api_url()
    };
    // Discord itself (the rate limiter on), a fake or proxy on this machine.
    for ok in [
        "",
        "http://127.0.0.1:3030",
        "http://127.0.0.2:9/",
        "http://localhost:3030",
        "http://[::1]:3030",
    ] {
        api(ok, false).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    // Discord's own address would run unthrottled: refused even with the flag.
    for discord in [
        "https://discord.com",
        "https://Discord.com./",
        "https://canary.discord.com",
        "https://discordapp.com",
    ] {
        let err = api(discord, true).unwrap_err().to_string();
        assert!(err.contains("leave it empty"), "{discord}: {err}");
    }
    // A proxy elsewhere only when it says it respects the limits.
    let err = api("http://proxy.internal:3000", false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("discord.proxy_rate_limits = true"), "{err}");
    api("http://proxy.internal:3000", true).expect("a rate-limiting proxy");
    api("http://10.0.0.5:3000", true).expect("a rate-limiting proxy");
    assert!(api("ftp://x", true).is_err());
    assert!(api("http://", true).is_err());
}

#[test]
fn file_then_environment_variables() {
    // One test owns these variable names (a prefix of its own), so tests do not race.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("zipp.toml");
    std::fs::write(
        &file,
        "[discord]\ndev_guild = 5\n[render]\nlease_secs = 30\n[database]\nurl = \"postgres://localhost/zipp\"\n",
    )
    .expect("write");
    std::env::set_var("ZIPP_ENVTEST__DISCORD__API_URL", "http://127.0.0.1:9");
    std::env::set_var("ZIPP_ENVTEST__RENDER__LEASE_SECS", "12");
    let config = Config::load_with_env(Some(&file), Env::prefixed("ZIPP_ENVTEST__").split("__"))
        .expect("loads");
    assert_eq!(config.discord.api_url, "http://127.0.0.1:9");
    assert_eq!(config.discord.dev_guild, 5);
    assert_eq!(
        config.render.lease_secs, 12,
        "environment wins over the file"
    );
    assert_eq!(config.database.url, "postgres://localhost/zipp");
    std::env::set_var("ZIPP_ENVTEST__RENDER__LEASE_SECS", "soon");
    let err = Config::load_with_env(Some(&file), Env::prefixed("ZIPP_ENVTEST__").split("__"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("render.lease_secs"), "{err}");
    let missing = Config::load(Some(Path::new("/nonexistent/zipp.toml"))).unwrap_err();
    assert!(missing.to_string().contains("does not exist"), "{missing}");
}

#[test]
fn example_config_documents_every_key_with_its_default() {
    let text = include_str!("../../config/zipp.example.toml");
    let example: Config = toml_from_str(text).expect("example parses");
    assert_eq!(
        example,
        Config::default(),
        "zipp.example.toml drifted from the defaults"
    );
    let defaults = serde_json::to_value(Config::default()).expect("serialize");
    for (section, keys) in defaults.as_object().expect("object") {
        assert!(
            text.contains(&format!("[{section}]")),
            "section {section} undocumented"
        );
        for key in keys.as_object().expect("object").keys() {
            assert!(
                text.lines()
                    .any(|l| l.trim_start().starts_with(&format!("{key} ="))),
                "{section}.{key} undocumented in zipp.example.toml"
            );
        }
    }
}

#[test]
fn worker_models_and_shards_come_from_the_environment() {
    // Variable names of this test's own.
    std::env::set_var("ZIPP_ENVMODELS__RENDER__MODELS", r#"["sdxl", "sd-turbo"]"#);
    std::env::set_var("ZIPP_ENVMODELS__DISCORD__SHARDS", "2-3/8");
    let config =
        Config::load_with_env(None, Env::prefixed("ZIPP_ENVMODELS__").split("__")).expect("loads");
    assert_eq!(config.render.models, ["sdxl", "sd-turbo"]);
    assert_eq!(
        config.discord.shards().expect("shards"),
        super::Shards::Range {
            first: 2,
            last: 3,
            total: 8
        }
    );
    for (text, shards) in [
        ("", Some(super::Shards::One)),
        ("auto", Some(super::Shards::Auto)),
        (
            "3/16",
            Some(super::Shards::Range {
                first: 3,
                last: 3,
                total: 16,
            }),
        ),
        ("16/16", None),
        ("4-2/8", None),
        ("0-7", None),
        ("x/2", None),
    ] {
        let discord = super::DiscordConfig {
            shards: text.to_owned(),
            ..Default::default()
        };
        assert_eq!(discord.shards().ok(), shards, "{text:?}");
    }
}
