//! Task keys: unique, readable names of tasks.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// The unique name of a task, e.g. `inc-3f2a9c01d4e5b6a7`.
///
/// Keys are readable on purpose: the part before the last `-` names the task's group
/// (usually its function), which the scheduler uses to learn typical durations and the
/// dashboard uses to colour bars. Cloning is cheap (a shared string).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey(Arc<str>);

impl TaskKey {
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The group a key belongs to: the text before its last `-` (the whole key if none).
    ///
    /// `inc-3f2a` → `inc`, `sql-q7/stage-2/part-5` → `sql-q7/stage-2/part`.
    pub fn group(&self) -> &str {
        self.0.rsplit_once('-').map_or(&self.0, |(group, _)| group)
    }
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl From<&str> for TaskKey {
    fn from(s: &str) -> Self {
        Self(Arc::from(s))
    }
}

impl From<String> for TaskKey {
    fn from(s: String) -> Self {
        Self(Arc::from(s))
    }
}

impl From<&String> for TaskKey {
    fn from(s: &String) -> Self {
        Self(Arc::from(s.as_str()))
    }
}

impl Borrow<str> for TaskKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_is_text_before_last_dash() {
        assert_eq!(TaskKey::from("inc-3f2a").group(), "inc");
        assert_eq!(TaskKey::from("sql-q7/stage-2/part-5").group(), "sql-q7/stage-2/part");
        assert_eq!(TaskKey::from("plain").group(), "plain");
    }
}
