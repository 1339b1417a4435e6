//! Memory pressure: results spill to disk and come back equal.

use bytes::Bytes;
use dusk::builtins::{byte_len, make_bytes};
use dusk::testing::{ClusterSpec, LocalCluster};

use crate::support::eventually;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_memory_limit_spills_and_results_stay_correct() -> Result {
    let mut spec = ClusterSpec::new(1, 1);
    spec.memory_limit_bytes = 2 << 20;
    let cluster = LocalCluster::start_with(spec).await?;
    let client = cluster.client().await?;
    let size = 64 * 1024u64;
    let blocks: Vec<_> = (0..64u8)
        .map(|seed| client.submit(make_bytes, (size, seed)))
        .collect::<std::result::Result<_, _>>()?;
    client.wait(&blocks).await;
    eventually("the worker to report spilled bytes", || async {
        let info = client.cluster_info().await.expect("cluster info");
        info.workers.iter().any(|w| w.metrics.as_ref().is_some_and(|m| m.spilled_bytes > 0))
    })
    .await;
    // Tasks read spilled inputs back transparently...
    let lens: Vec<_> =
        blocks.iter().map(|b| client.submit(byte_len, (b,))).collect::<std::result::Result<_, _>>()?;
    assert!(client.gather(&lens).await?.iter().all(|n| *n == size));
    // ...and so does gather.
    let values: Vec<Bytes> = client.gather(&blocks).await?;
    for (seed, value) in values.iter().enumerate() {
        let expected: Vec<u8> = (0..size).map(|i| (seed as u8).wrapping_add(i as u8)).collect();
        assert!(value.as_ref() == expected.as_slice(), "block {seed} differs after spilling");
    }
    cluster.shutdown().await;
    Ok(())
}
