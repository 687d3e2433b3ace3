//! One config file gives rfd-api and rfd-processor the same RFD source: both choose it
//! through `rfd-sources`, so the repository the API writes to is the one the processor
//! reads, and a config one binary refuses the other refuses with the same message.

use std::path::Path;

use rfd_api::config::ApiConfig;
use rfd_processor::config::ProcessorConfig;

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

/// What each binary chooses from `sections`, as printed (the choice's `Debug` names the
/// kind, repository, location and, for git, the committer; it prints no secret).
fn both(dir: &Path, sections: &str) -> (Result<String, String>, Result<String, String>) {
    let file = dir.join(format!("config-{}.toml", sections.len()));
    ok(std::fs::write(&file, format!("database_url = \"postgres://localhost/x\"\n{sections}")));
    let api = ok(ApiConfig::load(&file)).source_choice().map(|c| format!("{c:?}")).map_err(|e| e.to_string());
    let processor =
        ok(ProcessorConfig::load(&file)).source_choice().map(|c| format!("{c:?}")).map_err(|e| e.to_string());
    (api, processor)
}

#[tokio::test]
async fn the_same_config_gives_both_binaries_the_same_source() {
    let dir = ok(tempfile::tempdir());
    let bare = dir.path().join("rfd.git");
    let status = std::process::Command::new("git")
        .args(["init", "--quiet", "--bare", "--initial-branch=main"])
        .arg(&bare)
        .status();
    assert!(status.is_ok_and(|s| s.success()));

    let git = format!(
        "[source]\nkind = \"git\"\npath = {:?}\nrfd_dir = \"docs\"\ncommitter_name = \"RFD\"\n",
        bare.display().to_string()
    );
    let github = "[source]\nkind = \"github\"\nowner = \"acme\"\nrepository = \"rfd\"\n\
                  auth = { app_id = 1, installation_id = 2, private_key_path = \"app.pem\" }\n";
    let legacy = "[github]\nowner = \"acme\"\nrepository = \"rfd\"\ndefault_branch = \"trunk\"\nauth = { token = \"t0ken\" }\n";
    for sections in [git.as_str(), github, legacy, ""] {
        let (api, processor) = both(dir.path(), sections);
        assert!(api.is_ok(), "{sections}: {api:?}");
        assert_eq!(api, processor, "{sections}");
    }
    let (api, _) = both(dir.path(), &git);
    assert!(api.as_ref().is_ok_and(|c| c.contains("Git(") && c.contains("docs")), "{api:?}");
    // A relative App key is read beside the config file, by both.
    let (api, _) = both(dir.path(), github);
    let key = dir.path().join("app.pem");
    assert!(api.as_ref().is_ok_and(|c| c.contains(&format!("{:?}", key))), "{api:?}");
    let (api, _) = both(dir.path(), legacy);
    assert!(api.as_ref().is_ok_and(|c| c.contains("trunk") && !c.contains("t0ken")), "{api:?}");

    // Refused by both, with the same message.
    for sections in [
        "[source]\npath = \"/srv/rfd.git\"\n",
        "[source]\nkind = \"git\"\npath = \"/a\"\n[github]\nowner = \"a\"\nrepository = \"r\"\ndefault_branch = \"main\"\nauth = { token = \"t\" }\n",
    ] {
        let (api, processor) = both(dir.path(), sections);
        assert!(api.is_err(), "{sections}: {api:?}");
        assert_eq!(api, processor, "{sections}");
    }

    // Opened, the git source is the same repository for both.
    let file = dir.path().join("git.toml");
    ok(std::fs::write(&file, format!("database_url = \"postgres://localhost/x\"\n{git}")));
    let api = ok(ApiConfig::load(&file));
    let processor = ok(ProcessorConfig::load(&file));
    let from_api = ok(rfd_api::source::open(&api).await).unwrap_or_else(|| panic!("no source"));
    let from_processor = ok(processor.open_source().await).unwrap_or_else(|| panic!("no source"));
    assert_eq!(from_api.location(), from_processor.source.location());
    assert_eq!(from_api.location().rfd_dir, "docs");
}
