//! Task priorities: which ready task runs first.

use std::cmp::{Ordering, Reverse};

/// Orders ready tasks: a smaller `Priority` runs first.
///
/// As in Dask: first the user's priority (higher first), then the graph's submission
/// generation (older graphs first, so work already started finishes before new work
/// starts), then the task's position in its graph (depth-first order, so a reduction
/// consumes its inputs soon after they exist and memory stays low).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Priority {
    /// User priority; higher runs first.
    pub user: i64,
    /// Submission generation assigned by the scheduler; lower runs first.
    pub generation: u64,
    /// Position within the submitted graph; lower runs first.
    pub order: u64,
}

impl Priority {
    fn sort_key(&self) -> (Reverse<i64>, u64, u64) {
        (Reverse(self.user), self.generation, self.order)
    }
}

impl Ord for Priority {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_priority_beats_generation_which_beats_order() {
        let p = |user, generation, order| Priority { user, generation, order };
        assert!(p(5, 9, 9) < p(0, 0, 0));
        assert!(p(0, 1, 9) < p(0, 2, 0));
        assert!(p(0, 1, 1) < p(0, 1, 2));
    }
}
