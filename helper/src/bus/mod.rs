//! The helper on the system bus: it owns `com.nyantec.IGotChuu`, serves
//! the backup object (and its copy for users who are not administrators),
//! and republishes the run's events as signals and
//! properties. Start and Stop are polkit-checked, capped per caller, and
//! written to an audit log.

mod audit;
mod authorize;
pub mod browse;
pub mod browse_unit;
mod caller;
pub mod gate;
pub mod inhibit;
mod limits;
mod live;
mod object;
mod public;
mod publisher;
pub mod restore;
mod throttle;
mod timeout;

pub use gate::Gate;
pub use live::LiveState;
pub use object::{Control, Job, StartRequest};
pub use publisher::{release_name, AttachError, NameRole, Publisher};
