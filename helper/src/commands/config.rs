//! `igotchuu check-config`.

use std::io::Write;

use crate::cli::Cli;
use crate::exit;
use crate::i18n::{fill, gettext};

pub fn check(cli: &Cli) -> u8 {
    match super::load_config(cli) {
        Ok(config) => {
            // The settings themselves are TOML, keys and comments: English.
            let file = cli.config.display().to_string();
            // xgettext: The first line of `igotchuu check-config`, a TOML comment (keep the "# "); {file} is the configuration file.
            let head = gettext("# {file} is valid. Effective settings:");
            let text = format!("{}\n{config}", fill(&head, &[("file", &file)]));
            // Not print!: it panics when the reader has gone (`| head`).
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    super::fail(format!("cannot print the settings: {e}"))
                }
                _ => exit::COMPLETED,
            }
        }
        Err(code) => code,
    }
}
