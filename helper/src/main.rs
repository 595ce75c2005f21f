//! `igotchuu`: consistent restic backups of btrfs subvolumes.

mod btrfs;
mod config;
mod exit;
mod restic;

fn main() {
    println!("igotchuu");
}
