//! A small Flight SQL server that is not Dusk: in-process DataFusion behind arrow-flight's
//! `FlightSqlService`, answering statements only. Tests run generic clients against it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt, SqlInfo, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A finished statement's schema and batches.
type Answer = (SchemaRef, Vec<RecordBatch>);

/// Statements run at `GetFlightInfo`; their batches wait here for the `DoGet`.
struct Plain {
    ctx: SessionContext,
    next: AtomicU64,
    results: Mutex<HashMap<Vec<u8>, Answer>>,
}

#[tonic::async_trait]
impl FlightSqlService for Plain {
    type FlightService = Plain;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let frame = self.ctx.sql(&query.query).await.map_err(|e| Status::invalid_argument(e.to_string()))?;
        let schema: SchemaRef = frame.schema().inner().clone();
        let batches = frame.collect().await.map_err(|e| Status::internal(e.to_string()))?;
        let handle = self.next.fetch_add(1, Ordering::Relaxed).to_string().into_bytes();
        if let Ok(mut results) = self.results.lock() {
            results.insert(handle.clone(), (schema.clone(), batches));
        }
        let ticket = TicketStatementQuery { statement_handle: handle.into() };
        let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()));
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(endpoint)
            .with_descriptor(request.into_inner());
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let taken = self.results.lock().ok().and_then(|mut r| r.remove(ticket.statement_handle.as_ref()));
        let (schema, batches) = taken.ok_or_else(|| Status::not_found("no such statement"))?;
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(futures::stream::iter(batches.into_iter().map(Ok)))
            .map_err(|e| Status::internal(e.to_string()));
        Ok(Response::new(stream.boxed()))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Starts the server on a free loopback port; returns its `grpc://` URL.
pub async fn start() -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = Plain { ctx: SessionContext::new(), next: AtomicU64::new(1), results: Mutex::default() };
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(FlightServiceServer::new(service))
            .serve_with_incoming(incoming),
    );
    Ok(format!("grpc://{addr}"))
}
