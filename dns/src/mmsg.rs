//! Batched UDP I/O for the DNS listener (Linux system calls): one `recvmmsg` takes up to [`BATCH`] queued
//! queries and one `sendmmsg` sends their answers, so the per-call cost of the system call is
//! paid once per batch instead of twice per query. Nothing here allocates after [`Batch::new`].
//!
//! The resolver's only unsafe code (the crate denies `unsafe_code` elsewhere): the system calls
//! take raw pointers into buffers this module owns, and every block says why they are valid.
#![allow(unsafe_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Datagrams per system call.
const BATCH: usize = 16;
/// Bytes read per query; a longer datagram is truncated, as `recv_from` would.
const QUERY_MAX: usize = 4096;

/// The buffers of one batch: queries, their peers, and the answers to send back.
pub(crate) struct Batch {
    queries: Box<[[u8; QUERY_MAX]; BATCH]>,
    lens: [usize; BATCH],
    peers: [libc::sockaddr_storage; BATCH],
    peer_lens: [libc::socklen_t; BATCH],
    received: usize,
    /// Answer buffers; `replies[k]` answers query `reply_to[k]`.
    replies: Vec<Vec<u8>>,
    reply_to: [usize; BATCH],
    answered: usize,
    sent: usize,
}

impl Batch {
    /// Empty buffers, each answer buffer with room for `reply_capacity` bytes.
    pub(crate) fn new(reply_capacity: usize) -> Self {
        Self {
            queries: Box::new([[0; QUERY_MAX]; BATCH]),
            lens: [0; BATCH],
            // SAFETY: `sockaddr_storage` is a C struct of integers and byte arrays only (no
            // references, no niches), so the all-zero bit pattern is a valid value of it
            // (family AF_UNSPEC); an array of them likewise.
            peers: unsafe { std::mem::zeroed() },
            peer_lens: [0; BATCH],
            received: 0,
            replies: (0..BATCH)
                .map(|_| Vec::with_capacity(reply_capacity))
                .collect(),
            reply_to: [0; BATCH],
            answered: 0,
            sent: 0,
        }
    }

    /// Receives up to [`BATCH`] datagrams from the blocking socket `fd`: waits for the first,
    /// then takes what is queued; earlier answers are forgotten. `WouldBlock` when the socket's
    /// receive timeout passed with nothing received.
    pub(crate) fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        self.received = 0;
        self.answered = 0;
        self.sent = 0;
        let mut iov: [libc::iovec; BATCH] = std::array::from_fn(|i| libc::iovec {
            iov_base: self.queries[i].as_mut_ptr().cast(),
            iov_len: QUERY_MAX,
        });
        // SAFETY: `mmsghdr` is a C struct of integers and raw pointers only; raw pointers have
        // no validity invariant, so all-zero (null pointers, zero lengths and flags) is a valid
        // value. The kernel is only handed these after the loop below points them at buffers.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for ((m, iov), peer) in msgs.iter_mut().zip(&mut iov).zip(&mut self.peers) {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_name = (peer as *mut libc::sockaddr_storage).cast();
            m.msg_hdr.msg_namelen = socklen::<libc::sockaddr_storage>();
        }
        // SAFETY: `fd` is a borrowed, open descriptor for the whole call. `msgs` holds exactly
        // BATCH entries, the count passed. Each entry's `msg_iov` points at one `iovec` of
        // `iov` (msg_iovlen 1), whose base and length (QUERY_MAX) describe `self.queries[i]`;
        // each `msg_name` points at `self.peers[i]` with its size in `msg_namelen`. All of it is
        // owned by this frame or exclusively borrowed through `&mut self`, alive until the call
        // returns, and the kernel writes only within the lengths given. A null timeout is
        // allowed (block per the socket's own timeout).
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.received = usize::try_from(n).unwrap_or(0).min(BATCH);
        for (i, m) in msgs.iter().take(self.received).enumerate() {
            self.lens[i] = usize::try_from(m.msg_len).map_or(QUERY_MAX, |l| l.min(QUERY_MAX));
            self.peer_lens[i] = m.msg_hdr.msg_namelen;
        }
        Ok(self.received)
    }

    /// Calls `answer(query, peer, reply)` for every query received (`peer`: the address it
    /// came from); `reply` comes cleared, and a query whose `answer` returns false gets no
    /// reply.
    pub(crate) fn answer_each(
        &mut self,
        mut answer: impl FnMut(&[u8], IpAddr, &mut Vec<u8>) -> bool,
    ) {
        for i in 0..self.received {
            let peer = self.peer_ip(i);
            let reply = &mut self.replies[self.answered];
            reply.clear();
            if answer(&self.queries[i][..self.lens[i]], peer, reply) {
                self.reply_to[self.answered] = i;
                self.answered += 1;
            }
        }
    }

    /// The address query `i` came from; the unspecified IPv4 address for anything but an IPv4
    /// or IPv6 peer (a UDP socket receives from no other).
    fn peer_ip(&self, i: usize) -> IpAddr {
        let storage: *const libc::sockaddr_storage = &self.peers[i];
        let len = usize::try_from(self.peer_lens[i]).unwrap_or(0);
        match i32::from(self.peers[i].ss_family) {
            libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
                // SAFETY: the kernel wrote a `sockaddr_in` (family AF_INET, `len` bytes) at the
                // start of this `sockaddr_storage`, which is large and aligned enough for every
                // socket address type; the reference lives only as long as `self`'s borrow.
                let sin = unsafe { &*storage.cast::<libc::sockaddr_in>() };
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
            }
            libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for a `sockaddr_in6` (family AF_INET6).
                let sin6 = unsafe { &*storage.cast::<libc::sockaddr_in6>() };
                IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
            }
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }

    /// How many queries got an answer (sent or not) since the last receive.
    pub(crate) fn answered(&self) -> usize {
        self.answered
    }

    /// How many answers are still to send.
    pub(crate) fn unsent(&self) -> usize {
        self.answered - self.sent
    }

    /// Sends the unsent answers with one `sendmmsg` (blocking while the send buffer is full).
    /// Returns how many went; an error means the first unsent one failed (`Interrupted`: try
    /// again; anything else: [`Batch::skip`] it).
    pub(crate) fn send(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        let pending = self.sent..self.answered;
        let mut iov: [libc::iovec; BATCH] = std::array::from_fn(|_| libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        });
        // SAFETY: as in `recv`: all-zero is a valid `mmsghdr` (integers and raw pointers only).
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for ((k, m), iov) in pending.clone().zip(&mut msgs).zip(&mut iov) {
            let reply = &self.replies[k];
            *iov = libc::iovec {
                iov_base: reply.as_ptr().cast_mut().cast(),
                iov_len: reply.len(),
            };
            let peer = self.reply_to[k];
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_name = (&mut self.peers[peer] as *mut libc::sockaddr_storage).cast();
            // What `recvmmsg` reported, never more than the buffer holds.
            m.msg_hdr.msg_namelen = self.peer_lens[peer].min(socklen::<libc::sockaddr_storage>());
        }
        // SAFETY: `fd` is a borrowed, open descriptor for the whole call. The count passed is
        // `pending.len()` (at most BATCH, the length of `msgs`), and the loop above filled
        // exactly those first entries: each `msg_iov` points at one `iovec` of `iov` describing
        // an answer buffer of `self.replies` (pointer and its `len()`), each `msg_name` at a
        // `self.peers` entry with a length clamped to that entry's size. These live in this frame
        // or behind `&mut self`, unchanged until the call returns; the kernel only reads them
        // (the `*mut` casts are what the C signature asks for, nothing is written through them).
        let n = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                libc::c_uint::try_from(pending.len()).unwrap_or(0),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = usize::try_from(n).unwrap_or(0).min(pending.len());
        self.sent += n;
        Ok(n)
    }

    /// Gives up on the first unsent answer (its send failed for a reason retrying won't fix).
    pub(crate) fn skip(&mut self) {
        self.sent = (self.sent + 1).min(self.answered);
    }
}

/// Sends this socket's datagrams without the don't-fragment bit and ignores path-MTU
/// information (`IP_PMTUDISC_OMIT`, `IPV6_PMTUDISC_OMIT`), as DNS servers do (DNS Flag Day
/// 2020): answers are kept below 1232 bytes anyway, and a forged ICMP "fragmentation needed"
/// cannot make the kernel fragment them. It also spares a path-MTU check per answer.
pub(crate) fn omit_path_mtu(fd: BorrowedFd<'_>, ipv6: bool) -> io::Result<()> {
    let (level, name, value) = if ipv6 {
        (
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_OMIT,
        )
    } else {
        (
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_OMIT,
        )
    };
    // SAFETY: `fd` is a borrowed, open descriptor for the call. The option value pointer points
    // at `value`, a `c_int` local that outlives the call, and the length passed is exactly
    // `size_of::<c_int>()`, which is what these IP/IPv6 options read; the kernel copies it and
    // keeps no pointer.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            socklen::<libc::c_int>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn socklen<T>() -> libc::socklen_t {
    libc::socklen_t::try_from(std::mem::size_of::<T>()).unwrap_or(libc::socklen_t::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;
    use std::time::Duration;

    #[test]
    fn a_batch_answers_each_peer_and_skips_what_is_ignored() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let clients: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for (i, c) in clients.iter().enumerate() {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.send_to(format!("q{i}").as_bytes(), server.local_addr().unwrap())
                .unwrap();
        }
        let mut batch = Batch::new(64);
        let mut got = 0;
        let mut seen = Vec::new();
        // The three datagrams may take more than one receive; each gets its own answers.
        while got < 3 {
            got += batch.recv(server.as_fd()).unwrap();
            batch.answer_each(|query, peer, reply| {
                assert_eq!(peer, IpAddr::V4(Ipv4Addr::LOCALHOST), "the peer's address");
                seen.push(String::from_utf8_lossy(query).into_owned());
                if query == b"q1" {
                    return false; // ignored: no reply
                }
                reply.extend_from_slice(b"a:");
                reply.extend_from_slice(query);
                true
            });
            while batch.unsent() > 0 {
                batch.send(server.as_fd()).unwrap();
            }
        }
        seen.sort();
        assert_eq!(seen, ["q0", "q1", "q2"]);
        let mut buf = [0u8; 64];
        for i in [0, 2] {
            let (n, from) = clients[i].recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], format!("a:q{i}").as_bytes());
            assert_eq!(from, server.local_addr().unwrap());
        }
        clients[1].set_nonblocking(true).unwrap();
        assert_eq!(
            clients[1].recv_from(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "an ignored query must get no answer"
        );
    }

    #[test]
    fn path_mtu_discovery_can_be_omitted_for_both_families() {
        let v4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        omit_path_mtu(v4.as_fd(), false).unwrap();
        if let Ok(v6) = UdpSocket::bind("[::1]:0") {
            omit_path_mtu(v6.as_fd(), true).unwrap();
        }
    }
}
