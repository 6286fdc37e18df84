//! The conformance suite (`tests/conformance/`) on the tokio runtime.

mod support;

/// How the suite builds clients and runs async code on tokio.
mod rt {
    use std::future::Future;

    /// The runtime's name, for messages.
    pub const NAME: &str = "tokio";

    /// Whether a blocking client starts a runtime thread of its own (par-http's
    /// executors do; an application's runtime does not).
    pub const CLIENT_THREAD: bool = true;

    /// A blocking client builder whose background executor is tokio.
    pub fn builder() -> par_http::ClientBuilder {
        par_http::Client::builder().executor(par_http::Executor::Tokio)
    }

    /// A blocking client on tokio.
    pub fn client() -> par_http::Client {
        builder().build().expect("a tokio client")
    }

    /// The async client on tokio: it spawns onto the runtime it is created in.
    pub type AsyncClient = par_http::tokio::AsyncClient;

    /// tokio's runtime adapter on a multi-thread runtime of the suite's (running for the
    /// rest of the process), for a client built around it.
    pub fn runtime() -> std::sync::Arc<dyn par_http::Runtime> {
        static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
        let runtime = RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a multi-thread runtime")
        });
        let _inside = runtime.enter();
        <par_http::Tokio as par_http::AsyncRuntime>::runtime().expect("tokio's runtime")
    }

    /// Runs `future` on a current-thread tokio runtime, as `#[tokio::main(flavor =
    /// "current_thread")]` would.
    pub fn block_on<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime")
            .block_on(future)
    }

    /// Runs `future` on a multi-thread tokio runtime, as `#[tokio::main]` would.
    pub fn block_on_multi_thread<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a multi-thread runtime")
            .block_on(future)
    }

    /// Sleeps without blocking the runtime.
    pub async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

#[path = "conformance/mod.rs"]
mod conformance;
