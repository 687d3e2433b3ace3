//! `ProcessIncludes`: expands `include::file[]` lines with files of the RFD folder, in the
//! stored content only (the source is not changed). In read mode the stored content stays
//! exactly the repository's, so nothing is expanded.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{Action, ActionContext, ActionError, UpdateMode};

/// See the module documentation.
pub struct ProcessIncludes;

/// Whether an include target stays inside the RFD folder.
fn inside_folder(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path.split('/').all(|part| part != "..")
}

#[async_trait]
impl Action for ProcessIncludes {
    fn name(&self) -> &'static str {
        "ProcessIncludes"
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), ActionError> {
        let targets = ctx.document.includes();
        if targets.is_empty() || ctx.mode != UpdateMode::Write {
            return Ok(());
        }
        let folder = ctx.source.location().rfd_path(ctx.number);
        let mut files = HashMap::new();
        let mut missing = Vec::new();
        for target in targets.into_iter().filter(|target| inside_folder(target)) {
            if files.contains_key(&target) {
                continue;
            }
            match ctx.source.read_file(&format!("{folder}/{target}"), &ctx.commit.sha).await {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => {
                        files.insert(target, text);
                    }
                    Err(_) => missing.push(format!("{target} (not UTF-8)")),
                },
                Err(rfd_model::source::SourceError::NotFound(_)) => missing.push(target),
                Err(err) => return Err(ActionError::source("reading an included file", err)),
            }
        }
        let expanded = ctx.document.expand_includes(|path| files.get(path).cloned());
        if expanded != ctx.revision.content {
            ctx.store
                .set_revision_content(ctx.revision.id, &expanded)
                .await
                .map_err(|err| ActionError::Stop(format!("storing expanded content: {err}")))?;
            ctx.revision.content = expanded;
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ActionError::Continue(format!("included files not found: {}", missing.join(", "))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::inside_folder;

    #[test]
    fn include_targets_must_stay_in_the_folder() {
        assert!(inside_folder("part.adoc"));
        assert!(inside_folder("sub/part.adoc"));
        assert!(!inside_folder("../0002/README.adoc"));
        assert!(!inside_folder("sub/../../x"));
        assert!(!inside_folder("/etc/passwd"));
        assert!(!inside_folder(""));
    }
}
