//! Batched UDP I/O for the DNS listener (Linux): one `recvmmsg` drains up to [`BATCH`] queries
//! and one `sendmmsg` sends their answers. Answering one datagram per `recvfrom`/`sendto` pair
//! spent about three quarters of the resolver's core in system calls (benches: resolver suite).

use std::io;
use std::os::fd::RawFd;

/// Datagrams per system call.
pub(crate) const BATCH: usize = 32;
/// Bytes read per query; a longer datagram is truncated, as with `recv_from` before.
const QUERY_MAX: usize = 4096;

/// Buffers for one batch: the queries received and the peers they came from.
pub(crate) struct Batch {
    bufs: Box<[[u8; QUERY_MAX]; BATCH]>,
    peers: [libc::sockaddr_storage; BATCH],
    peer_lens: [libc::socklen_t; BATCH],
    lens: [usize; BATCH],
}

impl Batch {
    /// Empty buffers.
    pub(crate) fn new() -> Self {
        Self {
            bufs: Box::new([[0; QUERY_MAX]; BATCH]),
            // SAFETY: sockaddr_storage is a plain C struct for which all-zero bytes are valid.
            peers: unsafe { std::mem::zeroed() },
            peer_lens: [0; BATCH],
            lens: [0; BATCH],
        }
    }

    /// Receives what is queued on `fd`, up to [`BATCH`] datagrams, without blocking.
    /// `WouldBlock` when nothing is queued.
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut iov: [libc::iovec; BATCH] = std::array::from_fn(|i| libc::iovec {
            iov_base: self.bufs[i].as_mut_ptr().cast(),
            iov_len: QUERY_MAX,
        });
        // SAFETY: mmsghdr is a plain C struct; all-zero (null pointers, zero lengths) is valid.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (i, m) in msgs.iter_mut().enumerate() {
            m.msg_hdr.msg_iov = &mut iov[i];
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_name = (&mut self.peers[i] as *mut libc::sockaddr_storage).cast();
            m.msg_hdr.msg_namelen = socklen::<libc::sockaddr_storage>();
        }
        // SAFETY: every pointer in `msgs` points into `iov`, `self.bufs` or `self.peers`, all
        // alive and exclusively borrowed for the duration of the call, with matching lengths.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = usize::try_from(n).unwrap_or(0);
        for (i, m) in msgs.iter().take(n).enumerate() {
            self.lens[i] = (m.msg_len as usize).min(QUERY_MAX);
            self.peer_lens[i] = m.msg_hdr.msg_namelen;
        }
        Ok(n)
    }

    /// Query `i` of the last [`Batch::recv`].
    pub(crate) fn query(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.lens[i]]
    }

    /// Sends `replies` (index of the query answered, wire bytes) to those queries' peers, in as
    /// few `sendmmsg` calls as the kernel allows. Returns how many were sent before an error.
    pub(crate) fn send(&mut self, fd: RawFd, replies: &[(usize, Vec<u8>)]) -> io::Result<usize> {
        let mut sent = 0;
        while sent < replies.len() {
            let chunk = &replies[sent..];
            let mut iov: Vec<libc::iovec> = chunk
                .iter()
                .map(|(_, bytes)| libc::iovec {
                    iov_base: bytes.as_ptr().cast_mut().cast(),
                    iov_len: bytes.len(),
                })
                .collect();
            let mut msgs: Vec<libc::mmsghdr> = chunk
                .iter()
                .enumerate()
                .map(|(k, (i, _))| {
                    // SAFETY: as in `recv`: all-zero is a valid mmsghdr.
                    let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    m.msg_hdr.msg_iov = &mut iov[k];
                    m.msg_hdr.msg_iovlen = 1;
                    m.msg_hdr.msg_name = (&mut self.peers[*i] as *mut libc::sockaddr_storage).cast();
                    m.msg_hdr.msg_namelen = self.peer_lens[*i];
                    m
                })
                .collect();
            // SAFETY: the pointers in `msgs` point into `iov` (alive for the call), the reply
            // buffers in `replies` and `self.peers`, read-only for the kernel, with their lengths.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    libc::c_uint::try_from(msgs.len()).unwrap_or(libc::c_uint::MAX),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return if sent > 0 { Ok(sent) } else { Err(e) };
            }
            if n == 0 {
                break;
            }
            sent += usize::try_from(n).unwrap_or(0);
        }
        Ok(sent)
    }
}

fn socklen<T>() -> libc::socklen_t {
    libc::socklen_t::try_from(std::mem::size_of::<T>()).unwrap_or(libc::socklen_t::MAX)
}
