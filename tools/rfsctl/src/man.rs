//! Man pages from the clap definitions: `rfsctl.1` and one page per
//! subcommand (`rfsctl-list.1`, `rfsctl-branch-add.1`, ...) and
//! `mount.rfs.8`. The pages in Documentation/man/ are
//! these, committed; a unit test fails when they are out of date.

use crate::cli::Cli;
use clap::CommandFactory;

/// Every page: (file name, roff text).
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let cmd = Cli::command();
    let version = cmd.get_version().unwrap_or_default().to_owned();
    let mut out = Vec::new();
    add_pages(cmd, &version, &mut out)?;
    let mut helper = Vec::new();
    clap_mangen::Man::new(crate::cli::MountHelper::command()).section("8").render(&mut helper)?;
    out.push(("mount.rfs.8".to_owned(), helper));
    Ok(out)
}

/// The page of `cmd` (named as its page: `rfsctl-branch-add`), then those
/// of its subcommands, which its page names.
fn add_pages(cmd: clap::Command, version: &str, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    let name = cmd.get_name().to_owned();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    out.push((format!("{name}.1"), page));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let sub = sub.clone().name(format!("{name}-{}", sub.get_name())).version(version.to_owned());
        add_pages(sub, version, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The committed pages are the generated ones.
    #[test]
    fn committed_pages_are_current() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Documentation/man");
        let pages = pages().unwrap();
        let mut committed: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        committed.sort();
        let mut generated: Vec<String> = pages.iter().map(|(n, _)| n.clone()).collect();
        generated.sort();
        assert_eq!(committed, generated, "Documentation/man/ holds other pages than rfsctl makes");
        for (name, text) in pages {
            let have = std::fs::read(dir.join(&name)).unwrap_or_default();
            assert!(
                have == text,
                "Documentation/man/{name} is out of date: run `cargo run -p rfsctl -- man --dir Documentation/man`"
            );
        }
    }
}
