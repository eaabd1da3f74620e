//! Key-value operations counted per request, by kind, so the benchmark can show
//! what each step costs the store. With `UNLATCH_KV_STATS=1` the runner adds
//! them to every response as `unlatch-kv-ops: get=3 set=1 increment=1 atomic=1`
//! (`atomic` = increments + CAS swaps). Off by default: Spin adds no such header.

use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    Set,
    Delete,
    Exists,
    ListKeys,
    Increment,
    CasNew,
    CasCurrent,
    CasSwap,
    GetMany,
    SetMany,
    DeleteMany,
}

const NAMES: [&str; 12] = [
    "get",
    "set",
    "delete",
    "exists",
    "list-keys",
    "increment",
    "cas-new",
    "cas-current",
    "cas-swap",
    "get-many",
    "set-many",
    "delete-many",
];

/// The header the counts go in.
pub const HEADER: &str = "unlatch-kv-ops";

#[derive(Debug, Default)]
pub struct KvOps([AtomicU32; 12]);

impl KvOps {
    pub fn count(&self, op: Op) {
        self.0[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, op: Op) -> u32 {
        self.0[op as usize].load(Ordering::Relaxed)
    }

    /// The non-zero counts, then `atomic`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = NAMES
            .iter()
            .zip(&self.0)
            .map(|(name, n)| (name, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name}={n}"))
            .collect();
        parts.push(format!("atomic={}", self.get(Op::Increment) + self.get(Op::CasSwap)));
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_lists_what_happened_and_the_atomic_total() {
        let ops = KvOps::default();
        assert_eq!(ops.summary(), "atomic=0");
        for op in [Op::Get, Op::Get, Op::Increment, Op::CasCurrent, Op::CasSwap, Op::SetMany] {
            ops.count(op);
        }
        assert_eq!(ops.summary(), "get=2 increment=1 cas-current=1 cas-swap=1 set-many=1 atomic=2");
    }
}
