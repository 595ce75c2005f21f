//! The helper on the system bus: it owns `com.nyantec.IGotChuu`, serves
//! the backup object, and republishes the run's events as signals and
//! properties.

mod authorize;
pub mod gate;
pub mod inhibit;
mod live;
mod object;
mod publisher;
mod throttle;

pub use gate::Gate;
pub use live::LiveState;
pub use object::{Control, StartRequest};
pub use publisher::{AttachError, NameRole, Publisher};
