//! The conformance suite (`tests/conformance/`) on a third runtime, written in the test
//! support against `par_http::Runtime` alone (`tests/support/thread_runtime.rs`: one
//! thread per task, async-io for IO and timers). A runtime adapter of another crate can
//! run the suite the same way: copy `tests/conformance/` and `tests/support/`, and write
//! an `rt` module like this one.

mod support;

/// How the suite builds clients and runs async code on the thread-per-task runtime.
mod rt {
    use std::future::Future;
    use std::sync::Arc;

    use crate::support::ThreadRuntime;

    /// The runtime's name, for messages.
    pub const NAME: &str = "threads";

    /// Whether a blocking client starts a runtime thread of its own (par-http's
    /// executors do; an application's runtime does not).
    pub const CLIENT_THREAD: bool = false;

    /// A blocking client builder on the thread-per-task runtime.
    pub fn builder() -> par_http::ClientBuilder {
        par_http::Client::builder().runtime(ThreadRuntime::shared())
    }

    /// A blocking client on the thread-per-task runtime.
    pub fn client() -> par_http::Client {
        builder().build().expect("a client on the thread runtime")
    }

    /// Names the thread-per-task runtime in the async client's type.
    #[derive(Debug)]
    pub struct Threads;

    impl par_http::AsyncRuntime for Threads {
        fn runtime() -> par_http::Result<Arc<dyn par_http::Runtime>> {
            Ok(ThreadRuntime::shared())
        }
    }

    /// The async client on the thread-per-task runtime.
    pub type AsyncClient = par_http::AsyncClientOn<Threads>;

    /// The thread-per-task runtime, for a client built around it.
    pub fn runtime() -> Arc<dyn par_http::Runtime> {
        ThreadRuntime::shared()
    }

    /// Runs `future` on the calling thread (the runtime needs no driver).
    pub fn block_on<T>(future: impl Future<Output = T>) -> T {
        async_io::block_on(future)
    }

    /// The same as [`block_on`]: the runtime has a single flavour.
    pub fn block_on_multi_thread<T>(future: impl Future<Output = T>) -> T {
        block_on(future)
    }

    /// Sleeps without blocking the runtime.
    pub async fn sleep(duration: std::time::Duration) {
        async_io::Timer::after(duration).await;
    }
}

#[path = "conformance/mod.rs"]
mod conformance;
