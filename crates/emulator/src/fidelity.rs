//! Lambda-faithful sandboxes: a CPU share proportional to the memory size (1,769 MB = 1 vCPU), a
//! memory limit of the memory size with no swap, and freezing between invocations.
//!
//! Done with cgroups where the host lets us write them (v1 `cpu`/`memory`/`freezer` hierarchies
//! or a v2 unified hierarchy with the `cpu` and `memory` controllers). Each emulator creates one
//! parent group per hierarchy (`temporal-lambda-emulator.<pid>`) and one child per sandbox; the
//! `bootstrap` process joins its children between `fork` and `exec`, so it never runs unlimited.
//! Where cgroups cannot be written, CPU and memory are not limited (one notice at start) and
//! freezing falls back to `SIGSTOP`/`SIGCONT` of the sandbox's process group.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Memory size that Lambda gives one full vCPU: CPU share = `MemorySize / 1769` of one CPU.
pub const MB_PER_VCPU: u32 = 1769;

/// CFS period used for the CPU quota.
const CPU_PERIOD_US: u64 = 100_000;

/// Which Lambda behaviours the emulator reproduces per sandbox. Parse with [`FromStr`]: `lambda`
/// (all), `off` (none), or a comma list of `cpu`, `memory`, `freeze`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fidelity {
    /// CPU quota of `MemorySize / 1769` of one CPU (needs a writable `cpu` cgroup).
    pub cpu: bool,
    /// Memory limit of `MemorySize`, no swap; an OOM kill is reported as `Runtime.OutOfMemory`
    /// (needs a writable `memory` cgroup).
    pub memory: bool,
    /// Freeze the sandbox from the runtime's `next` request until the next invocation is handed
    /// over (freezer cgroup, else `SIGSTOP`/`SIGCONT` of the process group).
    pub freeze: bool,
}

impl Fidelity {
    /// Everything off: every sandbox gets the whole machine and keeps running between invocations.
    pub const OFF: Fidelity = Fidelity {
        cpu: false,
        memory: false,
        freeze: false,
    };
    /// Everything on, as Lambda runs functions.
    pub const LAMBDA: Fidelity = Fidelity {
        cpu: true,
        memory: true,
        freeze: true,
    };

    /// True if nothing is enforced.
    pub fn is_off(&self) -> bool {
        *self == Self::OFF
    }
}

impl Default for Fidelity {
    /// [`Fidelity::OFF`] for the library (opt in with [`Fidelity::LAMBDA`]).
    fn default() -> Self {
        Self::OFF
    }
}

impl fmt::Display for Fidelity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::LAMBDA {
            return f.write_str("lambda");
        }
        if self.is_off() {
            return f.write_str("off");
        }
        let parts: Vec<&str> = [
            (self.cpu, "cpu"),
            (self.memory, "memory"),
            (self.freeze, "freeze"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for Fidelity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "lambda" | "on" | "all" => return Ok(Self::LAMBDA),
            "off" | "none" | "" => return Ok(Self::OFF),
            _ => {}
        }
        let mut f = Self::OFF;
        for part in s.split(',').map(str::trim) {
            match part {
                "cpu" => f.cpu = true,
                "memory" => f.memory = true,
                "freeze" => f.freeze = true,
                other => {
                    return Err(format!(
                        "unknown fidelity `{other}`: use `lambda`, `off`, or a comma list of cpu, memory, freeze"
                    ))
                }
            }
        }
        Ok(f)
    }
}

/// The CPU share Lambda gives a function of `memory_mb`, in thousandths of a vCPU (128 MB → 72).
pub fn cpu_millis(memory_mb: u32) -> u32 {
    ((u64::from(memory_mb) * 1000).div_ceil(u64::from(MB_PER_VCPU))) as u32
}

fn cpu_quota_us(memory_mb: u32) -> u64 {
    // The kernel's minimum quota is 1 ms per period.
    (u64::from(memory_mb) * CPU_PERIOD_US / u64::from(MB_PER_VCPU)).max(1000)
}

mod cgroupfs;
mod host;
mod sandbox_cgroup;

pub(crate) use host::CgroupHost;
pub(crate) use sandbox_cgroup::{join_in_child, raw_fds, SandboxCgroup};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fidelity_parses_and_prints() {
        assert_eq!("lambda".parse::<Fidelity>().unwrap(), Fidelity::LAMBDA);
        assert_eq!("off".parse::<Fidelity>().unwrap(), Fidelity::OFF);
        let f: Fidelity = "cpu, freeze".parse().unwrap();
        assert!(f.cpu && f.freeze && !f.memory);
        assert_eq!(f.to_string(), "cpu,freeze");
        assert_eq!(Fidelity::LAMBDA.to_string(), "lambda");
        let e = "cpu,gpu".parse::<Fidelity>().unwrap_err();
        assert!(e.contains("gpu") && e.contains("lambda"), "{e}");
    }

    #[test]
    fn cpu_share_follows_memory() {
        assert_eq!(cpu_millis(1769), 1000);
        assert_eq!(cpu_millis(128), 73);
        assert_eq!(cpu_millis(256), 145);
        assert_eq!(cpu_quota_us(1769), 100_000);
        assert_eq!(cpu_quota_us(3538), 200_000);
        assert_eq!(cpu_quota_us(128), 7_235);
        assert_eq!(cpu_quota_us(1), 1000, "kernel minimum");
    }
}
