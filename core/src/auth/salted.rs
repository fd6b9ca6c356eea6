//! SCRAM's salted password, `Hi(password, salt, i)` = PBKDF2-HMAC with one block (RFC 5802
//! §2.2, RFC 8018 §5.2), computed off the runtime's I/O threads, stopped when the stage's
//! deadline passes, and cached per (hash, password, salt, iterations) as RFC 5802 §5.1 allows.
//!
//! Why our own loop and not `pbkdf2::pbkdf2_hmac`: the crate's call cannot be interrupted, and a
//! hostile server asking for a large iteration count must not keep a thread busy after the
//! Test or Send has already timed out. The loop is RFC 8018's for one block (SCRAM's key is one
//! hash long); a unit test checks it against the `pbkdf2` crate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use hmac::digest::{FixedOutput, KeyInit, Update};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::scram::Hash;
use crate::error::{Error, Result, Stage};

/// How many iterations run between two looks at the cancel flag (well under a millisecond).
const CHECK_EVERY: u32 = 1024;
/// Salted passwords kept (each a few dozen bytes, zeroized when evicted).
const CACHE_ENTRIES: usize = 16;

/// One derivation to make.
pub(crate) struct Derivation {
    pub(crate) hash: Hash,
    pub(crate) password: Zeroizing<String>,
    pub(crate) salt: Vec<u8>,
    pub(crate) iterations: u32,
}

/// `Hi()` with HMAC `M`, or `None` when `cancel` was set before it finished.
fn hi<M: Mac + KeyInit + Update + FixedOutput + Clone>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    cancel: &AtomicBool,
) -> Option<Zeroizing<Vec<u8>>> {
    let prf = <M as KeyInit>::new_from_slice(password).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    let mut u = Zeroizing::new(prf.clone().chain(salt).chain(1u32.to_be_bytes()).finalize_fixed().to_vec());
    let mut t = u.clone();
    for i in 1..iterations {
        if i % CHECK_EVERY == 0 && cancel.load(Ordering::Relaxed) {
            return None;
        }
        let next = prf.clone().chain(&u[..]).finalize_fixed();
        u.copy_from_slice(&next);
        t.iter_mut().zip(u.iter()).for_each(|(a, b)| *a ^= b);
    }
    Some(t)
}

/// The derivation, here and now (for the synchronous path: tests and fuzzing).
pub(crate) fn derive_now(d: &Derivation) -> Zeroizing<Vec<u8>> {
    let never = AtomicBool::new(false);
    compute(d, &never).unwrap_or_else(|| unreachable!("not cancelled"))
}

fn compute(d: &Derivation, cancel: &AtomicBool) -> Option<Zeroizing<Vec<u8>>> {
    match d.hash {
        Hash::Sha1 => hi::<Hmac<Sha1>>(d.password.as_bytes(), &d.salt, d.iterations, cancel),
        Hash::Sha256 => hi::<Hmac<Sha256>>(d.password.as_bytes(), &d.salt, d.iterations, cancel),
    }
}

/// Sets the flag when dropped: the caller's future was dropped (the stage timed out), so the
/// blocking thread stops at its next look.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The derivation, from the cache or on tokio's blocking pool (never on an I/O thread). Dropping
/// the future stops the computation.
pub(crate) async fn derive(d: Derivation) -> Result<Zeroizing<Vec<u8>>> {
    let key = cache_key(&d)?;
    if let Some(hit) = cache_get(&key) {
        return Ok(hit);
    }
    if tokio::runtime::Handle::try_current().is_err() {
        // Polled outside tokio (another executor): no blocking pool to hand the work to.
        let salted = derive_now(&d);
        cache_put(key, &salted);
        return Ok(salted);
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancel.clone());
    let salted = tokio::task::spawn_blocking(move || compute(&d, &cancel))
        .await
        .map_err(|e| Error::internal(format!("the SCRAM key derivation failed: {e}")).with_stage(Stage::Auth))?
        .ok_or_else(|| Error::internal("the SCRAM key derivation was cancelled").with_stage(Stage::Auth))?;
    cache_put(key, &salted);
    Ok(salted)
}

// ---- the cache ----------------------------------------------------------------------------

type Key = [u8; 32];

struct Cache {
    /// A per-process random key: the cache's keys are HMACs, not hashes anyone could match.
    mac_key: [u8; 32],
    /// Most recently used first.
    entries: Mutex<Vec<(Key, Zeroizing<Vec<u8>>)>>,
}

fn cache() -> Result<&'static Cache> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    if let Some(c) = CACHE.get() {
        return Ok(c);
    }
    let mac_key = super::random_bytes::<32>()?;
    Ok(CACHE.get_or_init(|| Cache { mac_key: *mac_key, entries: Mutex::new(Vec::new()) }))
}

fn entries(c: &Cache) -> std::sync::MutexGuard<'_, Vec<(Key, Zeroizing<Vec<u8>>)>> {
    c.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn cache_key(d: &Derivation) -> Result<Key> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&cache()?.mac_key).unwrap_or_else(|_| unreachable!());
    Mac::update(&mut mac, &[d.hash as u8]);
    Mac::update(&mut mac, &d.iterations.to_be_bytes());
    Mac::update(&mut mac, &(d.salt.len() as u64).to_be_bytes());
    Mac::update(&mut mac, &d.salt);
    Mac::update(&mut mac, d.password.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

fn cache_get(key: &Key) -> Option<Zeroizing<Vec<u8>>> {
    let mut e = entries(cache().ok()?);
    let at = e.iter().position(|(k, _)| k == key)?;
    let entry = e.remove(at);
    let value = entry.1.clone();
    e.insert(0, entry);
    Some(value)
}

fn cache_put(key: Key, salted: &Zeroizing<Vec<u8>>) {
    let Ok(c) = cache() else { return };
    let mut e = entries(c);
    e.retain(|(k, _)| *k != key);
    e.insert(0, (key, salted.clone()));
    e.truncate(CACHE_ENTRIES);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn d(hash: Hash, pw: &str, salt: &[u8], iterations: u32) -> Derivation {
        Derivation { hash, password: Zeroizing::new(pw.into()), salt: salt.to_vec(), iterations }
    }

    #[test]
    fn matches_the_pbkdf2_crate() {
        for (pw, salt, i) in
            [("pencil", &b"salt"[..], 1), ("pencil", b"QSXCR+Q6sek8bf92", 4096), ("", b"x", 2), ("p", b"s", 1025)]
        {
            let mut want = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(pw.as_bytes(), salt, i, &mut want);
            assert_eq!(&derive_now(&d(Hash::Sha256, pw, salt, i))[..], &want[..], "{pw} {i}");
            let mut want = [0u8; 20];
            pbkdf2::pbkdf2_hmac::<Sha1>(pw.as_bytes(), salt, i, &mut want);
            assert_eq!(&derive_now(&d(Hash::Sha1, pw, salt, i))[..], &want[..], "{pw} {i}");
        }
    }

    #[test]
    fn a_cancelled_derivation_stops() {
        let cancel = AtomicBool::new(true);
        let x = d(Hash::Sha256, "pw", b"salt", 1_000_000);
        let start = std::time::Instant::now();
        assert!(compute(&x, &cancel).is_none());
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn outside_tokio_the_derivation_runs_in_place() {
        let x = d(Hash::Sha1, "no runtime", b"salt", 4096);
        let want = derive_now(&x);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let polled = std::pin::pin!(derive(x)).poll(&mut cx);
        assert!(matches!(polled, std::task::Poll::Ready(Ok(ref got)) if *got == want));
    }

    #[tokio::test]
    async fn derivations_are_cached_and_a_dropped_one_stops_its_thread() {
        let x = || d(Hash::Sha256, "cache-me", b"unique salt for this test", 5000);
        let first = derive(x()).await.unwrap();
        assert!(cache_get(&cache_key(&x()).unwrap()).is_some());
        assert_eq!(derive(x()).await.unwrap(), first);
        // A huge count, given up after 50 ms: the future returns at once and is not cached.
        let big = || d(Hash::Sha256, "cache-me", b"another salt", u32::MAX);
        let r = tokio::time::timeout(std::time::Duration::from_millis(50), derive(big())).await;
        assert!(r.is_err());
        assert!(cache_get(&cache_key(&big()).unwrap()).is_none());
    }
}
