//! A TCP proxy on 127.0.0.1:0 in front of the fake's Delivery API, to make Target
//! unreachable at the transport level: [`TcpProxy::cut`] resets every proxied
//! connection (kept-alive ones included) and every new one as soon as it is accepted,
//! until [`TcpProxy::forward`] lets traffic through again.
//!
//! Resets are real ones: `SO_LINGER` 0 on the accepted socket, so closing it sends an
//! RST instead of a FIN, and the client sees "connection reset", not a clean close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Whether the proxy lets traffic through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Cut,
}

/// What the proxy did, for the test to show the outage was real.
#[derive(Debug, Default)]
struct Counts {
    forwarded: AtomicUsize,
    reset_on_accept: AtomicUsize,
    reset_while_open: AtomicUsize,
}

/// A TCP proxy to `127.0.0.1:<target port>`; stopped (every connection with it)
/// when dropped.
pub struct TcpProxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    counts: Arc<Counts>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding to `target_port` on 127.0.0.1. Must run inside the test's
    /// runtime: the accept loop and the connections are tasks of it.
    pub fn start(target_port: u16) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("bound address").port();
        let listener = TcpListener::from_std(listener).expect("a tokio listener");
        let target = SocketAddr::from(([127, 0, 0, 1], target_port));
        let (mode, _) = watch::channel(Mode::Forward);
        let counts = Arc::new(Counts::default());
        let accept = actix_rt::spawn(accept_loop(
            listener,
            target,
            mode.subscribe(),
            counts.clone(),
        ));
        Self {
            port,
            mode,
            counts,
            accept,
        }
    }

    /// Starts the outage: resets the open connections and every new one.
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    /// Ends the outage: new connections are forwarded again.
    pub fn forward(&self) {
        self.mode.send_replace(Mode::Forward);
    }

    /// Connections reset: at accept during an outage, and open ones when it began.
    pub fn resets(&self) -> (usize, usize) {
        let c = &self.counts;
        (
            c.reset_on_accept.load(Ordering::SeqCst),
            c.reset_while_open.load(Ordering::SeqCst),
        )
    }

    /// Connections forwarded to the target so far.
    pub fn forwarded(&self) -> usize {
        self.counts.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Ends the open connections too: each watches the mode.
        self.mode.send_replace(Mode::Cut);
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    mode: watch::Receiver<Mode>,
    counts: Arc<Counts>,
) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        if *mode.borrow() == Mode::Cut {
            reset(inbound);
            counts.reset_on_accept.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        counts.forwarded.fetch_add(1, Ordering::SeqCst);
        actix_rt::spawn(proxy(inbound, target, mode.clone(), counts.clone()));
    }
}

/// Copies both ways until either side closes or an outage begins.
async fn proxy(
    mut inbound: TcpStream,
    target: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    counts: Arc<Counts>,
) {
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        reset(inbound);
        return;
    };
    let cut = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => false,
        // `wait_for` fails only once the proxy is gone: cut then as well.
        _ = mode.wait_for(|m| *m == Mode::Cut) => true,
    };
    if cut {
        counts.reset_while_open.fetch_add(1, Ordering::SeqCst);
        reset(inbound);
    }
}

/// Closes `stream` with an RST.
fn reset(stream: TcpStream) {
    // Without the option the close is a FIN: still an outage, only a politer one.
    let _ = stream.set_zero_linger();
    drop(stream);
}
