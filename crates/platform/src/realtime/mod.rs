//! Realtime: the [`Hub`] of named topics, its Redis backplane, and the native WebSocket
//! [`gateway`] that modules' topics and commands are served through.

mod backplane;
pub mod gateway;
mod hub;
mod memo;

pub use backplane::attach as attach_backplane;
pub use gateway::{Bucket, CommandHandler, CommandTable, Gateway, Mode, TopicSocket};
pub use hub::{
    Connection, ENTRY_FRAMES, Ended, Frames, Hub, LocalLoad, QUEUE_CAPACITY, SubscribeError, TopicAuthorizer,
};
pub use memo::EntryMemo;
