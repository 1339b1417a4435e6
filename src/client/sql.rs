//! SQL from the Rust client: statements run on the cluster, results come from workers.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use dusk_flight::actions;
use dusk_flight::query::{QueryId, SqlRequest, SqlResult};

use super::{Client, ClientError};

/// The rows of one statement, with their schema (which an empty result still has).
#[derive(Debug, Clone)]
pub struct SqlOutput {
    /// The result's schema.
    pub schema: SchemaRef,
    /// The rows, in result order.
    pub batches: Vec<RecordBatch>,
}

impl SqlOutput {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

impl Client {
    /// Runs one SQL statement on the cluster and returns its rows.
    ///
    /// The scheduler plans it against its catalog and runs its stages on the workers;
    /// the result partitions stream from the workers holding them, in order. DDL
    /// (`CREATE EXTERNAL TABLE`, `CREATE VIEW`, `DROP TABLE`, ...) changes the catalog all
    /// clients share.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), dusk::ClientError> {
    /// let client = dusk::Client::connect("grpc://127.0.0.1:8786").await?;
    /// let out = client.sql("SELECT count(*) FROM lineitem").await?;
    /// println!("{} rows", out.num_rows());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn sql(&self, sql: &str) -> Result<SqlOutput, ClientError> {
        self.run_statement(SqlRequest { sql: sql.to_string(), ..Default::default() }).await
    }

    /// Runs a DataFusion logical plan (datafusion-proto bytes) on the cluster.
    pub(crate) async fn run_plan(&self, plan: bytes::Bytes) -> Result<SqlOutput, ClientError> {
        self.run_statement(SqlRequest { plan, ..Default::default() }).await
    }

    async fn run_statement(&self, request: SqlRequest) -> Result<SqlOutput, ClientError> {
        let result: SqlResult = self.shared.action(actions::SQL, &request, "sql result").await?;
        let fetched = self.read_result(&result).await;
        if !result.partitions.is_empty() {
            let close = QueryId { query: result.query.clone() };
            // The result is read (or unreadable): either way the workers may drop it.
            let _: Result<(), ClientError> = self.shared.action(actions::SQL_CLOSE, &close, "close").await;
        }
        fetched
    }

    async fn read_result(&self, result: &SqlResult) -> Result<SqlOutput, ClientError> {
        let inline = StreamReader::try_new(std::io::Cursor::new(result.inline.as_ref()), None)
            .map_err(|e| ClientError::Result { query: result.query.clone(), message: e.to_string() })?;
        let schema = inline.schema();
        let mut batches = inline
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ClientError::Result { query: result.query.clone(), message: e.to_string() })?;
        for (index, partition) in result.partitions.iter().enumerate() {
            let direct = match partition.addrs.first() {
                Some(addr) => self.shared.data.fetch_batches(addr, &partition.key).await.ok(),
                None => None,
            };
            match direct {
                Some(part) => batches.extend(part),
                None => {
                    // A holder left (or was cut off) after the query finished: follow the
                    // rest of the result to wherever the scheduler keeps or remakes it.
                    let rest = &result.partitions[index..];
                    batches.extend(self.relocated_partitions(rest).await?);
                    break;
                }
            }
        }
        Ok(SqlOutput { schema, batches })
    }

    /// Fetches result partitions through this client's own session: it holds their keys
    /// while it reads, so the scheduler reports where each lives now (recomputing one
    /// whose only holder left), and a fetch that fails waits for the new location.
    async fn relocated_partitions(
        &self,
        partitions: &[dusk_flight::query::ResultPartition],
    ) -> Result<Vec<RecordBatch>, ClientError> {
        let keys: Vec<crate::graph::TaskKey> =
            partitions.iter().map(|p| crate::graph::TaskKey::from(p.key.clone())).collect();
        let held: Vec<super::KeyRef> =
            keys.iter().map(|k| super::KeyRef::new(k.clone(), self.shared.clone())).collect();
        self.shared.send(dusk_flight::messages::ClientUpdate {
            want: partitions.iter().map(|p| p.key.clone()).collect(),
            ..Default::default()
        });
        let mut fetched = super::gather::gather_batches(&self.shared, &keys).await?;
        drop(held);
        let mut out = Vec::new();
        for key in &keys {
            out.extend(fetched.remove(key).unwrap_or_default());
        }
        Ok(out)
    }
}
