//! Client address ranges for allow-lists: `10.0.0.0/8`, `::1`, `192.168.1.7`, parsed and matched.

use std::fmt;
use std::net::IpAddr;

/// One address or a CIDR block of IPv4 or IPv6 addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrRange {
    network: IpAddr,
    prefix: u8,
}

impl AddrRange {
    /// `127.0.0.0/8` and `::1`: the machine itself.
    pub fn loopback() -> Vec<AddrRange> {
        vec![AddrRange::parse("127.0.0.0/8").expect("valid"), AddrRange::parse("::1").expect("valid")]
    }

    /// `ADDR` or `ADDR/PREFIX`; host bits below the prefix are ignored (`10.1.2.3/8` is `10.0.0.0/8`).
    pub fn parse(text: &str) -> Option<AddrRange> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
            None => (text.trim(), None),
        };
        let network: IpAddr = addr.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(width);
        (prefix <= width).then_some(AddrRange { network, prefix })
    }

    /// Whether `addr` lies in this range; an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) counts as IPv4.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
            v4 => v4,
        };
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => same_prefix(net.to_bits().into(), a.to_bits().into(), self.prefix, 32),
            (IpAddr::V6(net), IpAddr::V6(a)) => same_prefix(net.to_bits(), a.to_bits(), self.prefix, 128),
            _ => false,
        }
    }
}

/// Whether the top `prefix` of `width` bits agree.
fn same_prefix(a: u128, b: u128, prefix: u8, width: u32) -> bool {
    let shift = width - u32::from(prefix);
    shift >= width || (a >> shift) == (b >> shift)
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A comma- or space-separated list of ranges; `None` when any item does not parse or the list is empty.
pub fn parse_list(text: &str) -> Option<Vec<AddrRange>> {
    let ranges: Option<Vec<AddrRange>> =
        text.split([',', ' ']).filter(|s| !s.trim().is_empty()).map(AddrRange::parse).collect();
    ranges.filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_block_holds_its_addresses_and_no_others() {
        let block = AddrRange::parse("10.1.0.0/16").unwrap();
        assert!(block.contains(ip("10.1.200.3")));
        assert!(!block.contains(ip("10.2.0.1")));
        assert!(!block.contains(ip("::1")), "families never mix");
        let host = AddrRange::parse("192.168.1.7").unwrap();
        assert!(host.contains(ip("192.168.1.7")) && !host.contains(ip("192.168.1.8")));
        assert!(AddrRange::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(AddrRange::parse("::/0").unwrap().contains(ip("2001:db8::1")));
    }

    #[test]
    fn loopback_covers_both_families_and_mapped_addresses() {
        let loopback = AddrRange::loopback();
        for yes in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert!(loopback.iter().any(|r| r.contains(ip(yes))), "{yes}");
        }
        for no in ["10.0.0.1", "::2", "172.17.0.1"] {
            assert!(!loopback.iter().any(|r| r.contains(ip(no))), "{no}");
        }
    }

    #[test]
    fn lists_parse_with_commas_or_spaces_and_reject_nonsense() {
        let list = parse_list("127.0.0.1, 10.0.0.0/8 [::1]").unwrap();
        assert_eq!(list.iter().map(ToString::to_string).collect::<Vec<_>>(), ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        assert_eq!(AddrRange::parse("2001:db8::/32").unwrap().to_string(), "2001:db8::/32");
        for bad in ["", " , ", "10.0.0.0/33", "::/129", "localhost", "10.0.0.0/x", "10.0.0.0/8, nope"] {
            assert_eq!(parse_list(bad), None, "{bad:?}");
        }
    }
}
