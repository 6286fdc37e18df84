//! Where a scope's request tasks run, and how the code waiting on the scope waits.
//!
//! With smol, each scope gets an executor of its own ([`par_http_smol::ScopeExecutor`])
//! that the thread waiting on the scope runs, together with smol's IO reactor, so that
//! the steps of a request need no wake-up across threads (the blocking scope and the
//! smol async scope were half as fast with every task on a background thread). A
//! background driver on the client's runtime thread runs the tasks while nobody waits
//! on the scope, so a request never stalls because its caller is busy elsewhere.
//!
//! With tokio, tasks run on the client's runtime as everything else: a current-thread
//! runtime already runs them on the caller's thread, and a blocking client's runtime
//! thread is the only one that may drive its IO.

use std::future::Future;
#[cfg(feature = "smol")]
use std::sync::Arc;

use par_http_core::{Runtime, ScopeOptions};

use crate::agent::wait;
use crate::runtimes::Executor;

/// A scope's task executor, if it has its own; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct LocalTasks {
    #[cfg(feature = "smol")]
    executor: Option<(par_http_smol::ScopeExecutor, Arc<par_http_core::Task>)>,
}

impl LocalTasks {
    /// The executor for a new scope of a client running on `executor`, whose background
    /// driver (if any) is spawned on `runtime`.
    pub(crate) fn new(executor: Executor, runtime: &dyn Runtime) -> Self {
        #[cfg(feature = "smol")]
        {
            let executor = (executor == Executor::Smol).then(|| {
                let executor = par_http_smol::ScopeExecutor::new();
                let driver = runtime.spawn(Box::pin(executor.background()));
                (executor, Arc::new(driver))
            });
            Self { executor }
        }
        #[cfg(not(feature = "smol"))]
        {
            let _ = (executor, runtime);
            Self {}
        }
    }

    /// `options` with this executor as the scope's spawner, if there is one.
    pub(crate) fn scope_options(&self, options: ScopeOptions) -> ScopeOptions {
        #[cfg(feature = "smol")]
        if let Some((executor, _)) = &self.executor {
            return options.spawner(Arc::new(executor.clone()));
        }
        options
    }

    /// Blocks on `future`, running the scope's tasks meanwhile when they are ours to run.
    pub(crate) fn wait<T>(&self, future: impl Future<Output = T>) -> T {
        wait(self.run(future))
    }

    /// Awaits `future`, running the scope's tasks meanwhile when they are ours to run.
    pub(crate) async fn run<T>(&self, future: impl Future<Output = T>) -> T {
        #[cfg(feature = "smol")]
        if let Some((executor, _)) = &self.executor {
            return executor.run(future).await;
        }
        future.await
    }
}
