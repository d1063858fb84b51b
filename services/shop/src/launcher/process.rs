//! One child process of the launcher: spawned with its log file, polled until its
//! health URL answers 200, stopped with SIGTERM and then SIGKILL.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use nix::{sys::signal, unistd::Pid};
use tokio::process::{Child, Command};

use super::{LaunchError, Result};

pub struct ChildProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ChildProcess {
    /// Starts `path` with `env` added to the launcher's environment; stdout and stderr
    /// go to `log` (created, with its folder; a restart appends to it).
    pub fn spawn(name: &str, path: &Path, env: &[(String, String)], log: &Path) -> Result<Self> {
        Self::spawn_with_args(name, path, &[], env, log)
    }

    /// Like [`ChildProcess::spawn`], with command-line arguments.
    pub fn spawn_with_args(
        name: &str,
        path: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self> {
        let spawn_error = |source| LaunchError::Spawn {
            name: name.to_string(),
            source,
        };
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(spawn_error)?;
        }
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(spawn_error)?;
        let err = out.try_clone().map_err(spawn_error)?;
        let child = Command::new(path)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_error)?;
        Ok(ChildProcess {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The exit status, if the process has exited.
    pub fn try_exit_status(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// Waits up to `timeout` for the process to exit (a one-shot program); its exit
    /// status, or `None` when it still runs.
    pub async fn wait(&mut self, timeout: Duration) -> Option<String> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => Some(status.to_string()),
            Ok(Err(e)) => Some(format!("unknown ({e})")),
            Err(_) => None,
        }
    }

    /// Polls `url` until it answers 200, the process exits, or `timeout` passes.
    pub async fn wait_http_ok(&mut self, url: &str, timeout: Duration) -> Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("a plain reqwest client builds");
        let started = Instant::now();
        loop {
            if let Some(status) = self.try_exit_status() {
                return Err(LaunchError::ExitedEarly {
                    name: self.name.clone(),
                    status,
                    log: self.log.clone(),
                    tail: self.log_tail(20),
                });
            }
            let last = match http.get(url).send().await {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    let status = resp.status();
                    format!("{status}: {}", resp.text().await.unwrap_or_default())
                }
                Err(e) => e.to_string(),
            };
            if started.elapsed() > timeout {
                return Err(LaunchError::NotReady {
                    name: self.name.clone(),
                    waited: timeout,
                    last,
                    log: self.log.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last `lines` lines of the log file.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Asks the process to stop (SIGTERM) and kills it if it has not exited after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(pid) = self.child.id() {
            let pid = Pid::from_raw(pid as i32);
            if signal::kill(pid, signal::Signal::SIGTERM).is_ok()
                && tokio::time::timeout(grace, self.child.wait()).await.is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }

    /// Kills the process at once (SIGKILL), as a crash would, and reaps it.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits until `ready` answers true, the process exits, or `timeout` passes
    /// (for children without an HTTP health URL, such as redis-server).
    pub async fn wait_until<F, Fut>(
        &mut self,
        what: &str,
        timeout: Duration,
        ready: F,
    ) -> Result<()>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        loop {
            if let Some(status) = self.try_exit_status() {
                return Err(LaunchError::ExitedEarly {
                    name: self.name.clone(),
                    status,
                    log: self.log.clone(),
                    tail: self.log_tail(20),
                });
            }
            if ready().await {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(LaunchError::NotReady {
                    name: self.name.clone(),
                    waited: timeout,
                    last: format!("{what} not yet"),
                    log: self.log.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
