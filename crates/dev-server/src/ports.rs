//! Free TCP ports on 127.0.0.1.

use std::io;
use std::net::{Ipv4Addr, TcpListener};

/// Pick a free TCP port on 127.0.0.1 (bind to port 0, read it back, release it).
pub fn free_port() -> io::Result<u16> {
    free_port_except(&[])
}

pub(crate) fn free_port_except(taken: &[u16]) -> io::Result<u16> {
    for _ in 0..20 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        if !taken.contains(&port) {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free port on 127.0.0.1",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_differ() {
        let a = free_port().unwrap();
        let b = free_port_except(&[a]).unwrap();
        assert_ne!(a, b);
    }
}
