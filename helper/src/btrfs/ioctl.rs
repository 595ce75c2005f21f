//! The raw btrfs ioctls this module uses, with argument structs laid out
//! exactly as in `include/uapi/linux/btrfs.h`, and thin safe wrappers.
//!
//! Callers must only pass descriptors of directories on btrfs: the ioctl
//! numbers are not unique across the kernel, and a device driver could
//! interpret the same number differently.

use std::mem::{offset_of, size_of};
use std::os::fd::{AsRawFd, BorrowedFd};

const BTRFS_IOCTL_MAGIC: u8 = 0x94;

/// `BTRFS_FIRST_FREE_OBJECTID`: the inode number of every subvolume's root.
pub const FIRST_FREE_OBJECTID: u64 = 256;
/// `BTRFS_VOL_NAME_MAX`: the longest name of a directory entry on btrfs.
pub const VOL_NAME_MAX: usize = 255;
/// `BTRFS_PATH_NAME_MAX`.
pub const PATH_NAME_MAX: usize = 4087;
/// `BTRFS_SUBVOL_NAME_MAX`.
pub const SUBVOL_NAME_MAX: usize = 4039;
/// `BTRFS_SUBVOL_RDONLY`: the read-only flag in `VolArgsV2.flags`.
pub const SUBVOL_RDONLY: u64 = 1 << 1;
/// `BTRFS_ROOT_SUBVOL_RDONLY` (btrfs_tree.h): the read-only flag of a root
/// item, which is what `GetSubvolInfoArgs.flags` holds (the kernel copies
/// `btrfs_root_flags()`), unlike `SUBVOL_RDONLY`.
pub const ROOT_SUBVOL_RDONLY: u64 = 1 << 0;
/// `BTRFS_MAX_ROOTREF_BUFFER_NUM`.
pub const MAX_ROOTREF_BUFFER_NUM: usize = 255;
/// `BTRFS_INO_LOOKUP_USER_PATH_MAX`.
pub const INO_LOOKUP_USER_PATH_MAX: usize = 4080 - VOL_NAME_MAX - 1;
const UUID_SIZE: usize = 16;

/// `struct btrfs_ioctl_vol_args` (SNAP_DESTROY).
#[repr(C)]
pub struct VolArgs {
    pub fd: i64,
    pub name: [u8; PATH_NAME_MAX + 1],
}

/// `struct btrfs_ioctl_vol_args_v2` (SNAP_CREATE_V2, SNAP_DESTROY_V2).
///
/// The two unions of the C struct are represented by their largest members
/// (`unused[4]` and `name`), which give them the same size and offset.
#[repr(C)]
pub struct VolArgsV2 {
    pub fd: i64,
    pub transid: u64,
    pub flags: u64,
    pub unused: [u64; 4],
    pub name: [u8; SUBVOL_NAME_MAX + 1],
}

/// `struct btrfs_ioctl_timespec`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Timespec {
    pub sec: u64,
    pub nsec: u32,
}

/// `struct btrfs_ioctl_get_subvol_info_args` (GET_SUBVOL_INFO).
#[repr(C)]
pub struct GetSubvolInfoArgs {
    pub treeid: u64,
    pub name: [u8; VOL_NAME_MAX + 1],
    pub parent_id: u64,
    pub dirid: u64,
    pub generation: u64,
    pub flags: u64,
    pub uuid: [u8; UUID_SIZE],
    pub parent_uuid: [u8; UUID_SIZE],
    pub received_uuid: [u8; UUID_SIZE],
    pub ctransid: u64,
    pub otransid: u64,
    pub stransid: u64,
    pub rtransid: u64,
    pub ctime: Timespec,
    pub otime: Timespec,
    pub stime: Timespec,
    pub rtime: Timespec,
    pub reserved: [u64; 8],
}

/// One entry of `btrfs_ioctl_get_subvol_rootref_args.rootref`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Rootref {
    /// The child subvolume's tree id.
    pub treeid: u64,
    /// The inode number, in the parent subvolume, of the directory holding it.
    pub dirid: u64,
}

/// `struct btrfs_ioctl_get_subvol_rootref_args` (GET_SUBVOL_ROOTREF).
#[repr(C)]
pub struct GetSubvolRootrefArgs {
    pub min_treeid: u64,
    pub rootref: [Rootref; MAX_ROOTREF_BUFFER_NUM],
    pub num_items: u8,
    pub align: [u8; 7],
}

/// `struct btrfs_ioctl_ino_lookup_user_args` (INO_LOOKUP_USER).
#[repr(C)]
pub struct InoLookupUserArgs {
    pub dirid: u64,
    pub treeid: u64,
    pub name: [u8; VOL_NAME_MAX + 1],
    pub path: [u8; INO_LOOKUP_USER_PATH_MAX],
}

// Sizes and offsets as measured with the C header (gcc, x86_64); the ioctl
// numbers encode the sizes, so a mismatch would be rejected by the kernel.
const _: () = assert!(size_of::<VolArgs>() == 4096);
const _: () = assert!(size_of::<VolArgsV2>() == 4096);
const _: () = assert!(offset_of!(VolArgsV2, name) == 56);
const _: () = assert!(size_of::<Timespec>() == 16);
const _: () = assert!(size_of::<GetSubvolInfoArgs>() == 504);
const _: () = assert!(offset_of!(GetSubvolInfoArgs, parent_id) == 264);
const _: () = assert!(offset_of!(GetSubvolInfoArgs, flags) == 288);
const _: () = assert!(offset_of!(GetSubvolInfoArgs, uuid) == 296);
const _: () = assert!(offset_of!(GetSubvolInfoArgs, parent_uuid) == 312);
const _: () = assert!(offset_of!(GetSubvolInfoArgs, ctransid) == 344);
const _: () = assert!(offset_of!(GetSubvolInfoArgs, ctime) == 376);
const _: () = assert!(offset_of!(GetSubvolInfoArgs, reserved) == 440);
const _: () = assert!(size_of::<GetSubvolRootrefArgs>() == 4096);
const _: () = assert!(offset_of!(GetSubvolRootrefArgs, num_items) == 4088);
const _: () = assert!(size_of::<InoLookupUserArgs>() == 4096);
const _: () = assert!(offset_of!(InoLookupUserArgs, path) == 272);
const _: () = assert!(VOL_NAME_MAX <= SUBVOL_NAME_MAX && VOL_NAME_MAX <= PATH_NAME_MAX);

// All fields are plain integers, so all-zero is a valid (and the documented
// initial) value; these constructors spell that out without `mem::zeroed`.
impl VolArgs {
    pub fn zeroed() -> Self {
        VolArgs {
            fd: 0,
            name: [0; PATH_NAME_MAX + 1],
        }
    }
}

impl VolArgsV2 {
    pub fn zeroed() -> Self {
        VolArgsV2 {
            fd: 0,
            transid: 0,
            flags: 0,
            unused: [0; 4],
            name: [0; SUBVOL_NAME_MAX + 1],
        }
    }
}

impl GetSubvolInfoArgs {
    pub fn zeroed() -> Self {
        let t = Timespec { sec: 0, nsec: 0 };
        GetSubvolInfoArgs {
            treeid: 0,
            name: [0; VOL_NAME_MAX + 1],
            parent_id: 0,
            dirid: 0,
            generation: 0,
            flags: 0,
            uuid: [0; UUID_SIZE],
            parent_uuid: [0; UUID_SIZE],
            received_uuid: [0; UUID_SIZE],
            ctransid: 0,
            otransid: 0,
            stransid: 0,
            rtransid: 0,
            ctime: t,
            otime: t,
            stime: t,
            rtime: t,
            reserved: [0; 8],
        }
    }
}

impl GetSubvolRootrefArgs {
    pub fn zeroed() -> Self {
        GetSubvolRootrefArgs {
            min_treeid: 0,
            rootref: [Rootref {
                treeid: 0,
                dirid: 0,
            }; MAX_ROOTREF_BUFFER_NUM],
            num_items: 0,
            align: [0; 7],
        }
    }
}

impl InoLookupUserArgs {
    pub fn zeroed() -> Self {
        InoLookupUserArgs {
            dirid: 0,
            treeid: 0,
            name: [0; VOL_NAME_MAX + 1],
            path: [0; INO_LOOKUP_USER_PATH_MAX],
        }
    }
}

mod raw {
    use super::*;

    nix::ioctl_write_ptr!(snap_destroy, BTRFS_IOCTL_MAGIC, 15, VolArgs);
    nix::ioctl_write_ptr!(snap_create_v2, BTRFS_IOCTL_MAGIC, 23, VolArgsV2);
    nix::ioctl_read!(get_subvol_info, BTRFS_IOCTL_MAGIC, 60, GetSubvolInfoArgs);
    nix::ioctl_readwrite!(
        get_subvol_rootref,
        BTRFS_IOCTL_MAGIC,
        61,
        GetSubvolRootrefArgs
    );
    nix::ioctl_readwrite!(ino_lookup_user, BTRFS_IOCTL_MAGIC, 62, InoLookupUserArgs);
    nix::ioctl_write_ptr!(snap_destroy_v2, BTRFS_IOCTL_MAGIC, 63, VolArgsV2);
}

/// `BTRFS_IOC_SNAP_DESTROY` on the parent directory `dir`.
pub fn snap_destroy(dir: BorrowedFd<'_>, args: &VolArgs) -> nix::Result<()> {
    // SAFETY: `dir` is an open descriptor; `args` is a valid, initialised
    // `btrfs_ioctl_vol_args` that the kernel only reads during the call.
    unsafe { raw::snap_destroy(dir.as_raw_fd(), args) }.map(drop)
}

/// `BTRFS_IOC_SNAP_CREATE_V2` on the destination's parent directory `dir`.
pub fn snap_create_v2(dir: BorrowedFd<'_>, args: &VolArgsV2) -> nix::Result<()> {
    // SAFETY: as for `snap_destroy`; `args.fd` is the caller's to keep open.
    unsafe { raw::snap_create_v2(dir.as_raw_fd(), args) }.map(drop)
}

/// `BTRFS_IOC_SNAP_DESTROY_V2` on the parent directory `dir`.
pub fn snap_destroy_v2(dir: BorrowedFd<'_>, args: &VolArgsV2) -> nix::Result<()> {
    // SAFETY: as for `snap_destroy`.
    unsafe { raw::snap_destroy_v2(dir.as_raw_fd(), args) }.map(drop)
}

/// `BTRFS_IOC_GET_SUBVOL_INFO` about the subvolume holding `fd`.
pub fn get_subvol_info(fd: BorrowedFd<'_>, args: &mut GetSubvolInfoArgs) -> nix::Result<()> {
    // SAFETY: `args` is an exclusively borrowed struct of exactly the size
    // encoded in the request number; the kernel writes only within it.
    unsafe { raw::get_subvol_info(fd.as_raw_fd(), args) }.map(drop)
}

/// `BTRFS_IOC_GET_SUBVOL_ROOTREF`: one batch of the subvolumes directly below
/// the subvolume holding `fd`. `EOVERFLOW` means more remain; the kernel still
/// fills `args` (including an advanced `min_treeid`) in that case.
pub fn get_subvol_rootref(fd: BorrowedFd<'_>, args: &mut GetSubvolRootrefArgs) -> nix::Result<()> {
    // SAFETY: as for `get_subvol_info`.
    unsafe { raw::get_subvol_rootref(fd.as_raw_fd(), args) }.map(drop)
}

/// `BTRFS_IOC_INO_LOOKUP_USER`: the name of subvolume `args.treeid` and the
/// path of directory `args.dirid` relative to the directory `fd`.
pub fn ino_lookup_user(fd: BorrowedFd<'_>, args: &mut InoLookupUserArgs) -> nix::Result<()> {
    // SAFETY: as for `get_subvol_info`.
    unsafe { raw::ino_lookup_user(fd.as_raw_fd(), args) }.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers nix computes from the structs must be the kernel's
    /// (hex values from the design notes and from the C header).
    #[test]
    fn btrfs_ioctl_numbers_match_the_kernel() {
        let m = BTRFS_IOCTL_MAGIC;
        // Request codes are 32 bits; the type is c_ulong on glibc, c_int on musl.
        let n = |x: nix::sys::ioctl::ioctl_num_type| x as u32;
        assert_eq!(
            n(nix::request_code_write!(m, 15, size_of::<VolArgs>())),
            0x5000_940f
        );
        assert_eq!(
            n(nix::request_code_write!(m, 23, size_of::<VolArgsV2>())),
            0x5000_9417
        );
        assert_eq!(
            n(nix::request_code_write!(m, 63, size_of::<VolArgsV2>())),
            0x5000_943f
        );
        assert_eq!(
            n(nix::request_code_read!(
                m,
                60,
                size_of::<GetSubvolInfoArgs>()
            )),
            0x81f8_943c
        );
        assert_eq!(
            n(nix::request_code_readwrite!(
                m,
                61,
                size_of::<GetSubvolRootrefArgs>()
            )),
            0xd000_943d
        );
        assert_eq!(
            n(nix::request_code_readwrite!(
                m,
                62,
                size_of::<InoLookupUserArgs>()
            )),
            0xd000_943e
        );
    }
}
