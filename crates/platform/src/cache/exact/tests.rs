//! The rules of [`ExactCache`] and [`Coherence`](super::Coherence), one test per rule.

use super::*;

fn on() -> Coherence {
    Coherence::single_process()
}

#[test]
fn stores_answers_and_forgets() {
    let c = ExactCache::new(&on(), Duration::from_secs(60));
    c.put(c.epoch(), 1, "a");
    c.put(c.epoch(), 2, "b");
    assert_eq!(c.get(&1), Some("a"));
    c.invalidate(&1);
    assert_eq!(c.get(&1), None);
    c.invalidate_where(|_, v| *v == "b");
    assert_eq!(c.get(&2), None);
}

#[test]
fn a_read_that_raced_a_change_is_not_stored() {
    let c = ExactCache::new(&on(), Duration::from_secs(60));
    let epoch = c.epoch();
    c.invalidate(&1);
    c.put(epoch, 1, "stale");
    assert_eq!(c.get(&1), None);
}

#[test]
fn an_update_changes_a_fresh_entry_and_the_reads_under_way() {
    let c = ExactCache::new(&on(), Duration::from_secs(60));
    c.put(c.epoch(), 1, 10);
    let before = c.epoch();
    c.update(&1, |v| Some(v + 1));
    assert_eq!(c.get(&1), Some(11));
    // A read that began before the update stores what it read with the update done to it.
    c.put(before, 1, 20);
    assert_eq!(c.get(&1), Some(21));
    // An update that cannot say the new value forgets the entry; a missing one stays missing.
    c.update(&1, |_| None);
    assert_eq!(c.get(&1), None);
    c.update(&2, |v| Some(v + 1));
    assert_eq!(c.get(&2), None);
}

#[test]
fn a_read_that_raced_changes_of_other_keys_only_is_stored() {
    let c = ExactCache::new(&on(), Duration::from_secs(60));
    let epoch = c.epoch();
    c.invalidate(&2);
    c.update(&3, |v| Some(v + 1));
    c.put(epoch, 1, 10);
    assert_eq!(c.get(&1), Some(10));
    // An invalidation by a rule may have been about any key.
    let epoch = c.epoch();
    c.invalidate_where(|k, _| *k == 2);
    c.put(epoch, 4, 10);
    assert_eq!(c.get(&4), None);
    // Nor is a read stored whose key was updated to nothing meanwhile.
    let epoch = c.epoch();
    c.update(&5, |_| None);
    c.put(epoch, 5, 10);
    assert_eq!(c.get(&5), None);
}

#[test]
fn a_read_older_than_the_changes_remembered_is_not_stored() {
    let c = ExactCache::new(&on(), Duration::from_secs(60));
    let epoch = c.epoch();
    for key in 0..CHANGES_KEPT {
        c.invalidate(&(key + 2));
    }
    c.put(epoch, 1, "read during the last changes remembered");
    assert!(c.get(&1).is_some());
    let epoch = c.epoch();
    for key in 0..=CHANGES_KEPT {
        c.invalidate(&(key + 2));
    }
    c.put(epoch, 0, "read during one change more");
    assert_eq!(c.get(&0), None);
    assert_eq!(c.lock().changes.len(), CHANGES_KEPT, "no more are kept");
}

/// A load that counts itself, answers `value` and takes `delay`.
fn counted(
    loads: &Arc<std::sync::atomic::AtomicUsize>,
    value: u32,
    delay: Duration,
) -> impl std::future::Future<Output = Result<u32, ()>> + use<> {
    let loads = loads.clone();
    async move {
        loads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        Ok(value)
    }
}

/// A reader of key 1 on a task of its own, whose read (if it makes one) answers `value`
/// after `delay`.
fn reader(
    c: &Arc<ExactCache<u32, u32>>,
    loads: &Arc<std::sync::atomic::AtomicUsize>,
    value: u32,
    delay: Duration,
) -> tokio::task::JoinHandle<Result<u32, ()>> {
    let (c, loads) = (c.clone(), loads.clone());
    tokio::spawn(async move { c.get_or_load(1, || counted(&loads, value, delay)).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_that_miss_together_share_one_read() {
    let c = Arc::new(ExactCache::new(&on(), Duration::from_secs(60)));
    let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let readers: Vec<_> = (0..20)
        .map(|_| {
            let (c, loads) = (c.clone(), loads.clone());
            tokio::spawn(async move { c.get_or_load(1, || counted(&loads, 7, Duration::from_millis(50))).await })
        })
        .collect();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), Ok(7));
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert!(c.loads.lock().unwrap().is_empty(), "the turn is gone with its last reader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_not_stored_serves_those_who_came_before_it_began_and_no_one_else() {
    let c = Arc::new(ExactCache::new(&on(), Duration::from_secs(60)));
    let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let slow = Duration::from_millis(400);
    let first = reader(&c, &loads, 1, slow);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Came while the first read ran: that read may predate what this reader has seen.
    let second = reader(&c, &loads, 2, slow);
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.invalidate(&1);
    assert_eq!(first.await.unwrap(), Ok(1), "its own read");
    // The third comes while the second reads; nothing changes meanwhile, so the second's
    // read is stored, and the third is answered with it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = reader(&c, &loads, 3, slow);
    assert_eq!(second.await.unwrap(), Ok(2), "read again: the first was not stored");
    assert_eq!(third.await.unwrap(), Ok(2));
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    assert_eq!(c.get(&1), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_take_a_read_that_began_after_them_even_when_it_was_not_stored() {
    let c = Arc::new(ExactCache::new(&on(), Duration::from_secs(60)));
    let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let slow = Duration::from_millis(400);
    let first = reader(&c, &loads, 1, slow);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Two readers queue behind the first; the first's read is not stored.
    let queued: Vec<_> = (0..2)
        .map(|n| {
            let (c, loads) = (c.clone(), loads.clone());
            tokio::spawn(async move { c.get_or_load(1, || counted(&loads, 10 + n, slow)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.invalidate(&1);
    assert_eq!(first.await.unwrap(), Ok(1));
    // One of the two reads again (its read began after both came, and a change made while
    // it runs keeps it from being stored); the other takes that read instead of its own.
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.invalidate(&1);
    let answers: Vec<u32> = futures::future::join_all(queued).await.into_iter().map(|a| a.unwrap().unwrap()).collect();
    assert_eq!(answers[0], answers[1], "{answers:?}");
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    assert_eq!(c.get(&1), None, "neither read was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failed_read_those_who_came_before_it_read_at_once_not_one_after_another() {
    use std::sync::atomic::AtomicUsize;
    let c = Arc::new(ExactCache::new(&on(), Duration::from_secs(60)));
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let read = {
        let (running, most) = (running.clone(), most.clone());
        move |answer: Result<u32, ()>| {
            let (running, most) = (running.clone(), most.clone());
            async move {
                most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                answer
            }
        }
    };
    // A first read that is not stored, so that the readers queued behind it read again.
    let first = tokio::spawn({
        let (c, read) = (c.clone(), read.clone());
        async move { c.get_or_load(1, || read(Ok(1))).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut queued = Vec::new();
    for answer in [Err(()), Ok(2), Ok(3)] {
        let (c, read) = (c.clone(), read.clone());
        queued.push(tokio::spawn(async move { c.get_or_load(1, || read(answer)).await }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.invalidate(&1);
    assert_eq!(first.await.unwrap(), Ok(1));
    let answers: Vec<_> = futures::future::join_all(queued).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(answers, [Err(()), Ok(2), Ok(3)], "each read for itself after the failure");
    assert_eq!(most.load(Ordering::SeqCst), 2, "the two after the failure read side by side");
    assert!(c.loads.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_late_in_its_life_is_read_again_by_one_reader_while_the_others_are_answered() {
    let c = Arc::new(ExactCache::new(&on(), Duration::from_millis(4000)));
    let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    c.put(c.epoch(), 1, 1);
    assert_eq!(c.get_or_load(1, || counted(&loads, 2, Duration::ZERO)).await, Ok(1));
    assert_eq!(loads.load(Ordering::SeqCst), 0, "young: answered from the cache");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let refresher = tokio::spawn({
        let (c, loads) = (c.clone(), loads.clone());
        async move { c.get_or_load(1, || counted(&loads, 2, Duration::from_millis(300))).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(c.get_or_load(1, || counted(&loads, 3, Duration::ZERO)).await, Ok(1), "the others are answered");
    assert_eq!(refresher.await.unwrap(), Ok(2));
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    // Stored with a new life: still there after the old one would have ended.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(c.get(&1), Some(2));
}

#[test]
fn an_update_does_not_revive_an_expired_entry() {
    let c = ExactCache::new(&on(), Duration::from_millis(0));
    c.put(c.epoch(), 1, 10);
    c.update(&1, |v| Some(v + 1));
    assert_eq!(c.get(&1), None);
    assert!(c.lock().map.is_empty(), "the expired entry is forgotten");
}

#[test]
fn expired_entries_are_swept_out_as_new_keys_come() {
    let c = ExactCache::new(&on(), Duration::from_millis(0));
    for key in 0..10 * SWEEP_FLOOR {
        c.put(c.epoch(), key, ());
    }
    assert!(c.lock().map.len() <= SWEEP_FLOOR, "{} entries kept", c.lock().map.len());
    let fresh = ExactCache::new(&on(), Duration::from_secs(60));
    for key in 0..3 * SWEEP_FLOOR {
        fresh.put(fresh.epoch(), key, ());
    }
    assert_eq!(fresh.lock().map.len(), 3 * SWEEP_FLOOR, "live entries stay");
}

#[test]
fn entries_expire() {
    let c = ExactCache::new(&on(), Duration::from_millis(0));
    c.put(c.epoch(), 1, "a");
    assert_eq!(c.get(&1), None);
}

#[test]
fn shared_caches_answer_only_while_connected_and_never_serve_what_was_cached_before_a_gap() {
    let coherence = Coherence::shared();
    let c = ExactCache::new(&coherence, Duration::from_secs(60));
    c.put(c.epoch(), 1, "a");
    assert_eq!(c.get(&1), None, "off until the backplane is up");
    coherence.connected();
    c.put(c.epoch(), 1, "a");
    assert_eq!(c.get(&1), Some("a"));
    let before_gap = c.epoch();
    coherence.disconnected();
    assert_eq!(c.get(&1), None, "off while the backplane is down");
    coherence.connected();
    assert_eq!(c.get(&1), None, "announcements may have been missed during the gap");
    c.put(before_gap, 2, "read before the gap");
    assert_eq!(c.get(&2), None, "a read that spanned a gap is not stored");
}

#[test]
fn announcements_run_here_and_travel_to_the_other_instances() {
    let here = Coherence::shared();
    let there = Coherence::shared();
    here.connected();
    there.connected();
    let (cache_here, cache_there) = (
        Arc::new(ExactCache::new(&here, Duration::from_secs(60))),
        Arc::new(ExactCache::new(&there, Duration::from_secs(60))),
    );
    for (coherence, cache) in [(&here, &cache_here), (&there, &cache_there)] {
        let held = cache.clone();
        coherence.on("test.key", move |key| held.invalidate(&key.parse::<u32>().unwrap_or_default()));
        cache.put(cache.epoch(), 7, "v");
        cache.put(cache.epoch(), 8, "v");
    }
    let wire = Arc::new(Mutex::new(Vec::new()));
    let sent = wire.clone();
    here.set_publisher(move |payload| sent.lock().unwrap().push(payload));
    here.changed("test.key", "7");
    assert_eq!(cache_here.get(&7), None, "dropped here at once");
    assert_eq!(cache_there.get(&7), Some("v"), "not yet there");
    for payload in wire.lock().unwrap().drain(..) {
        there.received(&payload);
    }
    assert_eq!(cache_there.get(&7), None, "dropped there once the announcement arrived");
    assert_eq!(cache_there.get(&8), Some("v"), "other keys stay");
}
