//! `igotchuu check-config`.

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
            println!("{}", fill(&head, &[("file", &file)]));
            print!("{config}");
            exit::COMPLETED
        }
        Err(code) => code,
    }
}
