//! Bad input at the edges: garbage on a port, malformed frames, bad tickets. Each gets a
//! clear error (or a closed connection) and the cluster keeps serving.

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightData, FlightDescriptor, Ticket};
use bytes::Bytes;
use dusk::builtins::inc;
use dusk::testing::LocalCluster;
use tokio::io::AsyncWriteExt;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

async fn flight(url: &str) -> Result<FlightServiceClient<tonic::transport::Channel>> {
    let http = url.replace("grpc://", "http://");
    let channel = tonic::transport::Endpoint::from_shared(http)?.connect().await?;
    Ok(FlightServiceClient::new(channel))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_on_the_scheduler_port_do_not_hurt_it() -> Result {
    let cluster = LocalCluster::start(1, 1).await?;
    let addr = cluster.url().replace("grpc://", "");
    for junk in
        [&b"GET / HTTP/1.1\r\n\r\n"[..], &[0xff; 4096][..], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00"]
    {
        let mut socket = tokio::net::TcpStream::connect(&addr).await?;
        socket.write_all(junk).await?;
        socket.shutdown().await?;
    }
    let client = cluster.client().await?;
    assert_eq!(client.submit(inc, (1i64,))?.result().await?, 2);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_exchange_frames_are_rejected_by_name() -> Result {
    let cluster = LocalCluster::start(1, 1).await?;
    let mut scheduler = flight(&cluster.url()).await?;
    // No role in the first frame.
    let frame = FlightData { app_metadata: Bytes::from_static(b"\x01\x02"), ..Default::default() };
    let err = scheduler.do_exchange(futures::stream::iter(vec![frame])).await.expect_err("no role");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("role"), "{}", err.message());
    // A worker hello that is not protobuf.
    let frame = FlightData {
        flight_descriptor: Some(FlightDescriptor::new_path(vec!["worker".into()])),
        app_metadata: Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]),
        ..Default::default()
    };
    let err = scheduler.do_exchange(futures::stream::iter(vec![frame])).await.expect_err("garbage hello");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("worker hello"), "{}", err.message());
    // An unknown action.
    let action = arrow_flight::Action { r#type: "dusk.nonsense".into(), body: Bytes::new() };
    let err = scheduler.do_action(action).await.expect_err("unknown action");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    let client = cluster.client().await?;
    assert_eq!(client.submit(inc, (2i64,))?.result().await?, 3);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_answers_bad_tickets_with_clear_errors() -> Result {
    let cluster = LocalCluster::start(1, 1).await?;
    let client = cluster.client().await?;
    let info = client.cluster_info().await?;
    let mut worker = flight(&info.workers[0].data_addr).await?;
    let err = worker.do_get(Ticket { ticket: Bytes::from_static(&[0xff, 0xff]) }).await.expect_err("garbage");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("fetch ticket"), "{}", err.message());
    let ticket = dusk_flight::envelope::encode_message(&dusk_flight::messages::FetchTicket {
        keys: vec!["nope-1".into()],
        bucket: None,
    });
    let err = worker.do_get(Ticket { ticket }).await.expect_err("unknown key");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(err.message().contains("nope-1"), "{}", err.message());
    assert_eq!(client.submit(inc, (3i64,))?.result().await?, 4);
    cluster.shutdown().await;
    Ok(())
}
