//! gRPC: the edge that maps domain errors to statuses, and the server that serves the modules'
//! services with the standard health and reflection services, on `FERROBASE_GRPC_BIND` (off
//! unless set). Modules register their services through the module interface.

use crate::error::{DomainError, ErrorKind};
use tonic::Code;

/// The status for a domain error: the same kinds and codes as the REST answers. The code
/// travels in the message (`code: message`) so clients can tell failures of one status apart.
pub fn status(err: &dyn DomainError) -> tonic::Status {
    let kind = err.kind();
    if kind == ErrorKind::Internal {
        tracing::error!(error = %err, "internal error");
        return tonic::Status::internal("internal_error: Something went wrong on our side.");
    }
    let code = match kind {
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Unauthenticated => Code::Unauthenticated,
        ErrorKind::Forbidden => Code::PermissionDenied,
        ErrorKind::BadRequest | ErrorKind::Invalid | ErrorKind::Unsupported => Code::InvalidArgument,
        ErrorKind::Conflict => Code::AlreadyExists,
        ErrorKind::RateLimited | ErrorKind::TooLarge | ErrorKind::PaymentRequired => Code::ResourceExhausted,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Internal => Code::Internal,
    };
    let fields: Vec<String> = err.fields().iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
    let message = if fields.is_empty() { err.message() } else { format!("{} ({})", err.message(), fields.join("; ")) };
    tonic::Status::new(code, format!("{}: {message}", err.code()))
}

/// A refused token is UNAUTHENTICATED; a failure on our side (the database is down) is not a
/// verdict on the token and must not make callers sign their users out: UNAVAILABLE.
pub fn unauthenticated(e: crate::error::ApiError) -> tonic::Status {
    let message = format!("{}: {}", e.code, e.detail);
    if e.status.is_server_error() {
        tonic::Status::unavailable(message)
    } else {
        tonic::Status::unauthenticated(message)
    }
}

/// The caller of a gRPC call, from `authorization: Bearer …` metadata, checked as REST checks
/// tokens (revocation included).
pub async fn caller<T>(
    auth: &crate::auth::Authenticator,
    request: &tonic::Request<T>,
) -> Result<crate::auth::AuthUser, tonic::Status> {
    let token = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| {
            tonic::Status::unauthenticated("unauthenticated: Send an access token as `authorization: Bearer …`.")
        })?;
    auth.authenticate(token).await.map_err(unauthenticated)
}

/// The modules' gRPC services plus health (every registered service reported serving) and
/// reflection (over the registered descriptor sets).
pub async fn routes(
    mut services: tonic::service::RoutesBuilder,
    names: &[&'static str],
    descriptors: &[&'static [u8]],
) -> anyhow::Result<tonic::service::Routes> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in names {
        reporter.set_service_status(name, tonic_health::ServingStatus::Serving).await;
    }
    let mut reflection = tonic_reflection::server::Builder::configure();
    for descriptor in descriptors {
        reflection = reflection.register_encoded_file_descriptor_set(descriptor);
    }
    reflection = reflection.register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    services.add_service(health).add_service(reflection.build_v1()?);
    Ok(services.routes())
}

/// Serves `routes` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    routes: tonic::service::Routes,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        // The same limits in spirit as the HTTP edge: no call runs forever, one connection
        // cannot open unbounded streams, and dead peers are noticed.
        .timeout(std::time::Duration::from_secs(30))
        .concurrency_limit_per_connection(256)
        .max_concurrent_streams(256)
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)))
        .add_routes(routes)
        // The builder's own `tcp_nodelay` applies only to listeners it binds itself.
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}
