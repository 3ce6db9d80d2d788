//! The locks and condition variables of the semaphore, the queue, the shutdown and the IP
//! table: `std::sync`'s and `parking_lot`'s in every normal build, loom's models of them when
//! built with `RUSTFLAGS="--cfg loom"` for `tests/loom.rs`.
//!
//! loom runs a test's threads once for every way they can interleave at a lock, a condition
//! variable or an atomic, and fails with the interleaving that broke an assertion or left every
//! thread asleep. It can only see the synchronisation it models, so the files it checks take
//! their `Mutex` and `Condvar` from here. Read `crate::extras::sync::Mutex` as
//! `std::sync::Mutex`: in a normal build it is that very type. (`Arc` stays `std`'s: loom only
//! needs to see the locks.)

#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

/// `parking_lot`'s `Mutex` (the IP tables' lock), or under loom a model with its API.
pub(crate) mod parking_lot {
    #[cfg(not(loom))]
    pub(crate) use ::parking_lot::Mutex;

    /// A lock with `parking_lot`'s API (`lock()` returns the guard; no poisoning).
    #[cfg(loom)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    #[cfg(loom)]
    impl<T: Default> Default for Mutex<T> {
        fn default() -> Mutex<T> {
            Mutex::new(T::default())
        }
    }

    #[cfg(loom)]
    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }
}
