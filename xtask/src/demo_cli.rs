//! The `rfd-cli` commands the demo prints, and with `--exit-when-ready` also runs and
//! checks: the printed line and the executed command come from one [`CliCommand`], so
//! what a reader copies is exactly what CI ran.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::demo_rfds;

/// What a command's output must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Every demo RFD, by number and title.
    ListsAll,
    /// A search hit in this RFD.
    FindsRfd(i32),
    /// This RFD's title.
    ShowsTitle(i32),
}

/// One `rfd-cli` invocation: its environment, program and arguments.
#[derive(Debug, Clone)]
pub struct CliCommand {
    env: Vec<(&'static str, String)>,
    program: String,
    args: Vec<String>,
    expect: Expect,
}

/// The three commands the demo offers: list, search for the demo's word, view RFD 6.
pub fn demo_commands(cli: &str, api_url: &str, api_key: &str) -> Vec<CliCommand> {
    let env = vec![("RFD_HOST", api_url.to_string()), ("RFD_TOKEN", api_key.to_string())];
    let command = |args: &[&str], expect| CliCommand {
        env: env.clone(),
        program: cli.to_string(),
        args: args.iter().map(|a| a.to_string()).collect(),
        expect,
    };
    vec![
        command(&["list"], Expect::ListsAll),
        command(&["search", demo_rfds::SEARCH_WORD], Expect::FindsRfd(demo_rfds::PUSHED_NUMBER)),
        command(
            &["view", &demo_rfds::PUSHED_NUMBER.to_string()],
            Expect::ShowsTitle(demo_rfds::PUSHED_NUMBER),
        ),
    ]
}

impl CliCommand {
    /// The line to paste into a shell (words quoted where a shell would split them).
    pub fn line(&self) -> String {
        let mut words: Vec<String> =
            self.env.iter().map(|(key, value)| format!("{key}={}", shell_word(value))).collect();
        words.push(shell_word(&self.program));
        words.extend(self.args.iter().map(|arg| shell_word(arg)));
        words.join(" ")
    }

    /// Runs the command as printed (from the current directory, the environment plus its
    /// variables) and checks that it succeeds and its output shows what it should.
    pub async fn run_and_check(&self) -> anyhow::Result<()> {
        let line = self.line();
        let run = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .with_context(|| format!("`{line}` did not finish within 60 s"))?
            .with_context(|| format!("could not run `{line}`"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "`{line}` exited with {}:\n{}{}",
                output.status,
                stdout,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        if let Err(missing) = check(self.expect, &stdout) {
            bail!("`{line}` succeeded but its output {missing}:\n{stdout}");
        }
        Ok(())
    }
}

/// `Ok` when `stdout` (rfd-cli's JSON or its tables, whichever the reader's settings
/// choose) shows what `expect` asks; else what it lacks.
pub fn check(expect: Expect, stdout: &str) -> Result<(), String> {
    let json: Option<Value> = serde_json::from_str(stdout).ok();
    match expect {
        Expect::ListsAll => {
            let missing: Vec<String> = demo_rfds::RFDS
                .iter()
                .filter(|(number, title)| !lists(json.as_ref(), stdout, *number, title))
                .map(|(number, title)| format!("RFD {number} {title:?}"))
                .collect();
            if missing.is_empty() { Ok(()) } else { Err(format!("does not list {}", missing.join(", "))) }
        }
        Expect::FindsRfd(number) => {
            let found = match &json {
                Some(results) => results["hits"].as_array().is_some_and(|hits| {
                    hits.iter().any(|hit| hit["rfd_number"].as_i64() == Some(number.into()))
                }),
                None => stdout.lines().any(|line| first_word(line) == Some(&*number.to_string())),
            };
            if found { Ok(()) } else { Err(format!("has no hit in RFD {number}")) }
        }
        Expect::ShowsTitle(number) => {
            let title = demo_rfds::title(number).unwrap_or_default();
            let shown = match &json {
                Some(rfd) => rfd["rfd_number"].as_i64() == Some(number.into()) && rfd["title"] == title,
                None => stdout.contains(title),
            };
            if shown { Ok(()) } else { Err(format!("does not show RFD {number} {title:?}")) }
        }
    }
}

/// Whether a list shows RFD `number` with `title`: an item of the JSON array, or a table
/// row that starts with the number and holds the title.
fn lists(json: Option<&Value>, stdout: &str, number: i32, title: &str) -> bool {
    match json {
        Some(list) => list.as_array().is_some_and(|rfds| {
            rfds.iter().any(|rfd| rfd["rfd_number"].as_i64() == Some(number.into()) && rfd["title"] == title)
        }),
        None => {
            let number = number.to_string();
            stdout.lines().any(|line| first_word(line) == Some(&*number) && line.contains(title))
        }
    }
}

fn first_word(line: &str) -> Option<&str> {
    line.split_whitespace().next()
}

/// `word` as one shell word: as it is when it has nothing a shell treats specially, else
/// in single quotes.
fn shell_word(word: &str) -> String {
    let plain =
        !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_list() -> String {
        let mut out = String::from("RFD_NUMBER  TITLE  STATE\n");
        for (number, title) in demo_rfds::RFDS {
            out.push_str(&format!("{number}  {title}  published\n"));
        }
        out
    }

    fn json_list() -> String {
        let rfds: Vec<Value> = demo_rfds::RFDS
            .iter()
            .map(|(number, title)| serde_json::json!({ "rfd_number": number, "title": title }))
            .collect();
        serde_json::to_string_pretty(&rfds).unwrap_or_default()
    }

    #[test]
    fn a_list_passes_only_with_every_rfd_in_either_format() {
        assert_eq!(check(Expect::ListsAll, &table_list()), Ok(()));
        assert_eq!(check(Expect::ListsAll, &json_list()), Ok(()));
        let without_3: String =
            table_list().lines().filter(|l| !l.starts_with("3 ")).map(|l| l.to_string() + "\n").collect();
        assert!(check(Expect::ListsAll, &without_3).is_err_and(|e| e.contains("RFD 3")));
        let renumbered = table_list().replace("6  Plain", "7  Plain");
        assert!(check(Expect::ListsAll, &renumbered).is_err_and(|e| e.contains("RFD 6")));
        assert!(check(Expect::ListsAll, "[]").is_err());
        assert!(check(Expect::ListsAll, "").is_err());
    }

    #[test]
    fn a_search_passes_only_with_a_hit_in_the_rfd() {
        let json = r#"{"hits":[{"rfd_number":6,"content":"trigger"}],"limit":20}"#;
        assert_eq!(check(Expect::FindsRfd(6), json), Ok(()));
        assert!(check(Expect::FindsRfd(6), r#"{"hits":[{"rfd_number":1}]}"#).is_err());
        assert!(check(Expect::FindsRfd(6), r#"{"hits":[]}"#).is_err());
        assert_eq!(
            check(Expect::FindsRfd(6), "RFD_NUMBER  HIERARCHY  CONTENT\n6  Summary  trigger\n"),
            Ok(())
        );
        assert!(check(Expect::FindsRfd(6), "(none)\n").is_err());
    }

    #[test]
    fn a_view_passes_only_with_the_rfd_title() {
        let json = r#"{"rfd_number":6,"title":"Plain git as the RFD source","content":"..."}"#;
        assert_eq!(check(Expect::ShowsTitle(6), json), Ok(()));
        assert!(
            check(Expect::ShowsTitle(6), r#"{"rfd_number":5,"title":"Plain git as the RFD source"}"#)
                .is_err()
        );
        assert_eq!(
            check(Expect::ShowsTitle(6), "rfd_number  6\ntitle  Plain git as the RFD source\n"),
            Ok(())
        );
        assert!(check(Expect::ShowsTitle(6), "error: not found\n").is_err());
    }

    #[test]
    fn the_printed_line_is_the_command_with_its_environment() {
        let commands = demo_commands("target/debug/rfd-cli", "http://127.0.0.1:8080", "rfd_abc");
        let lines: Vec<String> = commands.iter().map(CliCommand::line).collect();
        assert_eq!(
            lines,
            [
                "RFD_HOST=http://127.0.0.1:8080 RFD_TOKEN=rfd_abc target/debug/rfd-cli list",
                "RFD_HOST=http://127.0.0.1:8080 RFD_TOKEN=rfd_abc target/debug/rfd-cli search trigger",
                "RFD_HOST=http://127.0.0.1:8080 RFD_TOKEN=rfd_abc target/debug/rfd-cli view 6",
            ]
        );
        let spaced = demo_commands("/my dir/rfd-cli", "http://h", "it's");
        assert_eq!(spaced[0].line(), r"RFD_HOST=http://h RFD_TOKEN='it'\''s' '/my dir/rfd-cli' list");
    }
}
