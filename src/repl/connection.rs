//! The REPL's connection: a plain Flight SQL client, so it works with any Flight SQL
//! server.
//!
//! Statements go as `CommandStatementQuery`; results are read from every endpoint in
//! order, from the endpoint's own location when it names one (Dusk's workers) and from
//! the server otherwise, as a stream of batches. Server errors keep their gRPC message,
//! which is what a person needs to read.

use std::collections::HashMap;
use std::time::Duration;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::{Schema, SchemaRef};
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTables, CommandStatementQuery,
    ProstMessageExt, SqlInfo,
};
use arrow_flight::{FlightDescriptor, FlightInfo, HandshakeRequest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use tonic::Status;
use tonic::transport::Channel;

use crate::net::{self, DuskChannel};
use crate::security::Credentials;

/// Why talking to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The server could not be reached.
    #[error(transparent)]
    Connect(#[from] net::ConnectError),
    /// The server refused or failed a call; its message, as it said it.
    #[error("{}", .0.message())]
    Server(Status),
    /// A result did not decode.
    #[error("reading the result: {0}")]
    Decode(String),
}

impl ConnectionError {
    /// True when the server could not be reached or the connection broke mid-call.
    pub(crate) fn is_connection_lost(&self) -> bool {
        match self {
            ConnectionError::Connect(_) => true,
            ConnectionError::Server(status) => net::is_connection_lost(status),
            ConnectionError::Decode(_) => false,
        }
    }
}

impl From<Status> for ConnectionError {
    fn from(status: Status) -> Self {
        ConnectionError::Server(status)
    }
}

impl From<FlightError> for ConnectionError {
    fn from(e: FlightError) -> Self {
        match e {
            FlightError::Tonic(status) => ConnectionError::Server(*status),
            other => ConnectionError::Decode(other.to_string()),
        }
    }
}

/// Where and as whom to connect.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// `grpc://host:port`, or `grpc+tls://host:port` for TLS.
    pub url: String,
    /// Log in with this user (and `password`) through the handshake.
    pub user: Option<String>,
    /// The user's password.
    pub password: Option<String>,
    /// A bearer token to send instead of logging in.
    pub token: Option<String>,
    /// Certificates (PEM) to trust for TLS; the system's roots without them.
    pub tls_ca: Option<Vec<u8>>,
}

/// One table as the catalog calls describe it.
#[derive(Clone, Debug)]
pub(crate) struct TableInfo {
    pub(crate) catalog: String,
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) kind: String,
    /// Its columns, when asked for.
    pub(crate) columns: Option<SchemaRef>,
}

/// A result being read: its schema and its batches as they arrive.
pub(crate) struct ResultStream {
    pub(crate) schema: SchemaRef,
    pub(crate) batches: BoxStream<'static, Result<RecordBatch, ConnectionError>>,
}

/// Asks a Dusk scheduler how the cluster's tasks stand, for the progress line. Other
/// servers do not know the action; the probe then says nothing.
pub(crate) struct Probe {
    client: FlightServiceClient<DuskChannel>,
}

impl Probe {
    /// `stage 2/4 · tasks 37/120` for the newest running query, or (from a scheduler
    /// without query progress) the cluster's task counts; `None` when the server does
    /// not tell.
    pub(crate) async fn poll(&mut self) -> Option<String> {
        match self.query_progress().await {
            Some(line) => Some(line),
            None => self.cluster_tasks().await,
        }
    }

    async fn query_progress(&mut self) -> Option<String> {
        let body = self.action(dusk_flight::actions::QUERY_PROGRESS).await?;
        let progress: dusk_flight::query::QueryProgress =
            dusk_flight::envelope::decode_message(&body, "query progress").ok()?;
        let query = progress.queries.last()?;
        let stage = (query.stages_done + 1).min(query.stages);
        Some(format!("stage {stage}/{} · tasks {}/{}", query.stages, query.tasks_done, query.tasks))
    }

    async fn action(&mut self, kind: &str) -> Option<bytes::Bytes> {
        let action = arrow_flight::Action { r#type: kind.to_string(), body: Default::default() };
        let mut answers = self.client.do_action(action).await.ok()?.into_inner();
        Some(answers.next().await?.ok()?.body)
    }

    async fn cluster_tasks(&mut self) -> Option<String> {
        let body = self.action(dusk_flight::actions::CLUSTER_INFO).await?;
        let info: dusk_flight::messages::ClusterInfo =
            dusk_flight::envelope::decode_message(&body, "cluster info").ok()?;
        let count =
            |states: &[&str]| -> u64 { states.iter().filter_map(|s| info.tasks_by_state.get(*s)).sum() };
        let running = count(&["processing"]);
        let waiting = count(&["waiting", "queued", "no-worker"]);
        let done = count(&["memory"]);
        let workers = info.workers.len();
        let plural = if workers == 1 { "" } else { "s" };
        Some(format!("tasks: {running} running, {waiting} waiting, {done} done · {workers} worker{plural}"))
    }
}

/// A connection to one Flight SQL server.
pub(crate) struct Connection {
    options: ConnectOptions,
    client: FlightServiceClient<DuskChannel>,
    credentials: Credentials,
    /// Connections to endpoint locations, by URL.
    locations: HashMap<String, FlightServiceClient<DuskChannel>>,
}

impl Connection {
    /// Connects and, with a user, logs in.
    pub(crate) async fn open(options: ConnectOptions) -> Result<Self, ConnectionError> {
        let mut credentials = Credentials::default();
        if let Some(ca) = &options.tls_ca {
            credentials = credentials.with_tls_ca(ca.clone());
        }
        let channel = net::connect_channel(&options.url, &credentials).await?;
        net::check_speaks_grpc(&channel, &options.url).await?;
        let mut token = options.token.clone();
        if let Some(user) = &options.user {
            token = login(&channel, user, options.password.as_deref().unwrap_or_default()).await?.or(token);
        }
        if let Some(token) = &token {
            credentials = credentials.with_token(token.clone());
        }
        let client = client(channel, &credentials);
        Ok(Connection { options, client, credentials, locations: HashMap::new() })
    }

    /// Connects again as before (logging in again with a user), for a server that
    /// restarted.
    pub(crate) async fn reopen(&self) -> Result<Self, ConnectionError> {
        Connection::open(self.options.clone()).await
    }

    /// A probe for the progress line, on the same connection.
    pub(crate) fn probe(&self) -> Probe {
        Probe { client: self.client.clone() }
    }

    /// The URL connected to.
    pub(crate) fn url(&self) -> &str {
        &self.options.url
    }

    /// The user logged in as, if any.
    pub(crate) fn user(&self) -> Option<&str> {
        self.options.user.as_deref()
    }

    /// Runs one statement; its result streams from every endpoint in turn.
    pub(crate) async fn query(&mut self, sql: &str) -> Result<ResultStream, ConnectionError> {
        let command = CommandStatementQuery { query: sql.to_string(), transaction_id: None };
        let info = self.info(command.as_any().encode_to_vec()).await?;
        self.read(info).await
    }

    /// Every endpoint of `info`, in order, as one stream.
    async fn read(&mut self, info: FlightInfo) -> Result<ResultStream, ConnectionError> {
        let schema = match info.clone().try_decode_schema() {
            Ok(schema) => SchemaRef::new(schema),
            Err(_) => SchemaRef::new(Schema::empty()),
        };
        let mut sources = Vec::with_capacity(info.endpoint.len());
        for endpoint in info.endpoint {
            let ticket =
                endpoint.ticket.ok_or_else(|| ConnectionError::Decode("endpoint without a ticket".into()))?;
            let location = endpoint
                .location
                .first()
                .map(|l| l.uri.clone())
                .filter(|uri| !uri.starts_with("arrow-flight-reuse-connection:"));
            let client = match location {
                Some(uri) => self.location(&uri).await?,
                None => self.client.clone(),
            };
            sources.push((client, ticket));
        }
        let batches = futures::stream::iter(sources)
            .then(|(mut client, ticket)| async move {
                let frames = client.do_get(ticket).await?.into_inner();
                let frames = frames.map_err(|s| FlightError::Tonic(Box::new(s)));
                Ok::<_, ConnectionError>(
                    FlightRecordBatchStream::new_from_flight_data(frames).map_err(ConnectionError::from),
                )
            })
            .try_flatten()
            .boxed();
        Ok(ResultStream { schema, batches })
    }

    /// Reads a whole result.
    async fn collect(&mut self, command: Vec<u8>) -> Result<Vec<RecordBatch>, ConnectionError> {
        let info = self.info(command).await?;
        self.read(info).await?.batches.try_collect().await
    }

    async fn info(&mut self, command: Vec<u8>) -> Result<FlightInfo, ConnectionError> {
        let descriptor = FlightDescriptor::new_cmd(command);
        Ok(self.client.get_flight_info(descriptor).await?.into_inner())
    }

    async fn location(&mut self, uri: &str) -> Result<FlightServiceClient<DuskChannel>, ConnectionError> {
        if let Some(client) = self.locations.get(uri) {
            return Ok(client.clone());
        }
        let channel = net::connect_channel(uri, &self.credentials).await?;
        // Result tickets are their own proof; the server's token is not sent elsewhere.
        let location = client(channel, &Credentials::default());
        self.locations.insert(uri.to_string(), location.clone());
        Ok(location)
    }

    /// Tables whose name matches the `LIKE` pattern (all without one), with their
    /// columns when `columns` is set.
    pub(crate) async fn tables(
        &mut self,
        pattern: Option<&str>,
        columns: bool,
    ) -> Result<Vec<TableInfo>, ConnectionError> {
        let command = CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: None,
            table_name_filter_pattern: pattern.map(str::to_string),
            table_types: vec![],
            include_schema: columns,
        };
        let batches = self.collect(command.as_any().encode_to_vec()).await?;
        let mut tables = Vec::new();
        for batch in &batches {
            let text = |name: &str| strings(batch, name);
            let (catalogs, schemas, names, kinds) =
                (text("catalog_name"), text("db_schema_name"), text("table_name"), text("table_type"));
            let schema_bytes = batch
                .column_by_name("table_schema")
                .and_then(|c| c.as_any().downcast_ref::<arrow::array::BinaryArray>().cloned());
            for row in 0..batch.num_rows() {
                let columns = schema_bytes
                    .as_ref()
                    .filter(|a| !a.is_null(row))
                    .and_then(|a| dusk_flight::results::decode_schema(a.value(row)).ok());
                tables.push(TableInfo {
                    catalog: catalogs.get(row).cloned().unwrap_or_default(),
                    schema: schemas.get(row).cloned().unwrap_or_default(),
                    name: names.get(row).cloned().unwrap_or_default(),
                    kind: kinds.get(row).cloned().unwrap_or_default(),
                    columns,
                });
            }
        }
        Ok(tables)
    }

    /// The catalogs.
    pub(crate) async fn catalogs(&mut self) -> Result<Vec<String>, ConnectionError> {
        let batches = self.collect(CommandGetCatalogs {}.as_any().encode_to_vec()).await?;
        Ok(batches.iter().flat_map(|b| strings(b, "catalog_name")).collect())
    }

    /// The schemas, as (catalog, schema).
    pub(crate) async fn schemas(&mut self) -> Result<Vec<(String, String)>, ConnectionError> {
        let command = CommandGetDbSchemas { catalog: None, db_schema_filter_pattern: None };
        let batches = self.collect(command.as_any().encode_to_vec()).await?;
        Ok(batches
            .iter()
            .flat_map(|b| strings(b, "catalog_name").into_iter().zip(strings(b, "db_schema_name")))
            .collect())
    }

    /// The server's name and version, from `GetSqlInfo`.
    pub(crate) async fn server(&mut self) -> Result<String, ConnectionError> {
        let ids = vec![SqlInfo::FlightSqlServerName as u32, SqlInfo::FlightSqlServerVersion as u32];
        let batches = self.collect(CommandGetSqlInfo { info: ids }.as_any().encode_to_vec()).await?;
        let mut parts = Vec::new();
        for batch in &batches {
            let Some(values) = batch.column_by_name("value") else { continue };
            let options = arrow::util::display::FormatOptions::default();
            let formatter = arrow::util::display::ArrayFormatter::try_new(values.as_ref(), &options)
                .map_err(|e| ConnectionError::Decode(e.to_string()))?;
            for row in 0..batch.num_rows() {
                let text = formatter.value(row).to_string();
                // A dense union prints as `{<type>=<value>}`.
                let value = text.trim_matches(['{', '}']).split_once('=').map_or(text.as_str(), |(_, v)| v);
                parts.push(value.to_string());
            }
        }
        Ok(parts.join(" "))
    }
}

/// A Flight client on `channel` that shows `credentials`.
fn client(channel: Channel, credentials: &Credentials) -> FlightServiceClient<DuskChannel> {
    let channel = tonic::service::interceptor::InterceptedService::new(channel, credentials.interceptor());
    FlightServiceClient::new(channel)
        .max_decoding_message_size(crate::net::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(crate::net::MAX_MESSAGE_BYTES)
}

/// Logs in with Basic credentials; the token the server answers with, if any.
async fn login(channel: &Channel, user: &str, password: &str) -> Result<Option<String>, ConnectionError> {
    let mut flight = FlightServiceClient::new(channel.clone());
    let hello = HandshakeRequest { protocol_version: 0, payload: Default::default() };
    let mut request = tonic::Request::new(futures::stream::iter([hello]));
    let basic = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    let header = basic.parse().map_err(|_| ConnectionError::Decode("the user name cannot be sent".into()))?;
    request.metadata_mut().insert("authorization", header);
    request.set_timeout(Duration::from_secs(30));
    let response = flight.handshake(request).await?;
    let token = response
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::to_string);
    // Drain the answer so the call completes cleanly.
    let _ = response.into_inner().try_collect::<Vec<_>>().await;
    Ok(token)
}

/// The strings of column `name` (empty where it is missing or not a string).
fn strings(batch: &RecordBatch, name: &str) -> Vec<String> {
    let Some(column) = batch.column_by_name(name) else {
        return vec![String::new(); batch.num_rows()];
    };
    let Some(array) = column.as_any().downcast_ref::<StringArray>() else {
        return vec![String::new(); batch.num_rows()];
    };
    (0..array.len())
        .map(|i| if array.is_null(i) { String::new() } else { array.value(i).to_string() })
        .collect()
}
