//! Everything one end-to-end test needs, set up in one call and torn down
//! in the right order: the helper env (its temp dirs), then the wrapper
//! (killing any restic left), then the repository, then the filesystem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::ConfigSpec;
use crate::helper::HelperEnv;
use crate::mounts::{self, MountEntry};
use crate::repo::Repo;
use crate::wrapper::{ResticWrapper, WrapperOptions};
use crate::LoopBtrfs;

/// Size of the test filesystem.
pub const FS_MIB: u64 = 300;

// Field order is drop order.
pub struct Fixture {
    pub env: HelperEnv,
    pub wrapper: ResticWrapper,
    pub repo: Repo,
    pub fs: LoopBtrfs,
}

/// What to compare against after a run: nothing may be left over.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub subvolumes: Vec<String>,
    pub mounts: Vec<MountEntry>,
}

impl Fixture {
    /// A loop btrfs with a subvolume per name in `subvolumes`, an empty
    /// repository, a non-holding wrapper and a fresh state directory.
    pub fn new(subvolumes: &[&str]) -> Self {
        Self::with_wrapper(subvolumes, WrapperOptions::default())
    }

    pub fn with_wrapper(subvolumes: &[&str], options: WrapperOptions) -> Self {
        let fs = LoopBtrfs::new(FS_MIB);
        for s in subvolumes {
            fs.subvolume(s);
        }
        let repo = Repo::init();
        let wrapper = ResticWrapper::with(options);
        let env = HelperEnv::new(&wrapper);
        Fixture {
            env,
            wrapper,
            repo,
            fs,
        }
    }

    /// The absolute path of `rel` on the test filesystem.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.fs.path().join(rel)
    }

    /// A config backing up (and snapshotting) these subvolumes into the repository.
    pub fn spec(&self, places: &[&str]) -> ConfigSpec {
        let places: Vec<PathBuf> = places.iter().map(|p| self.path(p)).collect();
        ConfigSpec::for_repo(&self.repo, &places)
    }

    /// Writes files (relative path → contents) below the test filesystem.
    pub fn write_files(&self, files: &BTreeMap<&str, &str>) {
        for (rel, text) in files {
            write_file(&self.path(rel), text.as_bytes());
        }
    }

    pub fn baseline(&self) -> Baseline {
        Baseline {
            subvolumes: self.fs.list_subvolumes(),
            mounts: mounts::ours(),
        }
    }

    /// Asserts that the filesystem has exactly the subvolumes of `base`, and
    /// this test's namespace exactly its mounts.
    pub fn assert_clean(&self, base: &Baseline, after: &str) {
        assert_eq!(
            self.fs.list_subvolumes(),
            base.subvolumes,
            "subvolumes left behind after {after}"
        );
        assert_eq!(
            mounts::ours(),
            base.mounts,
            "the mount table changed after {after}"
        );
    }
}

/// Creates `path` (and its parent folders) with `bytes`.
pub fn write_file(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create folders");
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Bytes that do not compress or deduplicate.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ len as u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
