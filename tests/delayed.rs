//! Delayed graphs: shared nodes run once, several outputs computed together.

use dusk::builtins::{add, double, inc};
use dusk::delayed;
use dusk::testing::LocalCluster;

use crate::support::{calls, counted};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diamond_graph_runs_its_shared_node_once() -> Result {
    let cluster = LocalCluster::start(2, 1).await?;
    let client = cluster.client().await?;
    let top = delayed(counted, (1001i64,));
    let left = delayed(inc, (&top,));
    let right = delayed(double, (&top,));
    let bottom = delayed(add, (&left, &right));
    assert_eq!(client.compute(&bottom).await?, 1002 + 2002);
    assert_eq!(calls("counted", 1001), 1);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compute_many_deduplicates_shared_subgraphs() -> Result {
    let cluster = LocalCluster::start(2, 1).await?;
    let client = cluster.client().await?;
    let shared = delayed(counted, (2002i64,));
    let a = delayed(inc, (&shared,));
    let b = delayed(double, (&shared,));
    let (ra, rb, rs) = client.compute_many((&a, &b, &shared)).await?;
    assert_eq!((ra, rb, rs), (2003, 4004, 2002));
    assert_eq!(calls("counted", 2002), 1);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_delayed_chain_computes_without_deep_recursion() -> Result {
    let cluster = LocalCluster::start(2, 1).await?;
    let client = cluster.client().await?;
    let mut x = delayed(inc, (0i64,));
    for _ in 1..2000 {
        x = delayed(inc, (&x,));
    }
    assert_eq!(client.compute(&x).await?, 2000);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_reduction_over_futures() -> Result {
    let cluster = LocalCluster::start(2, 2).await?;
    let client = cluster.client().await?;
    let mut level: Vec<_> = (0..256i64).map(|i| delayed(inc, (i,))).collect();
    while level.len() > 1 {
        level = level.chunks(2).map(|pair| delayed(add, (&pair[0], &pair[1]))).collect();
    }
    let expected: i64 = (1..=256).sum();
    assert_eq!(client.compute(&level[0]).await?, expected);
    cluster.shutdown().await;
    Ok(())
}
