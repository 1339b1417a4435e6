//! The scheduler's Flight SQL front end, driven with arrow-flight's own Flight SQL
//! client over real gRPC: statements, prepared statements with parameters, results
//! read from the workers with signed tickets, catalog calls, updates and errors.

use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetPrimaryKeys, CommandGetTables, SqlInfo};
use arrow_flight::{FlightClient, FlightInfo, Ticket};
use datafusion::prelude::SessionContext;
use dusk::testing::LocalCluster;
use dusk::tpch;
use futures::TryStreamExt;
use tonic::transport::Channel;

use crate::support::{eventually, register_tpch};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn channel(url: &str) -> Result<Channel> {
    let http = url.replace("grpc://", "http://");
    Ok(tonic::transport::Endpoint::from_shared(http)?.tcp_nodelay(true).connect().await?)
}

async fn sql_client(url: &str) -> Result<FlightSqlServiceClient<Channel>> {
    Ok(FlightSqlServiceClient::new(channel(url).await?))
}

/// Reads every endpoint of `info` the way ADBC does: from its location if it has one,
/// else from the server that answered. Checks each stream's schema against the info's.
async fn read_all(
    client: &mut FlightSqlServiceClient<Channel>,
    info: &FlightInfo,
) -> Result<Vec<RecordBatch>> {
    let announced = info.clone().try_decode_schema()?;
    let mut out = Vec::new();
    for endpoint in &info.endpoint {
        let ticket = endpoint.ticket.clone().ok_or("endpoint without ticket")?;
        let batches: Vec<RecordBatch> = match endpoint.location.first() {
            Some(location) => {
                let mut worker = FlightClient::new(channel(&location.uri).await?);
                worker.do_get(ticket).await?.try_collect().await?
            }
            None => client.do_get(ticket).await?.try_collect().await?,
        };
        for batch in &batches {
            assert_eq!(batch.schema().as_ref(), &announced, "DoGet must carry the announced schema");
        }
        out.extend(batches);
    }
    Ok(out)
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// A 2-worker cluster with TPC-H SF 0.01 registered.
async fn cluster() -> Result<(tempfile::TempDir, LocalCluster)> {
    let cluster = LocalCluster::start(2, 2).await?;
    let dir = register_tpch(&cluster.client().await?).await?;
    Ok((dir, cluster))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_run_and_results_come_back_with_their_schema() -> Result {
    let (_dir, cluster) = cluster().await?;
    let mut client = sql_client(&cluster.url()).await?;

    let info = client.execute("SELECT 1 AS one".into(), None).await?;
    assert_eq!(info.endpoint.len(), 1);
    let batches = read_all(&mut client, &info).await?;
    let one = batches[0].column(0).as_any().downcast_ref::<Int64Array>().ok_or("not int64")?;
    assert_eq!(one.value(0), 1);

    // A small result from the workers comes through the scheduler in one endpoint.
    let info = client.execute("SELECT count(*) AS n FROM lineitem".into(), None).await?;
    assert_eq!(info.endpoint.len(), 1);
    assert!(info.endpoint[0].location.is_empty());
    let batches = read_all(&mut client, &info).await?;
    let n = batches[0].column(0).as_any().downcast_ref::<Int64Array>().ok_or("not int64")?;
    assert!(n.value(0) > 50_000, "lineitem at SF 0.01 has about 60k rows");

    // An empty result still announces and streams its schema.
    let info = client
        .execute("SELECT l_orderkey, l_comment FROM lineitem WHERE l_orderkey < 0".into(), None)
        .await?;
    let schema = info.clone().try_decode_schema()?;
    assert_eq!(schema.fields().len(), 2);
    assert_eq!(rows(&read_all(&mut client, &info).await?), 0);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_read_from_the_workers_with_tickets_only_the_scheduler_can_sign() -> Result {
    let (dir, cluster) = cluster().await?;
    let mut client = sql_client(&cluster.url()).await?;
    client.set_header("x-dusk-results", "workers");
    let sql = "SELECT l_orderkey, l_partkey, l_comment FROM lineitem WHERE l_quantity > 10";
    let info = client.execute(sql.into(), None).await?;
    assert!(info.endpoint.len() > 1, "one endpoint per final partition: {}", info.endpoint.len());
    assert!(info.endpoint.iter().all(|e| !e.location.is_empty()), "every endpoint names a worker");
    let got = rows(&read_all(&mut client, &info).await?);

    let reference = SessionContext::new();
    for statement in tpch::create_tables(dir.path()) {
        reference.sql(&statement).await?.collect().await?;
    }
    let want = rows(&reference.sql(sql).await?.collect().await?);
    assert_eq!(got, want);

    // Once every partition has been read, the workers let the result go.
    let dusk = cluster.client().await?;
    eventually("the read result to be released", || async {
        let info = dusk.cluster_info().await.expect("cluster info");
        info.workers.iter().filter_map(|w| w.metrics.as_ref()).all(|m| m.managed_bytes == 0)
    })
    .await;

    // A ticket altered by one byte is refused by the worker.
    let endpoint = &info.endpoint[0];
    let mut forged = endpoint.ticket.clone().ok_or("no ticket")?.ticket.to_vec();
    let last = forged.len() - 40;
    forged[last] ^= 1;
    let mut worker = FlightClient::new(channel(&endpoint.location[0].uri).await?);
    let refused = match worker.do_get(Ticket::new(forged)).await {
        Ok(stream) => stream.try_collect::<Vec<_>>().await.err().map(|e| e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    let refused = refused.ok_or("a forged ticket was served")?;
    assert!(refused.contains("signature"), "{refused}");

    // A worker's ticket sent to the scheduler: refused with a message that says where
    // it belongs, not how its bytes failed to decode.
    let ticket = endpoint.ticket.clone().ok_or("no ticket")?;
    let mut scheduler = FlightClient::new(channel(&cluster.url()).await?);
    let refused = match scheduler.do_get(ticket).await {
        Ok(stream) => stream.try_collect::<Vec<_>>().await.err().map(|e| e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    let refused = refused.ok_or("the scheduler served a worker's ticket")?;
    assert!(refused.contains("not a Flight SQL ticket of this scheduler"), "{refused}");
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_bind_parameters_by_position() -> Result {
    let (_dir, cluster) = cluster().await?;
    let mut client = sql_client(&cluster.url()).await?;

    let mut statement =
        client.prepare("SELECT n_name FROM nation WHERE n_nationkey = ? OR n_name = ?".into(), None).await?;
    let params = statement.parameter_schema()?.clone();
    assert_eq!(params.fields().len(), 2);
    assert_eq!(params.field(0).data_type(), &DataType::Int64);
    let binding = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("0", DataType::Int64, true),
            Field::new("1", DataType::Utf8, true),
        ])),
        vec![Arc::new(Int64Array::from(vec![1])), Arc::new(StringArray::from(vec!["FRANCE"]))],
    )?;
    statement.set_parameters(binding)?;
    let info = statement.execute().await?;
    let batches = read_all(&mut client, &info).await?;
    let mut names: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let utf8 = arrow::compute::cast(b.column(0), &DataType::Utf8).expect("strings");
            let utf8 = utf8.as_any().downcast_ref::<StringArray>().expect("utf8").clone();
            utf8.iter().flatten().map(String::from).collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    assert_eq!(names, vec!["ARGENTINA".to_string(), "FRANCE".to_string()]);
    statement.close().await?;

    // `$1` with no type to infer takes the bound value's type.
    let mut statement = client.prepare("SELECT $1 + 1 AS x".into(), None).await?;
    let binding = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("0", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![41]))],
    )?;
    statement.set_parameters(binding)?;
    let info = statement.execute().await?;
    let batches = read_all(&mut client, &info).await?;
    let x = arrow::compute::cast(batches[0].column(0), &DataType::Int64)?;
    assert_eq!(x.as_any().downcast_ref::<Int64Array>().ok_or("int64")?.value(0), 42);

    // Running a statement with parameters but no values is an error, not a hang.
    let mut unbound = client.prepare("SELECT $1".into(), None).await?;
    let err = unbound.execute().await.err().ok_or("ran without values")?.to_string();
    assert!(err.contains("no values were bound"), "{err}");
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_calls_list_tables_with_their_schemas() -> Result {
    let (_dir, cluster) = cluster().await?;
    let mut client = sql_client(&cluster.url()).await?;

    let info = client.get_catalogs().await?;
    let catalogs = read_all(&mut client, &info).await?;
    assert!(rows(&catalogs) >= 1);

    let info =
        client.get_db_schemas(CommandGetDbSchemas { catalog: None, db_schema_filter_pattern: None }).await?;
    let schemas = read_all(&mut client, &info).await?;
    assert!(rows(&schemas) >= 1);

    let request = CommandGetTables {
        catalog: None,
        db_schema_filter_pattern: None,
        table_name_filter_pattern: Some("line%".into()),
        table_types: vec![],
        include_schema: true,
    };
    let info = client.get_tables(request).await?;
    let tables = read_all(&mut client, &info).await?;
    assert_eq!(rows(&tables), 1);
    let batch = &tables[0];
    let names = batch.column_by_name("table_name").ok_or("table_name")?;
    let names = names.as_any().downcast_ref::<StringArray>().ok_or("utf8")?;
    assert_eq!(names.value(0), "lineitem");
    let schema_col = batch.column_by_name("table_schema").ok_or("table_schema")?;
    let bytes = schema_col.as_any().downcast_ref::<arrow::array::BinaryArray>().ok_or("binary")?.value(0);
    let schema = Schema::try_from(arrow_flight::IpcMessage(bytes::Bytes::copy_from_slice(bytes)))?;
    assert!(schema.field_with_name("l_comment").is_ok());

    let info = client.get_sql_info(vec![]).await?;
    let infos = read_all(&mut client, &info).await?;
    let ids = infos[0].column(0).as_any().downcast_ref::<arrow::array::UInt32Array>().ok_or("uint32")?;
    for wanted in [
        SqlInfo::FlightSqlServerName,
        SqlInfo::FlightSqlServerArrowVersion,
        SqlInfo::FlightSqlServerReadOnly,
        SqlInfo::SqlIdentifierQuoteChar,
    ] {
        assert!(ids.iter().flatten().any(|id| id == wanted as u32), "{wanted:?} missing");
    }

    let info = client.get_table_types().await?;
    assert_eq!(rows(&read_all(&mut client, &info).await?), 3);
    let info = client
        .get_primary_keys(CommandGetPrimaryKeys { catalog: None, db_schema: None, table: "lineitem".into() })
        .await?;
    let keys = read_all(&mut client, &info).await?;
    assert_eq!(rows(&keys), 0);
    assert_eq!(info.try_decode_schema()?.field(2).name(), "table_name");
    let info =
        client.get_xdbc_type_info(arrow_flight::sql::CommandGetXdbcTypeInfo { data_type: None }).await?;
    assert!(rows(&read_all(&mut client, &info).await?) > 5);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_count_rows_and_errors_name_the_problem() -> Result {
    let (_dir, cluster) = cluster().await?;
    let mut client = sql_client(&cluster.url()).await?;

    client.execute_update("CREATE TABLE small (x BIGINT, s VARCHAR)".into(), None).await?;
    let inserted = client.execute_update("INSERT INTO small VALUES (1, 'a'), (2, 'b')".into(), None).await?;
    assert_eq!(inserted, 2);
    let mut insert = client.prepare("INSERT INTO small VALUES (?, ?)".into(), None).await?;
    let many = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("0", DataType::Int64, true),
            Field::new("1", DataType::Utf8, true),
        ])),
        vec![Arc::new(Int64Array::from(vec![3, 4, 5])), Arc::new(StringArray::from(vec!["c", "d", "e"]))],
    )?;
    insert.set_parameters(many)?;
    assert_eq!(insert.execute_update().await?, 3);
    let info = client.execute("SELECT count(*) FROM small".into(), None).await?;
    let batches = read_all(&mut client, &info).await?;
    let n = arrow::compute::cast(batches[0].column(0), &DataType::UInt64)?;
    assert_eq!(n.as_any().downcast_ref::<UInt64Array>().ok_or("u64")?.value(0), 5);

    let err = client.execute("SELEC 1".into(), None).await.err().ok_or("bad SQL ran")?;
    let text = err.to_string();
    assert!(text.contains("SELEC"), "{text}");
    assert!(text.contains("invalid argument"), "{text}");
    let err = client.execute("SELECT nope FROM lineitem".into(), None).await.err().ok_or("ran")?;
    assert!(err.to_string().contains("nope"), "{err}");

    let err = client.begin_transaction().await.err().ok_or("transactions are not supported")?;
    assert!(err.to_string().contains("transactions"), "{err}");

    // The scheduler keeps serving after all of that.
    let info = client.execute("SELECT 2".into(), None).await?;
    assert_eq!(rows(&read_all(&mut client, &info).await?), 1);
    cluster.shutdown().await;
    Ok(())
}

/// The calls the Flight SQL JDBC driver makes when DBeaver or DataGrip connects and
/// browses, replayed in its order; every answer must stream the schema its `FlightInfo`
/// announced (checked by `read_all`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jdbc_drivers_call_sequence_gets_consistent_answers() -> Result {
    use arrow_flight::sql::{CommandGetCrossReference, CommandGetExportedKeys, CommandGetImportedKeys};

    let (_dir, cluster) = cluster().await?;
    let mut client = sql_client(&cluster.url()).await?;
    // Connect: a handshake with the user's credentials (no authentication configured).
    client.handshake("dusk", "secret").await?;
    // One GetSqlInfo with no ids: every id the server supports.
    let info = client.get_sql_info(vec![]).await?;
    let infos = read_all(&mut client, &info).await?;
    assert!(rows(&infos) > 40, "GetSqlInfo returned only {} ids", rows(&infos));
    // getTables / getColumns with LIKE patterns.
    for (schema_pattern, table_pattern, want) in
        [(Some("pub%"), Some("%item"), 1), (None, Some("n_tion"), 1), (Some("nope"), None, 0)]
    {
        let request = CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: schema_pattern.map(String::from),
            table_name_filter_pattern: table_pattern.map(String::from),
            table_types: vec!["TABLE".into(), "VIEW".into()],
            include_schema: true,
        };
        let info = client.get_tables(request).await?;
        assert_eq!(rows(&read_all(&mut client, &info).await?), want, "{schema_pattern:?} {table_pattern:?}");
    }
    let info = client.get_table_types().await?;
    read_all(&mut client, &info).await?;
    let info = client.get_catalogs().await?;
    read_all(&mut client, &info).await?;
    let info = client
        .get_primary_keys(CommandGetPrimaryKeys { catalog: None, db_schema: None, table: "orders".into() })
        .await?;
    read_all(&mut client, &info).await?;
    let info = client
        .get_exported_keys(CommandGetExportedKeys { catalog: None, db_schema: None, table: "orders".into() })
        .await?;
    read_all(&mut client, &info).await?;
    let info = client
        .get_imported_keys(CommandGetImportedKeys {
            catalog: None,
            db_schema: None,
            table: "lineitem".into(),
        })
        .await?;
    read_all(&mut client, &info).await?;
    let info = client
        .get_cross_reference(CommandGetCrossReference {
            pk_catalog: None,
            pk_db_schema: None,
            pk_table: "orders".into(),
            fk_catalog: None,
            fk_db_schema: None,
            fk_table: "lineitem".into(),
        })
        .await?;
    assert_eq!(info.clone().try_decode_schema()?.fields().len(), 13);
    read_all(&mut client, &info).await?;
    let info =
        client.get_xdbc_type_info(arrow_flight::sql::CommandGetXdbcTypeInfo { data_type: None }).await?;
    read_all(&mut client, &info).await?;
    // Every statement is prepared, then executed; the prepared dataset schema is the
    // result's schema.
    for sql in [
        "SELECT o_orderkey, o_orderdate, o_totalprice FROM orders WHERE o_orderkey < 100",
        "SELECT count(*) AS n, max(l_shipdate) AS last FROM lineitem",
        "SHOW TABLES",
    ] {
        let mut statement = client.prepare(sql.into(), None).await?;
        let prepared = statement.dataset_schema()?.clone();
        let info = statement.execute().await?;
        let announced = info.clone().try_decode_schema()?;
        assert_eq!(announced.fields().len(), prepared.fields().len(), "{sql}");
        for (a, p) in announced.fields().iter().zip(prepared.fields()) {
            assert_eq!((a.name(), a.data_type()), (p.name(), p.data_type()), "{sql}");
        }
        read_all(&mut client, &info).await?;
        statement.close().await?;
    }
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_refuses_an_expired_ticket() -> Result {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || tpch::generate(0.01, &path, 2)).await??;
    let mut spec = dusk::testing::ClusterSpec::new(2, 1);
    spec.scheduler.result_ttl = std::time::Duration::from_millis(300);
    let cluster = LocalCluster::start_with(spec).await?;
    let dusk = cluster.client().await?;
    for statement in tpch::create_tables(dir.path()) {
        dusk.sql(&statement).await?;
    }
    let mut client = sql_client(&cluster.url()).await?;
    client.set_header("x-dusk-results", "workers");
    let info = client.execute("SELECT l_orderkey FROM lineitem".into(), None).await?;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let endpoint = info.endpoint.first().ok_or("no endpoint")?;
    let mut worker = FlightClient::new(channel(&endpoint.location[0].uri).await?);
    let ticket = endpoint.ticket.clone().ok_or("no ticket")?;
    let refused = match worker.do_get(ticket).await {
        Ok(stream) => stream.try_collect::<Vec<_>>().await.err().map(|e| e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    let refused = refused.ok_or("an expired ticket was served")?;
    assert!(refused.contains("expired"), "{refused}");
    cluster.shutdown().await;
    Ok(())
}

#[cfg(feature = "substrait")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn substrait_plans_run_like_the_sql_they_came_from() -> Result {
    use arrow_flight::sql::{CommandStatementSubstraitPlan, ProstMessageExt, SubstraitPlan};
    use prost::Message;

    let (dir, cluster) = cluster().await?;
    // DataFusion's own producer plans the query against the same tables in-process.
    let reference = SessionContext::new();
    for statement in tpch::create_tables(dir.path()) {
        reference.sql(&statement).await?.collect().await?;
    }
    let sql = "SELECT n_name, count(*) AS suppliers FROM nation JOIN supplier ON s_nationkey = n_nationkey \
               GROUP BY n_name ORDER BY suppliers DESC, n_name";
    let logical = reference.sql(sql).await?.into_optimized_plan()?;
    let plan = datafusion_substrait::logical_plan::producer::to_substrait_plan(&logical, &reference.state())?;
    let command = |plan: Vec<u8>| {
        let plan = SubstraitPlan { plan: plan.into(), version: String::new() };
        let command = CommandStatementSubstraitPlan { plan: Some(plan), transaction_id: None };
        arrow_flight::FlightDescriptor::new_cmd(command.as_any().encode_to_vec())
    };

    let mut flight = FlightClient::new(channel(&cluster.url()).await?);
    let info = flight.get_flight_info(command(plan.encode_to_vec())).await?;
    let mut client = sql_client(&cluster.url()).await?;
    let got = read_all(&mut client, &info).await?;
    let want = reference.sql(sql).await?.collect().await?;
    assert_eq!(
        arrow::util::pretty::pretty_format_batches(&got)?.to_string(),
        arrow::util::pretty::pretty_format_batches(&want)?.to_string()
    );

    // Bytes that are no plan: refused with a message that says so, and the server goes on.
    let refused = flight.get_flight_info(command(b"\x0a\xff\xff not a plan".to_vec())).await.unwrap_err();
    assert!(refused.to_string().contains("Substrait"), "{refused}");
    let info = client.execute("SELECT 1".into(), None).await?;
    assert_eq!(rows(&read_all(&mut client, &info).await?), 1);
    cluster.shutdown().await;
    Ok(())
}
