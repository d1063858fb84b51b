//! MariaDB and Redis for `shop up` when none answers at the configured URLs: if their
//! server binaries are installed, a private instance of each is started here (data
//! under `<data dir>/mariadb` and `<data dir>/redis`, a free port of its own on
//! 127.0.0.1, logs beside the others) and stopped with the rest; if they are not
//! installed, the error says how to install them. With `external`, only the
//! configured servers will do.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    time::Duration,
};

use sqlx::{Connection, MySqlConnection};

use super::{ChildProcess, LaunchError, Result, SystemConfig, check_mysql, check_redis};

/// Where server binaries are looked for besides `PATH`: Debian and Ubuntu keep
/// `mariadbd` in /usr/sbin (not on a normal user's PATH), Fedora in /usr/libexec,
/// Homebrew in /opt/homebrew/bin (Apple silicon) or /usr/local/bin (Intel).
const SERVER_DIRS: [&str; 6] = [
    "/usr/sbin",
    "/usr/local/sbin",
    "/usr/libexec",
    "/usr/local/bin",
    "/opt/homebrew/bin",
    "/opt/homebrew/sbin",
];

/// How long a private server may take to answer after it was started (MariaDB's
/// first start initialises InnoDB files).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The private servers `shop up` started; empty when the configured ones answered.
#[derive(Default)]
pub struct PrivateServers {
    mariadb: Option<ChildProcess>,
    redis: Option<ChildProcess>,
    /// One line per private server, for the welcome text.
    pub notes: Vec<String>,
}

impl PrivateServers {
    /// Makes sure MariaDB and Redis answer for `config`: the configured servers when
    /// they do, else private ones (and `config`'s URLs then point at them). With
    /// `external`, a configured server that does not answer is an error.
    pub async fn ensure(config: &mut SystemConfig, external: bool) -> Result<PrivateServers> {
        let mut servers = PrivateServers::default();
        let result = servers.ensure_both(config, external).await;
        match result {
            Ok(()) => Ok(servers),
            Err(e) => {
                servers.stop().await;
                Err(e)
            }
        }
    }

    async fn ensure_both(&mut self, config: &mut SystemConfig, external: bool) -> Result<()> {
        let mysql = check_mysql(&config.mysql_url).await.err();
        let redis = check_redis(&config.redis_url).await.err();
        if external {
            let problems: Vec<String> = [mysql, redis]
                .into_iter()
                .flatten()
                .map(|e| e.to_string())
                .collect();
            if problems.is_empty() {
                return Ok(());
            }
            return Err(LaunchError::Preflight(format!(
                "{}\n(--external: shop up uses only the configured servers; without it, \
                 it starts private ones when they are installed.)",
                problems.join("\n")
            )));
        }
        let mariadb_programs = (mysql.is_some()).then(find_mariadb);
        let redis_program = (redis.is_some()).then(|| find_program(&["redis-server"]));
        let mut missing = Vec::new();
        if let Some(None) = mariadb_programs {
            missing.push(Missing::MariaDb);
        }
        if let Some(None) = redis_program {
            missing.push(Missing::Redis);
        }
        if !missing.is_empty() {
            let reasons: Vec<String> = [mysql, redis]
                .into_iter()
                .flatten()
                .map(|e| first_line(&e.to_string()))
                .collect();
            return Err(LaunchError::Preflight(format!(
                "{}\n{}",
                reasons.join("\n"),
                install_instructions(&missing)
            )));
        }
        if let Some(Some((server, install_db))) = mariadb_programs {
            let (child, port) = start_mariadb(config, &server, &install_db).await?;
            config.mysql_url = format!("mysql://root@127.0.0.1:{port}");
            self.notes.push(format!(
                "MariaDB: none answered at the configured URL, so a private server runs at \
                 {} (data in {})",
                config.mysql_url,
                config.data_dir.join("mariadb").display()
            ));
            self.mariadb = Some(child);
        }
        if let Some(Some(server)) = redis_program {
            let (child, port) = start_redis(config, &server).await?;
            config.redis_url = format!("redis://127.0.0.1:{port}");
            self.notes.push(format!(
                "Redis: none answered at the configured URL, so a private server runs at {}",
                config.redis_url
            ));
            self.redis = Some(child);
        }
        Ok(())
    }

    /// Whether any private server runs.
    pub fn any(&self) -> bool {
        self.mariadb.is_some() || self.redis.is_some()
    }

    /// The first private server that has exited on its own, with its exit status.
    pub fn exited(&mut self) -> Option<(String, String)> {
        [self.mariadb.as_mut(), self.redis.as_mut()]
            .into_iter()
            .flatten()
            .find_map(|c| c.try_exit_status().map(|s| (c.name().to_string(), s)))
    }

    /// Stops the private servers (SIGTERM; MariaDB flushes and closes its files).
    pub async fn stop(&mut self) {
        if let Some(redis) = self.redis.take() {
            redis.stop(Duration::from_secs(10)).await;
        }
        if let Some(mariadb) = self.mariadb.take() {
            mariadb.stop(Duration::from_secs(60)).await;
        }
    }
}

/// A server that is needed and not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    MariaDb,
    Redis,
}

/// The exact commands that install what is `missing`, on Debian/Ubuntu and on macOS.
pub fn install_instructions(missing: &[Missing]) -> String {
    let (debian, brew, what): (Vec<&str>, Vec<&str>, Vec<&str>) = missing
        .iter()
        .map(|m| match m {
            Missing::MariaDb => (
                "mariadb-server",
                "mariadb",
                "MariaDB (mariadbd and mariadb-install-db)",
            ),
            Missing::Redis => ("redis-server", "redis", "Redis (redis-server)"),
        })
        .fold(
            (vec![], vec![], vec![]),
            |(mut d, mut b, mut w), (x, y, z)| {
                d.push(x);
                b.push(y);
                w.push(z);
                (d, b, w)
            },
        );
    format!(
        "{} is not installed, so shop up cannot start a private server either. Install it:\n  \
         Debian/Ubuntu:  sudo apt-get install -y {}\n  \
         macOS:          brew install {}\n\
         then run shop up again (it starts private servers with their data under data/), \
         or point SHOP_MYSQL_URL and REDIS_URL at running servers.",
        what.join(" and "),
        debian.join(" "),
        brew.join(" ")
    )
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// The first of `names` found on `PATH` or in [`SERVER_DIRS`].
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(SERVER_DIRS.iter().map(PathBuf::from));
    find_program_in(names, &dirs)
}

/// The first of `names` that is a file in one of `dirs` (each name tried in every
/// folder before the next name).
pub fn find_program_in(names: &[&str], dirs: &[PathBuf]) -> Option<PathBuf> {
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// MariaDB's server and its data-directory initialiser (MySQL-era names accepted).
fn find_mariadb() -> Option<(PathBuf, PathBuf)> {
    let server = find_program(&["mariadbd", "mysqld"])?;
    let install_db = find_program(&["mariadb-install-db", "mysql_install_db"])?;
    Some((server, install_db))
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| LaunchError::Preflight(format!("no free port on 127.0.0.1: {e}")))?;
    Ok(listener.port())
}

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path)
        .map_err(|e| LaunchError::Preflight(format!("{}: {e}", path.display())))
}

/// Initialises `<data>/mariadb` on first use (root without a password, as the
/// configured default) and starts `mariadbd` on a free port; waits until it answers.
async fn start_mariadb(
    config: &SystemConfig,
    server: &Path,
    install_db: &Path,
) -> Result<(ChildProcess, u16)> {
    let dir = absolute(&config.data_dir.join("mariadb"))?;
    let log = config.log_path("mariadb");
    // mariadbd refuses to run as root unless told to (--user=root).
    let user: Vec<String> = if running_as_root() {
        vec!["--user=root".into()]
    } else {
        Vec::new()
    };
    if !dir.join("mysql").is_dir() {
        println!("Initialising a private MariaDB in {} …", dir.display());
        std::fs::create_dir_all(&dir).map_err(|e| spawn_error("mariadb-install-db", e))?;
        let mut args = vec![
            "--no-defaults".to_string(),
            format!("--datadir={}", dir.display()),
            "--auth-root-authentication-method=normal".into(),
            "--skip-test-db".into(),
        ];
        args.extend(user.iter().cloned());
        let mut init =
            ChildProcess::spawn_with_args("mariadb-install-db", install_db, &args, &[], &log)?;
        let status = init.wait(START_TIMEOUT).await;
        if status.as_deref() != Some("exit status: 0") {
            // A half-initialised directory would be taken as ready next time.
            let _ = std::fs::remove_dir_all(&dir);
            return Err(LaunchError::ExitedEarly {
                name: "mariadb-install-db".into(),
                status: status.unwrap_or_else(|| "timed out".into()),
                log: log.clone(),
                tail: init.log_tail(20),
            });
        }
    }
    let port = free_port()?;
    let socket = socket_path(&dir, port);
    let mut args = vec![
        "--no-defaults".to_string(),
        format!("--datadir={}", dir.display()),
        format!("--port={port}"),
        "--bind-address=127.0.0.1".into(),
        format!("--socket={}", socket.display()),
        format!("--pid-file={}", dir.join("mariadbd.pid").display()),
        "--skip-log-bin".into(),
        // Five services with pools of up to 32 connections each, plus the tools.
        "--max-connections=500".into(),
    ];
    // Many short transactions from about 160 pooled connections: a pool of threads
    // switches between them far less than a thread per connection
    // (docs/performance.md). MariaDB's own option; MySQL's community server lacks it.
    if server.file_name().is_some_and(|name| name == "mariadbd") {
        args.push("--thread-handling=pool-of-threads".into());
    }
    args.extend(user);
    let mut child = ChildProcess::spawn_with_args("mariadb", server, &args, &[], &log)?;
    let url = format!("mysql://root@127.0.0.1:{port}");
    child
        .wait_until("MariaDB answers", START_TIMEOUT, || {
            let url = url.clone();
            async move {
                match MySqlConnection::connect(&url).await {
                    Ok(conn) => conn.close().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await?;
    Ok((child, port))
}

/// The server's Unix socket: in its data directory unless that path is too long for
/// a socket address (about 107 bytes), then in the temporary folder.
fn socket_path(dir: &Path, port: u16) -> PathBuf {
    let inside = dir.join("mariadbd.sock");
    if inside.as_os_str().len() < 100 {
        inside
    } else {
        std::env::temp_dir().join(format!("shop-mariadbd-{port}.sock"))
    }
}

/// Starts `redis-server` on a free port, working in `<data>/redis`, without
/// persistence (the stock cache is rebuilt from MariaDB); waits until it answers.
async fn start_redis(config: &SystemConfig, server: &Path) -> Result<(ChildProcess, u16)> {
    let dir = absolute(&config.data_dir.join("redis"))?;
    std::fs::create_dir_all(&dir).map_err(|e| spawn_error("redis-server", e))?;
    let port = free_port()?;
    let args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--dir",
        &dir.display().to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let log = config.log_path("redis-server");
    let mut child = ChildProcess::spawn_with_args("redis-server", server, &args, &[], &log)?;
    let url = format!("redis://127.0.0.1:{port}");
    child
        .wait_until("Redis answers PING", START_TIMEOUT, || {
            let url = url.clone();
            async move { check_redis(&url).await.is_ok() }
        })
        .await?;
    Ok((child, port))
}

fn spawn_error(name: &str, source: std::io::Error) -> LaunchError {
    LaunchError::Spawn {
        name: name.into(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_install_instructions_name_the_packages_for_debian_and_macos() {
        let both = install_instructions(&[Missing::MariaDb, Missing::Redis]);
        assert!(
            both.contains("sudo apt-get install -y mariadb-server redis-server"),
            "{both}"
        );
        assert!(both.contains("brew install mariadb redis"), "{both}");
        let redis = install_instructions(&[Missing::Redis]);
        assert!(
            redis.contains("sudo apt-get install -y redis-server\n"),
            "{redis}"
        );
        assert!(redis.contains("brew install redis\n"), "{redis}");
    }

    #[test]
    fn a_program_is_found_in_the_first_folder_holding_it() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(b.path().join("mysqld"), "").unwrap();
        std::fs::write(b.path().join("mariadbd"), "").unwrap();
        std::fs::write(a.path().join("mysqld"), "").unwrap();
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
        assert_eq!(
            find_program_in(&["mariadbd", "mysqld"], &dirs),
            Some(b.path().join("mariadbd")),
            "the preferred name wins over an earlier folder"
        );
        assert_eq!(find_program_in(&["redis-server"], &dirs), None);
    }

    #[test]
    fn a_long_data_directory_puts_the_socket_in_the_temporary_folder() {
        assert_eq!(
            socket_path(Path::new("/srv/shop/data/mariadb"), 4000),
            PathBuf::from("/srv/shop/data/mariadb/mariadbd.sock")
        );
        let long = PathBuf::from("/").join("d".repeat(120));
        assert!(socket_path(&long, 4000).starts_with(std::env::temp_dir()));
    }
}
