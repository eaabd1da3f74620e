//! Requests in flight together, for the tests of limits under concurrency.

use crate::Reply;
use std::sync::Barrier;

/// Runs `n` copies of `f` on their own threads, released together.
pub fn at_once(n: usize, f: impl Fn(usize) -> Reply + Sync) -> Vec<Reply> {
    let barrier = Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a request thread")).collect()
    })
}

/// The status and the `error` code of a reply.
pub fn error_of(reply: &Reply) -> (u16, String) {
    (reply.status, reply.json()["error"].as_str().unwrap_or("").to_owned())
}

/// A code that is not `code` (the next one, wrapping at 999999).
pub fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}
