//! A local Redis Cluster of three masters for tests: `redis-server
//! --cluster-enabled yes` ×3 on free ports, each in its own directory, joined with
//! `redis-cli --cluster create`, stopped when dropped.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How long the cluster may take to form.
const FORM_TIMEOUT: Duration = Duration::from_secs(30);

/// Three masters, no replicas, covering all 16384 slots.
pub struct RedisCluster {
    ports: Vec<u16>,
    servers: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts the three servers and forms the cluster; panics (naming the step)
    /// when `redis-server` or `redis-cli` is missing or the cluster does not form.
    pub async fn start() -> RedisCluster {
        let dir = tempfile::tempdir().expect("a directory for the cluster");
        let ports = free_ports(3);
        let mut cluster = RedisCluster {
            ports: ports.clone(),
            servers: Vec::new(),
            _dir: dir,
        };
        for port in &ports {
            let node_dir = cluster._dir.path().join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("node directory");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
                .args(["--cluster-config-file", "nodes.conf"])
                .arg("--dir")
                .arg(&node_dir)
                .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts (is Redis installed?)");
            cluster.servers.push(child);
        }
        for port in &ports {
            wait_for(&format!("redis-server on {port}"), || async {
                redis_cli(*port, &["ping"])
                    .await
                    .is_some_and(|o| o.contains("PONG"))
            })
            .await;
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = tokio::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .await
            .expect("redis-cli runs");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        for port in &ports {
            wait_for(&format!("cluster_state:ok on {port}"), || async {
                redis_cli(*port, &["cluster", "info"])
                    .await
                    .is_some_and(|o| o.contains("cluster_state:ok"))
            })
            .await;
        }
        cluster
    }

    /// The `REDIS_URL` of the cluster: its nodes, separated by commas.
    pub fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

async fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    let output = tokio::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .await
        .ok()?;
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

async fn wait_for<F, Fut>(what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + FORM_TIMEOUT;
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` ports that are free, each with its cluster bus port (+10000) free too.
fn free_ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    while ports.len() < n {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        if port > 55_000 || ports.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            ports.push(port);
        }
    }
    ports
}
