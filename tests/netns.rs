//! Test hosts with addresses of their own: network namespaces joined by a bridge.

use std::process::Command as StdCommand;

use tokio::process::Command;

use crate::support::dusk_binary;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Hosts in network namespaces, plugged into a bridge that lives in a namespace of its
/// own (so the machine's firewall rules for bridged traffic do not apply). The test's own
/// process reaches them through one more link into the bridge. Everything is removed on
/// drop.
pub(crate) struct Network {
    switch: String,
    uplink: String,
    pub(crate) hosts: Vec<Host>,
}

pub(crate) struct Host {
    namespace: String,
    /// The host's link as the bridge sees it; taking it down cuts the host off.
    port: String,
    pub(crate) addr: String,
}

fn ip(args: &[&str]) -> Result {
    let out = StdCommand::new("ip").args(args).output()?;
    if !out.status.success() {
        return Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    Ok(())
}

impl Network {
    /// `hosts` hosts on 10.124.X.0/24 (X from the process id and how many networks this
    /// process made before), or why they cannot be made.
    pub(crate) fn create(hosts: usize) -> std::result::Result<Network, String> {
        // SAFETY: geteuid has no preconditions and touches no memory.
        if unsafe { libc::geteuid() } != 0 {
            return Err("network namespaces need root".into());
        }
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 10;
        let tag = std::process::id() % 1000 * 10 + made;
        let subnet = format!("10.124.{}", (std::process::id() % 25) * 10 + made);
        let mut network = Network {
            switch: format!("dusk-sw-{tag}"),
            uplink: format!("dkup{tag}"),
            hosts: (0..hosts)
                .map(|i| Host {
                    namespace: format!("dusk-h{i}-{tag}"),
                    port: format!("p{i}"),
                    addr: format!("{subnet}.{}", i + 2),
                })
                .collect(),
        };
        network.build(&subnet).map_err(|e| {
            network.teardown();
            format!("cannot build the test network: {e}")
        })?;
        Ok(network)
    }

    fn build(&mut self, subnet: &str) -> Result {
        let sw = self.switch.clone();
        ip(&["netns", "add", &sw])?;
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        ip(&["link", "add", &self.uplink, "type", "veth", "peer", "name", "up0", "netns", &sw])?;
        ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &self.uplink])?;
        ip(&["link", "set", &self.uplink, "up"])?;
        ip(&["-n", &sw, "link", "set", "up0", "master", "br0", "up"])?;
        for host in &self.hosts {
            ip(&["netns", "add", &host.namespace])?;
            ip(&[
                "-n",
                &sw,
                "link",
                "add",
                &host.port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &host.namespace,
            ])?;
            ip(&["-n", &sw, "link", "set", &host.port, "master", "br0", "up"])?;
            ip(&["-n", &host.namespace, "addr", "add", &format!("{}/24", host.addr), "dev", "eth0"])?;
            ip(&["-n", &host.namespace, "link", "set", "eth0", "up"])?;
            ip(&["-n", &host.namespace, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Cuts host `i` off the network (its link goes down; packets are dropped, not refused).
    pub(crate) fn cut(&self, i: usize) -> Result {
        ip(&["-n", &self.switch, "link", "set", &self.hosts[i].port, "down"])
    }

    /// Plugs host `i` back in.
    pub(crate) fn heal(&self, i: usize) -> Result {
        ip(&["-n", &self.switch, "link", "set", &self.hosts[i].port, "up"])
    }

    /// `dusk <args>` run on host `i`.
    pub(crate) fn dusk(&self, i: usize, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.hosts[i].namespace]).arg(dusk_binary()).args(args);
        command
    }

    fn teardown(&self) {
        for host in &self.hosts {
            let _ = ip(&["netns", "del", &host.namespace]);
        }
        let _ = ip(&["link", "del", &self.uplink]);
        let _ = ip(&["netns", "del", &self.switch]);
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.teardown();
    }
}
