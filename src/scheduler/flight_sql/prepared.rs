//! Prepared statements: planned once, bound with parameter rows, run many times.
//!
//! A handle names a statement's SQL text and its logical plan. Parameters arrive as
//! Arrow batches (`DoPut` on the handle), one row per execution; `executemany` sends
//! several rows. Values are cast to the types DataFusion inferred for the placeholders,
//! so a client sending a 64-bit integer for an `INT` column still binds. Statements a
//! client never closes are dropped after [`IDLE_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;

/// How long a prepared statement nobody uses is kept.
const IDLE_TTL: Duration = Duration::from_secs(3600);

/// One prepared statement.
#[derive(Clone)]
pub(crate) struct Prepared {
    /// The statement's text (with `?` markers numbered), kept for the catalog log.
    pub(crate) sql: String,
    /// Its plan, with placeholders.
    pub(crate) plan: LogicalPlan,
    /// Placeholder ids (`$1`, `$2`, ...) in order, with the types DataFusion inferred.
    pub(crate) parameters: Vec<(String, Option<DataType>)>,
    /// Parameter rows bound by the last `DoPut`, one execution each.
    pub(crate) bound: Option<Vec<Vec<ScalarValue>>>,
}

impl Prepared {
    /// Plans `sql`'s parameters: placeholders sorted by their number.
    pub(crate) fn new(sql: String, plan: LogicalPlan) -> Result<Self, DataFusionError> {
        let mut parameters: Vec<(String, Option<DataType>)> =
            plan.get_parameter_types()?.into_iter().collect();
        parameters.sort_by_key(|(id, _)| {
            (id.trim_start_matches('$').parse::<u64>().unwrap_or(u64::MAX), id.clone())
        });
        Ok(Prepared { sql, plan, parameters, bound: None })
    }

    /// The schema of the statement's result.
    pub(crate) fn dataset_schema(&self) -> SchemaRef {
        self.plan.schema().inner().clone()
    }

    /// The schema a client binds parameters with: one nullable column per placeholder,
    /// of its inferred type (`Null` where DataFusion could not tell).
    pub(crate) fn parameter_schema(&self) -> Schema {
        Schema::new(
            self.parameters
                .iter()
                .map(|(id, t)| Field::new(id, t.clone().unwrap_or(DataType::Null), true))
                .collect::<Vec<_>>(),
        )
    }

    /// The plans to run: one per bound parameter row, or the plan itself if it takes no
    /// parameters.
    pub(crate) fn executions(&self) -> Result<Vec<LogicalPlan>, DataFusionError> {
        match (&self.bound, self.parameters.is_empty()) {
            (_, true) => Ok(vec![self.plan.clone()]),
            (None, false) => Err(DataFusionError::Plan(format!(
                "the statement has {} parameter(s) but no values were bound",
                self.parameters.len()
            ))),
            (Some(rows), false) => rows.iter().map(|row| self.bind(row)).collect(),
        }
    }

    fn bind(&self, row: &[ScalarValue]) -> Result<LogicalPlan, DataFusionError> {
        if row.len() != self.parameters.len() {
            return Err(DataFusionError::Plan(format!(
                "the statement has {} parameter(s) but {} value(s) were bound",
                self.parameters.len(),
                row.len()
            )));
        }
        let values = row
            .iter()
            .zip(&self.parameters)
            .map(|(value, (_, wanted))| match wanted {
                Some(t) if value.data_type() != *t => value.cast_to(t),
                _ => Ok(value.clone()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.plan.clone().with_param_values(ParamValues::from(values))
    }
}

/// The rows of parameter batches, as scalars.
pub(crate) fn parameter_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<ScalarValue>>, DataFusionError> {
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|column| ScalarValue::try_from_array(column, row))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
    }
    Ok(rows)
}

/// The open prepared statements, by handle.
#[derive(Default)]
pub(crate) struct PreparedStatements {
    next: AtomicU64,
    open: Mutex<HashMap<Bytes, (Prepared, Instant)>>,
}

impl PreparedStatements {
    /// Keeps `prepared` and returns its handle.
    pub(crate) fn insert(&self, prepared: Prepared) -> Bytes {
        let handle = Bytes::from(format!("ps-{}", self.next.fetch_add(1, Ordering::Relaxed)));
        if let Ok(mut open) = self.open.lock() {
            let now = Instant::now();
            open.retain(|_, (_, used)| now.duration_since(*used) < IDLE_TTL);
            open.insert(handle.clone(), (prepared, now));
        }
        handle
    }

    /// A copy of the statement behind `handle`.
    pub(crate) fn get(&self, handle: &[u8]) -> Option<Prepared> {
        let mut open = self.open.lock().ok()?;
        let (prepared, used) = open.get_mut(handle)?;
        *used = Instant::now();
        Some(prepared.clone())
    }

    /// Binds parameter rows to the statement; false if there is no such statement.
    pub(crate) fn bind(&self, handle: &[u8], rows: Vec<Vec<ScalarValue>>) -> bool {
        let Ok(mut open) = self.open.lock() else { return false };
        let Some((prepared, used)) = open.get_mut(handle) else { return false };
        prepared.bound = Some(rows);
        *used = Instant::now();
        true
    }

    /// Forgets a statement.
    pub(crate) fn remove(&self, handle: &[u8]) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(handle);
        }
    }
}

/// The error for a handle that names no open statement.
pub(crate) fn unknown_handle(handle: &[u8]) -> tonic::Status {
    tonic::Status::not_found(format!(
        "no prepared statement {:?}: it was closed, expired or made by another scheduler",
        String::from_utf8_lossy(handle)
    ))
}
