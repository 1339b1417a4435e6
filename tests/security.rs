//! Authentication and TLS on real clusters: the Flight handshake trades a password for a
//! bearer token, calls without a valid token are refused with `Unauthenticated`, only
//! holders of the cluster secret join as workers or read results by key, and the whole
//! cluster (scheduler port and worker data planes) runs over TLS with a self-signed
//! certificate made in the test.

use arrow::array::RecordBatch;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt};
use arrow_flight::{FlightClient, FlightDescriptor, FlightInfo, Ticket};
use dusk::Client;
use dusk::config::{SchedulerConfig, WorkerConfig};
use dusk::security::{ClusterSecret, Credentials, Security, TlsIdentity, Users};
use dusk::testing::{ClusterSpec, LocalCluster};

use crate::support::register_tpch;
use futures::TryStreamExt;
use prost::Message;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PASSWORD: &str = "down-the-rabbit-hole";

/// A users file holding alice, loaded.
fn users(dir: &std::path::Path) -> Result<Users> {
    let path = dir.join("users");
    dusk::security::users::set_password(&path, "alice", PASSWORD)?;
    Ok(Users::load(&path)?)
}

/// A channel to `url` (`grpc://` or `grpc+tls://`), trusting `ca` for TLS.
async fn channel(url: &str, ca: Option<&[u8]>) -> Result<Channel> {
    let endpoint = match (url.strip_prefix("grpc+tls://"), ca) {
        (Some(rest), Some(ca)) => Endpoint::from_shared(format!("https://{rest}"))?
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))?,
        _ => Endpoint::from_shared(url.replace("grpc://", "http://"))?,
    };
    Ok(endpoint.connect().await?)
}

/// Reads every endpoint of `info`, from the workers (with no token: the signed ticket
/// is the proof) or from the scheduler.
async fn read_all(
    client: &mut FlightSqlServiceClient<Channel>,
    info: &FlightInfo,
    ca: Option<&[u8]>,
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for endpoint in &info.endpoint {
        let ticket = endpoint.ticket.clone().ok_or("endpoint without ticket")?;
        let batches: Vec<RecordBatch> = match endpoint.location.first() {
            Some(location) => {
                let mut worker = FlightClient::new(channel(&location.uri, ca).await?);
                worker.do_get(ticket).await?.try_collect().await?
            }
            None => client.do_get(ticket).await?.try_collect().await?,
        };
        out.extend(batches);
    }
    Ok(out)
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// The gRPC code of a failed Flight call.
fn code(e: &FlightError) -> Option<tonic::Code> {
    match e {
        FlightError::Tonic(status) => Some(status.code()),
        _ => None,
    }
}

/// Whether a `SELECT 1` through `url` gets an answer.
async fn answers(url: &str, ca: Option<&[u8]>) -> bool {
    match channel(url, ca).await {
        Ok(channel) => FlightClient::new(channel).get_flight_info(statement("SELECT 1")).await.is_ok(),
        Err(_) => false,
    }
}

fn statement(sql: &str) -> FlightDescriptor {
    let command = CommandStatementQuery { query: sql.into(), transaction_id: None };
    FlightDescriptor::new_cmd(command.as_any().encode_to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_gives_a_token_and_every_call_needs_one() -> Result {
    let dir = tempfile::tempdir()?;
    let secret = ClusterSecret::generate()?;
    let security =
        Security { secret: Some(secret.clone()), users: Some(users(dir.path())?), ..Default::default() };
    let mut spec = ClusterSpec::new(2, 1);
    spec.scheduler = SchedulerConfig { security, ..spec.scheduler };
    let cluster = LocalCluster::start_with(spec).await?;
    let url = cluster.url();
    let _data = register_tpch(&cluster.client().await?).await?;

    // No token, a garbage token: refused before anything runs.
    let mut anonymous = FlightClient::new(channel(&url, None).await?);
    let refused = anonymous.get_flight_info(statement("SELECT 1")).await.unwrap_err();
    assert_eq!(code(&refused), Some(tonic::Code::Unauthenticated), "{refused}");
    anonymous.add_header("authorization", "Bearer not-a-token")?;
    let refused = anonymous.get_flight_info(statement("SELECT 1")).await.unwrap_err();
    assert_eq!(code(&refused), Some(tonic::Code::Unauthenticated), "{refused}");
    assert!(refused.to_string().contains("not valid for this cluster"), "{refused}");

    // A wrong password gets no token.
    let mut sql = FlightSqlServiceClient::new(channel(&url, None).await?);
    let wrong = sql.handshake("alice", "guess").await.unwrap_err().to_string();
    assert!(wrong.contains("invalid user name or password"), "{wrong}");
    let unknown = sql.handshake("mallory", PASSWORD).await.unwrap_err().to_string();
    assert!(unknown.contains("invalid user name or password"), "{unknown}");

    // The right one does; with it, queries run and results come from the workers.
    let token = sql.handshake("alice", PASSWORD).await?;
    assert!(!token.is_empty(), "the handshake's payload is the token too");
    sql.set_header("x-dusk-results", "workers");
    let info = sql.execute("SELECT l_orderkey FROM lineitem".into(), None).await?;
    assert!(info.endpoint.iter().all(|e| !e.location.is_empty()), "results are read from the workers");
    let batches = read_all(&mut sql, &info, None).await?;
    assert_eq!(rows(&batches), 60_175);

    // A user's token does not let one read a worker's results by key.
    let worker_url = &info.endpoint[0].location[0].uri;
    let mut worker = FlightClient::new(channel(worker_url, None).await?);
    let user_token = String::from_utf8(token.to_vec())?;
    worker.add_header("authorization", &format!("Bearer {user_token}"))?;
    let fetch = dusk_flight::messages::FetchTicket { keys: vec!["anything".into()], bucket: None };
    let ticket = Ticket { ticket: dusk_flight::envelope::encode_message(&fetch) };
    let refused = worker.do_get(ticket).await.err().ok_or("a user read a worker's store by key")?;
    assert_eq!(code(&refused), Some(tonic::Code::Unauthenticated), "{refused}");

    // A Rust client needs the secret; a worker with another secret cannot join.
    let stranger = Client::connect_with(&url, Credentials::default()).await;
    assert!(stranger.is_err(), "a client without the cluster secret was let in");
    let mut config = WorkerConfig::new(url.clone());
    config.security = Security { secret: Some(ClusterSecret::generate()?), ..Default::default() };
    assert!(dusk::worker::Worker::start(config).await.is_err(), "a worker with a foreign secret joined");
    let client =
        Client::connect_with(&url, Security { secret: Some(secret), ..Default::default() }.credentials("t"))
            .await?;
    assert_eq!(client.cluster_info().await?.workers.len(), 2);

    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_runs_over_tls_with_a_self_signed_certificate() -> Result {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    let cert = certified.cert.pem().into_bytes();
    let key = certified.signing_key.serialize_pem().into_bytes();
    let security = Security {
        tls: Some(TlsIdentity::from_pem(cert.clone(), key)),
        tls_ca: Some(cert.clone().into()),
        ..Default::default()
    };
    let mut spec = ClusterSpec::new(2, 1);
    spec.scheduler = SchedulerConfig { security, ..spec.scheduler };
    let cluster = LocalCluster::start_with(spec).await?;
    let url = cluster.url();
    assert!(url.starts_with("grpc+tls://"), "{url}");
    let _data = register_tpch(&cluster.client().await?).await?;

    // Flight SQL over TLS, results from the workers' TLS data planes.
    let mut sql = FlightSqlServiceClient::new(channel(&url, Some(&cert)).await?);
    sql.set_header("x-dusk-results", "workers");
    let info = sql.execute("SELECT o_orderkey, o_comment FROM orders".into(), None).await?;
    for endpoint in &info.endpoint {
        assert!(
            endpoint.location.iter().all(|l| l.uri.starts_with("grpc+tls://")),
            "{:?}",
            endpoint.location
        );
    }
    assert_eq!(rows(&read_all(&mut sql, &info, Some(&cert)).await?), 15_000);

    // Plain text to a TLS port fails, and so does TLS that does not trust the certificate.
    let plain = url.replace("grpc+tls://", "grpc://");
    assert!(!answers(&plain, None).await, "the TLS port answered plain text");
    // `dusk sql` says so when it connects, and that is a usage error (exit code 2).
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dusk"))
        .args(["sql", &plain, "-c", "SELECT 1"])
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("did not answer as a plain gRPC server") && stderr.contains("grpc+tls://"),
        "{stderr}"
    );
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])?.cert.pem().into_bytes();
    assert!(!answers(&url, Some(&other)).await, "TLS trusted a certificate it was not given");

    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dusk_cert_makes_a_certificate_servers_serve_and_clients_trust() -> Result {
    let dir = tempfile::tempdir()?;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dusk"))
        .args(["cert", "--host", "localhost", "--host", "127.0.0.1", "--out"])
        .arg(dir.path())
        .output()
        .await?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let security = Security {
        tls: Some(dusk::security::tls::TlsFiles { cert: cert.clone(), key }.load()?),
        tls_ca: Some(std::fs::read(&cert)?.into()),
        ..Default::default()
    };
    let mut spec = ClusterSpec::new(1, 1);
    spec.scheduler = SchedulerConfig { security, ..spec.scheduler };
    let cluster = LocalCluster::start_with(spec).await?;
    let url = cluster.url();
    assert!(url.starts_with("grpc+tls://"), "{url}");

    // The client trusts exactly that certificate, by the flags `dusk cert` printed.
    let plain = url.replace("grpc+tls://", "grpc://");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dusk"))
        .args(["sql", "--tls", "--tls-ca"])
        .arg(&cert)
        .args([&plain, "--format", "csv", "-c", "SELECT 40 + 2 AS answer"])
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["answer", "42"]);
    cluster.shutdown().await;
    Ok(())
}
