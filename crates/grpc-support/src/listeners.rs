//! The two listeners of a service: a teller-facing one and an admin one,
//! bound at start-up and served together until one shutdown signal.
//!
//! Each listener serves its own gRPC service, plus the health service and
//! reflection limited to that service, inside the middleware of
//! [`serve`]. On shutdown the teller-facing service turns NOT_SERVING
//! first, so health checks see the service going before its listeners
//! close.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use http::{Request, Response};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tower::Service;

use crate::server::{ReflectionError, ServeError, ServerLimits, reflection_services, serve};

/// Failure to bind one of the listeners.
#[derive(Debug, thiserror::Error)]
#[error("failed to bind {address}: {source}")]
pub struct BindError {
    /// Address that could not be bound.
    pub address: SocketAddr,
    /// Error from the operating system, for example "address in use".
    #[source]
    pub source: std::io::Error,
}

/// A shutdown signal that any number of tasks can wait for.
#[derive(Debug, Clone)]
pub struct StopSignal {
    receiver: watch::Receiver<bool>,
}

impl StopSignal {
    /// Returns a signal that fires when `shutdown` resolves. A spawned task
    /// waits for `shutdown`, so this must run inside a tokio runtime.
    pub fn spawn(shutdown: impl Future<Output = ()> + Send + 'static) -> Self {
        let (sender, receiver) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = sender.send(true);
        });
        StopSignal { receiver }
    }

    /// Waits until the signal fires. It also returns when the task that
    /// waits for the shutdown future is gone, for example because the
    /// runtime is shutting down.
    pub async fn stopped(mut self) {
        let _ = self.receiver.wait_for(|stop| *stop).await;
    }

    /// Returns the underlying channel, for tasks that check the signal
    /// between steps: its value turns `true` once.
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.receiver.clone()
    }
}

/// The teller-facing and admin listeners of one service, bound.
#[derive(Debug)]
pub struct ServiceListeners {
    public: TcpListener,
    admin: TcpListener,
    public_addr: SocketAddr,
    admin_addr: SocketAddr,
}

impl ServiceListeners {
    /// Binds both addresses. Port 0 picks a free port, and
    /// [`Self::public_addr`] and [`Self::admin_addr`] return the real ones.
    pub async fn bind(public: SocketAddr, admin: SocketAddr) -> Result<Self, BindError> {
        let public_listener = bind(public).await?;
        let admin_listener = bind(admin).await?;
        let public_addr = local_addr(&public_listener, public)?;
        let admin_addr = local_addr(&admin_listener, admin)?;
        Ok(ServiceListeners {
            public: public_listener,
            admin: admin_listener,
            public_addr,
            admin_addr,
        })
    }

    /// Address of the teller-facing listener.
    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// Address of the admin listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Serves `public` on the teller-facing listener and `admin` on the
    /// admin listener until `stop` fires, then returns once both have
    /// stopped. Each listener also serves the health service, where both
    /// services report SERVING, and reflection of its own service only.
    ///
    /// Both services must already carry their message size limits, because
    /// generated servers share no trait for them.
    pub async fn serve<P, A>(
        self,
        public: P,
        admin: A,
        limits: &ServerLimits,
        error_domain: &'static str,
        stop: StopSignal,
    ) -> Result<(), ServeError>
    where
        P: GrpcService,
        A: GrpcService,
    {
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter
            .set_service_status(P::NAME, ServingStatus::Serving)
            .await;
        health_reporter
            .set_service_status(A::NAME, ServingStatus::Serving)
            .await;

        let (public_v1, public_v1alpha) = reflection_services(&[P::NAME]).map_err(reflection_failed)?;
        let (admin_v1, admin_v1alpha) = reflection_services(&[A::NAME]).map_err(reflection_failed)?;
        let public_routes = Routes::new(public)
            .add_service(health_service.clone())
            .add_service(public_v1)
            .add_service(public_v1alpha);
        let admin_routes = Routes::new(admin)
            .add_service(health_service)
            .add_service(admin_v1)
            .add_service(admin_v1alpha);

        // The listeners stop only after health checks report NOT_SERVING.
        let (close_sender, close_receiver) = watch::channel(false);
        tokio::spawn(async move {
            stop.stopped().await;
            health_reporter
                .set_service_status(P::NAME, ServingStatus::NotServing)
                .await;
            let _ = close_sender.send(true);
        });
        let closed = |mut receiver: watch::Receiver<bool>| async move {
            let _ = receiver.wait_for(|close| *close).await;
        };

        let public_server = serve(
            public_routes,
            self.public,
            limits,
            error_domain,
            closed(close_receiver.clone()),
        );
        let admin_server = serve(
            admin_routes,
            self.admin,
            limits,
            error_domain,
            closed(close_receiver),
        );
        let (public_result, admin_result) = tokio::join!(public_server, admin_server);
        public_result?;
        admin_result
    }
}

/// A generated tonic server, as [`Routes`] accepts it.
pub trait GrpcService:
    Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
    + NamedService
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> GrpcService for S where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static
{
}

async fn bind(address: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| BindError { address, source })
}

fn local_addr(listener: &TcpListener, configured: SocketAddr) -> Result<SocketAddr, BindError> {
    listener.local_addr().map_err(|source| BindError {
        address: configured,
        source,
    })
}

fn reflection_failed(error: ReflectionError) -> ServeError {
    ServeError::Reflection(error)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn bind_reports_address_in_use() {
        let occupied = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let occupied_addr = occupied.local_addr().unwrap();

        let error = ServiceListeners::bind("127.0.0.1:0".parse().unwrap(), occupied_addr)
            .await
            .unwrap_err();

        assert_eq!(error.address, occupied_addr);
        assert_eq!(error.source.kind(), std::io::ErrorKind::AddrInUse);
        assert!(error.to_string().contains(&occupied_addr.to_string()), "{error}");
    }

    #[tokio::test]
    async fn bind_returns_real_ports() {
        let listeners =
            ServiceListeners::bind("127.0.0.1:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();

        assert_ne!(listeners.public_addr().port(), 0);
        assert_ne!(listeners.admin_addr().port(), 0);
        assert_ne!(listeners.public_addr(), listeners.admin_addr());
    }

    #[tokio::test]
    async fn stop_signal_reaches_every_clone() {
        let (trigger, triggered) = tokio::sync::oneshot::channel::<()>();
        let stop = StopSignal::spawn(async move {
            let _ = triggered.await;
        });
        let receiver = stop.receiver();
        let waiters = [stop.clone(), stop].map(|signal| tokio::spawn(signal.stopped()));
        assert!(!*receiver.borrow());

        trigger.send(()).unwrap();

        for waiter in waiters {
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("a clone of the signal did not fire")
                .unwrap();
        }
        assert!(*receiver.borrow());
    }
}
