//! The Flight SQL calls themselves: statements planned and run when their `FlightInfo`
//! is asked for, prepared statements, updates, ingestion, catalog calls, cancellation.

use std::pin::Pin;

use arrow::datatypes::SchemaRef;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionBeginSavepointRequest, ActionBeginSavepointResult, ActionBeginTransactionRequest,
    ActionBeginTransactionResult, ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, ActionCreatePreparedSubstraitPlanRequest, ActionEndSavepointRequest,
    ActionEndTransactionRequest, Any, CommandGetCatalogs, CommandGetCrossReference, CommandGetDbSchemas,
    CommandGetExportedKeys, CommandGetImportedKeys, CommandGetPrimaryKeys, CommandGetSqlInfo,
    CommandGetTableTypes, CommandGetTables, CommandGetXdbcTypeInfo, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementIngest, CommandStatementQuery,
    CommandStatementSubstraitPlan, CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt,
    SqlInfo, SubstraitPlan, TicketStatementQuery,
};
use arrow_flight::{
    Action, ActionType, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightData,
    FlightDescriptor, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket,
};
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use dusk_flight::query::SqlResult;
use dusk_flight::results::encode_schema;
use futures::{FutureExt, Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::results::{self, Delivery, arrow_status, flight_status};
use super::state::delivery;
use super::{metadata, prepared};
use crate::net::FlightStream;
use crate::scheduler::query::{IfExists, IfMissing, QueryError};
use crate::scheduler::service::SchedulerService;

/// The Flight `CancelFlightInfo` action.
const CANCEL_FLIGHT_INFO: &str = "CancelFlightInfo";

/// What an ingest does when the table is missing and when it exists. ADBC's modes:
/// create = (create, fail), append = (fail, append), replace = (create, replace),
/// create_append = (create, append).
fn ingest_modes(ticket: &CommandStatementIngest) -> Result<(IfMissing, IfExists), Status> {
    use arrow_flight::sql::{TableExistsOption, TableNotExistOption};
    let options = ticket.table_definition_options.unwrap_or_default();
    let if_missing = match TableNotExistOption::try_from(options.if_not_exist) {
        Ok(TableNotExistOption::Fail) => IfMissing::Fail,
        Ok(TableNotExistOption::Create | TableNotExistOption::Unspecified) => IfMissing::Create,
        Err(_) => {
            return Err(Status::invalid_argument(format!("unknown if_not_exist {}", options.if_not_exist)));
        }
    };
    let if_exists = match TableExistsOption::try_from(options.if_exists) {
        Ok(TableExistsOption::Append) => IfExists::Append,
        Ok(TableExistsOption::Replace) => IfExists::Replace,
        Ok(TableExistsOption::Fail | TableExistsOption::Unspecified) => IfExists::Fail,
        Err(_) => return Err(Status::invalid_argument(format!("unknown if_exists {}", options.if_exists))),
    };
    Ok((if_missing, if_exists))
}

fn no_transactions() -> Status {
    Status::unimplemented("Dusk does not support transactions: every statement takes effect on its own")
}

fn plan_error(e: DataFusionError) -> Status {
    Status::from(QueryError::from(e))
}

/// Runs a statement future, turning a panic while planning into an error for this
/// statement only (the scheduler keeps serving).
async fn guarded(
    statement: impl std::future::Future<Output = Result<SqlResult, QueryError>> + Send,
) -> Result<SqlResult, Status> {
    match std::panic::AssertUnwindSafe(statement).catch_unwind().await {
        Ok(result) => result.map_err(Status::from),
        Err(payload) => Err(Status::internal(format!(
            "planning the statement panicked: {}",
            crate::worker::panic_message(&*payload)
        ))),
    }
}

/// The rows a `DoPut` carries (parameters, ingested data), decoded, with their schema
/// (none if the client sent only the command).
async fn put_batches(
    request: Request<PeekableFlightDataStream>,
    what: &str,
) -> Result<(Option<SchemaRef>, Vec<arrow::array::RecordBatch>), Status> {
    // A client may send the command alone, in a message with no Arrow data.
    let frames = request
        .into_inner()
        .try_filter(|frame| futures::future::ready(!frame.data_header.is_empty()))
        .map_err(|s| FlightError::Tonic(Box::new(s)));
    let mut stream = FlightRecordBatchStream::new_from_flight_data(frames);
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        batches.push(batch.map_err(|e| Status::invalid_argument(format!("{what}: {e}")))?);
    }
    Ok((stream.schema().cloned(), batches))
}

/// The number in a DML answer's `count` column, or 0 for statements that count nothing.
fn affected_rows(batches: &[arrow::array::RecordBatch]) -> i64 {
    batches
        .iter()
        .filter_map(|b| b.column_by_name("count"))
        .filter_map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Int64).ok())
        .filter_map(|c| {
            c.as_any().downcast_ref::<arrow::array::Int64Array>().map(|a| a.iter().flatten().sum::<i64>())
        })
        .sum()
}

impl SchedulerService {
    /// The `FlightInfo` that reads finished statements, for the descriptor that asked.
    async fn answer(
        &self,
        results: Vec<SqlResult>,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let info = self.sql.results.deliver(&self.queries, results, delivery(&self.sql, &request)).await?;
        Ok(Response::new(info.with_descriptor(request.into_inner())))
    }

    /// Keeps a planned statement under a new handle and describes it to the client.
    fn open_prepared(
        &self,
        text: String,
        plan: LogicalPlan,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let prepared = prepared::Prepared::new(text, plan).map_err(plan_error)?;
        let dataset_schema = encode_schema(&prepared.dataset_schema()).map_err(arrow_status)?;
        let parameter_schema = encode_schema(&prepared.parameter_schema()).map_err(arrow_status)?;
        let handle = self.sql.prepared.insert(prepared);
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle,
            dataset_schema,
            parameter_schema,
        })
    }

    async fn run_prepared(&self, handle: &[u8]) -> Result<Vec<SqlResult>, Status> {
        let prepared = self.sql.prepared.get(handle).ok_or_else(|| prepared::unknown_handle(handle))?;
        let plans = prepared.executions().map_err(plan_error)?;
        let mut results = Vec::with_capacity(plans.len());
        for plan in plans {
            results.push(guarded(self.queries.execute_prepared(&prepared.sql, plan)).await?);
        }
        Ok(results)
    }

    /// Rows affected by finished statements, read from wherever their answers are.
    async fn count_rows(&self, results: Vec<SqlResult>) -> Result<i64, Status> {
        let info = self.sql.results.deliver(&self.queries, results, Delivery::Proxy).await?;
        let mut total = 0;
        for endpoint in info.endpoint {
            let Some(handle) = endpoint.ticket.as_ref().and_then(|t| results::held_handle(&t.ticket)) else {
                continue;
            };
            let batches: Vec<_> = FlightRecordBatchStream::new_from_flight_data(
                self.sql
                    .results
                    .stream(self.queries.clone(), &handle)?
                    .map_err(|s| FlightError::Tonic(Box::new(s))),
            )
            .try_collect()
            .await
            .map_err(flight_status)?;
            total += affected_rows(&batches);
        }
        Ok(total)
    }

    fn info_for_command(
        &self,
        schema: SchemaRef,
        command: impl ProstMessageExt,
    ) -> Result<FlightInfo, Status> {
        let ticket = Ticket::new(command.as_any().encode_to_vec());
        Ok(FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(arrow_status)?
            .with_endpoint(arrow_flight::FlightEndpoint::new().with_ticket(ticket))
            .with_ordered(true))
    }

    fn rows_stream(
        schema: SchemaRef,
        batch: Result<arrow::array::RecordBatch, Status>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        let batch = batch?;
        Ok(Response::new(results::encode(schema, futures::stream::once(async { Ok(batch) }))))
    }

    fn empty_stream(schema: SchemaRef) -> Result<Response<FlightStream<FlightData>>, Status> {
        Ok(Response::new(results::encode(schema, futures::stream::empty())))
    }

    fn cancel_flight_info(&self, body: &[u8]) -> Result<CancelFlightInfoResult, Status> {
        let request = CancelFlightInfoRequest::decode(body)
            .map_err(|e| Status::invalid_argument(format!("malformed CancelFlightInfoRequest: {e}")))?;
        let mut cancelled = false;
        for endpoint in request.info.map(|i| i.endpoint).unwrap_or_default() {
            let Some(ticket) = endpoint.ticket else { continue };
            if let Some(handle) = results::held_handle(&ticket.ticket) {
                cancelled |= self.sql.results.cancel(&self.queries, &handle);
            } else if let Ok(t) = self.sql.signer().verify(&ticket.ticket, dusk_flight::ticket::now_unix_ms())
            {
                for query in t.query.split(',') {
                    self.queries.close(query);
                }
                cancelled = true;
            }
        }
        let status = if cancelled { CancelStatus::Cancelled } else { CancelStatus::NotCancellable };
        Ok(CancelFlightInfoResult::new(status))
    }
}

/// What stands for a Substrait plan's text where a statement's SQL would go.
const SUBSTRAIT_TEXT: &str = "-- Substrait plan";

/// The serialized `substrait.Plan` of a Substrait command.
fn substrait_bytes(plan: Option<SubstraitPlan>) -> Result<bytes::Bytes, Status> {
    plan.map(|p| p.plan)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Status::invalid_argument("the Substrait command carries no plan"))
}

type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl FlightSqlService for SchedulerService {
    type FlightService = SchedulerService;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<HandshakeStream>, Status> {
        let token = self.sql.login.handshake(request.metadata())?;
        let payload = token.clone().unwrap_or_default().into();
        let reply = HandshakeResponse { protocol_version: 0, payload };
        let mut response = Response::new(futures::stream::once(async { Ok(reply) }).boxed());
        if let Some(header) = token.and_then(|t| format!("Bearer {t}").parse().ok()) {
            response.metadata_mut().insert("authorization", header);
        }
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        if query.transaction_id.is_some() {
            return Err(no_transactions());
        }
        let result = guarded(self.queries.execute(&query.query)).await?;
        self.answer(vec![result], request).await
    }

    async fn get_flight_info_substrait_plan(
        &self,
        query: CommandStatementSubstraitPlan,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        if query.transaction_id.is_some() {
            return Err(no_transactions());
        }
        let plan = self.queries.prepare_substrait(&substrait_bytes(query.plan)?).await?;
        let result = guarded(self.queries.execute_prepared(SUBSTRAIT_TEXT, plan)).await?;
        self.answer(vec![result], request).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let results = self.run_prepared(&cmd.prepared_statement_handle).await?;
        self.answer(results, request).await
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info_for_command(metadata::catalogs_schema(), query).map(Response::new)
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info_for_command(metadata::schemas_schema(), query).map(Response::new)
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info_for_command(metadata::tables_schema(&query), query).map(Response::new)
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info_for_command(metadata::table_types_schema(), query).map(Response::new)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info_for_command(self.sql.sql_info.schema(), query).map(Response::new)
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info_for_command(metadata::primary_keys_schema(), query).map(Response::new)
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info_for_command(metadata::foreign_keys_schema(), query).map(Response::new)
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info_for_command(metadata::foreign_keys_schema(), query).map(Response::new)
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info_for_command(metadata::foreign_keys_schema(), query).map(Response::new)
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.info_for_command(self.sql.xdbc.schema(), query).map(Response::new)
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        self.sql.results.stream(self.queries.clone(), &ticket.statement_handle).map(Response::new)
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        // Clients normally read the endpoints of the statement's FlightInfo; one that
        // sends the command itself gets the rows through the scheduler.
        let results = self.run_prepared(&query.prepared_statement_handle).await?;
        let info = self.sql.results.deliver(&self.queries, results, Delivery::Proxy).await?;
        let ticket = info.endpoint.first().and_then(|e| e.ticket.as_ref());
        let handle = ticket
            .and_then(|t| results::held_handle(&t.ticket))
            .ok_or_else(|| Status::internal("a proxied result has no handle"))?;
        self.sql.results.stream(self.queries.clone(), &handle).map(Response::new)
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        Self::rows_stream(metadata::catalogs_schema(), metadata::catalogs(self.queries.catalog(), query))
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        Self::rows_stream(metadata::schemas_schema(), metadata::schemas(self.queries.catalog(), query))
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        let schema = metadata::tables_schema(&query);
        Self::rows_stream(schema, metadata::tables(self.queries.catalog(), query).await)
    }

    async fn do_get_table_types(
        &self,
        _query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        Self::rows_stream(metadata::table_types_schema(), metadata::table_types())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        let batch = query.into_builder(&self.sql.sql_info).build().map_err(flight_status);
        Self::rows_stream(self.sql.sql_info.schema(), batch)
    }

    async fn do_get_primary_keys(
        &self,
        _query: CommandGetPrimaryKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        Self::empty_stream(metadata::primary_keys_schema())
    }

    async fn do_get_exported_keys(
        &self,
        _query: CommandGetExportedKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        Self::empty_stream(metadata::foreign_keys_schema())
    }

    async fn do_get_imported_keys(
        &self,
        _query: CommandGetImportedKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        Self::empty_stream(metadata::foreign_keys_schema())
    }

    async fn do_get_cross_reference(
        &self,
        _query: CommandGetCrossReference,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        Self::empty_stream(metadata::foreign_keys_schema())
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        let batch = query.into_builder(&self.sql.xdbc).build().map_err(flight_status);
        Self::rows_stream(self.sql.xdbc.schema(), batch)
    }

    async fn do_get_fallback(
        &self,
        _request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        Err(Status::invalid_argument(format!(
            "the ticket is not a Flight SQL ticket of this scheduler (it names {:?}): a ticket of an \
             endpoint with a location (a worker's result) is read from that location",
            message.type_url
        )))
    }

    async fn do_put_statement_update(
        &self,
        ticket: CommandStatementUpdate,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        if ticket.transaction_id.is_some() {
            return Err(no_transactions());
        }
        let result = guarded(self.queries.execute(&ticket.query)).await?;
        self.count_rows(vec![result]).await
    }

    async fn do_put_statement_ingest(
        &self,
        ticket: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        if ticket.transaction_id.is_some() {
            return Err(no_transactions());
        }
        let (if_missing, if_exists) = ingest_modes(&ticket)?;
        let name = match (ticket.catalog, ticket.schema) {
            (Some(catalog), Some(schema)) => TableReference::full(catalog, schema, ticket.table),
            (None, Some(schema)) => TableReference::partial(schema, ticket.table),
            _ => TableReference::bare(ticket.table),
        };
        let (schema, batches) = put_batches(request, "ingested batches").await?;
        let schema = schema.ok_or_else(|| Status::invalid_argument("ingest sent no schema and no rows"))?;
        let rows =
            self.queries.ingest(name, schema, batches, if_exists, if_missing).await.map_err(Status::from)?;
        Ok(rows as i64)
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let handle = query.prepared_statement_handle;
        let (_, batches) = put_batches(request, "parameter batches").await?;
        let rows = prepared::parameter_rows(&batches).map_err(plan_error)?;
        if !self.sql.prepared.bind(&handle, rows) {
            return Err(prepared::unknown_handle(&handle));
        }
        Ok(DoPutPreparedStatementResult { prepared_statement_handle: Some(handle) })
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let handle = query.prepared_statement_handle;
        let (_, batches) = put_batches(request, "parameter batches").await?;
        let rows = prepared::parameter_rows(&batches).map_err(plan_error)?;
        if !rows.is_empty() && !self.sql.prepared.bind(&handle, rows) {
            return Err(prepared::unknown_handle(&handle));
        }
        let results = self.run_prepared(&handle).await?;
        self.count_rows(results).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        if query.transaction_id.is_some() {
            return Err(no_transactions());
        }
        let sql = super::placeholders::number_question_marks(&query.query).into_owned();
        let plan: LogicalPlan = self.queries.prepare(&sql).await.map_err(Status::from)?;
        self.open_prepared(sql, plan)
    }

    async fn do_action_create_prepared_substrait_plan(
        &self,
        query: ActionCreatePreparedSubstraitPlanRequest,
        _request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        if query.transaction_id.is_some() {
            return Err(no_transactions());
        }
        let plan = self.queries.prepare_substrait(&substrait_bytes(query.plan)?).await?;
        self.open_prepared(SUBSTRAIT_TEXT.to_string(), plan)
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        self.sql.prepared.remove(&query.prepared_statement_handle);
        Ok(())
    }

    async fn do_action_begin_transaction(
        &self,
        _query: ActionBeginTransactionRequest,
        _request: Request<Action>,
    ) -> Result<ActionBeginTransactionResult, Status> {
        Err(no_transactions())
    }

    async fn do_action_end_transaction(
        &self,
        _query: ActionEndTransactionRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        Err(no_transactions())
    }

    async fn do_action_begin_savepoint(
        &self,
        _query: ActionBeginSavepointRequest,
        _request: Request<Action>,
    ) -> Result<ActionBeginSavepointResult, Status> {
        Err(no_transactions())
    }

    async fn do_action_end_savepoint(
        &self,
        _query: ActionEndSavepointRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        Err(no_transactions())
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<FlightStream<arrow_flight::Result>>, Status> {
        if request.get_ref().r#type == CANCEL_FLIGHT_INFO {
            let result = self.cancel_flight_info(&request.get_ref().body)?;
            let body = result.encode_to_vec().into();
            return Ok(Response::new(
                futures::stream::once(async { Ok(arrow_flight::Result { body }) }).boxed(),
            ));
        }
        self.dusk_action(request.into_inner()).await.map(Response::new)
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<ActionType, Status>>> {
        let mut actions = vec![Ok(ActionType {
            r#type: CANCEL_FLIGHT_INFO.into(),
            description: "Cancels a query and drops its result".into(),
        })];
        actions.extend(SchedulerService::dusk_action_types().into_iter().map(Ok));
        Some(actions)
    }

    async fn do_exchange_fallback(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<FlightStream<FlightData>>, Status> {
        self.exchange(request).await.map(Response::new)
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
