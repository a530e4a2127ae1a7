//! Man pages from the clap definitions: `rfsctl.1` and one page per
//! subcommand (`rfsctl-list.1`, ...). The pages in Documentation/man/ are
//! these, committed; a unit test fails when they are out of date.

use crate::cli::Cli;
use clap::CommandFactory;

/// Every page: (file name, roff text).
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    let mut top = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut top)?;
    out.push(("rfsctl.1".to_owned(), top));
    for sub in cmd.get_subcommands() {
        let name = format!("rfsctl-{}", sub.get_name());
        let sub = sub.clone().name(name.clone()).version(cmd.get_version().unwrap_or_default().to_owned());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub).render(&mut page)?;
        out.push((format!("{name}.1"), page));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The committed pages are the generated ones.
    #[test]
    fn committed_pages_are_current() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Documentation/man");
        for (name, text) in pages().unwrap() {
            let have = std::fs::read(dir.join(&name)).unwrap_or_default();
            assert!(
                have == text,
                "Documentation/man/{name} is out of date: run `cargo run -p rfsctl -- man --dir Documentation/man`"
            );
        }
    }
}
