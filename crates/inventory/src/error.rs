//! What can go wrong reading XFRM over netlink, each with what to do about it.

/// Errors of the inventory readers. Messages are written to be shown to a user as they are.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op}: permission denied: needs root or CAP_NET_ADMIN")]
    NotPermitted { op: &'static str },
    #[error(transparent)]
    Netns(#[from] xfrmdiag_netns::Error),
    #[error("kernel has no XFRM_USER: load it with `modprobe xfrm_user`")]
    NoXfrmUser,
    #[error("{op}: netlink socket error: {source}")]
    Socket {
        op: &'static str,
        source: std::io::Error,
    },
    #[error("{op}: kernel answered with error {errno} ({})", std::io::Error::from_raw_os_error(*.errno))]
    Kernel { op: &'static str, errno: i32 },
    #[error("{op}: malformed netlink message: {reason}")]
    Malformed { op: &'static str, reason: String },
    #[error("{op}: rtnetlink: {reason}")]
    Route { op: &'static str, reason: String },
}

impl Error {
    /// Maps an errno from a socket call or an NLMSG_ERROR to the error a user can act on.
    pub(crate) fn from_errno(op: &'static str, errno: i32) -> Error {
        match errno {
            libc_errno::EPERM | libc_errno::EACCES => Error::NotPermitted { op },
            libc_errno::EPROTONOSUPPORT => Error::NoXfrmUser,
            _ => Error::Kernel { op, errno },
        }
    }

    pub(crate) fn from_io(op: &'static str, source: std::io::Error) -> Error {
        match source.raw_os_error() {
            Some(
                errno @ (libc_errno::EPERM | libc_errno::EACCES | libc_errno::EPROTONOSUPPORT),
            ) => Error::from_errno(op, errno),
            _ => Error::Socket { op, source },
        }
    }

    /// The errno behind this error, when there is one (for callers that branch on it).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::NotPermitted { .. } => Some(libc_errno::EPERM),
            Error::NoXfrmUser => Some(libc_errno::EPROTONOSUPPORT),
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Socket { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// The few errno values we branch on (Linux numbers; avoids a libc dependency).
pub(crate) mod libc_errno {
    pub const EPERM: i32 = 1;
    pub const EINTR: i32 = 4;
    pub const EAGAIN: i32 = 11;
    pub const EACCES: i32 = 13;
    pub const ENOBUFS: i32 = 105;
    pub const EPROTONOSUPPORT: i32 = 93;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_maps_to_what_the_user_must_do() {
        let no_module = Error::from_io(
            "dumping",
            std::io::Error::from_raw_os_error(libc_errno::EPROTONOSUPPORT),
        );
        assert_eq!(
            no_module.to_string(),
            "kernel has no XFRM_USER: load it with `modprobe xfrm_user`"
        );
        let eperm = Error::from_errno("dumping XFRM policies", libc_errno::EPERM);
        assert_eq!(
            eperm.to_string(),
            "dumping XFRM policies: permission denied: needs root or CAP_NET_ADMIN"
        );
        let other = Error::from_errno("reading XFRM info", 22);
        assert!(other
            .to_string()
            .starts_with("reading XFRM info: kernel answered with error 22"));
        assert_eq!(other.errno(), Some(22));
    }
}
