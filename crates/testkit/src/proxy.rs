//! A TCP proxy the test controls, to cut a service off and bring it back without touching the
//! machine's own service: [`Proxy::cut`] closes every connection through it and refuses new
//! ones; [`Proxy::restore`] lets connections through again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

/// A running proxy on 127.0.0.1.
pub struct Proxy {
    /// The port it listens on.
    pub port: u16,
    up: Arc<AtomicBool>,
    cut: broadcast::Sender<()>,
}

impl Proxy {
    /// A proxy to `target` (`host:port`).
    pub async fn to(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a proxy port");
        let port = listener.local_addr().expect("proxy address").port();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = broadcast::channel(4);
        let (flag, cuts) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped at once: the service is "down"
                }
                let mut stop = cuts.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = stop.recv() => {}
                    }
                });
            }
        });
        Self { port, up, cut }
    }

    /// A proxy to the host and port of `url`, and `url` pointed at the proxy instead.
    pub async fn for_url(url: &str, default_port: u16) -> (Self, String) {
        let mut parsed = url::Url::parse(url).expect("a service URL");
        let target = format!("{}:{}", parsed.host_str().unwrap_or("127.0.0.1"), parsed.port().unwrap_or(default_port));
        let proxy = Self::to(target).await;
        parsed.set_host(Some("127.0.0.1")).expect("an URL with a host");
        parsed.set_port(Some(proxy.port)).expect("an URL with a port");
        (proxy, parsed.to_string())
    }

    /// Closes every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let _ = self.cut.send(());
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
