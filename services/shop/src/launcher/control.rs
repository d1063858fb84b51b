//! Crashing and restarting one process of a running [`System`]: what the scenario
//! tests do to show that nothing acknowledged is lost when the broker or a service
//! dies with kill -9 and comes back.

use super::{ChildProcess, Result, System};
use shop_kit::settings::Service;

impl System {
    /// Kills the broker with SIGKILL, as a crash would. Its data directory stays.
    pub async fn kill_broker(&mut self) {
        if let Some(rocketmq) = self.rocketmq.as_mut() {
            rocketmq.kill_broker().await;
        }
        if let Some(broker) = self.broker.as_mut() {
            broker.kill().await;
        }
    }

    /// Starts the broker again (after [`System::kill_broker`]) on the same ports and
    /// data, and waits until its admin HTTP answers.
    pub async fn restart_broker(&mut self) -> Result<()> {
        if let Some(rocketmq) = self.rocketmq.as_mut() {
            return rocketmq
                .restart_broker()
                .await
                .map_err(|e| super::LaunchError::Preflight(format!("RocketMQ broker: {e:#}")));
        }
        let config = self.config.clone();
        if let Some(mut old) = self.broker.take() {
            old.kill().await;
        }
        let mut broker = Self::spawn_broker(&config)?;
        let admin = format!("{}/topics", config.mq_admin_url());
        let ready = broker.wait_http_ok(&admin, config.ready_timeout).await;
        self.broker = Some(broker);
        ready
    }

    /// Kills `service` with SIGKILL, as a crash would.
    pub async fn kill_service(&mut self, service: Service) {
        if let Some(child) = self.child_mut(service) {
            child.kill().await;
        }
    }

    /// Starts `service` again (killing it first if it still runs) and waits until its
    /// `/health` answers 200.
    pub async fn restart_service(&mut self, service: Service) -> Result<()> {
        let config = self.config.clone();
        // The old process must be gone (and reaped) before the new one binds the port.
        if let Some(old) = self.child_mut(service) {
            old.kill().await;
        }
        let mut child = Self::spawn_service(&config, service)?;
        let health = format!("{}/health", config.service_url(service));
        let ready = child.wait_http_ok(&health, config.ready_timeout).await;
        match self.services.iter_mut().find(|(s, _)| *s == service) {
            Some((_, slot)) => *slot = child,
            None => self.services.push((service, child)),
        }
        ready
    }

    /// Whether `service`'s process has exited (crashed or killed).
    pub fn service_exited(&mut self, service: Service) -> bool {
        self.child_mut(service)
            .is_none_or(|c| c.try_exit_status().is_some())
    }

    /// Process ids of the broker and the services, as `(name, pid)`.
    pub fn pids(&self) -> Vec<(String, u32)> {
        let broker = self.broker.iter();
        let services = self.services.iter().map(|(_, c)| c);
        broker
            .chain(services)
            .filter_map(|c| Some((c.name().to_string(), c.pid()?)))
            .collect()
    }

    fn child_mut(&mut self, service: Service) -> Option<&mut ChildProcess> {
        self.services
            .iter_mut()
            .find(|(s, _)| *s == service)
            .map(|(_, c)| c)
    }
}
