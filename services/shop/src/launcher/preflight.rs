//! Checks that MariaDB and Redis can be reached before anything is started, and says
//! plainly how to start them when they cannot.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{LaunchError, Result};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// `host:port` of a URL such as `mysql://root@127.0.0.1:3306`.
fn host_port(url: &str, default_port: u16) -> Result<String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| LaunchError::Preflight(format!("cannot parse URL {url:?}: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| LaunchError::Preflight(format!("URL {url:?} names no host")))?;
    Ok(format!("{host}:{}", parsed.port().unwrap_or(default_port)))
}

async fn connect(addr: &str) -> std::io::Result<TcpStream> {
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        )),
    }
}

/// MariaDB answers on the address of `mysql_url`.
pub async fn check_mysql(mysql_url: &str) -> Result<()> {
    let addr = host_port(mysql_url, 3306)?;
    connect(&addr).await.map(drop).map_err(|e| {
        LaunchError::Preflight(format!(
            "MariaDB is not reachable at {addr} ({e}).\n\
             Start it, for example:\n  \
             start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd\n\
             or point SHOP_MYSQL_URL at a running MariaDB/MySQL server."
        ))
    })
}

/// Redis answers PING on the address of `redis_url`.
pub async fn check_redis(redis_url: &str) -> Result<()> {
    let addr = host_port(redis_url, 6379)?;
    let plain = |e: String| {
        LaunchError::Preflight(format!(
            "Redis is not reachable at {addr} ({e}).\n\
             Start it, for example:\n  \
             redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no\n\
             or point REDIS_URL at a running Redis."
        ))
    };
    let mut stream = connect(&addr).await.map_err(|e| plain(e.to_string()))?;
    let mut reply = [0u8; 64];
    let exchange = async {
        stream.write_all(b"PING\r\n").await?;
        stream.read(&mut reply).await
    };
    let read = tokio::time::timeout(CONNECT_TIMEOUT, exchange)
        .await
        .map_err(|_| plain("no answer to PING".into()))?
        .map_err(|e| plain(e.to_string()))?;
    // An answer other than PONG (e.g. -NOAUTH) still means Redis runs; the services
    // will report authentication problems on their /health.
    if read == 0 {
        return Err(plain("connection closed".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_reads_the_url_and_fills_the_default_port() {
        assert_eq!(
            host_port("mysql://root@db.local", 3306).unwrap(),
            "db.local:3306"
        );
        assert_eq!(
            host_port("redis://127.0.0.1:6380", 6379).unwrap(),
            "127.0.0.1:6380"
        );
        assert!(host_port("not a url", 1).is_err());
    }

    #[tokio::test]
    async fn an_unreachable_mysql_is_reported_with_how_to_start_it() {
        // Port 1 on localhost refuses connections.
        let err = check_mysql("mysql://root@127.0.0.1:1").await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("MariaDB is not reachable at 127.0.0.1:1"),
            "{text}"
        );
        assert!(text.contains("start-stop-daemon"), "{text}");
    }

    #[tokio::test]
    async fn a_running_redis_passes_the_check() {
        check_redis("redis://127.0.0.1:6379").await.unwrap();
    }
}
