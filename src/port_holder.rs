//! Which process holds a port, when a bind fails with "address in use": best effort, from what
//! Linux shows in `/proc` (the sockets of `/proc/net/{udp,tcp}{,6}`, each with its inode and
//! owner's uid, and the `socket:[inode]` links under `/proc/<pid>/fd`). The parsing is pure; the
//! reading is one bounded pass ([`find`]). Another user's processes are not visible without
//! privileges: the owner's user is still named, from the socket table.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The transport of the port asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    /// A UDP socket.
    Udp,
    /// A TCP listener.
    Tcp,
}

/// One row of a `/proc/net` socket table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Socket {
    /// The local address.
    pub local: SocketAddr,
    /// The TCP state (`0A` is LISTEN; UDP sockets show `07`).
    pub state: u8,
    /// The owner's uid.
    pub uid: u32,
    /// The socket's inode, as `/proc/<pid>/fd` links name it (`socket:[inode]`).
    pub inode: u64,
}

/// A process (or, when it cannot be seen, a user) holding a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    /// Its pid, when this user may read its file descriptors.
    pub pid: Option<u32>,
    /// Its name (`/proc/<pid>/comm`).
    pub name: Option<String>,
    /// The socket owner's uid.
    pub uid: u32,
    /// The socket owner's user name, from `/etc/passwd`.
    pub user: Option<String>,
}

/// TCP's LISTEN state in `/proc/net/tcp`.
const TCP_LISTEN: u8 = 0x0A;
/// At most this many processes are looked at.
const MAX_PROCESSES: usize = 4096;
/// At most this many file descriptors in all.
const MAX_FDS: usize = 200_000;
/// The search gives up after this long.
const TIME_LIMIT: Duration = Duration::from_millis(500);

/// An address of a `/proc/net` table: `0100007F:3BC1` (IPv4) or 32 hex digits and a port
/// (IPv6). The address words are in the kernel's byte order: read back as the host's.
pub(crate) fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (k, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(ip.get(k * 8..k * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The rows of a `/proc/net/{udp,tcp}{,6}` table (its header and malformed rows skipped).
pub(crate) fn parse_table(text: &str) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(Socket {
                local: parse_address(f.get(1)?)?,
                state: u8::from_str_radix(f.get(3)?, 16).ok()?,
                uid: f.get(7)?.parse().ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// Whether `socket` stops a bind of `want` over `proto`: the same port, the same address or a
/// wildcard on either side (an IPv6 wildcard socket may take IPv4 too), and for TCP a listener.
pub(crate) fn blocks(socket: &Socket, want: SocketAddr, proto: Proto) -> bool {
    if socket.local.port() != want.port() || socket.inode == 0 {
        return false;
    }
    if proto == Proto::Tcp && socket.state != TCP_LISTEN {
        return false;
    }
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let (have, want) = (canonical(socket.local.ip()), canonical(want.ip()));
    have == want || have.is_unspecified() || want.is_unspecified()
}

/// The inode of a `/proc/<pid>/fd/<n>` link's target, when it is a socket (`socket:[123]`).
pub(crate) fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The name of user `uid` in an `/etc/passwd` text.
pub(crate) fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

/// How the holders read in a message: `python3 (pid 812, user avahi)`; a holder this user
/// cannot see names its user and how to find the process. `None` when nothing was found.
pub(crate) fn describe(holders: &[Holder], port: u16, proto: Proto) -> Option<String> {
    let user = |h: &Holder| h.user.clone().unwrap_or_else(|| format!("uid {}", h.uid));
    let parts: Vec<String> = holders
        .iter()
        .map(|h| match (h.pid, &h.name) {
            (Some(pid), Some(name)) => format!(
                "{} (pid {pid}, user {})",
                registry::escape::escape(name),
                user(h)
            ),
            (Some(pid), None) => format!("pid {pid} (user {})", user(h)),
            (None, _) => {
                let flag = if proto == Proto::Udp {
                    "-ulpn"
                } else {
                    "-tlpn"
                };
                format!(
                    "a process of user {} (`sudo ss {flag} sport = :{port}` names it)",
                    user(h)
                )
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The processes holding `want` over `proto`, as far as `/proc` tells this user; empty when it
/// tells nothing (not Linux, or the socket is gone). Bounded in processes, descriptors and time.
pub(crate) fn find(want: SocketAddr, proto: Proto) -> Vec<Holder> {
    let tables: &[&str] = match proto {
        Proto::Udp => &["/proc/net/udp", "/proc/net/udp6"],
        Proto::Tcp => &["/proc/net/tcp", "/proc/net/tcp6"],
    };
    let sockets: Vec<Socket> = tables
        .iter()
        .filter_map(|t| std::fs::read_to_string(t).ok())
        .flat_map(|text| parse_table(&text))
        .filter(|s| blocks(s, want, proto))
        .collect();
    if sockets.is_empty() {
        return Vec::new();
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let mut found: Vec<Holder> = Vec::new();
    let mut unseen: Vec<&Socket> = sockets.iter().collect();
    let started = Instant::now();
    let mut fds = 0usize;
    let procs = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    'procs: for entry in procs.take(MAX_PROCESSES) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(dir) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in dir.flatten() {
            fds += 1;
            if fds > MAX_FDS || started.elapsed() > TIME_LIMIT || unseen.is_empty() {
                break 'procs;
            }
            let inode = std::fs::read_link(fd.path())
                .ok()
                .and_then(|l| l.to_str().and_then(socket_inode));
            let Some(pos) = unseen.iter().position(|s| Some(s.inode) == inode) else {
                continue;
            };
            let socket = unseen.swap_remove(pos);
            let name = std::fs::read_to_string(entry.path().join("comm"))
                .ok()
                .map(|c| c.trim_end().to_owned());
            found.push(Holder {
                pid: Some(pid),
                name,
                uid: socket.uid,
                user: user_name(&passwd, socket.uid),
            });
        }
    }
    // Sockets whose process this user cannot see: their owner, once per user.
    for socket in unseen {
        if !found.iter().any(|h| h.uid == socket.uid) {
            found.push(Holder {
                pid: None,
                name: None,
                uid: socket.uid,
                user: user_name(&passwd, socket.uid),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ip` as the kernel prints it: the address's bytes read as a host-order word.
    fn hex4(ip: [u8; 4]) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip))
    }

    #[test]
    fn addresses_are_read_in_the_kernels_byte_order() {
        let v4 = format!("{}:3BC1", hex4([127, 0, 0, 1]));
        assert_eq!(parse_address(&v4), Some("127.0.0.1:15297".parse().unwrap()));
        let v6: String = [
            [0, 0, 0, 0],
            [0, 0, 0, 0],
            [0, 0, 0xff, 0xff],
            [127, 0, 0, 1],
        ]
        .iter()
        .map(|w| hex4(*w))
        .collect();
        let mapped = parse_address(&format!("{v6}:0035")).unwrap();
        assert_eq!(mapped, "[::ffff:127.0.0.1]:53".parse().unwrap());
        assert_eq!(parse_address("0100007F"), None);
        assert_eq!(parse_address("7F:0035"), None);
        assert_eq!(parse_address("ZZZZZZZZ:0035"), None);
    }

    fn table(rows: &[(&str, &str, u32, u64)]) -> String {
        let mut text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when \
                        retrnsmt   uid  timeout inode ref pointer drops\n"
            .to_owned();
        for (k, (local, st, uid, inode)) in rows.iter().enumerate() {
            text.push_str(&format!(
                "{k:>5}: {local} 00000000:0000 {st} 00000000:00000000 00:00000000 00000000 \
                 {uid:>5}        0 {inode} 2 0000000000000000 0\n"
            ));
        }
        text
    }

    #[test]
    fn a_table_gives_each_sockets_address_state_owner_and_inode() {
        let lo = format!("{}:3BC1", hex4([127, 0, 0, 1]));
        let any = format!("{}:14E9", hex4([0, 0, 0, 0]));
        let text = table(&[(&lo, "07", 1000, 4242), (&any, "0A", 107, 77)]);
        let rows = parse_table(&format!("{text}garbage line\n"));
        assert_eq!(
            rows,
            [
                Socket {
                    local: "127.0.0.1:15297".parse().unwrap(),
                    state: 7,
                    uid: 1000,
                    inode: 4242
                },
                Socket {
                    local: "0.0.0.0:5353".parse().unwrap(),
                    state: 0x0A,
                    uid: 107,
                    inode: 77
                },
            ]
        );
    }

    #[test]
    fn a_socket_blocks_its_port_on_its_address_or_any() {
        let sock = |local: &str, state: u8| Socket {
            local: local.parse().unwrap(),
            state,
            uid: 0,
            inode: 9,
        };
        let want: SocketAddr = "127.0.0.1:15353".parse().unwrap();
        assert!(blocks(&sock("127.0.0.1:15353", 7), want, Proto::Udp));
        assert!(blocks(&sock("0.0.0.0:15353", 7), want, Proto::Udp));
        assert!(blocks(&sock("[::]:15353", 7), want, Proto::Udp));
        assert!(blocks(
            &sock("[::ffff:127.0.0.1]:15353", 7),
            want,
            Proto::Udp
        ));
        assert!(!blocks(&sock("127.0.0.2:15353", 7), want, Proto::Udp));
        assert!(!blocks(&sock("127.0.0.1:15354", 7), want, Proto::Udp));
        // TCP: only a listener holds the port; a connection from it does not.
        assert!(blocks(&sock("127.0.0.1:15353", 0x0A), want, Proto::Tcp));
        assert!(!blocks(&sock("127.0.0.1:15353", 0x01), want, Proto::Tcp));
        let any: SocketAddr = "0.0.0.0:15353".parse().unwrap();
        assert!(blocks(&sock("127.0.0.9:15353", 7), any, Proto::Udp));
    }

    #[test]
    fn fd_links_and_passwd_lines_are_read() {
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("pipe:[4242]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\navahi:x:107:115::/run/avahi:/usr/sbin/nologin\n";
        assert_eq!(user_name(passwd, 107).as_deref(), Some("avahi"));
        assert_eq!(user_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_name(passwd, 5), None);
    }

    #[test]
    fn holders_are_named_or_their_user_is() {
        let seen = Holder {
            pid: Some(812),
            name: Some("avahi-daemon\u{1b}[2J".into()),
            uid: 107,
            user: Some("avahi".into()),
        };
        let hidden = Holder {
            pid: None,
            name: None,
            uid: 999,
            user: None,
        };
        assert_eq!(describe(&[], 53, Proto::Udp), None);
        assert_eq!(
            describe(&[seen, hidden], 5353, Proto::Udp).unwrap(),
            "avahi-daemon\\u{1b}[2J (pid 812, user avahi), a process of user uid 999 \
             (`sudo ss -ulpn sport = :5353` names it)"
        );
    }

    /// The adapter finds this very process holding a socket (on Linux, where `/proc` tells).
    #[test]
    fn this_process_is_found_holding_its_socket() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        if !std::path::Path::new("/proc/net/udp").exists() {
            return;
        }
        let holders = find(addr, Proto::Udp);
        assert!(
            holders.iter().any(|h| h.pid == Some(std::process::id())),
            "{holders:?}"
        );
    }
}
