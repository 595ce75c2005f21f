//! `igotchuu check-config`.

use crate::cli::Cli;
use crate::exit;

pub fn check(cli: &Cli) -> u8 {
    match super::load_config(cli) {
        Ok(config) => {
            println!("# {} is valid. Effective settings:", cli.config.display());
            print!("{config}");
            exit::COMPLETED
        }
        Err(code) => code,
    }
}
