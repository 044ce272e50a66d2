//! Translations of hub entries shared by every connection of a transport: an entry delivered
//! to a thousand sockets that speak another format (the seed's room socket, socket.io) is
//! parsed (and, for the room socket, re-encoded) once, not a thousand times, and each socket
//! looks it up once per entry, not once per frame.

use super::{ENTRY_FRAMES, Frames};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Hub frames remembered, in whole entries: those in flight to a transport's sockets at once,
/// with room to spare. A batch of chat messages is one entry of up to [`ENTRY_FRAMES`] frames,
/// and so is a run of events that arrived together from another instance; most other events
/// are one frame each. Were an entry forgotten while sockets still deliver it, each would
/// translate it again. Counting frames, not entries, bounds the memory alike for both kinds.
const REMEMBERED: usize = 4 * ENTRY_FRAMES;

/// Entries and their translations, newest last. Cheap to clone (one shared memo).
pub struct EntryMemo<T>(Arc<Mutex<Memo<T>>>);

impl<T> Clone for EntryMemo<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Default for EntryMemo<T> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Memo { entries: VecDeque::new(), frames: 0 })))
    }
}

struct Memo<T> {
    entries: VecDeque<(Frames, T)>,
    /// Hub frames in `entries`.
    frames: usize,
}

impl<T: Clone> Memo<T> {
    fn find(&self, entry: &Frames) -> Option<T> {
        // Newest first: the entry being delivered is almost always the last one.
        self.entries.iter().rev().find(|(known, _)| Arc::ptr_eq(known, entry)).map(|(_, t)| t.clone())
    }
}

impl<T: Clone> EntryMemo<T> {
    /// The translation of `entry`, made by `translate` (outside the lock) the first time.
    pub fn get(&self, entry: &Frames, translate: impl FnOnce(&Frames) -> T) -> T {
        // The memo holds each entry it knows, so its allocation is not freed and reused while
        // it is here: the same pointer is the same entry.
        if let Some(known) = self.lock().find(entry) {
            return known;
        }
        let translated = translate(entry);
        let mut memo = self.lock();
        // Another socket may have translated it meanwhile: one record per entry.
        if let Some(known) = memo.find(entry) {
            return known;
        }
        memo.frames += entry.len();
        memo.entries.push_back((entry.clone(), translated.clone()));
        while memo.frames > REMEMBERED && memo.entries.len() > 1 {
            if let Some((old, _)) = memo.entries.pop_front() {
                memo.frames -= old.len();
            }
        }
        translated
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memo<T>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::Utf8Bytes;

    fn entry(n: usize) -> Frames {
        (0..n).map(|i| Utf8Bytes::from(format!("f{i}"))).collect()
    }

    #[test]
    fn an_entry_is_translated_once_and_the_memo_holds_a_bounded_number_of_frames() {
        let memo = EntryMemo::<usize>::default();
        let calls = std::cell::Cell::new(0);
        let count = |e: &Frames| {
            calls.set(calls.get() + 1);
            e.len()
        };
        let three = entry(3);
        assert_eq!(memo.get(&three, count), 3);
        assert_eq!(memo.get(&three.clone(), count), 3);
        assert_eq!(calls.get(), 1, "the same entry (pointer) is translated once");
        // Equal frames in another entry are another delivery.
        memo.get(&entry(3), count);
        assert_eq!(calls.get(), 2);
        // One-frame entries are remembered by the frame, and a wide entry in whole.
        for _ in 0..2 * REMEMBERED {
            memo.get(&entry(1), count);
            let frames = memo.lock().frames;
            assert!(frames <= REMEMBERED, "{frames}");
            assert_eq!(frames, memo.lock().entries.iter().map(|(e, _)| e.len()).sum::<usize>());
        }
        assert_eq!(memo.len(), REMEMBERED);
        memo.get(&entry(ENTRY_FRAMES), count);
        assert!(memo.lock().frames <= REMEMBERED);
        // Forgotten, an entry is translated again.
        let before = calls.get();
        memo.get(&three, count);
        assert_eq!(calls.get(), before + 1);
    }
}
