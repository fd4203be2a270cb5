//! x
pub use hearsay_proto as proto;
