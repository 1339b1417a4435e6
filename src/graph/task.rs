//! Tasks: one unit of work with its inputs.

use bytes::Bytes;
use dusk_flight::messages::{Arg as WireArg, StageSpec, TaskSpec, arg};

use super::{Priority, Resources, TaskKey};

/// One argument of a call.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// A serde-encoded value given inline.
    Literal(Bytes),
    /// The result of another task.
    Key(TaskKey),
}

/// What a task runs.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskKind {
    /// A registered function called with its arguments.
    Call {
        /// Registered name.
        function: String,
        /// Arguments in order.
        args: Vec<Arg>,
    },
    /// One partition of a SQL query's stage; its key arguments are the producer tasks
    /// whose outputs it streams.
    Stage {
        /// The fragment and partition to run.
        stage: StageSpec,
        /// Producer tasks, as key arguments.
        args: Vec<Arg>,
    },
    /// Data a client placed on a worker: it has no lineage and cannot be recomputed.
    Scattered,
}

/// A unit of work as the scheduler tracks it.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Unique key.
    pub key: TaskKey,
    /// What to run.
    pub kind: TaskKind,
    /// Keys of the tasks whose results this one reads, without repeats.
    pub deps: Vec<TaskKey>,
    /// Run order among ready tasks.
    pub priority: Priority,
    /// What a run holds.
    pub resources: Resources,
    /// Failed runs retried before the task errs.
    pub retries: u32,
}

impl Task {
    /// Builds a task from its wire form; `generation` is the scheduler's submission counter.
    pub fn from_spec(spec: TaskSpec, generation: u64) -> Self {
        let args: Vec<Arg> = spec
            .args
            .into_iter()
            .map(|a| match a.value {
                Some(arg::Value::Key(k)) => Arg::Key(TaskKey::from(k)),
                Some(arg::Value::Literal(b)) => Arg::Literal(b),
                None => Arg::Literal(Bytes::new()),
            })
            .collect();
        let mut deps: Vec<TaskKey> = Vec::new();
        for a in &args {
            if let Arg::Key(k) = a
                && !deps.contains(k)
            {
                deps.push(k.clone());
            }
        }
        let kind = match spec.stage {
            Some(stage) => TaskKind::Stage { stage, args },
            None => TaskKind::Call { function: spec.function, args },
        };
        Task {
            key: TaskKey::from(spec.key),
            kind,
            deps,
            priority: Priority { user: spec.priority, generation, order: spec.order },
            resources: spec.resources.into_iter().collect(),
            retries: spec.retries,
        }
    }

    /// A record for data scattered by a client.
    pub fn scattered(key: TaskKey, generation: u64) -> Self {
        Task {
            key,
            kind: TaskKind::Scattered,
            deps: Vec::new(),
            priority: Priority { user: 0, generation, order: 0 },
            resources: Resources::none(),
            retries: 0,
        }
    }

    /// The function a call runs (`sql-stage` for a stage, empty for scattered data).
    pub fn function(&self) -> &str {
        match &self.kind {
            TaskKind::Call { function, .. } => function,
            TaskKind::Stage { .. } => "sql-stage",
            TaskKind::Scattered => "",
        }
    }

    /// The wire form sent to the worker that runs it.
    pub fn to_spec(&self) -> TaskSpec {
        let args = match &self.kind {
            TaskKind::Call { args, .. } | TaskKind::Stage { args, .. } => args
                .iter()
                .map(|a| WireArg {
                    value: Some(match a {
                        Arg::Literal(b) => arg::Value::Literal(b.clone()),
                        Arg::Key(k) => arg::Value::Key(k.to_string()),
                    }),
                })
                .collect(),
            TaskKind::Scattered => Vec::new(),
        };
        let (function, stage) = match &self.kind {
            TaskKind::Stage { stage, .. } => (String::new(), Some(stage.clone())),
            _ => (self.function().to_string(), None),
        };
        TaskSpec {
            key: self.key.to_string(),
            function,
            stage,
            args,
            priority: self.priority.user,
            retries: self.retries,
            resources: self.resources.to_map(),
            order: self.priority.order,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deps_come_from_key_args_without_repeats() {
        let spec = TaskSpec {
            key: "add-1".into(),
            function: "add".into(),
            args: vec![
                WireArg { value: Some(arg::Value::Key("x".into())) },
                WireArg { value: Some(arg::Value::Key("x".into())) },
                WireArg { value: Some(arg::Value::Literal(Bytes::from_static(&[2]))) },
            ],
            ..Default::default()
        };
        let task = Task::from_spec(spec.clone(), 7);
        assert_eq!(task.deps, vec![TaskKey::from("x")]);
        assert_eq!(task.priority.generation, 7);
        assert_eq!(task.to_spec(), spec);
    }
}
